#!/usr/bin/env bash
# Tests cluster/ssh/{start,stop}-workers.sh against a real sshd that this script runs itself on
# loopback (port chosen per run, throwaway host and user keys; nothing in ~/.ssh is touched).
# Two hostfile lines (127.0.0.1 and localhost) reach this machine as two "hosts".
#
#   cluster/tests/ssh-workers.sh [PATH/TO/grainsweep]   (or GRAINSWEEP=...; default .build/debug/grainsweep)
#
# Tests: dry-run prints the commands and changes nothing; --keys-only makes and authorises keys;
# start-workers starts both workers over ssh and a CURVE sweep completes with one row per planned
# task from both hosts; stop-workers stops idle workers (SIGTERM) and removes the pid files.
# Needs /usr/sbin/sshd and ssh; skips otherwise. Prints "ssh: N passed, M failed".
set -uo pipefail
GS="${1:-${GRAINSWEEP:-.build/debug/grainsweep}}"
case "$GS" in /*) ;; *) GS="$PWD/$GS" ;; esac
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PASSED=0 FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $1"; }
failt() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null; then
  echo "ssh: 0 passed, 0 failed, 1 skipped (no sshd/ssh)"; exit 0
fi
[ -x "$GS" ] || { echo "ssh: no binary $GS"; echo "ssh: 0 passed, 1 failed"; exit 1; }

TMP="$(mktemp -d /tmp/gs-ssh.XXXXXX)"
export HOME_SAVE="$HOME"
SSHD_PID="" COORD_PID=""
cleanup() {
  [ -n "$COORD_PID" ] && kill -TERM "$COORD_PID" 2>/dev/null
  # Workers started over ssh: stop them by their pid files (started by this test).
  for f in "$TMP"/remote/worker-*/worker.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
  [ -n "$SSHD_PID" ] && kill -TERM "$SSHD_PID" 2>/dev/null
  wait 2>/dev/null
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$((20000 + $$ % 20000))
ssh-keygen -q -t ed25519 -N '' -f "$TMP/hostkey" && ssh-keygen -q -t ed25519 -N '' -f "$TMP/userkey" || exit 1
cp "$TMP/userkey.pub" "$TMP/authorized_keys"
mkdir -p /run/sshd
cat >"$TMP/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $TMP/hostkey
AuthorizedKeysFile $TMP/authorized_keys
PidFile $TMP/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
EOF
/usr/sbin/sshd -D -e -f "$TMP/sshd_config" 2>"$TMP/sshd.log" &
SSHD_PID=$!
SSHOPTS="-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i $TMP/userkey"
export SSH="ssh -p $PORT $SSHOPTS" SCP="scp -q -P $PORT $SSHOPTS"
for _ in $(seq 50); do $SSH root@127.0.0.1 true 2>/dev/null && break; sleep 0.1; done
$SSH root@127.0.0.1 true || { echo "FAIL sshd did not come up: $(tail -3 "$TMP/sshd.log")"; echo "ssh: 0 passed, 1 failed"; exit 1; }

export REMOTE_DIR="$TMP/remote" KEYS="$TMP/keys" GRAINSWEEP="$GS" REMOTE_GRAINSWEEP="$GS"
CPORT=$((PORT + 1))
export COORDINATOR="tcp://127.0.0.1:$CPORT"
cat >"$TMP/hosts" <<EOF
# user host slots [threads]
root 127.0.0.1 2 1
root localhost 1      # threads: worker default
EOF

# 1. dry run: prints keygen, cp, scp and ssh commands; creates nothing.
out="$("$HERE/ssh/start-workers.sh" --dry-run "$TMP/hosts" 2>&1)"
if [ $? = 0 ] && grep -q "keygen --out $KEYS --name coordinator" <<<"$out" && grep -q "scp -q -P $PORT.* root@localhost:$REMOTE_DIR/worker-localhost/worker.key" <<<"$out" \
  && grep -q "setsid nohup $GS worker --connect $COORDINATOR --slots 2 --threads 1 --host 127.0.0.1" <<<"$out" && [ ! -e "$KEYS" ] && [ ! -e "$REMOTE_DIR" ]; then
  pass "dry-run ($(grep -c '^+' <<<"$out") commands printed, nothing created)"
else
  failt dry-run "$out"
fi
out="$("$HERE/ssh/stop-workers.sh" --dry-run "$TMP/hosts" 2>&1)"
if grep -q "kill -TERM" <<<"$out" && [ "$(grep -c '^+ ssh' <<<"$out")" = 2 ]; then pass "stop dry-run"; else failt "stop dry-run" "$out"; fi
# A bad hostfile is refused with its line number.
printf 'root host;rm 2\n' >"$TMP/bad"
if out="$("$HERE/ssh/start-workers.sh" --dry-run "$TMP/bad" 2>&1)"; then failt "bad hostfile" "accepted"; else
  grep -q "bad:1" <<<"$out" && pass "bad hostfile refused ($out)" || failt "bad hostfile" "$out"; fi

# 2. keys only, then the coordinator (it reads the authorised dir at start).
"$HERE/ssh/start-workers.sh" --keys-only "$TMP/hosts" >/dev/null
if [ -f "$KEYS/coordinator.key" ] && [ -f "$KEYS/authorized/127.0.0.1.pub" ] && [ -f "$KEYS/authorized/localhost.pub" ] \
  && [ "$(stat -c %a "$KEYS/workers/localhost.key")" = 600 ]; then pass "keys-only"; else failt keys-only "$(find "$KEYS" | tr '\n' ' ')"; fi

cat >"$TMP/spec.yaml" <<'EOF'
name: ssh-test
experiment: sleep
axes:
  sleep_ms: [100, 200]
seeds: 12           # 24 tasks
EOF
# 3. start over ssh (before the coordinator: workers keep reconnecting until it is up); the sweep
#    completes with rows from both hosts.
out="$("$HERE/ssh/start-workers.sh" "$TMP/hosts" 2>&1)"
rc=$?
echo "$out" | sed 's/^/    /'
for _ in $(seq 150); do
  [ "$(cat "$REMOTE_DIR"/worker-*/worker.log 2>/dev/null | grep -c 'worker starting')" -ge 2 ] && break
  sleep 0.1
done
timeout 60 "$GS" coordinator "$TMP/spec.yaml" --out "$TMP/out" --bind "$COORDINATOR" \
  --secret-key "$KEYS/coordinator.key" --authorized-keys "$KEYS/authorized" --progress log >"$TMP/coordinator.log" 2>&1 &
COORD_PID=$!
[ "$rc" = 0 ] || kill -TERM "$COORD_PID" 2>/dev/null
wait "$COORD_PID"
crc=$?
COORD_PID=""
"$GS" plan "$TMP/spec.yaml" --format csv | tail -n +2 | cut -d, -f1 | sort >"$TMP/planned"
tail -n +2 "$TMP/out/results.csv" | cut -d, -f1 | sort >"$TMP/rows"
hosts="$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="host") c=i; next} {print $c}' "$TMP/out/results.csv" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')"
if [ "$rc" = 0 ] && [ "$crc" = 0 ] && cmp -s "$TMP/planned" "$TMP/rows" && grep -q "127.0.0.1=" <<<"$hosts" && grep -q "localhost=" <<<"$hosts" \
  && [ "$(stat -c %a "$REMOTE_DIR/worker-localhost/worker.key")" = 600 ]; then
  pass "start-workers + CURVE sweep ($(wc -l <"$TMP/rows") rows = plan; $hosts)"
else
  failt "start-workers" "start rc $rc, coordinator rc $crc, hosts: $hosts; $(tail -3 "$TMP/coordinator.log")"
fi
sleep 1   # workers leave after the coordinator's final goodbye

# 4. workers with no coordinator wait (reconnecting); stop-workers stops them.
"$HERE/ssh/start-workers.sh" "$TMP/hosts" >/dev/null 2>&1
pids="$(cat "$REMOTE_DIR"/worker-*/worker.pid 2>/dev/null | tr '\n' ' ')"
again="$("$HERE/ssh/start-workers.sh" "$TMP/hosts" 2>&1)"
out="$("$HERE/ssh/stop-workers.sh" --wait 10 "$TMP/hosts" 2>&1)"
alive=0
for p in $pids; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
if [ "$(wc -w <<<"$pids")" = 2 ] && grep -q "already running" <<<"$again" && [ "$alive" = 0 ] && [ "$(grep -c 'stopped' <<<"$out")" = 2 ] \
  && ! ls "$REMOTE_DIR"/worker-*/worker.pid >/dev/null 2>&1; then
  pass "stop-workers (pids $pids stopped by SIGTERM; a second start saw them running)"
else
  failt "stop-workers" "pids '$pids' alive $alive; $again; $out"
fi
echo "ssh: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
