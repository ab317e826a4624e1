# shellcheck shell=bash
# Helpers shared by the scripts in scripts/services/ (sourced, not run).

svc_log() { printf '[%s] %s\n' "${SVC_NAME:-services}" "$*" >&2; }
svc_die() { svc_log "error: $*"; exit 1; }

# Seconds since the epoch with microseconds (bash >= 5 has EPOCHREALTIME).
svc_now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
svc_elapsed() { awk -v a="$1" -v b="$(svc_now)" 'BEGIN { printf "%.2f", b - a }'; }

# Runs "$@" as root: directly when we are root, else through sudo when there is one.
svc_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else svc_die "need root (or sudo) to run: $*"
    fi
}

# svc_apt_install PKG... : installs the Debian packages that are not installed yet.
# Quiet, --no-install-recommends, non-interactive. Package scripts are kept from starting
# services (openssh-server would otherwise start a system sshd on port 22, munge a system
# munged) by a temporary /usr/sbin/policy-rc.d that answers 101, put there only when the
# machine has none and removed afterwards.
svc_apt_install() {
    local missing=() p st
    for p in "$@"; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$st" = installed ] || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    svc_log "installing Debian packages: ${missing[*]}"
    local policy=/usr/sbin/policy-rc.d added=0 rc=0
    if [ ! -e "$policy" ]; then
        svc_as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added=1
    fi
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o Dpkg::Use-Pty=0
               install --no-install-recommends "${missing[@]}")
    # Try with the package lists we have first; refresh them only when that fails
    # (fresh machine with no lists, or lists that point at superseded versions).
    if ! svc_as_root "${apt[@]}" >/dev/null 2>&1; then
        svc_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || rc=$?
        [ "$rc" -eq 0 ] && { svc_as_root "${apt[@]}" >/dev/null || rc=$?; }
    fi
    [ "$added" -eq 1 ] && svc_as_root rm -f "$policy"
    [ "$rc" -eq 0 ] || svc_die "apt-get could not install: ${missing[*]}"
}

# svc_running PID : true while PID exists and is not a zombie (an exited daemon whose parent,
# PID 1 in some containers, does not reap it would otherwise look alive for ever).
svc_running() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st%% *}
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# svc_pid_alive PIDFILE NAME : true when PIDFILE names a live process whose command is NAME
# (guards against a stale pid file whose pid has since been reused).
svc_pid_alive() {
    local pid comm
    [ -s "$1" ] || return 1
    pid=$(tr -dc '0-9' < "$1")
    [ -n "$pid" ] && svc_running "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [ "$comm" = "$2" ]
}

# svc_stop PIDFILE NAME [WAIT_S] : SIGTERM the process, wait up to WAIT_S (default 10) seconds
# for it to exit, then SIGKILL it. Removes the pid file. Silent when it is not running.
svc_stop() {
    local file=$1 name=$2 wait_s=${3:-10} pid i
    if svc_pid_alive "$file" "$name"; then
        pid=$(tr -dc '0-9' < "$file")
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < wait_s * 10; i++)); do
            svc_running "$pid" || break
            sleep 0.1
        done
        if svc_running "$pid"; then
            svc_log "$name (pid $pid) ignored SIGTERM for ${wait_s}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do svc_running "$pid" || break; sleep 0.1; done
        fi
        svc_log "stopped $name (pid $pid)"
    fi
    rm -f "$file"
}

# svc_port_busy PORT : true when something already listens on 127.0.0.1:PORT.
svc_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
