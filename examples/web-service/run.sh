#!/usr/bin/env bash
# The web-service example end to end, on a fresh data dir:
#  1. makes a Debian python3 rootfs with mmdebstrap (cached in
#     ~/.cache/strato-web-service; about 40 s the first time);
#  2. starts `strato server`, builds web/ with `strato image build --push`
#     (buildah) into Strato's own registry as web-service/web:1, and
#     deploys this directory: the notes app as a service beside a Lambda
#     function;
#  3. the first request starts a replica (scale from zero), notes are
#     posted and read back, the function answers on /api/, and after 10
#     idle seconds the service is back to zero replicas.
# Needs root (runc, buildah). Ports: STRATO_HTTP/STRATO_API_ADDR/STRATO_S3/
# STRATO_REGISTRY (defaults 127.0.0.1:8080/8090/9000/5000; port 0 picks a
# free one); STRATO_BIN skips building strato.
source "$(dirname "$0")/../../scripts/env.sh"
HERE="$ROOT/examples/web-service"
HTTP="${STRATO_HTTP:-127.0.0.1:8080}" API="${STRATO_API_ADDR:-127.0.0.1:8090}" S3="${STRATO_S3:-127.0.0.1:9000}"
REGISTRY="${STRATO_REGISTRY:-127.0.0.1:5000}"
CACHE="${STRATO_WEB_SERVICE_CACHE:-$HOME/.cache/strato-web-service}"
ROOTFS_TAR="$CACHE/python-rootfs.tar"

ensure_packages runc:runc mmdebstrap:mmdebstrap buildah:buildah curl:curl
mkdir -p "$CACHE"
exec 9>"$CACHE/build.lock"
flock 9
if [ ! -s "$ROOTFS_TAR" ]; then
    echo "== making a python3 rootfs with mmdebstrap (Debian bookworm)"
    rm -rf "$CACHE"/rootfs.*
    ROOTFS="$(mktemp -d -p "$CACHE" rootfs.XXXXXX)"
    mmdebstrap --quiet --variant=minbase --include=python3 bookworm "$ROOTFS" http://deb.debian.org/debian
    tar -C "$ROOTFS" --numeric-owner -cf "$ROOTFS_TAR.tmp" .
    rm -rf "$ROOTFS"
    mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
fi
exec 9>&-

if [ -z "${STRATO_BIN:-}" ]; then
    echo "== building strato"
    build_strato
    STRATO_BIN="$STRATO"
fi
export STRATO_RUNTIME_CACHE="${STRATO_RUNTIME_CACHE:-$HOME/.cache/strato-runtimes}"
start_strato_server

echo "== strato image build --push web/ -t web-service/web:1"
CONTEXT="$(mktemp -d)"
cp "$HERE/web/Dockerfile" "$HERE/web/app.py" "$CONTEXT/"
ln "$ROOTFS_TAR" "$CONTEXT/python-rootfs.tar" 2>/dev/null || cp "$ROOTFS_TAR" "$CONTEXT/python-rootfs.tar"
"$STRATO_BIN" image build --push --registry "$REGISTRY" "$CONTEXT" -t web-service/web:1
rm -rf "$CONTEXT"
buildah rmi web-service/web:1 >/dev/null 2>&1 || true
echo "== strato image ls"
"$STRATO_BIN" image ls
echo "== strato deploy examples/web-service"
"$STRATO_BIN" deploy "$HERE"

echo "== the first request starts a replica"
curl -fsS -w 'first response after %{time_total} s\n' "http://$HTTP/"
curl -fsS -X POST --data 'buy milk' "http://$HTTP/notes"
curl -fsS -X POST --data 'ship the web service' "http://$HTTP/notes"
curl -fsS "http://$HTTP/notes" | tee "$DATA/notes.json"
echo "== the function beside it"
curl -fsS "http://$HTTP/api/time" | tee "$DATA/api.json"; echo
echo "== strato services"
"$STRATO_BIN" services
echo "== waiting for the service to scale back to zero"
NO_REPLICAS='import json, sys; sys.exit(0 if all(not s["replicas"] for s in json.load(sys.stdin)) else 1)'
for _ in $(seq 1 120); do
    if "$STRATO_BIN" services --output json | python3 -c "$NO_REPLICAS"; then
        break
    fi
    sleep 0.5
done
"$STRATO_BIN" services
"$STRATO_BIN" services --output json > "$DATA/services.json"
echo "== strato services logs web"
"$STRATO_BIN" services logs web-service/web | tail -5
grep -q '"notes": \["buy milk", "ship the web service"\]' "$DATA/notes.json" || { echo "notes missing"; exit 1; }
grep -q '"from": "a lambda function"' "$DATA/api.json" || { echo "function did not answer"; exit 1; }
python3 -c "$NO_REPLICAS" < "$DATA/services.json" || { echo "did not scale to zero"; exit 1; }
echo "web-service example: ok"
