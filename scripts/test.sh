#!/usr/bin/env bash
# Ferry's whole test suite, from a fresh Debian 12 machine: installs what it needs, then
# checks formatting, lints with warnings as errors, and runs every test.
#
#   bash scripts/test.sh
#
# Needs a Rust toolchain >= 1.85 (rustup's stable, with rustfmt and clippy). Services the
# later backends need (Slurm, sshd, moto, PostgreSQL) are started here as they arrive.
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

log "tests"
if need_cmd cargo-nextest; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

log "all checks passed"
