#!/usr/bin/env bash
# moto-down.sh DIR — stops what moto-up.sh DIR started. Leaves DIR/venv for the next run.
set -euo pipefail
SVC_NAME=moto-down
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ $# -eq 1 ] || svc_die "usage: $0 DIR"
[ -d "$1" ] || { svc_log "no such directory: $1 (nothing to stop)"; exit 0; }
svc_stop "$1/moto.pid" moto_server
