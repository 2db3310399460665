#!/bin/bash
# First-start schema for the compose `postgres` service (run by the image's entrypoint from
# /docker-entrypoint-initdb.d on an empty volume, after the image's own timescaledb scripts).
#
# Applies /schemas/postgres.sql, the repository's schemas/postgres.sql mounted read-only: the same
# file the proxy applies at start and the tests apply to PostgreSQL. Placeholders of the form
# {{ NAME }} are rendered from the environment first (RETENTION_DAYS, DATABASE).
# `10-ollama-schema.sh --render` only prints the rendered SQL (used by the tests).
# The body runs in a subshell: the entrypoint may source this file instead of executing it,
# and neither `exit` nor `set -u` may leak into it then.
ollama_schema_main() (
    set -euo pipefail

    SCHEMA=${SCHEMA_FILE:-/schemas/postgres.sql}
    DATABASE=${POSTGRES_DB:-ollama_metrics}
    RETENTION_DAYS=${RETENTION_DAYS:-30}

    render() {
        sed -E \
            -e "s/\{\{ *RETENTION_DAYS *\}\}/${RETENTION_DAYS}/g" \
            -e "s/\{\{ *DATABASE *\}\}/${DATABASE}/g" \
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
    psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "$DATABASE" <<<"$rendered"
)

ollama_schema_main "$@"
