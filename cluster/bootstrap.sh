#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu host to run grainsweep workers (or a coordinator).
#
#   cluster/bootstrap.sh --binary PATH     install a prebuilt binary (built with --static-swift-stdlib,
#                                          e.g. by --build on another machine: needs only libzmq5 here)
#   cluster/bootstrap.sh --build [REPO]    build it here (swift build -c release; needs a Swift 6
#                                          toolchain on PATH and libzmq3-dev), then install it
# Options:
#   --prefix DIR       install into DIR/bin (default /usr/local)
#   --service-user     also create the unprivileged system user `grainsweep` and /etc/grainsweep/keys
#                      (0750 root:grainsweep) for cluster/systemd/grainsweep-worker@.service
#   --no-apt           do not install packages (already there, or no network)
#
# CPU baseline. Release builds compile the training core with `-target-cpu haswell` by default
# (x86-64-v3: AVX2 + FMA), which every x86 server of the last decade has. GRAINSWEEP_TARGET_CPU
# overrides it at build time (`native` for one machine only, `x86-64-v2` or `x86-64` for older
# nodes). A binary for a cluster must be built for its *oldest* node: a newer baseline dies with
# SIGILL on an older CPU. Results do not depend on the choice (the kernels fix their arithmetic
# order). This script checks the host's CPU flags against the default baseline and runs a tiny
# training task with the installed binary, so a mismatch fails here rather than in a sweep.
set -euo pipefail

MODE="" SRC="" PREFIX=/usr/local SERVICE_USER="" APT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) MODE=binary; SRC="${2:?--binary needs a path}"; shift ;;
    --build) MODE=build; if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then SRC="$2"; shift; else SRC="$(cd "$(dirname "$0")/.." && pwd)"; fi ;;
    --prefix) PREFIX="${2:?}"; shift ;;
    --service-user) SERVICE_USER=1 ;;
    --no-apt) APT="" ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bootstrap: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$MODE" ] || { echo "bootstrap: say --binary PATH or --build [REPO] (--help)" >&2; exit 2; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
say() { echo "bootstrap: $*"; }

# 1. Packages: the runtime library always; headers and pkg-config only to build.
if [ -n "$APT" ]; then
  pkgs=(libzmq5)
  [ "$MODE" = build ] && pkgs+=(libzmq3-dev pkg-config)
  missing=()
  for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; }
  else
    say "packages present: ${pkgs[*]}"
  fi
fi

# 2. CPU baseline of the default build (haswell = AVX2 + FMA + BMI2 + MOVBE ...).
if [ "$(uname -m)" = x86_64 ]; then
  flags="$(grep -m1 '^flags' /proc/cpuinfo || true)"
  lacking=""
  for f in avx2 fma bmi2 movbe; do grep -qw "$f" <<<"$flags" || lacking="$lacking $f"; done
  if [ -n "$lacking" ]; then
    say "WARNING: this CPU lacks$lacking: a default (haswell) build will not run here."
    say "         build the cluster's binary with GRAINSWEEP_TARGET_CPU=x86-64-v2 (or older) instead."
  else
    say "CPU has the haswell baseline (avx2 fma bmi2 movbe)"
  fi
fi

# 3. The binary.
if [ "$MODE" = build ]; then
  command -v swift >/dev/null || { echo "bootstrap: no swift on PATH (Swift 6: https://swift.org/install)" >&2; exit 1; }
  say "building release in $SRC (target CPU: ${GRAINSWEEP_TARGET_CPU:-haswell}, Swift runtime linked in)"
  # --static-swift-stdlib: the binary then needs only Debian's libzmq5 (and glibc/libstdc++), so the
  # same file can be copied to nodes without a Swift toolchain (`--binary` there).
  (cd "$SRC" && swift build -c release --static-swift-stdlib)
  SRC="$(cd "$SRC" && swift build -c release --static-swift-stdlib --show-bin-path)/grainsweep"
fi
[ -x "$SRC" ] || { echo "bootstrap: $SRC is not an executable" >&2; exit 1; }
$SUDO install -d "$PREFIX/bin"
$SUDO install -m 0755 "$SRC" "$PREFIX/bin/grainsweep"
say "installed $PREFIX/bin/grainsweep"
if ldd "$PREFIX/bin/grainsweep" | grep -q "not found"; then
  echo "bootstrap: missing shared libraries:" >&2
  ldd "$PREFIX/bin/grainsweep" | grep "not found" >&2
  echo "bootstrap: a prebuilt binary needs the Swift runtime too: build with 'swift build -c release --static-swift-stdlib', or install the toolchain's runtime (usr/lib/swift/linux/*.so) on every node" >&2
  exit 1
fi

# 4. Smoke test: a tiny training task exercises the vector kernels (SIGILL on a CPU mismatch).
if out="$("$PREFIX/bin/grainsweep" train --threads 1 --epochs 1 --finetune_epochs 1 --train_samples 32 \
  --finetune_samples 16 --test_samples 16 --dim 32 --width 2 2>&1 | tail -n 1)" && grep -q '"easy_acc"' <<<"$out"; then
  say "smoke test passed (a tiny training task ran)"
else
  echo "bootstrap: smoke test failed: $out" >&2
  echo "bootstrap: if that is 'Illegal instruction', the binary's CPU baseline is newer than this host" >&2
  exit 1
fi

# 5. Optional service user for the systemd unit.
if [ -n "$SERVICE_USER" ]; then
  if ! id grainsweep >/dev/null 2>&1; then
    $SUDO useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin grainsweep
    say "created system user grainsweep"
  fi
  $SUDO install -d -m 0750 -o root -g grainsweep /etc/grainsweep /etc/grainsweep/keys
  say "key dir /etc/grainsweep/keys (root:grainsweep 0750): put coordinator.pub and this host's .key there (chgrp grainsweep, chmod 0640)"
fi
