#!/usr/bin/env bash
# Multi-host tests of grainsweep over real (virtual) networks: every "host" is a Linux network
# namespace with its own address, joined to the others by a veth pair and a bridge that lives in
# a namespace of its own (nothing is added to the root namespace; traffic never leaves these
# namespaces). The coordinator runs in one namespace, workers in the others, over CURVE.
#
#   cluster/tests/netns-sweep.sh [PATH/TO/grainsweep]      (or GRAINSWEEP=...; default .build/debug/grainsweep)
#
# Tests:
#   curve-sweep       3 hosts (coordinator + 2 workers) over CURVE: exactly one row per planned task
#   unauthorised      a worker whose key is not in the authorised dir, on a 4th host, gets no task
#   link-cut          one worker host's link is cut mid-sweep: its leases expire and its tasks run
#                     elsewhere; when the link comes back its late results are dropped, not counted twice
#   coordinator-cut   the coordinator's link is cut: all leases expire; when it comes back the
#                     workers' running tasks are adopted (or re-run), and each task has one row
#
# Needs root and `ip netns` (iproute2), veth and bridge support in the kernel. Without them it prints
# "netns: 0 passed, 0 failed, 1 skipped" and exits 0. Names are unique per run (gs-$$-…), and a trap
# removes the namespaces and the processes in them even when a test fails. Bounded: ~30 s typical.
set -uo pipefail

GS="${1:-${GRAINSWEEP:-.build/debug/grainsweep}}"
P="gs-$$"                       # prefix of every namespace of this run
NET=10.213.7                    # a private /24; it exists only inside our namespaces
PORT=5555
PASSED=0
FAILED=0

skip() {
  echo "netns: skipped: $*" >&2
  echo "netns: 0 passed, 0 failed, 1 skipped"
  exit 0
}

[ "$(id -u)" = 0 ] || skip "not root"
command -v ip >/dev/null 2>&1 || skip "no ip (iproute2)"
ip netns list >/dev/null 2>&1 || skip "ip netns unavailable"
command -v timeout >/dev/null 2>&1 || skip "no timeout (coreutils)"

case "$GS" in /*) ;; *) GS="$PWD/$GS" ;; esac
if [ ! -x "$GS" ]; then
  echo "netns: no grainsweep binary at $GS (build first: swift build)" >&2
  echo "netns: 0 passed, 1 failed"
  exit 1
fi

TMP="$(mktemp -d /tmp/gs-netns.XXXXXX)"
NAMESPACES=()
PIDS=()

cleanup() {
  local ns pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  # Anything still running inside our namespaces was started by this script.
  for ns in "${NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [ -n "${KEEP_TMP:-}" ]; then echo "netns: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "netns: $*" >&2; }
pass() { PASSED=$((PASSED + 1)); echo "PASS $1"; }
failt() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }

# --- topology --------------------------------------------------------------------------------
# gs-$$-br holds bridge br0; gs-$$-hN (N = 1..4) has eth0 = $NET.(10+N), its peer pN on br0.
BR="$P-br"
setup_topology() {
  ip netns add "$BR" || return 1
  NAMESPACES+=("$BR")
  ip -n "$BR" link set lo up || return 1
  ip -n "$BR" link add br0 type bridge || return 1
  ip -n "$BR" link set br0 up || return 1
  local n ns
  for n in 1 2 3 4; do
    ns="$P-h$n"
    ip netns add "$ns" || return 1
    NAMESPACES+=("$ns")
    # Both ends are created directly in their namespaces: no names in the root namespace.
    ip link add eth0 netns "$ns" type veth peer name "p$n" netns "$BR" || return 1
    ip -n "$BR" link set "p$n" master br0 || return 1
    ip -n "$BR" link set "p$n" up || return 1
    ip -n "$ns" link set lo up || return 1
    ip -n "$ns" addr add "$NET.$((10 + n))/24" dev eth0 || return 1
    ip -n "$ns" link set eth0 up || return 1
  done
  # Wait (bounded) until every host reaches the coordinator's host (bridge ports become forwarding).
  local tries
  for n in 2 3 4; do
    for tries in $(seq 1 50); do
      # No ping on minimal images: a TCP connect that is *refused* proves the path works.
      case "$(ip netns exec "$P-h$n" timeout 1 bash -c "exec 3<>/dev/tcp/$NET.11/$PORT" 2>&1)" in *refused*) break ;; esac
      [ "$tries" = 50 ] && { log "h$n cannot reach $NET.11"; return 1; }
      sleep 0.1
    done
  done
}

if ! ip netns add "$P-probe" 2>/dev/null; then skip "cannot create network namespaces"; fi
ip netns del "$P-probe"
if ! setup_topology; then
  echo "FAIL topology: could not build namespaces/veth/bridge"
  echo "netns: 0 passed, 1 failed"
  exit 1
fi
log "hosts: $P-h1 ($NET.11, coordinator) $P-h2 ($NET.12) $P-h3 ($NET.13) $P-h4 ($NET.14); bridge in $BR"

# --- keys --------------------------------------------------------------------------------------
mkdir -p "$TMP/keys" "$TMP/authorized" "$TMP/rogue"
"$GS" keygen --out "$TMP/keys" --name coordinator >/dev/null || { echo "FAIL keygen"; echo "netns: 0 passed, 1 failed"; exit 1; }
for w in host2 host3; do
  "$GS" keygen --out "$TMP/keys" --name "$w" >/dev/null || exit 1
  cp "$TMP/keys/$w.pub" "$TMP/authorized/"
done
"$GS" keygen --out "$TMP/rogue" --name host4 >/dev/null || exit 1   # never authorised
[ "$(stat -c %a "$TMP/keys/host2.key")" = 600 ] || log "warning: host2.key is not mode 0600"

# --- helpers -----------------------------------------------------------------------------------
# run_in NS NAME LOGFILE CMD...: starts CMD in namespace NS in the background, bounded by a timeout.
run_in() {
  local ns="$1" log="$2"
  shift 2
  ip netns exec "$ns" timeout -k 5 90 "$@" >"$log" 2>&1 &
  PIDS+=($!)
  LASTPID=$!
}

# start_coordinator DIR SPEC EXTRA...
start_coordinator() {
  local dir="$1" spec="$2"
  shift 2
  run_in "$P-h1" "$dir/coordinator.log" "$GS" coordinator "$spec" --out "$dir/out" \
    --bind "tcp://$NET.11:$PORT" --secret-key "$TMP/keys/coordinator.key" --authorized-keys "$TMP/authorized" \
    --progress log --progress-interval 1 "$@"
  COORD=$LASTPID
}

# start_worker N DIR KEYFILE EXTRA...: a worker on host N reporting host name "hostN".
start_worker() {
  local n="$1" dir="$2" key="$3"
  shift 3
  run_in "$P-h$n" "$dir/worker$n.log" "$GS" worker --connect "tcp://$NET.11:$PORT" \
    --server-key "$TMP/keys/coordinator.pub" --secret-key "$key" --host "host$n" --give-up-after 20 "$@"
  WORKER=$LASTPID
}

# wait_pid PID SECONDS: waits for a background job; returns its exit status, or 124 on timeout.
wait_pid() {
  local pid="$1" limit="$2" t=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.1
    t=$((t + 1))
    if [ "$t" -ge $((limit * 10)) ]; then return 124; fi
  done
  wait "$pid"
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds; 1 on timeout.
wait_for() {
  local limit="$1" t=0
  shift
  until "$@" >/dev/null 2>&1; do
    sleep 0.1
    t=$((t + 1))
    [ "$t" -ge $((limit * 10)) ] && return 1
  done
  return 0
}

# check_rows DIR SPEC: results.csv has exactly one row per planned task and nothing else.
check_rows() {
  local dir="$1" spec="$2"
  "$GS" plan "$spec" --format csv | tail -n +2 | cut -d, -f1 | sort >"$dir/planned.txt" || return 1
  [ -f "$dir/out/results.csv" ] || { echo "no results.csv"; return 1; }
  tail -n +2 "$dir/out/results.csv" | cut -d, -f1 | sort >"$dir/rows.txt"
  local dup
  dup="$(uniq -d "$dir/rows.txt" | wc -l)"
  if [ "$dup" != 0 ]; then echo "$dup task ids have more than one row"; return 1; fi
  if ! cmp -s "$dir/planned.txt" "$dir/rows.txt"; then
    echo "rows differ from the plan: $(wc -l <"$dir/rows.txt") rows, $(wc -l <"$dir/planned.txt") planned; missing $(comm -23 "$dir/planned.txt" "$dir/rows.txt" | wc -l), extra $(comm -13 "$dir/planned.txt" "$dir/rows.txt" | wc -l)"
    return 1
  fi
}

# column DIR NAME: prints the values of a results.csv column (no quoting in our columns).
column() {
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } c { print $c }' "$1/out/results.csv"
}

joined() { [ "$(grep -c 'worker joined' "$1" 2>/dev/null)" -ge "$2" ]; }

per_host() { column "$1" host | sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep=" "}'; }

summary_line() { grep -E "tasks done" "$1/coordinator.log" | tail -1 | sed 's/^.*\] //'; }

dump_logs() {
  local f
  for f in "$1"/*.log; do echo "--- $(basename "$f") (last 15 lines)"; tail -n 15 "$f"; done | sed 's/^/    /'
}

# --- test 1 + 2: a CURVE sweep across 3 hosts, with an unauthorised worker on a 4th ----------------
test_curve_and_unauthorised() {
  local d="$TMP/t1"
  mkdir -p "$d"
  cat >"$d/spec.yaml" <<'EOF'
name: netns-curve
experiment: sleep
axes:
  sleep_ms: [10, 30, 50]
  epochs: [0, 2]
seeds: 4            # 3 × 2 × 4 = 24 tasks
EOF
  start_coordinator "$d" "$d/spec.yaml"
  local coord=$COORD
  # The unauthorised worker knows the server key but its own key is not authorised: ZAP must refuse it.
  start_worker 4 "$d" "$TMP/rogue/host4.key" --slots 4 --give-up-after 6
  local rogue=$WORKER
  sleep 0.5
  start_worker 2 "$d" "$TMP/keys/host2.key" --slots 2 --threads 1
  local w2=$WORKER
  start_worker 3 "$d" "$TMP/keys/host3.key" --slots 2 --threads 1
  local w3=$WORKER
  local rc=0
  wait_pid "$coord" 60 || rc=$?
  wait_pid "$w2" 15
  local w2rc=$?
  wait_pid "$w3" 15
  local w3rc=$?
  wait_pid "$rogue" 20
  local roguerc=$?
  log "curve-sweep: coordinator exit $rc, workers $w2rc/$w3rc, unauthorised worker $roguerc; rows per host: $(per_host "$d")"
  log "curve-sweep: summary: $(summary_line "$d")"

  local why=""
  if [ "$rc" != 0 ]; then why="coordinator exit $rc"
  elif ! why="$(check_rows "$d" "$d/spec.yaml")"; then :
  elif [ "$w2rc" != 0 ] || [ "$w3rc" != 0 ]; then why="workers exited $w2rc/$w3rc (expected 0: sweep finished)"
  elif ! grep -q "security=curve\|security: curve\|curve" "$d/coordinator.log"; then why="coordinator did not log CURVE"
  else why=""; fi
  if [ -z "$why" ]; then pass "curve-sweep ($(wc -l <"$d/rows.txt") rows = plan; $(per_host "$d"))"; else failt curve-sweep "$why"; dump_logs "$d"; fi

  why=""
  if [ ! -f "$d/out/results.csv" ]; then why="no results.csv to check"
  elif column "$d" host | grep -qx host4; then why="host4 (unauthorised) has $(column "$d" host | grep -cx host4) rows"
  elif grep -q "host4" "$d/coordinator.log"; then why="coordinator log mentions host4: $(grep -m1 host4 "$d/coordinator.log")"
  elif [ "$roguerc" != 4 ]; then why="unauthorised worker exited $roguerc (expected 4: gave up waiting for a coordinator)"
  fi
  if [ -z "$why" ]; then pass "unauthorised (host4 got no task, gave up with exit 4)"; else failt unauthorised "$why"; dump_logs "$d"; fi
}

# --- test 3: a worker host's link is cut mid-sweep, then restored ------------------------------------
test_link_cut() {
  local d="$TMP/t3"
  mkdir -p "$d"
  cat >"$d/spec.yaml" <<'EOF'
name: netns-linkcut
experiment: sleep
axes:
  sleep_ms: [300, 400]
  epochs: [2]
seeds: 20           # 2 × 20 = 40 tasks of 0.3-0.4 s
EOF
  # Leases expire after 5 × 200 ms = 1 s of silence.
  start_coordinator "$d" "$d/spec.yaml" --heartbeat-ms 200 --liveness 5 --max-attempts 5
  local coord=$COORD
  start_worker 2 "$d" "$TMP/keys/host2.key" --slots 2 --threads 1
  local w2=$WORKER
  start_worker 3 "$d" "$TMP/keys/host3.key" --slots 3 --threads 1
  local w3=$WORKER
  local why=""
  # Cut host3's link (its port on the bridge: a pulled cable, host3's own interface stays up)
  # while it holds leases: after its first result, so it has new tasks running.
  if ! wait_for 20 grep -q ',host3,' "$d/out/results.csv"; then why="host3 produced no row before the cut"; fi
  if [ -z "$why" ]; then
    ip -n "$BR" link set p3 down
    local cut_rows
    cut_rows=$(($(wc -l <"$d/out/results.csv") - 1))
    log "link-cut: cut host3's link after $cut_rows rows"
    if ! wait_for 10 grep -q "declared dead" "$d/coordinator.log"; then why="coordinator never declared host3 dead"; fi
    # Let the expired leases run elsewhere (and host3 finish its own copies), then restore the link
    # well within the time a worker keeps unacknowledged results (3 × liveness × heartbeat = 3 s).
    sleep 1
    ip -n "$BR" link set p3 up
    log "link-cut: restored host3's link"
  fi
  local rc=0
  wait_pid "$coord" 60 || rc=$?
  wait_pid "$w2" 15
  wait_pid "$w3" 15
  local w3rc=$?
  local summary
  summary="$(summary_line "$d")"
  local reruns stale rejected unknown
  reruns="$(column "$d" attempt 2>/dev/null | awk '$1 > 1' | wc -l)"
  stale="$(sed -n 's/.* \([0-9]*\) repeated results of finished tasks.*/\1/p' <<<"$summary")"
  rejected="$(sed -n 's/.* \([0-9]*\) without a lease.*/\1/p' <<<"$summary")"
  unknown="$(sed -n 's/.* \([0-9]*\) from unknown peers.*/\1/p' <<<"$summary")"
  log "link-cut: coordinator exit $rc, host3 worker exit $w3rc; rows per host: $(per_host "$d"); rows with attempt > 1: $reruns"
  log "link-cut: summary: $summary"
  log "link-cut: late messages: repeated=${stale:-0} without-a-lease=${rejected:-0} unknown-peer=${unknown:-0}; host3 reconnects: $(grep -c 'reconnecting' "$d/worker3.log"); adoptions: $(grep -c 'adopted a running task' "$d/coordinator.log")"
  if [ -n "$why" ]; then :
  elif [ "$rc" != 0 ]; then why="coordinator exit $rc"
  elif ! why="$(check_rows "$d" "$d/spec.yaml")"; then :
  elif [ "$reruns" -lt 1 ]; then why="no task was re-run (no row with attempt > 1)"
  elif [ "$(grep 'worker joined' "$d/coordinator.log" | grep -c 'worker=host3:')" -lt 2 ]; then
    why="host3 did not rejoin after the link came back"
  else why=""; fi
  if [ -z "$why" ]; then
    pass "link-cut ($(wc -l <"$d/rows.txt") rows = plan, each once; $reruns re-run; repeated=${stale:-0} without-a-lease=${rejected:-0} unknown-peer=${unknown:-0})"
  else
    failt link-cut "$why"; dump_logs "$d"
  fi
}

# --- test 4: the coordinator's own link is cut: every worker loses it at once -------------------------
# Leases expire on the coordinator while the workers keep running their tasks; when the link comes
# back the workers reconnect and offer what they hold, and the coordinator adopts the tasks it had
# not handed out again (nobody was there to take them) instead of running them twice.
test_coordinator_cut() {
  local d="$TMP/t4"
  mkdir -p "$d"
  printf 'name: netns-coordcut\nexperiment: sleep\naxes:\n  sleep_ms: [1500]\n  epochs: [3]\nseeds: 12\n' >"$d/spec.yaml"
  start_coordinator "$d" "$d/spec.yaml" --heartbeat-ms 200 --liveness 5 --max-attempts 5
  local coord=$COORD
  start_worker 2 "$d" "$TMP/keys/host2.key" --slots 2 --threads 1
  local w2=$WORKER
  start_worker 3 "$d" "$TMP/keys/host3.key" --slots 2 --threads 1
  local w3=$WORKER
  local why=""
  wait_for 20 joined "$d/coordinator.log" 2 || why="workers did not join"
  sleep 0.5
  ip -n "$BR" link set p1 down
  log "coordinator-cut: cut the coordinator's link"
  wait_for 10 grep -q "declared dead" "$d/coordinator.log" || why="coordinator never declared a worker dead"
  sleep 0.3
  ip -n "$BR" link set p1 up
  log "coordinator-cut: restored the coordinator's link"
  local rc=0
  wait_pid "$coord" 60 || rc=$?
  wait_pid "$w2" 15
  wait_pid "$w3" 15
  local summary adopted reruns
  summary="$(summary_line "$d")"
  adopted="$(grep -c 'adopted a running task' "$d/coordinator.log")"
  reruns="$(column "$d" attempt 2>/dev/null | awk '$1 > 1' | wc -l)"
  log "coordinator-cut: exit $rc; rows per host: $(per_host "$d"); adopted: $adopted; rows with attempt > 1: $reruns"
  log "coordinator-cut: summary: $summary"
  if [ -n "$why" ]; then :
  elif [ "$rc" != 0 ]; then why="coordinator exit $rc"
  elif ! why="$(check_rows "$d" "$d/spec.yaml")"; then :
  else why=""; fi
  if [ -z "$why" ]; then
    pass "coordinator-cut ($(wc -l <"$d/rows.txt") rows = plan, each once; $adopted adopted; $reruns re-run)"
  else
    failt coordinator-cut "$why"; dump_logs "$d"
  fi
}

T0=$SECONDS
test_curve_and_unauthorised
test_link_cut
test_coordinator_cut
log "took $((SECONDS - T0)) s"
echo "netns: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
