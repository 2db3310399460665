#!/bin/sh
# Installs the dashboard's packages from the lock file. `npm ci` first; npm 11 leaves a
# platform-only optional dependency of Vite (napi-windows-process-start-time) out of the lock
# file and `npm ci` then refuses it, so fall back to `npm install`, which honours the lock.
set -e
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
