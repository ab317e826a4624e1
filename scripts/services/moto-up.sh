#!/usr/bin/env bash
# moto-up.sh DIR — an AWS emulator (moto's server mode) on 127.0.0.1 for Ferry's tests.
#
#   scripts/services/moto-up.sh DIR && curl -s http://127.0.0.1:5000/moto-api/
#   scripts/services/moto-down.sh DIR
#
# moto (https://github.com/getmoto/moto, from PyPI) answers the EC2 API the way AWS does;
# Ferry's tests drive the official AWS SDK for Rust against it (endpoint_url override, fake
# credentials). Installs python3-venv with apt-get when missing, makes a virtualenv at
# DIR/venv with the pinned moto[server] (about 45 s the first time; reused after), and starts
# moto_server on 127.0.0.1:${FERRY_MOTO_PORT:-5000}. Writes:
#   DIR/moto.pid, DIR/moto.log   the server's pid and log
#   DIR/env.sh                   exports FERRY_TEST_MOTO_URL=http://127.0.0.1:PORT
# State is reset between tests with POST /moto-api/reset.
set -euo pipefail
SVC_NAME=moto-up
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

MOTO_VERSION=5.2.5
[ $# -eq 1 ] || svc_die "usage: $0 DIR"
mkdir -p "$1"
D=$(cd "$1" && pwd)
PORT=${FERRY_MOTO_PORT:-5000}

if svc_pid_alive "$D/moto.pid" moto_server; then
    svc_log "already running (pid $(cat "$D/moto.pid"))"
else
    command -v python3 >/dev/null 2>&1 || svc_apt_install python3
    python3 -c 'import ensurepip, venv' 2>/dev/null || svc_apt_install python3-venv
    if ! "$D/venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
        svc_log "installing moto[server]==$MOTO_VERSION into $D/venv"
        rm -rf "$D/venv"
        python3 -m venv "$D/venv"
        "$D/venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    fi
    svc_port_busy "$PORT" && svc_die "127.0.0.1:$PORT is taken: set FERRY_MOTO_PORT"
    # setsid: a session of its own, so that the test harness's signals do not reach it.
    setsid "$D/venv/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$D/moto.log" 2>&1 < /dev/null &
    echo $! > "$D/moto.pid"
fi

for ((i = 0; i < 300; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        printf 'export FERRY_TEST_MOTO_URL=http://127.0.0.1:%s\n' "$PORT" > "$D/env.sh"
        svc_log "moto_server (pid $(cat "$D/moto.pid")) on http://127.0.0.1:$PORT"
        exit 0
    fi
    svc_pid_alive "$D/moto.pid" moto_server || break
    sleep 0.1
done
tail -20 "$D/moto.log" >&2 || true
svc_die "moto_server did not come up on 127.0.0.1:$PORT (log: $D/moto.log)"
