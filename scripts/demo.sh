#!/usr/bin/env bash
# Ferry's main job on its embedded defaults: no account, no network, no GPU.
#
#   bash scripts/demo.sh                 # advice for a startup training on 8 x H100, with a chart
#   bash scripts/demo.sh PROFILE.toml    # advice for your own profile (see examples/profiles/)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) and run again" >&2
    exit 1
fi
cargo build --release --locked --quiet -p ferry-cli
profile="${1:-examples/profiles/startup-8xh100.toml}"
./target/release/ferry offers --gpu h100 --count 8 --limit 12
echo
exec ./target/release/ferry advise --profile "$profile" --chart target/ferry-advice.svg
