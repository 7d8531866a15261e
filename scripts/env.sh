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

# Starts `$STRATO_BIN server` on a fresh data dir (exported as $DATA and
# STRATO_DATA_DIR, so the CLI finds it) listening on $HTTP, $API, $S3 and
# $REGISTRY (port 0: a free one; the registry's by default), waits until it is ready and sets HTTP/API/S3 to
# the addresses it took (from its endpoints.json). On exit a trap stops it
# (reporting its log if it ended badly) and removes the data dir.
start_strato_server() {
    DATA="$(mktemp -d)"
    export STRATO_DATA_DIR="$DATA"
    "$STRATO_BIN" server --data-dir "$DATA" --http "$HTTP" --api "$API" --s3 "$S3" --registry "${REGISTRY:-127.0.0.1:0}" > "$DATA/server.log" 2>&1 &
    SERVER=$!
    trap stop_strato_server EXIT
    for _ in $(seq 1 300); do
        [ -s "$DATA/endpoints.json" ] && break
        kill -0 $SERVER 2>/dev/null || { cat "$DATA/server.log"; exit 1; }
        sleep 0.1
    done
    endpoint() { sed -n "s|.*\"$1\":\"http://\([^\"]*\)\".*|\1|p" "$DATA/endpoints.json"; }
    HTTP="$(endpoint gateway)" API="$(endpoint api)" S3="$(endpoint s3)" REGISTRY="$(endpoint registry)"
    curl -fsS "http://$API/api/v1/health" >/dev/null || { cat "$DATA/server.log"; exit 1; }
}

stop_strato_server() {
    local rc=$? status=0
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || status=$?
    if [ "$status" -ne 0 ]; then
        echo "error: strato server exited with status $status after SIGTERM; the end of its log:" >&2
        tail -40 "$DATA/server.log" >&2 || true
    fi
    rm -rf "$DATA" || true
    [ "$rc" -ne 0 ] && exit "$rc"
    exit "$status"
}
