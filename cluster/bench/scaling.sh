#!/usr/bin/env bash
# Scaling benchmark: one real training sweep (experiment: hierarchy, 24 tasks of about 1 s on one
# thread) served by a coordinator to 1, 2 and 4 worker processes over loopback TCP, then a
# heterogeneous set of workers (different --slots/--threads) on the same sweep.
#
#   swift build -c release && cluster/bench/scaling.sh [PATH/TO/grainsweep]   (default .build/release/grainsweep)
#
# Reports, per case: wall time (the coordinator's own "done in X s": from serving to the last
# result), tasks per minute, parallel efficiency E = rate_N / (N x rate_1) and, since N workers
# cannot run faster than the cores they share, E_cores = rate_N / (min(N, cores) x rate_1).
# cores_got = the workers' CPU time (user + sys, from /usr/bin/time) / wall time: how many cores
# the workers actually obtained. On a shared machine it shows when the limit was the neighbours,
# not grainsweep (E_cores is then bounded by cores_got_N / cores_got_1). E_got = (rate_N / cores_got_N)
# / (rate_1 / cores_got_1): throughput per core actually obtained; 1.0 means no coordination loss.
# The heterogeneous case reports rows per worker and each worker's busy fraction:
# sum of its tasks' wall_seconds / (sweep wall time x its slots); near 1 means it was kept busy.
# Environment: TASKS_SEEDS (default 12: 2 granularities x 12 seeds = 24 tasks), EPOCHS (20),
# COUNTS ("1 2 4"), PORT (default 25555 + $$ % 1000). Run when the machine is otherwise idle.
set -uo pipefail
GS="${1:-${GRAINSWEEP:-.build/release/grainsweep}}"
case "$GS" in /*) ;; *) GS="$PWD/$GS" ;; esac
[ -x "$GS" ] || { echo "no binary $GS (swift build -c release)" >&2; exit 1; }
SEEDS="${TASKS_SEEDS:-12}"
EPOCHS="${EPOCHS:-20}"
COUNTS="${COUNTS:-1 2 4}"
PORT="${PORT:-$((25555 + $$ % 1000))}"
CORES="$(nproc)"
TMP="$(mktemp -d /tmp/gs-bench.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$TMP/spec.yaml" <<EOF
name: scaling
description: small real training tasks (about 1 s each on one thread) for the scaling benchmark
experiment: hierarchy
base:
  train_samples: 4096
  epochs: $EPOCHS
axes:
  granularity: [1, 8]
seeds: $SEEDS
EOF
TASKS=$(($("$GS" plan "$TMP/spec.yaml" --format csv | wc -l) - 1))

# run_case NAME "host:slots:threads ..." : runs the sweep from scratch; sets T to its elapsed seconds.
run_case() {
  local name="$1" dir="$TMP/$1" w host slots threads
  mkdir -p "$dir"
  timeout 600 "$GS" coordinator "$TMP/spec.yaml" --out "$dir/out" --bind "tcp://127.0.0.1:$PORT" \
    --progress log --progress-interval 600 >"$dir/coordinator.log" 2>&1 &
  local coord=$!
  PIDS+=("$coord")
  for w in $2; do
    IFS=: read -r host slots threads <<<"$w"
    /usr/bin/time -f "%U %S" -o "$dir/cpu-$host" timeout 600 "$GS" worker --connect "tcp://127.0.0.1:$PORT" --host "$host" --slots "$slots" --threads "$threads" \
      --give-up-after 30 >"$dir/worker-$host.log" 2>&1 &
    PIDS+=($!)
  done
  wait "$coord" || { echo "coordinator failed: $(tail -3 "$dir/coordinator.log")" >&2; return 1; }
  wait
  PIDS=()
  PORT=$((PORT + 1))
  CPU="$(cat "$dir"/cpu-* | awk '{ s += $1 + $2 } END { printf "%.1f", s }')"
  T="$(grep "tasks done" "$dir/coordinator.log" | sed -n 's/.* in \([0-9.]*\) s.*/\1/p' | tail -1)"
}

echo "# grainsweep scaling: $TASKS hierarchy tasks (train_samples 4096, epochs $EPOCHS, granularity 1|8), $(date -u +%FT%TZ)"
echo "# $CORES cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# mean task wall time on one thread is measured from results.csv of the 1-worker run"
printf '%-26s %8s %10s %8s %8s %8s %8s %s\n' case wall_s tasks/min E E_cores cores_got E_got note
rate1=""
for n in $COUNTS; do
  workers=""
  for i in $(seq 1 "$n"); do workers="$workers w$i:1:1"; done
  run_case "n$n" "$workers" || exit 1
  t="$T"
  rate="$(awk -v n="$TASKS" -v t="$t" 'BEGIN { printf "%.1f", n / t * 60 }')"
  [ -z "$rate1" ] && rate1="$rate"
  eff="$(awk -v r="$rate" -v r1="$rate1" -v n="$n" 'BEGIN { printf "%.2f", r / (n * r1) }')"
  effc="$(awk -v r="$rate" -v r1="$rate1" -v n="$n" -v c="$CORES" 'BEGIN { m = n < c ? n : c; printf "%.2f", r / (m * r1) }')"
  note=""
  [ "$n" -gt "$CORES" ] && note="oversubscribed: $n single-thread workers on $CORES cores"
  got="$(awk -v c="$CPU" -v t="$t" 'BEGIN { printf "%.2f", c / t }')"
  [ -z "${got1:-}" ] && got1="$got"
  effg="$(awk -v r="$rate" -v r1="$rate1" -v g="$got" -v g1="$got1" 'BEGIN { printf "%.2f", (r / g) / (r1 / g1) }')"
  printf '%-26s %8s %10s %8s %8s %8s %8s %s\n' "$n worker(s) x 1 slot x 1 thr" "$t" "$rate" "$eff" "$effc" "$got" "$effg" "$note"
  if [ "$n" = 1 ]; then
    echo "# mean task wall time (1 worker): $(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="wall_seconds") c=i; next} {s+=$c; k++} END {printf "%.2f s", s/k}' "$TMP/n1/out/results.csv")"
  fi
done

# Heterogeneous: a 2-slot worker, a 1-slot worker, and a 1-slot 2-thread worker (4 threads on the
# cores available: oversubscribed on 2 cores, as a mixed cluster's nodes would not be).
hetero="big:2:1 small:1:1 wide:1:2"
run_case hetero "$hetero" || exit 1
t="$T"
rate="$(awk -v n="$TASKS" -v t="$t" 'BEGIN { printf "%.1f", n / t * 60 }')"
printf '%-26s %8s %10s %8s %8s %8s %8s %s\n' "heterogeneous (3 workers)" "$t" "$rate" - - "$(awk -v c="$CPU" -v t="$t" 'BEGIN { printf "%.2f", c / t }')" - "$hetero (host:slots:threads)"
echo "# heterogeneous case, per worker: rows, mean task wall time, busy = sum(wall_seconds) / (sweep wall x slots)"
awk -F, -v t="$t" -v spec="$hetero" '
  BEGIN { n = split(spec, ws, " "); for (i = 1; i <= n; i++) { split(ws[i], f, ":"); slots[f[1]] = f[2]; thr[f[1]] = f[3] } }
  NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "host") h = i; if ($i == "wall_seconds") w = i }; next }
  { rows[$h]++; wall[$h] += $w }
  END { for (k in slots) printf "#   %-6s slots=%s threads=%s rows=%-3d mean_task=%.2fs busy=%.2f\n", k, slots[k], thr[k], rows[k], (rows[k] ? wall[k] / rows[k] : 0), wall[k] / (t * slots[k]) }
' "$TMP/hetero/out/results.csv" | sort
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
