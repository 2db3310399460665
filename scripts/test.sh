#!/usr/bin/env bash
# The whole test suite, installing what it needs on a fresh machine:
# system packages (Chromium for the dashboard's browser tests, docker-compose v1 to validate
# the compose files, promtool to check and unit-test the Prometheus alert rules), PostgreSQL
# if installed but stopped, the Python venv, the dashboard build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${VENV:-.venv}

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)  # promtool: deploy/prometheus/alerts.yml
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing system packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "== missing ${need_apt[*]} (not root): the tests that need them will skip"
  fi
fi

if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "== starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi

echo "== Python environment"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e '.[test]'

if [ -f dashboard/package.json ]; then
  echo "== dashboard: install, build, unit tests"
  sh dashboard/install-deps.sh
  (cd dashboard && npm run build && npm test)
fi

echo "== lint and types"
"$VENV/bin/ruff" check ollama_proxy tests bench
"$VENV/bin/mypy"

echo "== pytest"
"$VENV/bin/pytest" -q -p no:cacheprovider

if [ -f dashboard/package.json ] && grep -q '"e2e"' dashboard/package.json; then
  echo "== dashboard: end-to-end in headless Chromium"
  (cd dashboard && PYTHON="$ROOT/$VENV/bin/python" npm run e2e)
fi
