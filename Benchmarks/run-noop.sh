#!/usr/bin/env bash
# End-to-end throughput of the coordinator: 100,000 no-op tasks (sweeps/noop-100k.yaml) through a
# coordinator and 2 worker processes over TCP loopback, results written to CSV and synced.
# Prints, for each run, tasks/s (first task handed out -> last result accepted) and the lease round
# trip (task sent -> result accepted) p50/p99 as the coordinator measures it; then the median.
#   Benchmarks/run-noop.sh [runs=5] [slots=64] [binary ...]
# With binaries (e.g. an older build and this one), each run times every binary in turn
# (interleaved, so the machine's load hits them alike) and the medians are printed per binary.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SLOTS=${2:-64}
shift 2 2>/dev/null || shift $#
BINS=("$@")
if [ ${#BINS[@]} -eq 0 ]; then
  swift build -c release --product grainsweep >/dev/null
  BINS=(.build/release/grainsweep)
fi
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
declare -A rates
for run in $(seq 1 "$RUNS"); do
for BIN in "${BINS[@]}"; do
  port=$((20000 + RANDOM % 20000))
  rm -rf "$TMP/out"
  $BIN coordinator sweeps/noop-100k.yaml --out "$TMP/out" --bind "tcp://127.0.0.1:$port" --progress log \
    --progress-interval 60 2>"$TMP/coord.err" &
  cpid=$!
  for w in 1 2; do
    $BIN worker --connect "tcp://127.0.0.1:$port" --slots "$SLOTS" --threads 1 --log-level warning 2>>"$TMP/workers.err" &
  done
  wait "$cpid"
  wait
  line=$(grep -o '[0-9]* tasks done.*' "$TMP/coord.err" | tail -1)
  rows=$(($(wc -l <"$TMP/out/results.csv") - 1))
  rate=$(echo "$line" | sed -n 's/.*(\([0-9]*\) tasks\/s.*/\1/p')
  echo "run $run, $BIN: $rows rows; $line"
  rates[$BIN]="${rates[$BIN]:-} $rate"
done
done
for BIN in "${BINS[@]}"; do
  median=$(printf '%s\n' ${rates[$BIN]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "median: $median tasks/s over $RUNS runs, $BIN (2 workers x $SLOTS slots, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
done
