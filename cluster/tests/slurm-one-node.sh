#!/usr/bin/env bash
# Tests cluster/slurm/grainsweep.sbatch on a real one-node Slurm cluster that this script stands
# up itself in a temp dir: munged (own socket), slurmctld and slurmd (own slurm.conf, ports chosen
# per run, proctrack/linuxproc, no cgroups, no accounting). Nothing in /etc is changed; the
# daemons are stopped by their pid files at exit.
#
#   cluster/tests/slurm-one-node.sh [PATH/TO/grainsweep]   (default .build/release/grainsweep)
#
# Needs root and Debian's slurm-wlm + munge (apt-get install slurm-wlm munge); skips otherwise.
# Tests:
#   complete   a job runs a CURVE sweep (coordinator in the batch step, worker via srun) to the end
#   requeue    `scontrol requeue` mid-sweep: the job stops, runs again, resumes; each task once
#   usr1       SIGUSR1 to the batch shell (what --signal=B:USR1@180 sends before the time limit):
#              graceful stop, self-requeue, resume to the end
set -uo pipefail
GS="${1:-${GRAINSWEEP:-.build/release/grainsweep}}"
case "$GS" in /*) ;; *) GS="$PWD/$GS" ;; esac
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PASSED=0 FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $1"; }
failt() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }
skip() { echo "slurm: skipped: $*" >&2; echo "slurm: 0 passed, 0 failed, 1 skipped"; exit 0; }
[ "$(id -u)" = 0 ] || skip "not root"
for b in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd sbatch squeue scontrol; do
  command -v "$b" >/dev/null 2>&1 || skip "no $b (apt-get install slurm-wlm munge)"
done
[ -r /etc/munge/munge.key ] || skip "no /etc/munge/munge.key"
[ -x "$GS" ] || { echo "slurm: no binary $GS"; echo "slurm: 0 passed, 1 failed"; exit 1; }

T="$(mktemp -d /tmp/gs-slurm.XXXXXX)"
chmod 755 "$T"
cleanup() {
  local f
  if [ -n "${SLURM_CONF:-}" ]; then scancel --quiet --full $(squeue -h -o %i 2>/dev/null) 2>/dev/null; sleep 1; fi
  for f in slurmd slurmctld munged; do [ -f "$T/$f.pid" ] && kill -TERM "$(cat "$T/$f.pid")" 2>/dev/null; done
  sleep 1
  for f in slurmd slurmctld munged; do [ -f "$T/$f.pid" ] && kill -KILL "$(cat "$T/$f.pid")" 2>/dev/null; done
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NODE="$(hostname)"
PORT=$((30000 + $$ % 10000 * 2))
mkdir -p "$T/state" "$T/spool"
/usr/sbin/munged --socket="$T/munge.sock" --key-file=/etc/munge/munge.key --pid-file="$T/munged.pid" \
  --log-file="$T/munged.log" --seed-file="$T/munge.seed" -f || { echo "FAIL munged"; echo "slurm: 0 passed, 1 failed"; exit 1; }
cat >"$T/slurm.conf" <<EOF
ClusterName=gstest$$
SlurmctldHost=$NODE
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$T/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SlurmUser=root
SlurmdUser=root
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
KillWait=10
NodeName=$NODE CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$T/slurm.conf"
/usr/sbin/slurmctld -f "$SLURM_CONF" -c -i || { echo "FAIL slurmctld: $(tail -3 "$T/slurmctld.log")"; echo "slurm: 0 passed, 1 failed"; exit 1; }
/usr/sbin/slurmd -f "$SLURM_CONF" || { echo "FAIL slurmd: $(tail -3 "$T/slurmd.log")"; echo "slurm: 0 passed, 1 failed"; exit 1; }
for _ in $(seq 100); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 0.2; done
sinfo -h -o %t | grep -q idle || { echo "FAIL node not idle: $(sinfo 2>&1)"; echo "slurm: 0 passed, 1 failed"; exit 1; }
echo "slurm: one-node cluster up ($NODE, $(nproc) CPUs, slurmctld port $PORT)" >&2

# submit NAME SPEC: sbatch, prints the job id.
submit() {
  (cd "$T" && sbatch --parsable --nodes=1 --cpus-per-task="$(nproc)" --output="$T/$1-%j.out" \
    --export=ALL,SPEC="$2",OUT="$T/$1",GRAINSWEEP="$GS",SLOTS=2 "$HERE/slurm/grainsweep.sbatch")
}
state() { squeue -h -j "$1" -o %T 2>/dev/null; }
# wait_gone JOB SECONDS: until the job has left the queue. A requeued job waits for its BeginTime
# (Slurm holds it ~2 minutes): start it at once.
wait_gone() {
  local j="$1" n=0 s
  while [ "$n" -lt $(($2 * 5)) ]; do
    s="$(state "$j")"
    [ -z "$s" ] && return 0
    if [ "$s" = PENDING ] && squeue -h -j "$j" -o %r | grep -q BeginTime; then scontrol update jobid="$j" StartTime=now 2>/dev/null; fi
    sleep 0.2
    n=$((n + 1))
  done
  return 1
}
wait_running() { local n=0; until [ "$(state "$1")" = RUNNING ]; do sleep 0.2; n=$((n + 1)); [ $n -gt 150 ] && return 1; done; }
# check NAME SPEC: one row per planned task.
check() {
  "$GS" plan "$2" --format csv | tail -n +2 | cut -d, -f1 | sort >"$T/$1.planned"
  tail -n +2 "$T/$1/results.csv" 2>/dev/null | cut -d, -f1 | sort >"$T/$1.rows"
  cmp -s "$T/$1.planned" "$T/$1.rows"
}
rows() { if [ -f "$T/$1/results.csv" ]; then echo $(($(wc -l <"$T/$1/results.csv") - 1)); else echo 0; fi; }
sweep() { # sweep FILE SLEEP_MS SEEDS
  printf 'name: %s\nexperiment: sleep\naxes:\n  sleep_ms: [%s]\nseeds: %s\n' "$(basename "$1" .yaml)" "$2" "$3" >"$1"
}
joblog() { grep -h -v progress "$T"/"$1"-*.out | tail -n "${2:-12}" | sed 's/^/    /'; }

# 1. complete
sweep "$T/complete.yaml" "50, 100" 8
j=$(submit complete "$T/complete.yaml")
if wait_gone "$j" 60 && check complete "$T/complete.yaml" && grep -q "security=curve" "$T"/complete-*.out; then
  pass "complete (job $j: $(rows complete) rows = plan, CURVE)"
else failt complete "job $j state '$(state "$j")'"; joblog complete; fi

# 2. scontrol requeue mid-sweep
sweep "$T/requeue.yaml" "400, 500" 12      # 24 tasks, ~5 s on 2 slots
j=$(submit requeue "$T/requeue.yaml")
wait_running "$j"
for _ in $(seq 100); do [ "$(rows requeue)" -ge 4 ] && break; sleep 0.1; done
before=$(rows requeue)
scontrol requeue "$j"
if wait_gone "$j" 90 && check requeue "$T/requeue.yaml" && [ "$(tail -n +2 "$T/requeue/results.csv" | cut -d, -f1 | sort | uniq -d | wc -l)" = 0 ] \
  && grep -q "restart 1" "$T"/requeue-*.out && grep -q "this run" "$T"/requeue-*.out; then
  pass "requeue (job $j: requeued after $before rows; second run: $(grep -h 'tasks done' "$T"/requeue-*.out | sed 's/^.*\] //' | tail -1))"
else failt requeue "job $j"; joblog requeue 30; fi

# 3. USR1 (time limit near): graceful stop + self-requeue + resume
sweep "$T/usr1.yaml" "400, 500" 12
j=$(submit usr1 "$T/usr1.yaml")
wait_running "$j"
for _ in $(seq 100); do [ "$(rows usr1)" -ge 4 ] && break; sleep 0.1; done
before=$(rows usr1)
scancel --batch --signal=USR1 "$j"
if wait_gone "$j" 90 && check usr1 "$T/usr1.yaml" && grep -q "requeueing job" "$T"/usr1-*.out && grep -q "restart 1" "$T"/usr1-*.out \
  && ! grep -q "second stop request" "$T"/usr1-*.out; then
  pass "usr1 (job $j: graceful stop after $before rows, self-requeued, resumed: $(grep -h 'tasks done' "$T"/usr1-*.out | sed 's/^.*\] //' | tr '\n' ';'))"
else failt usr1 "job $j"; joblog usr1 30; fi

echo "slurm: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
