#!/usr/bin/env bash
# Tests the multi-node logic of cluster/slurm/grainsweep.sbatch without Slurm: fake `scontrol`
# and `srun` on PATH pretend the job has 3 nodes (gsn1, gsn2, gsn3). The script must pick gsn1 as
# the coordinator's host, and start one worker per node with srun; the fake srun records its
# arguments and runs one local worker per "node" (endpoint host rewritten to 127.0.0.1, --host
# set to the node name). The sweep must finish with one row per planned task from all 3 "nodes".
# Runs as any user; no network beyond loopback. (cluster/tests/slurm-one-node.sh tests a real,
# one-node Slurm: requeue and the USR1 time-limit path.)
set -uo pipefail
GS="${1:-${GRAINSWEEP:-.build/debug/grainsweep}}"
case "$GS" in /*) ;; *) GS="$PWD/$GS" ;; esac
HERE="$(cd "$(dirname "$0")/.." && pwd)"
[ -x "$GS" ] || { echo "slurm-shim: no binary $GS"; echo "slurm-shim: 0 passed, 1 failed"; exit 1; }
T="$(mktemp -d /tmp/gs-slurmshim.XXXXXX)"
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin"
cat >"$T/bin/scontrol" <<'EOF'
#!/bin/sh
echo "scontrol $*" >>"$SHIM_LOG"
case "$1 $2" in
  "show hostnames") printf 'gsn1\ngsn2\ngsn3\n' ;;
  *) ;;
esac
EOF
cat >"$T/bin/srun" <<'EOF'
#!/bin/bash
echo "srun $*" >>"$SHIM_LOG"
args=()
while [ $# -gt 0 ]; do case "$1" in --*=*) shift ;; *) break ;; esac; done
pids=()
for node in gsn1 gsn2 gsn3; do
  cmd=()
  for a in "$@"; do cmd+=("${a/tcp:\/\/gsn1:/tcp://127.0.0.1:}"); done
  SLURMD_NODENAME=$node "${cmd[@]}" --host "$node" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
exit $rc
EOF
chmod +x "$T/bin/scontrol" "$T/bin/srun"
printf 'name: shim\nexperiment: sleep\naxes:\n  sleep_ms: [100, 200]\nseeds: 9\n' >"$T/spec.yaml"
export SHIM_LOG="$T/shim.log"
PATH="$T/bin:$PATH" SLURM_JOB_ID=4242 SLURM_JOB_NODELIST="gsn[1-3]" SLURM_JOB_NUM_NODES=3 SLURM_CPUS_PER_TASK=2 \
  SPEC="$T/spec.yaml" OUT="$T/out" GRAINSWEEP="$GS" SLOTS=2 \
  timeout 120 bash "$HERE/slurm/grainsweep.sbatch" >"$T/job.out" 2>&1
rc=$?
"$GS" plan "$T/spec.yaml" --format csv | tail -n +2 | cut -d, -f1 | sort >"$T/planned"
tail -n +2 "$T/out/results.csv" 2>/dev/null | cut -d, -f1 | sort >"$T/rows"
hosts="$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="host") c=i; next} {print $c}' "$T/out/results.csv" 2>/dev/null | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')"
srun_line="$(grep '^srun' "$SHIM_LOG")"
fails=""
[ "$rc" = 0 ] || fails="$fails job exit $rc;"
grep -q "tcp://gsn1:24242" <<<"$srun_line" || fails="$fails srun not pointed at tcp://gsn1:24242 ($srun_line);"
grep -q -- "--nodes=3 --ntasks=3 --ntasks-per-node=1 --cpus-per-task=2" <<<"$srun_line" || fails="$fails srun layout ($srun_line);"
grep -q -- "--slots 2 --threads 1" <<<"$srun_line" || fails="$fails slots/threads ($srun_line);"
grep -q -- "--server-key $T/out/.keys/coordinator.pub --secret-key $T/out/.keys/worker.key" <<<"$srun_line" || fails="$fails keys;"
cmp -s "$T/planned" "$T/rows" || fails="$fails rows differ from plan;"
for n in gsn1 gsn2 gsn3; do grep -q "$n=" <<<"$hosts" || fails="$fails no rows from $n;"; done
[ "$(stat -c %a "$T/out/.keys")" = 700 ] || fails="$fails key dir not 0700;"
if [ -z "$fails" ]; then
  echo "PASS slurm-shim (3 fake nodes: coordinator on gsn1:24242, one srun worker per node; $(wc -l <"$T/rows") rows = plan; $hosts)"
  echo "slurm-shim: 1 passed, 0 failed"
else
  echo "FAIL slurm-shim:$fails"
  sed 's/^/    /' "$T/job.out" | grep -v progress | tail -20
  echo "slurm-shim: 0 passed, 1 failed"
  exit 1
fi
