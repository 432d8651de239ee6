#!/usr/bin/env bash
# Stops the workers that start-workers.sh started on the hosts of a hostfile.
#
#   cluster/ssh/stop-workers.sh [--dry-run] [--wait SECONDS] HOSTFILE
#
# Sends SIGTERM to the pid in REMOTE_DIR/worker-HOST/worker.pid: the worker hands its running
# tasks back to the coordinator (they do not use up an attempt) and exits. Waits up to --wait
# seconds (default 30) for it to go, then SIGKILLs it. Removes the pid file. Keys and logs stay.
# Environment: SSH, REMOTE_DIR, DRY_RUN as in common.sh.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"

WAIT=30
HOSTFILE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --wait) shift; WAIT="${1:-}"; case "$WAIT" in '' | *[!0-9]*) die "--wait needs whole seconds" ;; esac ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$HOSTFILE" ] || die "one hostfile only"; HOSTFILE="$1" ;;
  esac
  shift
done
[ -n "$HOSTFILE" ] || die "usage: $0 [--dry-run] [--wait SECONDS] HOSTFILE"
safe REMOTE_DIR "$REMOTE_DIR"
read_hostfile "$HOSTFILE"

failed=0
for i in "${!H_HOST[@]}"; do
  user="${H_USER[$i]}" host="${H_HOST[$i]}"
  dir="$REMOTE_DIR/worker-$host"
  script="cd $dir 2>/dev/null && [ -f worker.pid ] || { echo \"$host: no worker.pid: not running\"; exit 0; }
pid=\$(cat worker.pid)
if ! kill -0 \"\$pid\" 2>/dev/null; then rm -f worker.pid; echo \"$host: worker (pid \$pid) was not running\"; exit 0; fi
kill -TERM \"\$pid\"
n=0
while kill -0 \"\$pid\" 2>/dev/null && [ \$n -lt $((WAIT * 10)) ]; do sleep 0.1; n=\$((n + 1)); done
if kill -0 \"\$pid\" 2>/dev/null; then kill -KILL \"\$pid\"; echo \"$host: worker (pid \$pid) killed after ${WAIT}s\"; else echo \"$host: worker (pid \$pid) stopped\"; fi
rm -f worker.pid"
  remote "$user" "$host" "$script" || { echo "$host: FAILED" >&2; failed=$((failed + 1)); }
done
[ "$failed" = 0 ] || { echo "$failed of ${#H_HOST[@]} hosts failed" >&2; exit 1; }
