#!/usr/bin/env bash
# Starts one grainsweep worker on every host of a hostfile, over ssh, with CURVE keys.
#
#   COORDINATOR=tcp://coord.example.org:5555 cluster/ssh/start-workers.sh [--dry-run] [--keys-only] HOSTFILE
#
# For each host (lines `user host slots [threads]`, `#` comments; see common.sh):
#   1. makes the host's key pair KEYS/workers/HOST.{key,pub} with `grainsweep keygen` if missing,
#      and authorises it: copies HOST.pub into the coordinator's authorised dir (KEYS/authorized);
#   2. copies KEYS/coordinator.pub and the host's secret key to REMOTE_DIR/worker-HOST/ (key 0600);
#   3. starts `grainsweep worker` there with setsid + nohup, pid file worker.pid, log worker.log,
#      unless the pid file names a live process.
# KEYS/coordinator.{key,pub} is created too if missing. The coordinator reads its authorised dir
# once, at start: authorise hosts (this script, or --keys-only) before starting it, or restart it
# afterwards (it resumes). Start the coordinator with
#   grainsweep coordinator SPEC --out DIR --bind tcp://0.0.0.0:5555 \
#     --secret-key KEYS/coordinator.key --authorized-keys KEYS/authorized
#
# Environment (besides SSH, SCP, REMOTE_DIR of common.sh):
#   COORDINATOR        endpoint the workers connect to, tcp://HOST:PORT (required unless --keys-only)
#   KEYS               local key directory (default: cluster-keys)
#   GRAINSWEEP         local binary used for keygen (default: grainsweep on PATH, else .build/release/grainsweep)
#   REMOTE_GRAINSWEEP  the binary on the hosts (default: grainsweep, i.e. on the login PATH; see bootstrap.sh)
#   WORKER_ARGS        extra worker arguments, e.g. "--give-up-after 3600 --log-level notice"
#
# --dry-run prints every command (keygen, cp, scp, ssh) instead of running it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"

KEYS_ONLY=""
HOSTFILE=""
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    --keys-only) KEYS_ONLY=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg" ;;
    *) [ -z "$HOSTFILE" ] || die "one hostfile only"; HOSTFILE="$arg" ;;
  esac
done
[ -n "$HOSTFILE" ] || die "usage: COORDINATOR=tcp://HOST:PORT $0 [--dry-run] [--keys-only] HOSTFILE"
KEYS="${KEYS:-cluster-keys}"
REMOTE_GRAINSWEEP="${REMOTE_GRAINSWEEP:-grainsweep}"
WORKER_ARGS="${WORKER_ARGS:-}"
if [ -z "${GRAINSWEEP:-}" ]; then
  if command -v grainsweep >/dev/null 2>&1; then GRAINSWEEP=grainsweep; else GRAINSWEEP=.build/release/grainsweep; fi
fi
if [ -z "$KEYS_ONLY" ]; then
  [ -n "${COORDINATOR:-}" ] || die "set COORDINATOR=tcp://HOST:PORT (the address workers connect to)"
  case "$COORDINATOR" in tcp://?*:[0-9]*) ;; *) die "COORDINATOR must look like tcp://HOST:PORT, got '$COORDINATOR'" ;; esac
  safe COORDINATOR "$COORDINATOR"
  safe REMOTE_GRAINSWEEP "$REMOTE_GRAINSWEEP"
  safe REMOTE_DIR "$REMOTE_DIR"
  for a in $WORKER_ARGS; do safe "WORKER_ARGS word" "$a"; done
fi
read_hostfile "$HOSTFILE"

# keygen NAME DIR: a key pair unless it exists.
keygen() {
  if [ -f "$2/$1.key" ] && [ -f "$2/$1.pub" ]; then return 0; fi
  run mkdir -p "$2"
  run "$GRAINSWEEP" keygen --out "$2" --name "$1"
}

keygen coordinator "$KEYS"
run mkdir -p "$KEYS/authorized"
for i in "${!H_HOST[@]}"; do
  host="${H_HOST[$i]}"
  keygen "$host" "$KEYS/workers"
  run cp "$KEYS/workers/$host.pub" "$KEYS/authorized/$host.pub"
done
if [ -n "$KEYS_ONLY" ]; then
  echo "keys ready: coordinator $KEYS/coordinator.key, authorised workers in $KEYS/authorized (${#H_HOST[@]} hosts)"
  exit 0
fi

failed=0
for i in "${!H_HOST[@]}"; do
  user="${H_USER[$i]}" host="${H_HOST[$i]}" slots="${H_SLOTS[$i]}" threads="${H_THREADS[$i]}"
  dir="$REMOTE_DIR/worker-$host"
  threads_arg=""
  [ -n "$threads" ] && threads_arg="--threads $threads"
  # The remote side is POSIX sh; every interpolated value passed `safe` above.
  script="set -e; umask 077; mkdir -p $dir; cd $dir
if [ -f worker.pid ] && kill -0 \$(cat worker.pid) 2>/dev/null; then echo \"$host: worker already running (pid \$(cat worker.pid))\"; exit 0; fi
chmod 600 worker.key
command -v $REMOTE_GRAINSWEEP >/dev/null 2>&1 || { echo \"$host: no $REMOTE_GRAINSWEEP (run cluster/bootstrap.sh there)\" >&2; exit 3; }
setsid nohup $REMOTE_GRAINSWEEP worker --connect $COORDINATOR --slots $slots $threads_arg --host $host --server-key coordinator.pub --secret-key worker.key $WORKER_ARGS >>worker.log 2>&1 </dev/null &
echo \$! >worker.pid
sleep 1
if kill -0 \$(cat worker.pid) 2>/dev/null; then echo \"$host: worker started (pid \$(cat worker.pid), $slots slots)\"; else echo \"$host: worker exited at once; tail of $dir/worker.log:\" >&2; tail -n 5 worker.log >&2; exit 4; fi"
  if ! {
    remote "$user" "$host" "umask 077; mkdir -p $dir" &&
      copy "$KEYS/coordinator.pub" "$user" "$host" "$dir/coordinator.pub" &&
      copy "$KEYS/workers/$host.key" "$user" "$host" "$dir/worker.key" &&
      remote "$user" "$host" "$script"
  }; then
    echo "$host: FAILED" >&2
    failed=$((failed + 1))
  fi
done
[ "$failed" = 0 ] || { echo "$failed of ${#H_HOST[@]} hosts failed" >&2; exit 1; }
