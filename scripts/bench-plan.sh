#!/usr/bin/env bash
# Benchmark of plan expansion: loads, validates and expands sweeps/bench-1m.yaml (1,000,000
# sleep-family tasks), computes every task id and writes the CSV to /dev/null, RUNS times
# (default 5), with a release build. Prints each run's wall time and peak RSS, then the medians.
#
#   scripts/bench-plan.sh [SPEC] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-sweeps/bench-1m.yaml}
runs=${2:-5}
swift build -c release --product grainsweep >&2
bin=.build/release/grainsweep
times=() rss=()
for i in $(seq "$runs"); do
    out=$( { /usr/bin/time -f '%e %M' "$bin" plan "$spec" --format csv --timing >/dev/null; } 2>&1 )
    echo "run $i: $(echo "$out" | grep '^timing:')" >&2
    read -r t m <<<"$(echo "$out" | tail -n 1)"
    times+=("$t") rss+=("$m")
    echo "run $i: ${t} s wall, peak RSS $((m / 1024)) MB"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "median of $runs runs: $(median "${times[@]}") s wall, peak RSS $(( $(median "${rss[@]}" | cut -d. -f1) / 1024 )) MB ($spec)"
