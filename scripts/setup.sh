#!/usr/bin/env bash
# Installs what grainsweep needs on a fresh Debian/Ubuntu machine besides Swift itself:
# libzmq (with CURVE, through libsodium) and pkg-config. Idempotent; uses sudo when not root.
set -euo pipefail
if [ -f /usr/include/zmq.h ] && pkg-config --exists libzmq 2>/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends libzmq3-dev pkg-config >/dev/null 2>&1 \
  || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends libzmq3-dev pkg-config; }
if ! command -v swift >/dev/null; then
  echo "setup: libzmq is installed, but no Swift toolchain is on PATH (Swift 6.0 or newer: https://swift.org/install)" >&2
  exit 1
fi
