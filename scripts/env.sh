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

# Builds Strato the way the test suite does and sets $STRATO to the binary
# (or to $STRATO_BIN when given, e.g. a build to compare against).
# `cargo test` unifies the features of dev-dependencies (the AWS SDK, the
# blocking HTTP client) into every crate it builds, so a plain `cargo build
# -p strato-cli` would compile wasmtime and the rest a second time with
# other features; building through the test command instead means the demo,
# the benchmarks and the test suite share one build, whichever runs first.
build_strato() {
    if [ -n "${STRATO_BIN:-}" ]; then
        STRATO="$STRATO_BIN"
        return
    fi
    (cd "$ROOT" && cargo test --release --workspace --no-run "$@")
    STRATO="$CARGO_TARGET_DIR/release/strato"
}

# Builds the guest components used by tests and benchmarks, once.
build_guests() {
    (cd "$ROOT/guests" && cargo build --release --target wasm32-wasip2 --target-dir "$CARGO_TARGET_DIR/guests")
    (cd "$ROOT/guests/lambda-native" && cargo build --release --target-dir "$CARGO_TARGET_DIR/guests-native")
}

# Installs Debian packages whose command is missing: `ensure_packages
# runc:runc busybox-static:/bin/busybox` (package:command-or-path).
ensure_packages() {
    local missing=()
    for pair in "$@"; do
        local pkg="${pair%%:*}" probe="${pair#*:}"
        if [ "${probe#/}" != "$probe" ]; then
            [ -e "$probe" ] || missing+=("$pkg")
        else
            command -v "$probe" >/dev/null || missing+=("$pkg")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y "${missing[@]}" >/dev/null 2>&1 \
            || { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; }
    fi
}

# The stock aws CLI and boto3 from PyPI, in a venv under ~/.cache/strato-py;
# sets $AWS and exports STRATO_PY (the e2e tests drive both from there).
# moto's S3 server is the S3 blob store of the cluster tests.
ensure_aws_cli() {
    local py="$HOME/.cache/strato-py"
    if [ ! -x "$py/bin/aws" ] || [ ! -x "$py/bin/moto_server" ] \
        || ! "$py/bin/python" -c 'import boto3, selenium' 2>/dev/null; then
        echo "installing the aws CLI, boto3, selenium and moto from PyPI into $py"
        ensure_packages python3:python3
        [ -x "$py/bin/pip" ] || python3 -m venv "$py" 2>/dev/null \
            || { ensure_packages python3-venv:/usr/share/doc/python3-venv; python3 -m venv --clear "$py"; }
        "$py/bin/pip" install -q awscli boto3 selenium 'moto[server]'
    fi
    AWS="$py/bin/aws"
    export STRATO_PY="$py"
}
