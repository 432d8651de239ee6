#!/usr/bin/env bash
# Soak of one worker process (issue 18): TASKS tiny hierarchy tasks (train 64, fine-tune 32,
# test 64, 2 epochs each phase, d = 32, width 4) through a coordinator on loopback and one worker
# with --slots 1 --threads THREADS. Samples the worker's thread count and RSS (/proc/PID/status)
# after the first 2% of the tasks and at the end (just before the coordinator's final goodbye),
# and prints both: flat means no thread and no buffer outlives its task.
#   Benchmarks/run-worker-soak.sh [tasks=20000] [threads=2] [binary=release build of this tree]
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${1:-20000}
THREADS=${2:-2}
BIN=${3:-}
if [ -z "$BIN" ]; then
  swift build -c release --product grainsweep --scratch-path .build-rel >/dev/null
  BIN=.build-rel/release/grainsweep
fi
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
cat >"$TMP/soak.yaml" <<YAML
name: worker-soak
experiment: hierarchy
base:
  train_samples: 64
  finetune_samples: 32
  test_samples: 64
  epochs: 2
  finetune_epochs: 2
  dim: 32
  width: 4
seeds: $TASKS
YAML
port=$((20000 + RANDOM % 20000))
$BIN coordinator "$TMP/soak.yaml" --out "$TMP/out" --bind "tcp://127.0.0.1:$port" --progress log \
  --progress-interval 30 2>"$TMP/coord.err" &
cpid=$!
$BIN worker --connect "tcp://127.0.0.1:$port" --slots 1 --threads "$THREADS" --log-level warning 2>"$TMP/worker.err" &
wpid=$!
rows() { if [ -f "$TMP/out/results.csv" ]; then echo $(($(wc -l <"$TMP/out/results.csv") - 1)); else echo 0; fi; }
sample() {  # label: tasks done, threads, RSS of the worker
  local done threads rss
  done=$(rows)
  threads=$(awk '/^Threads:/ {print $2}' /proc/$wpid/status)
  rss=$(awk '/^VmRSS:/ {print $2}' /proc/$wpid/status)
  printf '%-6s %7d tasks done  threads %4d  RSS %7.1f MB\n' "$1" "$done" "$threads" "$(echo "$rss / 1024" | bc -l)"
}
start=$(date +%s.%N)
early=$((TASKS / 50))
while [ "$(rows)" -lt "$early" ]; do sleep 0.2; done
sample start
last=""
while kill -0 "$cpid" 2>/dev/null; do
  if [ -r /proc/$wpid/status ]; then last=$(sample end); fi
  sleep 0.5
done
wait "$cpid" || true
wait "$wpid" || true
echo "$last"
end=$(date +%s.%N)
echo "$(rows) tasks in $(printf '%.0f' "$(echo "$end - $start" | bc -l)") s; worker --threads $THREADS; $(nproc) cores; $(grep -c 'quarantined' "$TMP/coord.err" || true) quarantine lines"
