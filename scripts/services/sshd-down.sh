#!/usr/bin/env bash
# sshd-down.sh DIR — stops what sshd-up.sh DIR started and waits for it to be gone.
#
# 1. Stops the listening sshd by DIR/sshd.pid (SIGTERM, up to 10 s, then SIGKILL), so no new
#    connection comes in. (Stopping it does not end the sessions already open.)
# 2. Ends the sessions still open: the per-connection sshd processes of this instance (the
#    sshd processes that hold DIR/sshd.log open) get SIGTERM, then SIGKILL after 5 s; before
#    that, the commands still running in those sessions get SIGHUP, as at a hang-up.
#    A process a user detached with setsid (Ferry's remote supervisor) is in a session of its
#    own and is not touched, nor is anything left from connections already closed: such
#    processes are the tests' business.
# Leaves DIR (keys, config, log) in place; safe to run when nothing is running.
set -euo pipefail
SVC_NAME=sshd-down
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ $# -eq 1 ] || svc_die "usage: $0 DIR"
if [ ! -d "$1" ]; then
    svc_log "no such directory: $1 (nothing to stop)"
    exit 0
fi
D=$(cd "$1" && pwd)

svc_stop "$D/sshd.pid" sshd

# sshd -E DIR/sshd.log: every sshd process of this instance (the re-executed per-connection
# sshd, its privilege-separated children) reopens the log, so an fd to it marks them. sshd
# closes its own descriptors before it runs a session's command, so user processes never
# match, and the comm check skips them anyway.
sessions() {
    local fd pid
    for fd in /proc/[0-9]*/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "$D/sshd.log" ] || continue
        pid=${fd#/proc/}
        pid=${pid%%/*}
        svc_running "$pid" || continue
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sshd ] || continue
        echo "$pid"
    done | sort -un | tr '\n' ' '
}
# "PID PPID SID COMM" for every process (from /proc: ps is not on every fresh machine).
ptable() {
    awk '{ c = $0; sub(/^[^(]*\(/, "", c); sub(/\) [^)]*$/, "", c)
           r = $0; sub(/.*\) /, "", r); split(r, f, " ")
           print $1, f[2], f[4], c }' /proc/[0-9]*/stat 2>/dev/null || true
}

left=$(sessions)
if [ -n "${left// /}" ]; then
    # The commands of those sessions: sshd makes each session's command the leader of a new
    # session (setsid), so its SID names it and every process it started that did not detach.
    # They get SIGHUP only, as from a hang-up at logout: a process that detached with setsid
    # is in another session and is not touched, and one that ignores SIGHUP (nohup) lives on.
    table=$(ptable)
    sids=$(awk -v s=" $left " 'index(s, " " $2 " ") && $4 != "sshd" { print $3 }' <<<"$table" |
           sort -un | tr '\n' ' ')
    members=$(awk -v s=" $sids " -v me="$$" -v mysid="$(awk '{ sub(/.*\) /, ""); print $4 }' /proc/$$/stat)" \
                  '$3 > 1 && $3 != mysid && index(s, " " $3 " ") && $1 != me && $4 != "sshd" { print $1 }' \
                  <<<"$table" | tr '\n' ' ')
    if [ -n "${members// /}" ]; then
        svc_log "hanging up the commands of open sessions (SIGHUP): $members"
        # shellcheck disable=SC2086
        kill -HUP $members 2>/dev/null || true
    fi
    svc_log "ending leftover sshd session processes: $left"
    # shellcheck disable=SC2086
    kill -TERM $left 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        [ -z "$(sessions)" ] && break
        sleep 0.1
    done
    left=$(sessions)
    if [ -n "${left// /}" ]; then
        svc_log "sshd session processes ignored SIGTERM for 5s: SIGKILL $left"
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
    fi
fi
exit 0
