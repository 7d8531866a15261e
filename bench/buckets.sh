#!/usr/bin/env bash
# Buckets benchmark, side by side in one run on this machine:
#   floors  write 4 KiB + fsync + rename in a loop at concurrency 16; a plain
#           HTTP server (raw hyper, body discarded) under the same S3 client
#   strato  4 KiB PUT and GET objects/s at concurrency 16 with the real AWS
#           SDK (aws-sdk-s3), with its default checksums and without; GET also with wrk on a presigned URL (a client
#           that costs almost nothing, so the server's own limit shows)
#   versions the same PUT and GET in a bucket with versioning enabled, and
#           wrk PUTs all overwriting one key there (every one kept)
#   sse     the same PUT and GET in a bucket encrypting with SSE-S3 by default
#   events  PUT-ack to function-start latency at 100 events/s
#   memory  server RSS growth across a 2 GiB upload and download (aws CLI)
# Usage: bench/buckets.sh [SECONDS]   (default 10)
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
DUR="${1:-10}"
PY="$HOME/.cache/strato-py"

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y wrk >/dev/null; }
if [ ! -x "$PY/bin/aws" ]; then
    echo "installing the aws CLI from PyPI"
    python3 -m venv "$PY" 2>/dev/null || { apt-get install -y python3-venv >/dev/null; python3 -m venv --clear "$PY"; }
    "$PY/bin/pip" install -q awscli
fi
echo "building strato, the guests and the bench tools"
build_strato >/dev/null 2>&1
build_guests >/dev/null 2>&1
(cd bench/tools && cargo build --release --target-dir "$CARGO_TARGET_DIR/bench-tools" >/dev/null 2>&1)
TOOLS="$CARGO_TARGET_DIR/bench-tools/release"
KITCHEN="$CARGO_TARGET_DIR/guests/wasm32-wasip2/release/kitchen.wasm"

WORK="$(mktemp -d -p "$HOME")"   # on the same disk as a real data dir
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
wait_http() { for _ in $(seq 1 300); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

"$TOOLS/hyper-hello" 127.0.0.1:18070 & PIDS+=($!)
"$STRATO" server --data-dir "$WORK/strato" --http 127.0.0.1:18080 --api 127.0.0.1:18090 --s3 127.0.0.1:18099 --registry 127.0.0.1:18095 >"$WORK/strato.log" 2>&1 & PIDS+=($!)
SERVER=$!
export STRATO_DATA_DIR="$WORK/strato"
wait_http http://127.0.0.1:18090/api/v1/health
wait_http http://127.0.0.1:18070/
ID="$(awk '/aws_access_key_id/ {print $3}' "$WORK/strato/s3.credentials")"
SECRET="$(awk '/aws_secret_access_key/ {print $3}' "$WORK/strato/s3.credentials")"
export AWS_SHARED_CREDENTIALS_FILE="$WORK/strato/s3.credentials" AWS_CONFIG_FILE=/dev/null AWS_ENDPOINT_URL=http://127.0.0.1:18099
S3=http://127.0.0.1:18099
"$PY/bin/aws" s3 mb s3://bench >/dev/null
"$PY/bin/aws" s3 mb s3://vbench >/dev/null
"$PY/bin/aws" s3api put-bucket-versioning --bucket vbench --versioning-configuration Status=Enabled
"$PY/bin/aws" s3 mb s3://ebench >/dev/null
"$PY/bin/aws" s3api put-bucket-encryption --bucket ebench \
    --server-side-encryption-configuration '{"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}'

FSYNC="$("$TOOLS/s3bench" fsync "$WORK/floor" 16 "$DUR")"; echo "floor, fsync loop: $FSYNC"
HPUT="$("$TOOLS/s3bench" put http://127.0.0.1:18070 x y bench 16 "$DUR")"; echo "floor, plain HTTP + SDK: $HPUT"
HGET="$("$TOOLS/s3bench" get http://127.0.0.1:18070 x y bench 16 "$DUR")"; echo "floor, plain HTTP + SDK: $HGET"
PUT="$("$TOOLS/s3bench" put "$S3" "$ID" "$SECRET" bench 16 "$DUR")"; echo "strato: $PUT"
GET="$("$TOOLS/s3bench" get "$S3" "$ID" "$SECRET" bench 16 "$DUR")"; echo "strato: $GET"
# The same without the SDK's default checksums (CRC32 on PUT, validated GET).
PPUT="$("$TOOLS/s3bench" put-plain "$S3" "$ID" "$SECRET" bench 16 "$DUR")"; echo "strato, no checksums: $PPUT"
PGET="$("$TOOLS/s3bench" get-plain "$S3" "$ID" "$SECRET" bench 16 "$DUR")"; echo "strato, no checksums: $PGET"
VPUT="$("$TOOLS/s3bench" put "$S3" "$ID" "$SECRET" vbench 16 "$DUR")"; echo "strato, versioned bucket: $VPUT"
VGET="$("$TOOLS/s3bench" get "$S3" "$ID" "$SECRET" vbench 16 "$DUR")"; echo "strato, versioned bucket: $VGET"
EPUT="$("$TOOLS/s3bench" put "$S3" "$ID" "$SECRET" ebench 16 "$DUR")"; echo "strato, SSE-S3 bucket: $EPUT"
EGET="$("$TOOLS/s3bench" get "$S3" "$ID" "$SECRET" ebench 16 "$DUR")"; echo "strato, SSE-S3 bucket: $EGET"
URL="$("$PY/bin/aws" s3 presign s3://bench/get/0 --expires-in 3600)"
WRK="$(wrk -t1 -c16 "-d${DUR}s" --latency "$URL")"
WRK_RPS="$(awk '/Requests\/sec/ {print $2}' <<<"$WRK")"
WRK_P99="$(awk '$1=="99%" {print $2}' <<<"$WRK")"
WRK_ERR="$(grep -E 'Non-2xx|Socket errors' <<<"$WRK" || true)"
echo "strato presigned GET with wrk -c16: $WRK_RPS req/s p99 $WRK_P99 $WRK_ERR"
HWRK="$(wrk -t1 -c16 "-d${DUR}s" http://127.0.0.1:18070/ | awk '/Requests\/sec/ {print $2}')"
# PUT with wrk: one presigned URL per connection-free key is not possible,
# so all PUTs replace one key (each also deletes the replaced blob).
printf 'wrk.method = "PUT"\nwrk.body = string.rep("x", 4096)\n' > "$WORK/put.lua"
PUT_URL="$(cd "$ROOT" && "$TOOLS/s3bench" presign-put "$S3" "$ID" "$SECRET" bench wrk/put.bin)"
WPUT="$(wrk -t1 -c16 "-d${DUR}s" --latency -s "$WORK/put.lua" "$PUT_URL")"
WPUT_RPS="$(awk '/Requests\/sec/ {print $2}' <<<"$WPUT")"
WPUT_P99="$(awk '$1=="99%" {print $2}' <<<"$WPUT")"
WPUT_ERR="$(grep -E 'Non-2xx|Socket errors' <<<"$WPUT" || true)"
echo "strato presigned PUT with wrk -c16: $WPUT_RPS req/s p99 $WPUT_P99 $WPUT_ERR"
VPUT_URL="$(cd "$ROOT" && "$TOOLS/s3bench" presign-put "$S3" "$ID" "$SECRET" vbench wrk/put.bin)"
VWPUT="$(wrk -t1 -c16 "-d${DUR}s" --latency -s "$WORK/put.lua" "$VPUT_URL")"
VWPUT_RPS="$(awk '/Requests\/sec/ {print $2}' <<<"$VWPUT")"
VWPUT_P99="$(awk '$1=="99%" {print $2}' <<<"$VWPUT")"
VERSIONS="$("$PY/bin/aws" s3api list-object-versions --bucket vbench --prefix wrk/put.bin --query 'length(Versions)')"
echo "strato presigned PUT with wrk -c16, versioned (one key, every write kept): $VWPUT_RPS req/s p99 $VWPUT_P99, $VERSIONS versions"

# Events: a function subscribed to the bucket logs when it starts.
mkdir -p "$WORK/app"
printf '[app]\nname = "bench-events"\n[buckets.events]\n[functions.on-put]\ncomponent = "%s"\n[[functions.on-put.on_bucket]]\nbucket = "events"\nevents = ["put"]\n' "$KITCHEN" > "$WORK/app/strato.toml"
"$STRATO" deploy "$WORK/app" >/dev/null
EVENTS="$("$TOOLS/s3bench" events "$S3" "$ID" "$SECRET" events 100 $((DUR * 100)) http://127.0.0.1:18090 "$(cat "$WORK/strato/admin.token")" on-put)"
echo "$EVENTS"

# 2 GiB through the S3 API: how much does the server's memory grow?
rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$SERVER/status"; }
truncate -s 2G "$WORK/big.bin"
echo 5 > "/proc/$SERVER/clear_refs"   # reset the peak-RSS counter
BEFORE="$(rss)"
T0=$(date +%s.%N)
"$PY/bin/aws" s3 cp "$WORK/big.bin" s3://bench/big.bin --only-show-errors
T1=$(date +%s.%N)
rm -f "$WORK/big.bin"
"$PY/bin/aws" s3 cp s3://bench/big.bin - --only-show-errors | cat > /dev/null
T2=$(date +%s.%N)
PEAK="$(hwm)"
cat <<TABLE

| measure | value |
|---|---|
| floor: write 4 KiB + fsync + rename, 16 threads | ${FSYNC#fsync } |
| floor: plain HTTP server, aws-sdk-s3 PUT c16 | ${HPUT#put } |
| floor: plain HTTP server, aws-sdk-s3 GET c16 | ${HGET#get } |
| floor: plain HTTP server, wrk -c16 | ${HWRK} req/s |
| strato PUT 4 KiB, aws-sdk-s3 c16 (CRC32 checked and kept) | ${PUT#put } |
| strato GET 4 KiB, aws-sdk-s3 c16 (checksum mode, validated) | ${GET#get } |
| strato PUT 4 KiB, aws-sdk-s3 c16, no checksums | ${PPUT#put } |
| strato GET 4 KiB, aws-sdk-s3 c16, no checksums | ${PGET#get } |
| strato PUT 4 KiB, aws-sdk-s3 c16, versioned bucket | ${VPUT#put } |
| strato GET 4 KiB, aws-sdk-s3 c16, versioned bucket | ${VGET#get } |
| strato PUT 4 KiB, aws-sdk-s3 c16, SSE-S3 (bucket default) | ${EPUT#put } |
| strato GET 4 KiB, aws-sdk-s3 c16, SSE-S3 | ${EGET#get } |
| strato GET 4 KiB, presigned URL, wrk -c16 | ${WRK_RPS} req/s, p99 ${WRK_P99} ${WRK_ERR} |
| strato PUT 4 KiB, presigned URL, wrk -c16 | ${WPUT_RPS} req/s, p99 ${WPUT_P99} ${WPUT_ERR} |
| strato PUT 4 KiB, presigned URL, wrk -c16, versioned: one key overwritten, all kept | ${VWPUT_RPS} req/s, p99 ${VWPUT_P99}, ${VERSIONS} versions |
| events at 100/s | ${EVENTS#events } |
| 2 GiB upload / download (aws CLI, multipart) | $(awk -v a="$T0" -v b="$T1" -v c="$T2" 'BEGIN {printf "%.1f s / %.1f s", b-a, c-b}') |
| server RSS before, peak during the 2 GiB transfers (KiB) | ${BEFORE} / ${PEAK} |
TABLE
