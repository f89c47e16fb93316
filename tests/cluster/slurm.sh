#!/usr/bin/env bash
# A throwaway one-node SLURM cluster (Debian's Slurm 22.05 + munge) for the cluster tests.
#
#   tests/cluster/slurm.sh start STATE_DIR        install if missing, configure, start, wait until idle
#   tests/cluster/slurm.sh stop  STATE_DIR        cancel its jobs, stop its daemons by PID
#   tests/cluster/slurm.sh run   STATE_DIR CMD... start, run CMD, always stop (trap on EXIT)
#
# Needs root (apt, /etc/slurm). There is no systemd here: munged, slurmctld and slurmd run in
# the background, each recorded in STATE_DIR/pids/<name>.pid, and only those PIDs are stopped.
# slurm.conf must live at /etc/slurm/slurm.conf: the Snakemake SLURM plugin's job step drops
# SLURM_CONF before its inner srun, which then finds no configuration. A slurm.conf that was
# there before is saved in STATE_DIR and put back by `stop`.
#
# Status queries: there is no accounting daemon, so `sacct` fails; run Snakemake with
# --slurm-status-command squeue, which needs MinJobAge >= 3x --slurm-init-seconds-before-status-checks
# (else the plugin silently falls back to sacct and waits forever). MinJobAge=300 allows up to 100.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by rnnbench tests/cluster/slurm.sh"
DAEMONS=(slurmd slurmctld munged) # stop order: reverse of start order

usage() {
    sed -n '2,6p' "$0" >&2
    exit 2
}

log() { echo "[slurm.sh] $*" >&2; }

install_packages() {
    local missing=()
    for cmd in munged slurmctld slurmd sinfo; do
        command -v "$cmd" > /dev/null || missing+=("$cmd")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq > /dev/null
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge > /dev/null
}

write_conf() {
    local state=$1 node cpus mem
    node=$(hostname -s)
    cpus=$(nproc)
    mem=$(free -m | awk '/^Mem:/ {print $2}')
    mkdir -p /etc/slurm
    if [[ -e $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
        cp -p "$CONF" "$state/slurm.conf.before"
        log "saved the existing $CONF to $state/slurm.conf.before"
    fi
    cat > "$CONF" << EOF
$MARK for $state
ClusterName=rnnbench
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=${RNNBENCH_SLURMCTLD_PORT:-6817}
SlurmdPort=${RNNBENCH_SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$state/slurmctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# Finished jobs stay visible to squeue this long (s); the plugin's squeue status needs it.
MinJobAge=300
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

# Start one daemon in the foreground mode of its own, detached, and record its PID.
launch() {
    local state=$1 name=$2
    shift 2
    setsid "$@" > "$state/log/$name.out" 2>&1 < /dev/null &
    echo $! > "$state/pids/$name.pid"
    log "started $name (pid $!)"
}

# True while PID runs the named program (guards against a recycled PID).
alive() {
    local pid=$1 name=$2
    [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$name"
}

stop_cluster() {
    local state=$1 name pid i
    [[ -d $state/pids ]] || return 0
    if [[ -s $state/pids/slurmctld.pid ]] && alive "$(cat "$state/pids/slurmctld.pid")" slurmctld; then
        # Jobs run under slurmstepd, which outlives slurmd: cancel them first.
        scancel --user "$(id -un)" 2> /dev/null || true
        for i in $(seq 50); do
            [[ -z $(squeue -h -t running,completing,pending 2> /dev/null) ]] && break
            sleep 0.2
        done
    fi
    for name in "${DAEMONS[@]}"; do
        [[ -s $state/pids/$name.pid ]] || continue
        pid=$(cat "$state/pids/$name.pid")
        if alive "$pid" "$name"; then
            kill -TERM "$pid" 2> /dev/null || true
            for i in $(seq 50); do
                alive "$pid" "$name" || break
                sleep 0.2
            done
            if alive "$pid" "$name"; then
                kill -KILL "$pid" 2> /dev/null || true
                log "killed $name (pid $pid)"
            else
                log "stopped $name (pid $pid)"
            fi
        fi
        rm -f "$state/pids/$name.pid"
    done
    if grep -qF "$MARK for $state" "$CONF" 2> /dev/null; then
        if [[ -e $state/slurm.conf.before ]]; then
            mv "$state/slurm.conf.before" "$CONF"
        else
            rm -f "$CONF"
        fi
    fi
}

start_cluster() {
    local state=$1 i
    [[ $(id -u) -eq 0 ]] || {
        log "needs root (apt-get, /etc/slurm)"
        exit 1
    }
    # On any failure below, stop whatever was already started.
    trap 'rc=$?; [[ $rc -ne 0 ]] && { log "start failed (rc $rc); see $state/log"; stop_cluster "$state"; }' EXIT
    install_packages
    mkdir -p "$state"/{pids,run,log,munge,slurmctld,slurmd}
    chmod 700 "$state/munge"
    # A fresh munge key of our own; munged wants it private to its (root) user.
    [[ -s $state/munge/munge.key ]] || dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$state/munge/munge.key"
    write_conf "$state"

    launch "$state" munged munged --foreground --force \
        --socket="$state/munge/munge.socket" --key-file="$state/munge/munge.key" \
        --pid-file="$state/run/munged.pid" --seed-file="$state/munge/munged.seed" \
        --log-file="$state/log/munged.log"
    for i in $(seq 50); do
        [[ -S $state/munge/munge.socket ]] && break
        sleep 0.1
    done
    [[ -S $state/munge/munge.socket ]] || {
        log "munged did not open its socket"
        exit 1
    }
    launch "$state" slurmctld slurmctld -D -i -f "$CONF"
    launch "$state" slurmd slurmd -D -f "$CONF"
    for i in $(seq 120); do
        if [[ $(sinfo -h -N -o %t 2> /dev/null) == idle ]]; then
            log "node $(hostname -s) idle after ${i}x0.5 s; sinfo:"
            sinfo >&2
            trap - EXIT
            return 0
        fi
        for name in "${DAEMONS[@]}"; do
            alive "$(cat "$state/pids/$name.pid")" "$name" || {
                log "$name exited early"
                exit 1
            }
        done
        sleep 0.5
    done
    log "the node never became idle: $(sinfo -h -N -o '%t %E' 2>&1)"
    exit 1
}

[[ $# -ge 2 ]] || usage
command=$1
mkdir -p "$2"
state=$(cd "$2" && pwd)
shift 2
# A signal ends the script through `exit`, so the EXIT traps below still stop the daemons.
trap 'exit 130' INT
trap 'exit 143' TERM
case $command in
start) start_cluster "$state" ;;
stop) stop_cluster "$state" ;;
run)
    [[ $# -ge 1 ]] || usage
    start_cluster "$state"
    trap 'stop_cluster "$state"' EXIT
    "$@"
    ;;
*) usage ;;
esac
