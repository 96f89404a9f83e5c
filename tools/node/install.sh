#!/usr/bin/env bash
# Installs tools/node's npm packages exactly as package-lock.json pins them (`npm ci`): mathjax-full, which
# typesets the math of the site and of feedback pages when they are built, and axe-core, which the browser
# tests run. Run by `make setup`. Installs node and npm from apt first when they are missing and this is
# root on Debian; without them the pages typeset math in the browser and the accessibility test is skipped.
set -u
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq nodejs npm >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing (install node and npm): math will be typeset in the browser" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
