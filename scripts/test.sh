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

# Container tests run real runc on a static busybox; the registry tests
# push with skopeo to Debian's docker-registry and with skopeo, buildah and
# podman to Strato's own; `image build` uses buildah; the thumbnailer and
# web-service examples make their rootfs with mmdebstrap; the S3 client
# tests drive s3cmd and rclone; the CORS and form-upload test drives
# headless Chromium; the PostgreSQL store and cluster tests start their own
# PostgreSQL server (initdb in a temp dir, as the `postgres` user).
ensure_packages runc:runc busybox-static:/bin/busybox docker-registry:docker-registry \
    skopeo:skopeo buildah:buildah podman:podman mmdebstrap:mmdebstrap curl:curl s3cmd:s3cmd rclone:rclone \
    chromium:/usr/bin/chromium chromium-driver:/usr/bin/chromedriver \
    postgresql:/usr/lib/postgresql

# The Lambda API tests drive boto3 and the aws CLI from PyPI (and the
# browser test selenium).
ensure_aws_cli

echo "== fmt"
cargo fmt --all --check
echo "== guest components"
build_guests
echo "== clippy"
cargo clippy --release --all-targets -- -D warnings
echo "== docs (broken links fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --release --no-deps --workspace
echo "== tests"
# The same build `build_strato` (demo, benchmarks) makes: one build for all.
cargo test --release --workspace --no-fail-fast
echo "== all tests passed"
