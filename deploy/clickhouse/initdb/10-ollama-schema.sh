#!/bin/bash
# First-start schema for the compose `clickhouse` service (run by the image's entrypoint from
# /docker-entrypoint-initdb.d on an empty volume, while a local-only server is up).
#
# Applies /schemas/clickhouse.sql, the repository's schemas/clickhouse.sql mounted read-only: the
# same file the proxy applies at start and the tests apply to chDB. Placeholders of the form
# {{ NAME }} are rendered from the environment first (RETENTION_DAYS, DATABASE, CLUSTER,
# ON_CLUSTER). `10-ollama-schema.sh --render` only prints the rendered SQL (used by the tests).
# The body runs in a subshell: the entrypoint may source this file instead of executing it,
# and neither `exit` nor `set -u` may leak into it then.
ollama_schema_main() (
    set -euo pipefail

    SCHEMA=${SCHEMA_FILE:-/schemas/clickhouse.sql}
    DATABASE=${CLICKHOUSE_DB:-ollama_metrics}
    RETENTION_DAYS=${RETENTION_DAYS:-30}
    CLUSTER=${CLICKHOUSE_CLUSTER:-}
    ON_CLUSTER=""
    if [ -n "$CLUSTER" ]; then
        ON_CLUSTER="ON CLUSTER '$CLUSTER'"
    fi

    render() {
        sed -E \
            -e "s/\{\{ *RETENTION_DAYS *\}\}/${RETENTION_DAYS}/g" \
            -e "s/\{\{ *DATABASE *\}\}/${DATABASE}/g" \
            -e "s/\{\{ *CLUSTER *\}\}/${CLUSTER}/g" \
            -e "s/\{\{ *ON_CLUSTER *\}\}/${ON_CLUSTER}/g" \
            "$SCHEMA"
    }

    rendered=$(render)
    if grep -q '{{' <<<"$rendered"; then
        echo "10-ollama-schema.sh: unrendered placeholder in $SCHEMA:" >&2
        grep -n '{{' <<<"$rendered" >&2
        exit 1
    fi

    if [ "${1:-}" = "--render" ]; then
        printf '%s\n' "$rendered"
        exit 0
    fi

    echo "10-ollama-schema.sh: applying $SCHEMA to database $DATABASE (retention ${RETENTION_DAYS} days)"
    clickhouse client --host 127.0.0.1 \
        --user "${CLICKHOUSE_USER:-default}" --password "${CLICKHOUSE_PASSWORD:-}" \
        --database "$DATABASE" --multiquery <<<"$rendered"
)

ollama_schema_main "$@"
