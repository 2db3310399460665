#!/bin/sh
# Write the secrets docker-compose.yml needs into .env, once, with random values.
#   sh deploy/init-env.sh            # from the repository root
# Existing variables in .env are kept; only missing ones are appended.
set -eu

cd "$(dirname "$0")/.."
ENV_FILE=${ENV_FILE:-.env}

random_secret() {
    # 24 random bytes, hex: no characters that need quoting in YAML, URLs or shells.
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

has_var() {
    [ -f "$ENV_FILE" ] && grep -Eq "^[[:space:]]*$1=" "$ENV_FILE"
}

add_secret() {
    if has_var "$1"; then
        echo "$ENV_FILE: $1 already set, kept"
    else
        printf '%s=%s\n' "$1" "$(random_secret)" >>"$ENV_FILE"
        echo "$ENV_FILE: $1 generated"
    fi
}

touch "$ENV_FILE"
chmod 600 "$ENV_FILE"
add_secret CLICKHOUSE_PASSWORD
add_secret POSTGRES_PASSWORD
add_secret GRAFANA_ADMIN_PASSWORD
