#!/usr/bin/env bash
# Scale with real sockets (issue 12): one real coordinator, N simulated workers over real ZeroMQ
# (Benchmarks/Sources/LoadWorkers, a few processes of at most LOAD_PER_PROCESS workers), 1 s
# heartbeats, tasks of the sleep family flowing the whole run.
#
#   Benchmarks/run-load.sh [N=1000] [seconds=60] [task_ms=5000]
#
# Each simulated worker has 1 slot and answers a task after its sleep_ms (task_ms), so the
# coordinator serves N*1000/task_ms tasks/s on top of N heartbeats/s each way. Prints: workers
# joined, false deaths (workers the coordinator declared dead + resets the workers received, while
# every one of them kept heartbeating), the coordinator's CPU % (from /proc/PID/stat utime+stime,
# from 5 s after the last join to the end) and RSS (VmRSS at the end, VmHWM; KB per worker above
# the RSS before any worker connected), and the lease round trip the workers saw (result sent ->
# next task received, beyond the task's own time) p50/p99.
# Environment: LOAD_PER_PROCESS (default 5000), LOAD_CONNECT_RATE (connections/s, default 2000),
# HEARTBEAT_MS (default 1000), KEEP=1 to keep the temporary directory (logs, samples).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
DURATION=${2:-60}
TASK_MS=${3:-5000}
PER_PROCESS=${LOAD_PER_PROCESS:-5000}
RATE=${LOAD_CONNECT_RATE:-2000}

swift build -c release --scratch-path .build-load --product grainsweep >/dev/null
(cd Benchmarks && swift build -c release --scratch-path ../.build-loadbench --product LoadWorkers >/dev/null)
BIN=.build-load/release/grainsweep
LOAD=.build-loadbench/release/LoadWorkers

# The coordinator holds one descriptor per worker: raise the soft limit as far as allowed.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((N + 256)) ]; then
  echo "run-load.sh: RLIMIT_NOFILE hard limit $hard is too low for a coordinator with $N workers (needs about $((N + 256))); raise it (as root: ulimit -Hn, limits.conf, LimitNOFILE=) or lower N" >&2
  exit 2
fi
ulimit -n "$hard"

TMP=$(mktemp -d)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# Enough tasks that they keep flowing past the end of the run.
seeds=$(( N * (DURATION + 30) * 1000 / TASK_MS + N ))
cat >"$TMP/load.yaml" <<EOF
# run-load.sh: $N workers, ${DURATION} s, tasks of ${TASK_MS} ms
name: load-$N
experiment: sleep
base:
  sleep_ms: $TASK_MS
seeds: $seeds
EOF

port=$((20000 + RANDOM % 20000))
$BIN coordinator "$TMP/load.yaml" --out "$TMP/out" --bind "tcp://127.0.0.1:$port" --heartbeat-ms "${HEARTBEAT_MS:-1000}" \
  --progress log --progress-interval 10 --grace-seconds 1 2>"$TMP/coordinator.log" &
cpid=$!
for _ in $(seq 1 600); do
  grep -q "serving sweep" "$TMP/coordinator.log" && break
  kill -0 "$cpid" 2>/dev/null || { cat "$TMP/coordinator.log" >&2; exit 1; }
  sleep 0.1
done

tick=$(getconf CLK_TCK)
sample() {  # seconds since start, cpu ticks, VmRSS kB, VmHWM kB
  local stat rss hwm
  stat=$(cut -d')' -f2 "/proc/$cpid/stat" 2>/dev/null) || return 1
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$cpid/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$cpid/status")
  # Fields after "(comm)": state is 1, utime 12, stime 13.
  echo "$(awk -v s="$start" 'BEGIN {getline u < "/proc/uptime"; split(u, a, " "); printf "%.2f", a[1] - s}') \
$(echo "$stat" | awk '{print $12 + $13}') $rss $hwm"
}
start=$(awk '{print $1}' /proc/uptime)
base_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$cpid/status")

procs=$(( (N + PER_PROCESS - 1) / PER_PROCESS ))
pids=()
for p in $(seq 0 $((procs - 1))); do
  n=$(( N / procs + (p < N % procs ? 1 : 0) ))
  $LOAD --connect "tcp://127.0.0.1:$port" --workers "$n" --process "$p" --duration "$DURATION" \
    --delay-param sleep_ms --connect-rate $((RATE / procs)) --rtt-out "$TMP/rtt.$p" --progress 10 \
    >"$TMP/load.$p.json" 2>"$TMP/load.$p.log" &
  pids+=($!)
done

: >"$TMP/samples"
running=1
while [ $running = 1 ]; do
  sample >>"$TMP/samples" || true
  sleep 1
  running=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && running=1; done
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
# The workers said goodbye; stop the coordinator before its liveness rule could matter.
kill -INT "$cpid" 2>/dev/null || true
wait "$cpid" || true

sum() { cat "$TMP"/load.*.json | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" | awk '{s += $1} END {print s + 0}'; }
joined=$(sum joined)
resets=$(sum resets)
silences=$(sum silences)
completed=$(sum tasksCompleted)
tool_cpu=$(sum cpuPercent)
last_join=$(cat "$TMP"/load.*.json | sed -n 's/.*"allJoinedSeconds":\([0-9.]*\).*/\1/p' | sort -n | tail -1)
dead_single=$({ grep "declared dead" "$TMP/coordinator.log" || true; } | grep -vc "many workers went silent" || true)
dead_mass=$({ grep "many workers went silent" "$TMP/coordinator.log" || true; } | sed -n 's/.*workers.silent=\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
dead=$((dead_single + dead_mass))
sort -n "$TMP"/rtt.* >"$TMP/rtt.all" 2>/dev/null || : >"$TMP/rtt.all"
rtt_n=$(wc -l <"$TMP/rtt.all")
q() { awk -v q="$1" -v n="$rtt_n" 'n > 0 && NR == int(n * q) + 1 {print $1}' "$TMP/rtt.all"; }
# CPU over the steady part: from 5 s after the last worker joined to the last sample.
from=$(awk -v j="${last_join:-0}" 'BEGIN {print j + 5}')
read -r cpu rss_join rss hwm <<<"$(awk -v from="$from" -v tick="$tick" '
  $1 >= from && !t0 {t0 = $1; c0 = $2; r0 = $3}
  {t1 = $1; c1 = $2; rss = $3; hwm = $4}
  END {printf "%.1f %d %d %d\n", (t1 > t0 ? (c1 - c0) / tick / (t1 - t0) * 100 : 0), r0, rss, hwm}' "$TMP/samples")"
summary=$({ grep -o '[0-9]*/[0-9]* tasks done.*' "$TMP/coordinator.log" || true; } | tail -1)

echo "coordinator: $summary"
echo "load processes: $procs; tasks completed $completed; worker silences $silences; load tool CPU $tool_cpu % (all processes)"
printf '%-7s %-7s %-12s %-9s %-11s %-10s %-7s %-10s %-10s %-10s\n' N joined false_deaths coord_CPU RSS_join_MB RSS_end_MB HWM_MB KB/worker rtt_p50_ms rtt_p99_ms
printf '%-7s %-7s %-12s %-9s %-11s %-10s %-7s %-10s %-10s %-10s\n' "$N" "$joined" "$dead+$resets" "$cpu%" \
  "$((rss_join / 1024))" "$((rss / 1024))" "$((hwm / 1024))" "$(( (rss_join - base_rss) / N ))" "$(q 0.5)" "$(q 0.99)"
echo "(false deaths: declared dead by the coordinator + resets received by workers; CPU from $from s (5 s after the last join) to the end;"
echo " RSS_join at that moment, KB/worker = (RSS_join - RSS before any worker $((base_rss / 1024)) MB) / N; $rtt_n round trips)"
exit $status
