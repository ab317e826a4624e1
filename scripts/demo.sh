#!/usr/bin/env bash
# Ferry's main job on its embedded defaults: no account, no network, no GPU.
#
#   bash scripts/demo.sh            # 8 x H100 across every provider and category
#   bash scripts/demo.sh --gpu 4090 # any `ferry offers` arguments
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) and run again" >&2
    exit 1
fi
cargo build --release --locked --quiet -p ferry-cli
if (($#)); then
    exec ./target/release/ferry offers "$@"
fi
exec ./target/release/ferry offers --gpu h100 --count 8
