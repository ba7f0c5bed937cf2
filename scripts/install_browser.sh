#!/usr/bin/env bash
# Install what the browser tests (tests/web/test_browser.py) need: Debian's
# Chromium at /usr/bin/chromium. Playwright's own browser download does not work
# on closed networks, so the tests drive this system Chromium instead.
# Idempotent: does nothing when Chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium fonts-wqy-microhei
/usr/bin/chromium --version
