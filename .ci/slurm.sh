#!/usr/bin/env bash
# CI stage "slurm": a real one-node SLURM on this machine, and the batch tests that submit
# real jobs to it through dask-jobqueue (tests/batch/test_slurm.py).
#
#   bash .ci/slurm.sh          # what .ci/run calls (as root); also fine to run by hand
#
# Installs Debian's slurm-wlm, munge and lmod with apt-get, writes a localhost slurm.conf
# into _work/slurm, starts munged, slurmctld and slurmd, runs the tests and stops the
# daemons again (also on failure). The job prologue of the tests loads a small test module
# of their own through Lmod (`module use` + `module load`, configurable with --prologue /
# --module), so this stage does not depend on the hpc stage's deployment.
# With CI=true the stage fails when SLURM cannot be installed or started.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
work="$PWD/_work/slurm"
venv="${HOMODYNE_VENV:-.venv}"
py="$venv/bin/python"

fail_or_skip() {
    if [ "${CI:-}" = "true" ]; then
        echo "slurm stage: $1" >&2
        exit 1
    fi
    echo "slurm stage skipped: $1"
    exit 0
}

if [ ! -x "$py" ]; then
    python3 -m venv "$venv"
fi
if ! "$py" -c "import dask_jobqueue, homodyne.batch" 2>/dev/null; then
    "$py" -m pip install --quiet -e ".[dev]"
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || [ ! -f /usr/share/lmod/lmod/init/bash ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq slurm-wlm munge lmod >/dev/null || fail_or_skip "apt-get install slurm-wlm munge lmod failed"
    else
        fail_or_skip "slurm-wlm/munge/lmod are not installed and cannot be (not root or no apt-get)"
    fi
fi
[ "$(id -u)" = 0 ] || fail_or_skip "starting slurmd needs root"

host="$(hostname -s)"
cpus="$(nproc)"
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
rm -rf "$work"
mkdir -p "$work"/{state,spool,log,run}
conf="$work/slurm.conf"
cat > "$conf" <<EOF
ClusterName=homodyne-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=60
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
export SLURM_CONF="$conf"

stop_daemons() {
    for f in slurmd slurmctld; do
        if [ -f "$work/run/$f.pid" ]; then
            kill "$(cat "$work/run/$f.pid")" 2>/dev/null || true
        fi
    done
    if [ -n "${munge_pid:-}" ]; then
        kill "$munge_pid" 2>/dev/null || true
    fi
    sleep 1
}
trap stop_daemons EXIT

echo "-- munge"
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --force || fail_or_skip "munged does not start"
    sleep 1
    munge_pid="$(cat /run/munge/munged.pid 2>/dev/null || true)"
fi
munge -n | unmunge >/dev/null || fail_or_skip "munge does not authenticate"

echo "-- slurmctld, slurmd ($host, $cpus CPUs, $mem_mb MB)"
/usr/sbin/slurmctld -f "$conf" || fail_or_skip "slurmctld does not start (see $work/log/slurmctld.log)"
/usr/sbin/slurmd -f "$conf" || fail_or_skip "slurmd does not start (see $work/log/slurmd.log)"
ok=""
for _ in $(seq 1 30); do
    if sinfo -h -o "%t" 2>/dev/null | grep -qE "idle|mix|alloc"; then ok=1; break; fi
    sleep 1
done
[ -n "$ok" ] || { tail -20 "$work/log/slurmctld.log" "$work/log/slurmd.log" >&2 || true; fail_or_skip "the node does not come up"; }
sinfo
srun -N1 -n1 hostname || fail_or_skip "srun does not run a job"

echo "-- batch tests on SLURM"
HOMODYNE_TEST_SLURM=1 MPLBACKEND=Agg "$py" -m pytest -n 0 -p no:cacheprovider tests/batch/test_slurm.py
echo "-- slurm stage finished in $(( $(date +%s) - start )) s"
