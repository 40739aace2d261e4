#!/usr/bin/env bash
# A single-node SLURM cluster on this Debian machine, to try the cluster path
# (README, "Running on a cluster"; workflow/profiles/slurm) without a real cluster.
#
#   tools/local_slurm.sh start    install slurm-wlm and munge if missing, write the config, start the daemons
#   tools/local_slurm.sh status   exit 0 when the node takes jobs; print sinfo
#   tools/local_slurm.sh stop     stop slurmd, slurmctld and munged
#   tools/local_slurm.sh remove   stop, then uninstall the packages if `start` installed them
#
# Why `remove` exists: with the SLURM client installed but no controller running, `scontrol` waits ~9 s
# before failing, and Snakemake's SLURM executor plugin calls it whenever Snakemake starts, even for a
# local run. A machine left that way makes every local run (and the test suite) slower.
#
# Every command is idempotent: `start` on a running cluster only checks it. One node, one partition
# `local`: the machine's CPUs, ~20 GB (or 90% of the RAM when less), select/cons_tres with CPUs and
# memory as consumable resources, and no accounting database (accounting_storage/none), so `sacct`
# does not answer: the profile then polls job states with `squeue`. Runs as root (CI does) or
# through sudo. The daemons run in the background without systemd, which containers often lack.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by tools/local_slurm.sh"
MEMORY_CAP_MB=20000
# Present when `start` installed the packages, so `remove` uninstalls only what this script added.
INSTALLED_MARK=/var/lib/local_slurm.installed
STATE=/var/lib/slurm
LOGS=/var/log/slurm
RUN=/run/slurm

log() { echo "local_slurm: $*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "needs root (or sudo) to install packages and start the daemons"
    fi
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "apt-get not found: this script installs SLURM on Debian or Ubuntu only"
    log "installing slurm-wlm and munge (apt-get)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
    as_root touch "$INSTALLED_MARK"
}

remove_packages() {
    if [ ! -f "$INSTALLED_MARK" ]; then
        log "packages were not installed by this script; left in place"
        return
    fi
    log "uninstalling slurm-wlm and munge (apt-get purge)"
    if head -n 1 "$CONF" 2>/dev/null | grep -qF "$MARK"; then
        as_root rm -f "$CONF"
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq 'slurm*' munge >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get autoremove -y -qq >/dev/null
    as_root rm -f "$INSTALLED_MARK"
}

# The node as slurmd sees it, with memory capped at ~20 GB so the jobs leave room for the machine.
write_config() {
    local host cpus real_mb memory_mb
    host=$(hostname -s)
    cpus=$(nproc --all)
    real_mb=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n 1)
    [ -n "$real_mb" ] || die "slurmd -C did not report the node's memory"
    memory_mb=$(( real_mb * 9 / 10 < MEMORY_CAP_MB ? real_mb * 9 / 10 : MEMORY_CAP_MB ))
    if [ -f "$CONF" ] && ! head -n 1 "$CONF" | grep -qF "$MARK"; then
        die "$CONF exists and was not written by this script; not touching a real cluster's configuration"
    fi
    local new
    new=$(cat <<EOF
$MARK; rerun it to rewrite
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No cgroup hierarchy is needed (containers often lack one); no accounting database.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
# A node whose memory or CPUs differ from slurmd's own count is still used as configured.
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
)
    if [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$new" ]; then
        return 1
    fi
    printf '%s\n' "$new" | as_root tee "$CONF" >/dev/null
    log "wrote $CONF: node $host, $cpus CPUs, $memory_mb MB"
    return 0
}

# A daemon removes its pid file as it exits, so the file may vanish between the test and the read.
running() { local pid; pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && as_root kill -0 "$pid" 2>/dev/null; }

start_munge() {
    if running /run/munge/munged.pid; then return; fi
    as_root install -d -o munge -g munge -m 0755 /run/munge
    as_root install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        as_root install -d -o munge -g munge -m 0700 /etc/munge
        as_root dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        as_root chown munge:munge /etc/munge/munge.key
        as_root chmod 0400 /etc/munge/munge.key
    fi
    as_root runuser -u munge -- /usr/sbin/munged
    log "munged started"
}

start_slurm() {
    local changed=$1
    as_root install -d -o slurm -g slurm -m 0755 "$STATE/slurmctld" "$LOGS" "$RUN"
    as_root install -d -o root -g root -m 0755 "$STATE/slurmd"
    if [ "$changed" = yes ] && running "$RUN/slurmctld.pid"; then
        as_root scontrol reconfigure
        log "slurmctld reconfigured"
    fi
    if ! running "$RUN/slurmctld.pid"; then
        as_root slurmctld
        log "slurmctld started"
    fi
    if ! running "$RUN/slurmd.pid"; then
        as_root slurmd
        log "slurmd started"
    fi
}

node_ready() {
    local state
    state=$(sinfo --noheader --nodes "$(hostname -s)" --format %T 2>/dev/null | head -n 1)
    case "$state" in
        idle* | mixed* | allocated* | completing*) return 0 ;;
        *) return 1 ;;
    esac
}

wait_ready() {
    local tries
    for tries in $(seq 1 30); do
        if node_ready; then return 0; fi
        sleep 1
    done
    # A node that registered while misconfigured stays drained; the config is right now.
    as_root scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true
    for tries in $(seq 1 15); do
        if node_ready; then return 0; fi
        sleep 1
    done
    sinfo --Node --long >&2 || true
    die "the node did not become ready; see $LOGS/slurmctld.log and $LOGS/slurmd.log"
}

stop_pid() {
    local name=$1 pidfile=$2
    local pid
    if running "$pidfile" && pid=$(cat "$pidfile" 2>/dev/null); then
        as_root kill "$pid"
        local tries
        for tries in $(seq 1 20); do
            running "$pidfile" || break
            sleep 0.5
        done
        log "$name stopped"
    fi
}

case "${1:-}" in
    start)
        install_packages
        changed=no
        if write_config; then changed=yes; fi
        start_munge
        start_slurm "$changed"
        wait_ready
        sinfo --Node --noheader --format "%N: %T, %c CPUs, %m MB, partition %P"
        ;;
    status)
        if command -v sinfo >/dev/null && node_ready; then
            sinfo --Node --noheader --format "%N: %T, %c CPUs, %m MB, partition %P"
        else
            log "not running"
            exit 1
        fi
        ;;
    stop|remove)
        stop_pid slurmd "$RUN/slurmd.pid"
        stop_pid slurmctld "$RUN/slurmctld.pid"
        stop_pid munged /run/munge/munged.pid
        if [ "$1" = remove ]; then remove_packages; fi
        ;;
    *)
        echo "usage: $0 start|status|stop|remove" >&2
        exit 2
        ;;
esac
