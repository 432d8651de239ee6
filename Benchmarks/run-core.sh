#!/usr/bin/env bash
# Benchmarks the training core's pretraining step against references measured in the same run:
# (a) numpy's fp32 matmul peak, (b) the same step in JAX on CPU, (c) an independent SIMD8 kernel
# of the same step (CoreBench reference, Benchmarks/Sources/CoreBench/Reference.swift),
# (d) TrainingCore (Swift), each at 1 and 2 threads, RUNS runs each (medians), then times whole
# default tasks. BEFORE=path/to/an/older/CoreBench also times that binary's step and tasks,
# interleaved with this build's (for before/after figures).
#
#   Benchmarks/run-core.sh                        # haswell baseline build (the default)
#   GRAINSWEEP_TARGET_CPU=native Benchmarks/run-core.sh
#   RUNS=7 SECONDS_PER_RUN=1 Benchmarks/run-core.sh
#
# Needs network access to PyPI the first time (creates Benchmarks/.venv). Never run by tests.
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-1}
CPU=${GRAINSWEEP_TARGET_CPU:-haswell}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

echo "== build (release, -target-cpu $CPU)"
# Separate build directories per CPU so that switching does not rebuild the other.
swift build -c release --product CoreBench --scratch-path ".build-$CPU" 2>&1 | grep -v "prohibited flag" | tail -1
BENCH=".build-$CPU/release/CoreBench"

if [ ! -x .venv/bin/python ]; then
    echo "== venv (jax numpy threadpoolctl from PyPI)"
    python3 -m venv .venv
    .venv/bin/pip install -q jax numpy threadpoolctl
fi
PY=.venv/bin/python
echo "== versions: $($PY -c 'import jax, numpy; print("jax", jax.__version__, "numpy", numpy.__version__)'), $(swift --version 2>&1 | head -1)"
echo "== cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(head -1 /proc/pressure/cpu 2>/dev/null | sed 's/^some/cpu pressure/')"

for T in 1 2; do
    CPUS=$([ "$T" = 1 ] && echo 0 || echo 0-1)
    echo "== threads $T"
    # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set on this machine (env docs): they slow a
    # current numpy, so they are unset for the peak measurement only.
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c "$CPUS" $PY numpy_peak.py --threads "$T" --runs "$RUNS" | tee -a "$OUT"
    taskset -c "$CPUS" $PY jax_step.py --threads "$T" --runs "$RUNS" --seconds "$SECONDS_PER_RUN" | tee -a "$OUT"
    taskset -c "$CPUS" "$BENCH" reference --shape small --threads "$T" --runs "$RUNS" --seconds "$SECONDS_PER_RUN" | tee -a "$OUT"
    if [ -n "${BEFORE:-}" ]; then
        taskset -c "$CPUS" "$BEFORE" step --shape small --threads "$T" --runs "$RUNS" --seconds "$SECONDS_PER_RUN" | sed 's/^swift /before /' | tee -a "$OUT"
    fi
    taskset -c "$CPUS" "$BENCH" step --shape small --threads "$T" --runs "$RUNS" --seconds "$SECONDS_PER_RUN" | tee -a "$OUT"
done

# Paired runs: numpy's peak and the Swift step alternate run by run, so that each ratio compares
# two measurements taken seconds apart (on a shared VM the cores' speed changes within a minute:
# other processes, and the host's placement of the two vCPUs).
echo "== paired: numpy peak then Swift step, alternating, $RUNS pairs per thread count"
for T in 1 2; do
    CPUS=$([ "$T" = 1 ] && echo 0 || echo 0-1)
    for r in $(seq "$RUNS"); do
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c "$CPUS" $PY numpy_peak.py --threads "$T" --runs 1 | grep '^numpy run' | sed 's/^numpy run=1/pair-numpy run='"$r"'/' | tee -a "$OUT"
        taskset -c "$CPUS" "$BENCH" step --shape small --threads "$T" --runs 1 --seconds "$SECONDS_PER_RUN" | grep '^swift run' | sed 's/^swift run=1/pair-swift run='"$r"'/' | tee -a "$OUT"
    done
done

# Core version 2 changed the default task (fine-tuning: batch 16, run to convergence). Against an
# older binary, this one runs version 1's task (V1_TASK): the same work and, for this aligned
# default, the same bits, so the ratio is speed alone. Without BEFORE it runs today's default.
V1_TASK="finetune_batch_size=128 finetune_tol=0 finetune_epochs=20"
echo "== whole default task (HierarchyConfig defaults, seed 0${BEFORE:+; this build with $V1_TASK}), $RUNS runs each, interleaved; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$RUNS"); do
    for T in 1 2; do
        if [ -n "${BEFORE:-}" ]; then
            "$BEFORE" task --quiet --threads "$T" | sed 's/^result /before-result /' | tee -a "$OUT"
            # shellcheck disable=SC2086
            "$BENCH" task --quiet --threads "$T" $V1_TASK | tee -a "$OUT"
        else
            "$BENCH" task --quiet --threads "$T" | tee -a "$OUT"
        fi
    done
done
echo "== load at end: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== summary (medians; target cpu $CPU)"
$PY - "$OUT" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
def med(kind, t, key):
    m = re.search(rf"^{kind} median.*threads={t}\b.*{key}=([\d.]+)", text, re.M)
    return float(m.group(1)) if m else float("nan")
for t in (1, 2):
    peak = med("numpy", t, "gflops")
    js, jg = med("jax", t, "samples_per_s"), med("jax", t, "gflops")
    rs, rg = med("reference", t, "samples_per_s"), med("reference", t, "gflops")
    ss, sg = med("swift", t, "samples_per_s"), med("swift", t, "gflops")
    print(f"threads={t}: numpy peak {peak:.1f} GFLOP/s | jax {js:,.0f} samples/s {jg:.1f} GFLOP/s ({jg / peak:.0%} of peak)"
          f" | reference {rs:,.0f} samples/s ({rg / peak:.0%} of peak)"
          f" | swift {ss:,.0f} samples/s {sg:.1f} GFLOP/s ({sg / peak:.0%} of peak) | swift/jax {ss / js:.2f}x"
          f" | swift/reference {ss / rs:.2f}x")
    bs = med("before", t, "samples_per_s")
    if bs == bs:
        print(f"threads={t}: before {bs:,.0f} samples/s ({bs * sg / ss / peak:.0%} of peak) | after/before {ss / bs:.2f}x")
for t in (1, 2):
    peaks = {int(r): float(g) for r, g in re.findall(rf"^pair-numpy run=(\d+) threads={t}\b.*gflops=([\d.]+)", text, re.M)}
    steps = {int(r): float(g) for r, g in re.findall(rf"^pair-swift run=(\d+) .*threads={t}\b.*gflops=([\d.]+)", text, re.M)}
    ratios = sorted(steps[r] / peaks[r] for r in steps if r in peaks)
    if ratios:
        print(f"paired, threads={t}: swift step / numpy peak of the run just before: median {statistics.median(ratios):.0%}"
              f" ({', '.join(f'{x:.0%}' for x in ratios)})")
s1, s2 = med("swift", 1, "samples_per_s"), med("swift", 2, "samples_per_s")
j1, j2 = med("jax", 1, "samples_per_s"), med("jax", 2, "samples_per_s")
print(f"1->2 thread speed-up: swift {s2 / s1:.2f}x, jax {j2 / j1:.2f}x")
for t in (1, 2):
    walls = [float(x) for x in re.findall(rf"^result .*wall_s=([\d.]+) threads={t}\b", text, re.M)]
    before = [float(x) for x in re.findall(rf"^before-result .*wall_s=([\d.]+) threads={t}\b", text, re.M)]
    if walls:
        line = f"default task, {t} thread(s): median {statistics.median(walls):.3f} s over {len(walls)} runs ({min(walls):.3f}-{max(walls):.3f})"
        if before:
            b = statistics.median(before)
            line += f"; before {b:.3f} s ({min(before):.3f}-{max(before):.3f}), speed-up {b / statistics.median(walls):.2f}x"
        print(line)
PY
