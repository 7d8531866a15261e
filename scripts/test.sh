#!/usr/bin/env bash
# Runs Strato's whole test suite as CI does: formatting, lints, unit tests,
# and end-to-end tests that start the real server with real guest
# components. Installs the wasm32-wasip2 target if it is missing.
source "$(dirname "$0")/env.sh"
cd "$ROOT"

if command -v rustup >/dev/null; then
    rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed | grep -q '^clippy' || rustup component add clippy
fi

echo "== fmt"
cargo fmt --all --check
echo "== guest components"
build_guests
echo "== clippy"
cargo clippy --release --all-targets -- -D warnings
echo "== tests"
cargo test --release --workspace --no-fail-fast
echo "== all tests passed"
