#!/usr/bin/env bash
# Install what the browser tests (tests/web/test_browser.py) need: Debian's Chromium at
# /usr/bin/chromium, and a small CJK font (WenQuanYi Micro Hei) so the screenshots under
# test-artifacts/web/ show Chinese text rather than empty boxes. Playwright's own browser
# download does not work on closed networks, so the tests drive this system Chromium.
# Idempotent: does nothing when both are already there.
set -euo pipefail
have_font() { fc-list 2>/dev/null | grep -qi -e "wqy" -e "noto sans cjk"; }
if [ -x /usr/bin/chromium ] && have_font; then
  echo "already installed: $(/usr/bin/chromium --version 2>/dev/null), CJK font present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
  chromium fonts-wqy-microhei
/usr/bin/chromium --version
