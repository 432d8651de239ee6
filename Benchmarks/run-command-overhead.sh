#!/usr/bin/env bash
# The command family's per-task overhead: a sweep of 400 tasks whose program is echo(1) printing
# its result line, run by `grainsweep run` with 2 local workers, RUNS times (release build).
# Prints tasks/s and the mean wall_seconds per task of each run, then the medians.
#
#   Benchmarks/run-command-overhead.sh [runs] [binary]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BIN=${2:-.build/release/grainsweep}
[ -x "$BIN" ] || swift build -c release 2>&1 | tail -1
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
cat > "$DIR/echo.yaml" <<'YAML'
name: echo-overhead
experiment: command
command:
  argv: [echo, '{{"result": {{"value": {x}}}}}']
  estimated_seconds: 0.01
parameters:
  x: {kind: integer, min: 0, max: 1000000}
metrics:
  final: [value]
axes:
  x: {from: 1, to: 400, step: 1}
seeds: 1
YAML
rates=(); walls=()
for i in $(seq "$RUNS"); do
  rm -rf "$DIR/out"
  line=$("$BIN" run "$DIR/echo.yaml" --out "$DIR/out" --workers 2 --progress log 2>&1 | grep "tasks done")
  rate=$(sed -n 's/.*(\([0-9.]*\) tasks\/s.*/\1/p' <<<"$line")
  wall=$(awk -F, 'NR>1{s+=$(NF-1); n++} END{printf "%.4f", s/n}' "$DIR/out/results.csv")
  echo "run $i: $rate tasks/s, mean wall_seconds $wall"
  rates+=("$rate"); walls+=("$wall")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "median: $(median "${rates[@]}") tasks/s, mean wall_seconds per task $(median "${walls[@]}")"
