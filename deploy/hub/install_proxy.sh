#!/usr/bin/env bash
# Installs the hub's proxy (configurable-http-proxy, pinned in package-lock.json) into deploy/hub/node_modules
# with `npm ci`; installs Node.js from apt first when it is missing and we are root.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "npm is missing: install Node.js >= 20 (Debian: apt-get install nodejs npm)" >&2; exit 1
  fi
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "warning: configurable-http-proxy 5 wants Node.js >= 20, this is $(node --version)" >&2
fi
npm ci --no-audit --no-fund --loglevel=error
test -x node_modules/.bin/configurable-http-proxy
