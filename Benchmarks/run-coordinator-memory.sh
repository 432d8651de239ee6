#!/usr/bin/env bash
# Peak RSS of the coordinator against the number of curve rows (issue 12): its memory must not
# grow with curves.csv.
#
# For each EPOCHS value, a sweep of TASKS no-sleep tasks of the `sleep` family, each streaming
# EPOCHS curve points (TASKS x EPOCHS curve rows), runs through `grainsweep coordinator` and 2
# `grainsweep worker` processes over TCP loopback. Then, to exercise the start-up pass
# (loadFinished + compactCurves), 10% of the curve rows are appended again as rows of a superseded
# attempt and the coordinator is started once more on the same --out: it finds every task done,
# drops those rows and exits. Each coordinator runs under /usr/bin/time -v (the workers are not its
# children), whose "Maximum resident set size" is the figure reported.
#
#   Benchmarks/run-coordinator-memory.sh [TASKS=600] [EPOCHS...=100 800]
#
# Uses only the CLI. Builds release with its own scratch path (.build-results-rel).
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${1:-600}
shift || true
EPOCHS=("$@")
[ ${#EPOCHS[@]} -gt 0 ] || EPOCHS=(100 800)
SCRATCH=${SCRATCH:-.build-results-rel}
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
swift build -c release --scratch-path "$SCRATCH" --product grainsweep >"$TMP/build.log" 2>&1 \
  || { echo "release build failed:" >&2; tail -30 "$TMP/build.log" >&2; exit 1; }
BIN=$SCRATCH/release/grainsweep

# Kilobytes of "Maximum resident set size" in a /usr/bin/time -v report.
peak_kb() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

# Runs a coordinator on $1 (spec) / $2 (out) under /usr/bin/time -v into $3; with $4 = workers,
# starts that many workers beside it.
coordinate() {
  local spec=$1 out=$2 report=$3 workers=$4 port=$((20000 + RANDOM % 20000)) start end
  start=$(date +%s.%N)
  /usr/bin/time -v -o "$report" "$BIN" coordinator "$spec" --out "$out" --bind "tcp://127.0.0.1:$port" \
    --progress log --progress-interval 60 --log-level notice 2>>"$TMP/coord.err" &
  local cpid=$!
  for w in $(seq 1 "$workers"); do
    "$BIN" worker --connect "tcp://127.0.0.1:$port" --slots 4 --threads 1 --give-up-after 30 \
      --log-level warning 2>>"$TMP/workers.err" &
  done
  wait "$cpid" || { echo "coordinator failed; its log:" >&2; tail -20 "$TMP/coord.err" >&2; exit 1; }
  wait
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }'
}

echo "coordinator peak RSS, $TASKS sleep tasks (sleep_ms 0), $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '%-10s %12s %12s %14s %8s %14s %8s\n' epochs curve_rows curves.csv "run peak" "run s" "restart peak" "restart s"
for epochs in "${EPOCHS[@]}"; do
  spec=$TMP/mem-$epochs.yaml
  out=$TMP/out-$epochs
  cat >"$spec" <<EOF
name: coordinator-memory-$epochs
experiment: sleep
base: {sleep_ms: 0, epochs: $epochs}
seeds: $TASKS
EOF
  run_s=$(coordinate "$spec" "$out" "$TMP/run-$epochs.time" 2)
  rows=$(($(wc -l <"$out/curves.csv") - 1))
  done_tasks=$(($(wc -l <"$out/results.csv") - 1))
  [ "$done_tasks" -eq "$TASKS" ] || { echo "only $done_tasks of $TASKS tasks finished" >&2; exit 1; }
  # Superseded rows for the restart to drop: every 10th row again, as attempt 9.
  awk -F, -v OFS=, 'NR > 1 && NR % 10 == 0 { $2 = 9; print }' "$out/curves.csv" >"$TMP/extra.csv"
  cat "$TMP/extra.csv" >>"$out/curves.csv"
  bytes=$(stat -c %s "$out/curves.csv")
  restart_s=$(coordinate "$spec" "$out" "$TMP/restart-$epochs.time" 0)
  after=$(($(wc -l <"$out/curves.csv") - 1))
  [ "$after" -eq "$rows" ] || echo "warning: restart left $after curve rows, expected $rows" >&2
  printf '%-10s %12s %12s %14s %8s %14s %8s\n' "$epochs" "$rows" "$(mb $((bytes / 1024)))" \
    "$(mb "$(peak_kb "$TMP/run-$epochs.time")")" "$run_s" "$(mb "$(peak_kb "$TMP/restart-$epochs.time")")" "$restart_s"
done
echo "(curves.csv: size at restart, with the superseded 10%; restart: start-up pass on that file, no workers)"
