#!/usr/bin/env bash
# The seed example end to end, on a fresh data dir:
#  1. builds the ffmpeg + aws CLI image from Debian's packages with
#     mmdebstrap (cached in ~/.cache/strato-thumbnailer; about 2 minutes
#     the first time) and a 3-second test clip with that image's ffmpeg;
#  2. starts `strato server`, imports the image, deploys this directory
#     (a bucket, two wasm functions, the ffmpeg task), or with
#     THUMBNAILER_APP=js the same app with its handlers in JavaScript
#     (js/: Lambda handlers on Node);
#  3. uploads the clip with the stock aws CLI and waits until
#     `on-thumbnail` has logged the .jpg the ffmpeg task wrote back.
# Needs root (runc). Ports: STRATO_HTTP/STRATO_API_ADDR/STRATO_S3 (defaults
# 127.0.0.1:8080/8090/9000; port 0 picks a free one, read back from the
# server's endpoints.json); STRATO_BIN skips building strato.
source "$(dirname "$0")/../../scripts/env.sh"
HERE="$ROOT/examples/thumbnailer"
APP_DIR="$HERE"
[ "${THUMBNAILER_APP:-}" = js ] && APP_DIR="$HERE/js"
HTTP="${STRATO_HTTP:-127.0.0.1:8080}" API="${STRATO_API_ADDR:-127.0.0.1:8090}" S3="${STRATO_S3:-127.0.0.1:9000}"
CACHE="${STRATO_THUMBNAILER_CACHE:-$HOME/.cache/strato-thumbnailer}"
IMAGE_TAR="$CACHE/ffmpeg-rootfs.tar" CLIP="$CACHE/clip.mp4"

ensure_packages runc:runc mmdebstrap:mmdebstrap curl:curl
mkdir -p "$CACHE"
# One build at a time (two runs may start together, as the test suite's
# two thumbnailer tests do): the second waits for the lock, then finds the
# image made. Each build works in its own directory.
exec 9>"$CACHE/build.lock"
flock 9
if [ ! -s "$IMAGE_TAR" ] || [ ! -s "$CLIP" ]; then
    echo "== building the ffmpeg image with mmdebstrap (Debian bookworm: ffmpeg, awscli)"
    rm -rf "$CACHE"/rootfs.*   # a failed build's leftovers (we hold the lock)
    ROOTFS="$(mktemp -d -p "$CACHE" rootfs.XXXXXX)"
    mmdebstrap --quiet --variant=minbase --include=ffmpeg,awscli,ca-certificates \
        bookworm "$ROOTFS" http://deb.debian.org/debian
    echo "== making a test clip with the image's ffmpeg"
    chroot "$ROOTFS" ffmpeg -loglevel error -y -f lavfi \
        -i testsrc=duration=3:size=320x240:rate=25 -pix_fmt yuv420p /tmp/clip.mp4
    mv "$ROOTFS/tmp/clip.mp4" "$CLIP.tmp"
    tar -C "$ROOTFS" --numeric-owner -cf "$IMAGE_TAR.tmp" .
    rm -rf "$ROOTFS"
    mv "$CLIP.tmp" "$CLIP" && mv "$IMAGE_TAR.tmp" "$IMAGE_TAR"
fi
exec 9>&-

if [ -z "${STRATO_BIN:-}" ]; then
    echo "== building strato"
    build_strato
    STRATO_BIN="$STRATO"
fi
# Lambda runtime images (the js/ variant's Node) are built once per machine.
export STRATO_RUNTIME_CACHE="${STRATO_RUNTIME_CACHE:-$HOME/.cache/strato-runtimes}"
start_strato_server

echo "== strato image import --rootfs -t thumbnailer/ffmpeg:1"
"$STRATO_BIN" image import --rootfs -t thumbnailer/ffmpeg:1 "$IMAGE_TAR"
echo "== strato deploy ${APP_DIR#$ROOT/}"
"$STRATO_BIN" deploy "$APP_DIR"

ensure_aws_cli
export AWS_SHARED_CREDENTIALS_FILE="$DATA/s3.credentials" AWS_CONFIG_FILE=/dev/null
echo "== aws s3 cp clip.mp4 s3://media/clip.mp4"
"$AWS" --endpoint-url "http://$S3" s3 cp "$CLIP" s3://media/clip.mp4

echo "== waiting for on-thumbnail to log clip.mp4.jpg"
for _ in $(seq 1 600); do
    if "$STRATO_BIN" logs thumbnailer/on-thumbnail --limit 5 2>/dev/null | grep -q "clip.mp4.jpg is ready"; then
        break
    fi
    sleep 0.5
done
echo "== strato logs on-video / ffmpeg / on-thumbnail"
"$STRATO_BIN" logs thumbnailer/on-video --limit 5
"$STRATO_BIN" logs thumbnailer/ffmpeg --limit 20
"$STRATO_BIN" logs thumbnailer/on-thumbnail --limit 5
echo "== strato runs --app thumbnailer"
"$STRATO_BIN" runs --app thumbnailer --limit 10
echo "== strato trace: the chain from the upload to the thumbnail"
LAST_RUN="$("$STRATO_BIN" runs --app thumbnailer --function on-thumbnail --limit 1 --output json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')"
"$STRATO_BIN" trace "$LAST_RUN"
# A check to run against the live server before it stops (the test suite
# follows the chain in a browser): LAST_RUN, API and STRATO_DATA_DIR are set.
if [ -n "${THUMBNAILER_THEN:-}" ]; then
    echo "== $THUMBNAILER_THEN"
    LAST_RUN="$LAST_RUN" API="$API" bash -c "$THUMBNAILER_THEN"
fi
echo "== aws s3 ls s3://media"
"$AWS" --endpoint-url "http://$S3" s3 ls s3://media | tee "$DATA/listing.txt"
if ! grep -Eq '^[0-9-]+ [0-9:]+ +[1-9][0-9]* clip\.mp4\.jpg$' "$DATA/listing.txt"; then
    echo "error: clip.mp4.jpg is not in the bucket (or is empty)" >&2
    exit 1
fi
if "$STRATO_BIN" logs thumbnailer/on-thumbnail --limit 5 | grep -q "clip.mp4.jpg is ready"; then
    echo "== thumbnailer example: done"
else
    echo "error: no thumbnail was logged; server log:" >&2
    tail -50 "$DATA/server.log" >&2
    exit 1
fi
