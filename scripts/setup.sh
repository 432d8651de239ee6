#!/usr/bin/env bash
# Installs what grainsweep needs on a fresh Debian/Ubuntu machine besides Swift itself:
# libzmq (with CURVE, through libsodium) and pkg-config. Idempotent; uses sudo when not root.
#   --tests  also installs, best effort, what the test suite uses when present: Debian's
#            chromium (the live report page is checked in a headless browser; that test is
#            skipped without it) and util-linux's script(1) (a real terminal hangup).
set -euo pipefail
TESTS=0
for argument in "$@"; do
  case "$argument" in
    --tests) TESTS=1 ;;
    *) echo "setup: unknown option $argument (known: --tests)" >&2; exit 2 ;;
  esac
done
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

if ! { [ -f /usr/include/zmq.h ] && pkg-config --exists libzmq 2>/dev/null; }; then
  $SUDO apt-get install -y --no-install-recommends libzmq3-dev pkg-config >/dev/null 2>&1 \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends libzmq3-dev pkg-config; }
fi
if ! command -v swift >/dev/null; then
  echo "setup: libzmq is installed, but no Swift toolchain is on PATH (Swift 6.0 or newer: https://swift.org/install)" >&2
  exit 1
fi

if [ "$TESTS" = 1 ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v script >/dev/null 2>&1 || missing+=(util-linux)
  if [ "${#missing[@]}" -gt 0 ]; then
    { $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; }; } \
      || echo "setup: could not install ${missing[*]}: the tests that need them will be skipped" >&2
  fi
fi
