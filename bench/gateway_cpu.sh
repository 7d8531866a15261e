#!/usr/bin/env bash
# The server's CPU time per gateway request, for comparing two builds
# where throughput alone is too noisy: examples/hello under wrk -t1 -c32
# (2 s warm-up, 8 s measured) on a fresh data dir, the server's user+system
# time from /proc/PID/stat divided by the requests served.
# Usage: bench/gateway_cpu.sh STRATO_BINARY [--drop-run-indexes]
#   --drop-run-indexes drops the runs' secondary indexes added for traces
#   and the dashboard on the running server, to see what they cost.
# Alternate builds in one sitting: for i in 1 2 3; do bench/gateway_cpu.sh A; bench/gateway_cpu.sh B; done
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
BIN="$1"
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null
(cd examples/hello && cargo build --release --target wasm32-wasip2 --target-dir target >/dev/null 2>&1)
W="$(mktemp -d)"
"$BIN" server --data-dir "$W/d" --http 127.0.0.1:18180 --api 127.0.0.1:18190 --s3 127.0.0.1:18199 --registry 127.0.0.1:18195 >"$W/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18190/api/v1/health >/dev/null && break; sleep 0.1; done
STRATO_URL=http://127.0.0.1:18190 STRATO_DATA_DIR="$W/d" "$BIN" deploy examples/hello >/dev/null 2>&1
sleep 0.5
if [ "${2:-}" = "--drop-run-indexes" ]; then
    sqlite3 "$W/d/strato.db" "DROP INDEX IF EXISTS runs_by_trace; DROP INDEX IF EXISTS runs_by_app_id; DROP INDEX IF EXISTS runs_by_parented_trace;"
fi
wrk -t1 -c32 -d2s http://127.0.0.1:18180/hello >/dev/null
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$PID/stat")
out="$(wrk -t1 -c32 -d8s http://127.0.0.1:18180/hello)"
read -r u2 s2 < <(awk '{print $14, $15}' "/proc/$PID/stat")
reqs="$(awk '/requests in/ {print $1}' <<<"$out")"
rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
ticks="$(getconf CLK_TCK)"
echo "$(basename "$BIN") ${2:-} req/s=$rps server_cpu_us_per_request=$(awk -v a=$((u2 + s2 - u1 - s1)) -v r="$reqs" -v t="$ticks" 'BEGIN {printf "%.1f", a * 1e6 / t / r}')"
