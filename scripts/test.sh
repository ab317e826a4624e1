#!/usr/bin/env bash
# Ferry's whole test suite, from a fresh Debian 12 machine: installs what it needs, then
# checks formatting, lints with warnings as errors, and runs every test.
#
#   bash scripts/test.sh
#
# Needs a Rust toolchain >= 1.85 (rustup's stable, with rustfmt and clippy).
#
# Before the tests step it starts the services the tests talk to, with scripts/services/
# (which install their Debian packages when missing), under
# ${FERRY_TEST_SERVICES:-/tmp/ferry-test-services}:
#   slurm/  a single-node Slurm (slurm-up.sh; needs root: run through sudo when not root;
#           ports FERRY_SLURMCTLD_PORT, FERRY_SLURMD_PORT, default 6817/6818)
#   sshd/   an OpenSSH server on 127.0.0.1:${FERRY_SSHD_PORT:-2222} (sshd-up.sh, run as the
#           current user, whom it logs in; `ssh -F $FERRY_TEST_SSHD_DIR/ssh_config ferry-test`)
#   moto/   an AWS emulator (moto, from PyPI, in a virtualenv under moto/venv) on
#           127.0.0.1:${FERRY_MOTO_PORT:-5000} (moto-up.sh), for the AWS EC2 provider
# and exports FERRY_TEST_SLURM_DIR, SLURM_CONF (its slurm.conf), FERRY_TEST_SSHD_DIR and
# FERRY_TEST_MOTO_URL to the tests. All are stopped on exit (slurm-down.sh, sshd-down.sh,
# moto-down.sh), whether the tests pass or not; the script's exit code stays the tests'.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

need_cmd() { command -v "$1" >/dev/null 2>&1; }

log "toolchain"
if ! need_cmd cargo; then
    echo "cargo not found: install Rust (https://rustup.rs) and run again" >&2
    exit 1
fi
cargo --version
rustc --version

# Debian packages the build needs: a C compiler and pkg-config for -sys crates.
missing=()
for pkg in gcc pkg-config; do
    need_cmd "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

# clippy --all-targets above has already type-checked every benchmark; building them
# in release here would only cost CI minutes. Run them with `cargo bench`.

# nextest runs last so that its summary closes the log; it does not run doctests.
log "doctests"
cargo test --workspace --locked --doc

# Services for the tests; stopped on exit, whatever the outcome (the exit code is kept).
. scripts/services/lib.sh
SERVICES=${FERRY_TEST_SERVICES:-/tmp/ferry-test-services}
export FERRY_TEST_SLURM_DIR=$SERVICES/slurm
export FERRY_TEST_SSHD_DIR=$SERVICES/sshd
export SLURM_CONF=$FERRY_TEST_SLURM_DIR/slurm.conf
MOTO_DIR=$SERVICES/moto
stop_services() {
    log "stopping services"
    scripts/services/moto-down.sh "$MOTO_DIR" || true
    scripts/services/sshd-down.sh "$FERRY_TEST_SSHD_DIR" || true
    svc_as_root scripts/services/slurm-down.sh "$FERRY_TEST_SLURM_DIR" || true
}
trap 'rc=$?; trap - EXIT; stop_services; exit "$rc"' EXIT
mkdir -p "$SERVICES"   # as the current user, so that sshd/ is theirs

log "services: slurm"
t0=$(svc_now)
# sudo (when not root) drops the environment: hand the FERRY_SLURM* settings on explicitly.
slurm_env=()
while IFS= read -r v; do slurm_env+=("$v=${!v}"); done < <(compgen -e | grep '^FERRY_SLURM' || true)
svc_as_root env "${slurm_env[@]}" scripts/services/slurm-up.sh "$FERRY_TEST_SLURM_DIR"
echo "slurm started in $(svc_elapsed "$t0") s: $FERRY_TEST_SLURM_DIR (SLURM_CONF=$SLURM_CONF)"

log "services: sshd"
t0=$(svc_now)
# As the current user, not root: the tests log in as the user who owns the client keys.
scripts/services/sshd-up.sh "$FERRY_TEST_SSHD_DIR"
echo "sshd started in $(svc_elapsed "$t0") s: $FERRY_TEST_SSHD_DIR (ssh -F $FERRY_TEST_SSHD_DIR/ssh_config ferry-test)"

log "services: moto"
t0=$(svc_now)
scripts/services/moto-up.sh "$MOTO_DIR"
. "$MOTO_DIR/env.sh"
echo "moto started in $(svc_elapsed "$t0") s: $FERRY_TEST_MOTO_URL"

log "tests"
if need_cmd cargo-nextest; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

log "all checks passed"
