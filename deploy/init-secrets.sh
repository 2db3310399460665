#!/bin/sh
# The compose stack's secrets, generated once into the `secrets` volume (run by the
# secrets-init service before anything else starts). A value set in .env wins and is written
# over the generated one; otherwise an existing file is kept, so restarts keep the passwords
# the databases were created with.
set -eu
dir=${SECRETS_DIR:-/secrets}
mkdir -p "$dir"
umask 022  # readable by the services' own users (postgres, grafana, the proxy's 10001)

random_secret() {
    # 24 random bytes, hex: nothing that needs quoting in YAML, URLs or shells.
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

put() {
    file="$dir/$1"
    if [ -n "$2" ]; then
        printf '%s' "$2" >"$file.tmp" && mv "$file.tmp" "$file"
        echo "secrets: $1 from .env"
    elif [ ! -s "$file" ]; then
        random_secret >"$file.tmp" && mv "$file.tmp" "$file"
        echo "secrets: $1 generated"
    fi
}

put clickhouse_password "${CLICKHOUSE_PASSWORD:-}"
put postgres_password "${POSTGRES_PASSWORD:-}"
put grafana_admin_password "${GRAFANA_ADMIN_PASSWORD:-}"
put admin_token "${ADMIN_TOKEN:-}"
echo "secrets: the admin token for the dashboard and the stats API:"
echo "  docker compose exec ollama-monitor cat /secrets/admin_token"
