#!/usr/bin/env bash
# slurm-down.sh DIR — stops what slurm-up.sh DIR started and waits for it to be gone.
#
# 1. While slurmctld runs: cancels every job still queued or running and waits (up to 15 s)
#    for them to end, so no job or slurmstepd outlives the cluster.
# 2. Stops slurmd, slurmctld, then munged, each by the pid file under DIR (SIGTERM, up to
#    10 s, then SIGKILL), and waits for each to exit.
# 3. Any slurmstepd of this DIR still left (it holds DIR/log/slurmd.log open) is killed,
#    with the processes below it.
# Leaves DIR (conf, logs, state, munge key) in place; safe to run when nothing is running.
set -euo pipefail
SVC_NAME=slurm-down
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ $# -eq 1 ] || svc_die "usage: $0 DIR"
if [ ! -d "$1" ]; then
    svc_log "no such directory: $1 (nothing to stop)"
    exit 0
fi
D=$(cd "$1" && pwd)
export SLURM_CONF=$D/slurm.conf

if svc_pid_alive "$D/slurmctld.pid" slurmctld && [ -f "$SLURM_CONF" ]; then
    jobs=$(timeout 5 squeue -h -t PD,R,CG,S,CF -o '%i' 2>/dev/null | tr '\n' ' ' || true)
    if [ -n "${jobs// /}" ]; then
        svc_log "cancelling jobs: $jobs"
        # shellcheck disable=SC2086
        timeout 5 scancel $jobs 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            [ -z "$(timeout 5 squeue -h -t PD,R,CG,S,CF -o '%i' 2>/dev/null || true)" ] && break
            sleep 0.1
        done
    fi
fi

svc_stop "$D/slurmd.pid" slurmd
svc_stop "$D/slurmctld.pid" slurmctld
svc_stop "$D/munge/munged.pid" munged

# Leftover step daemons of this instance (only when a job outlived step 1): a slurmstepd
# keeps slurmd's log, DIR/log/slurmd.log, open. Kill it and every process below it.
descendants() {
    local p c
    for p in "$@"; do
        for c in $(awk -v p="$p" '{ sub(/.*\) /, ""); if ($2 == p) print FILENAME }' \
                       /proc/[0-9]*/stat 2>/dev/null | cut -d/ -f3); do
            descendants "$c"
        done
        echo "$p"
    done
}
for fd in /proc/[0-9]*/fd/3; do
    pid=${fd#/proc/}
    pid=${pid%%/*}
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slurmstepd ] || continue
    [ "$(readlink "$fd" 2>/dev/null)" = "$D/log/slurmd.log" ] || continue
    tree=$(descendants "$pid" | tr '\n' ' ')
    svc_log "killing leftover slurmstepd and the processes below it: $tree"
    # shellcheck disable=SC2086
    kill -KILL $tree 2>/dev/null || true
done
exit 0
