#!/usr/bin/env bash
# Benchmark of plan expansion: loads, validates and expands sweeps/bench-1m.yaml (1,000,000
# sleep-family tasks), computes every task id and writes the CSV to /dev/null, RUNS times
# (default 5), with a release build. Prints each run's wall time, CPU time (user + system, less
# disturbed than wall time by other processes on the machine) and peak RSS, then the medians.
#
#   scripts/bench-plan.sh [SPEC] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-sweeps/bench-1m.yaml}
runs=${2:-5}
swift build -c release --product grainsweep >&2
bin=.build/release/grainsweep
times=() cpus=() rss=()
for i in $(seq "$runs"); do
    out=$( { /usr/bin/time -f '%e %U %S %M' "$bin" plan "$spec" --format csv --timing >/dev/null; } 2>&1 )
    echo "run $i: $(echo "$out" | grep '^timing:')" >&2
    read -r t u s m <<<"$(echo "$out" | tail -n 1)"
    c=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    times+=("$t") cpus+=("$c") rss+=("$m")
    echo "run $i: ${t} s wall, ${c} s CPU, peak RSS $((m / 1024)) MB"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "median of $runs runs: $(median "${times[@]}") s wall, $(median "${cpus[@]}") s CPU, peak RSS $(( $(median "${rss[@]}" | cut -d. -f1) / 1024 )) MB ($spec; load average $(cut -d' ' -f1 /proc/loadavg))"
