#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright cannot download its own build on these
# machines). Install it when it is missing; say nothing when it is there; fail loudly otherwise.
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0

echo "Chromium not found at $CHROMIUM: installing Debian's chromium package" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get is not available: install Chromium yourself (or set CHROMIUM_PATH) to run the browser tests" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "installing Chromium needs root (or sudo); run: apt-get install -y chromium" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "apt-get finished but $CHROMIUM is still missing; the browser tests cannot run" >&2
  exit 1
fi
echo "installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)" >&2
