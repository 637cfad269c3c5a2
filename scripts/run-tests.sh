#!/usr/bin/env bash
# Set up (first run), prepare test assets, and run the whole test suite. CI runs this (.ci/run).
# Extra arguments go to pytest (e.g. -k explore, -x). `--quick` runs the quick tier only (docs/testing.md).
set -euo pipefail
source "$(dirname "$0")/env.sh" requirements-dev.txt

apt_get() {  # apt-get that waits (up to 15 minutes) while another apt or dpkg holds the package lock
  local out waited=0
  until out=$($SUDO apt-get -o DPkg::Lock::Timeout=60 "$@" 2>&1); do
    if ! grep -qiE "could not get lock|unable to acquire|is another process using it" <<<"$out" || [ $waited -ge 900 ]; then
      echo "$out" >&2
      return 1
    fi
    echo "apt-get: another apt or dpkg holds the package lock; waiting for it ..." >&2
    sleep 15
    waited=$((waited + 15))
  done
}

QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; shift; fi

# Headless Chromium for the browser tests (Debian package; Playwright drives /usr/bin/chromium).
if [ "$QUICK" = 0 ] && [ ! -x /usr/bin/chromium ]; then
  echo "Installing chromium (apt-get) for the browser tests ..." >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  apt_get update -qq
  DEBIAN_FRONTEND=noninteractive apt_get install -y -qq chromium chromium-driver >/dev/null
fi

# Test data built from ../shared into git-ignored folders (idempotent, seconds when already built).
python -m tests.assets prepare

if [ "$QUICK" = 1 ]; then
  exec python -m pytest -m "not slow and not browser" "$@"
fi
exec python -m pytest "$@"
