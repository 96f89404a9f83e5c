#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests when it is missing (Playwright drives it through
# executable_path=/usr/bin/chromium; no browser download). Needs root or passwordless sudo.
set -u
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "chromium is missing at $CHROMIUM and installing it needs root: apt-get install chromium" >&2; exit 1; fi
fi
command -v apt-get >/dev/null 2>&1 || { echo "chromium is missing at $CHROMIUM and this is not a Debian-like system" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq chromium >/dev/null
if [ -x "$CHROMIUM" ]; then exit 0; fi
echo "apt-get did not install $CHROMIUM (on Ubuntu the chromium package is a snap; install Debian's build)" >&2
exit 1
