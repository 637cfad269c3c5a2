#!/usr/bin/env bash
# Set up (first run), prepare test assets, and run the whole test suite. CI runs this (.ci/run).
# Extra arguments go to pytest (e.g. -k explore, -x).
set -euo pipefail
source "$(dirname "$0")/env.sh" requirements-dev.txt

# Headless Chromium for the browser tests (Debian package; Playwright drives /usr/bin/chromium).
if [ ! -x /usr/bin/chromium ]; then
  echo "Installing chromium (apt-get) for the browser tests ..." >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# Test data built from ../shared into git-ignored folders (idempotent, seconds when already built).
python -m tests.assets prepare

exec python -m pytest "$@"
