# Shared setup for Strato's scripts: toolchain pieces and the build cache.
# Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Keep build output outside the clone so repeated runs are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strato-target}"
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v cargo >/dev/null; then
    echo "error: cargo not found; install Rust 1.95 with rustup (https://rustup.rs)" >&2
    exit 1
fi
if command -v rustup >/dev/null; then
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        echo "installing the wasm32-wasip2 target"
        rustup target add wasm32-wasip2
    fi
fi

# Builds the guest components used by tests and benchmarks, once.
build_guests() {
    (cd "$ROOT/guests" && cargo build --release --target wasm32-wasip2 --target-dir "$CARGO_TARGET_DIR/guests")
}
