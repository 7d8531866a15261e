#!/usr/bin/env bash
# Gateway benchmark, side by side in one run on this machine:
#   1. hyper-hello     raw hyper server, no wasm (the floor)
#   2. wasmtime serve  wasmtime-cli 48.0.8 `serve -S cli`, same component (the peer),
#      as a user runs it, and tuned with the pooling options Strato uses
#   3. strato          Strato's gateway serving examples/hello
# Each gets the same wrk load (closed loop, peak throughput), then an open-loop
# fixed-rate load at half of Strato's peak for latency, then Strato's
# first-request latency right after fresh deploys.
# Usage: bench/gateway.sh [SECONDS]   (default 10)
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
DUR="${1:-10}"
WRK_ARGS=(-t1 -c32 "-d${DUR}s" --latency)
BENCH_HOME="$HOME/.cache/strato-bench"

command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y wrk >/dev/null; }
WASMTIME="$BENCH_HOME/bin/wasmtime"
# STRATO_ONLY=1 (comparing two builds of Strato) runs the floor and Strato
# only, without wasmtime serve.
TARGETS="hyper:18070 wasmtime:18071 wasmtime_tuned:18072 strato:18080"
[ -n "${STRATO_ONLY:-}" ] && TARGETS="hyper:18070 strato:18080"
if [ -z "${STRATO_ONLY:-}" ] && ! "$WASMTIME" --version 2>/dev/null | grep -q '^wasmtime 48.0.8'; then
    echo "installing wasmtime-cli 48.0.8 (once; takes a while on 2 cores)"
    CARGO_TARGET_DIR="$BENCH_HOME/target" cargo install --locked --root "$BENCH_HOME" wasmtime-cli --version 48.0.8
fi

echo "building strato, the hello example and the bench tools"
build_strato >/dev/null 2>&1
(cd bench/tools && cargo build --release --target-dir "$CARGO_TARGET_DIR/bench-tools" >/dev/null 2>&1)
(cd examples/hello && cargo build --release --target wasm32-wasip2 --target-dir target >/dev/null 2>&1)
TOOLS="$CARGO_TARGET_DIR/bench-tools/release"
HELLO="$ROOT/examples/hello/target/wasm32-wasip2/release/hello.wasm"

WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

wait_http() { for _ in $(seq 1 300); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

"$TOOLS/hyper-hello" 127.0.0.1:18070 & PIDS+=($!)
if [ -z "${STRATO_ONLY:-}" ]; then
"$WASMTIME" serve -S cli --env GREETING=Hello --addr 127.0.0.1:18071 "$HELLO" >/dev/null 2>&1 & PIDS+=($!)
"$WASMTIME" serve -S cli -O pooling-allocator=y -O pooling-memory-keep-resident=8388608 \
    -O pooling-table-keep-resident=1048576 -O pooling-decommit-batch-size=64 \
    -O pooling-async-stack-keep-resident=524288 \
    --env GREETING=Hello --addr 127.0.0.1:18072 "$HELLO" >/dev/null 2>&1 & PIDS+=($!)
fi
"$STRATO" server --data-dir "$WORK/strato" --http 127.0.0.1:18080 --api 127.0.0.1:18090 --s3 127.0.0.1:18099 --registry 127.0.0.1:18095 >"$WORK/strato.log" 2>&1 & PIDS+=($!)
export STRATO_DATA_DIR="$WORK/strato"
wait_http http://127.0.0.1:18090/api/v1/health
"$STRATO" deploy examples/hello >/dev/null 2>&1
wait_http http://127.0.0.1:18070/hello
for target in $TARGETS; do wait_http "http://127.0.0.1:${target##*:}/hello"; done
wait_http http://127.0.0.1:18080/hello

declare -A RPS P50 P99
for target in $TARGETS; do
    name="${target%%:*}"; port="${target##*:}"
    wrk -t1 -c32 -d2s "http://127.0.0.1:$port/hello" >/dev/null   # warm-up
    out="$(wrk "${WRK_ARGS[@]}" "http://127.0.0.1:$port/hello")"
    RPS[$name]="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    P50[$name]="$(awk '$1=="50%" {print $2}' <<<"$out")"
    P99[$name]="$(awk '$1=="99%" {print $2}' <<<"$out")"
    errors="$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)"
    echo "wrk $name: ${RPS[$name]} req/s, p50 ${P50[$name]}, p99 ${P99[$name]} ${errors}"
done

HALF="$(awk -v r="${RPS[strato]}" 'BEGIN {printf "%d", r/2}')"
declare -A OPEN
for target in $TARGETS; do
    name="${target%%:*}"; port="${target##*:}"
    OPEN[$name]="$("$TOOLS/loadgen" "http://127.0.0.1:$port/hello" "$HALF" "$DUR" 32)"
    echo "open loop at $HALF req/s, $name: ${OPEN[$name]}"
done

# First request to a freshly deployed function (new component each time, so
# the deploy compiles it and nothing is warm).
FIRST=()
for i in 1 2 3 4 5; do
    app="$WORK/fresh$i"; mkdir -p "$app"
    # A distinct component per deploy: append a custom section (valid wasm).
    cp "$HELLO" "$app/f.wasm"; printf '\x00\x07\x05fresh%s' "$i" >> "$app/f.wasm"
    printf '[app]\nname = "fresh%s"\n[functions.f]\ncomponent = "f.wasm"\nroutes = ["/fresh%s"]\n' "$i" "$i" > "$app/strato.toml"
    "$STRATO" deploy "$app" >/dev/null 2>&1
    t="$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:18080/fresh$i")"
    FIRST+=("$(awk -v t="$t" 'BEGIN {printf "%.2f", t*1000}')")
done
echo "first request after a fresh deploy (ms): ${FIRST[*]}"
COMPILES="$(curl -s http://127.0.0.1:18090/metrics | awk '/^strato_wasm_compilations_total/ {print $2}')"

# (STRATO_ONLY: the lines above are the result; the table needs the peers.)
[ -n "${STRATO_ONLY:-}" ] && exit 0
ratio="$(awk -v s="${RPS[strato]}" -v w="${RPS[wasmtime]}" 'BEGIN {printf "%.2f", s/w}')"
cat <<TABLE

| server | wrk req/s | wrk p50 | wrk p99 | open loop @ ${HALF}/s: p50 / p99 / max ms (p99 from schedule) |
|---|---|---|---|---|
| raw hyper (floor) | ${RPS[hyper]} | ${P50[hyper]} | ${P99[hyper]} | $(sed -E 's/.*p50_ms=([0-9.]+).*p99_ms=([0-9.]+).*max_ms=([0-9.]+).*sched_p99_ms=([0-9.]+).*/\1 \/ \2 \/ \3 (\4)/' <<<"${OPEN[hyper]}") |
| wasmtime serve -S cli 48.0.8 | ${RPS[wasmtime]} | ${P50[wasmtime]} | ${P99[wasmtime]} | $(sed -E 's/.*p50_ms=([0-9.]+).*p99_ms=([0-9.]+).*max_ms=([0-9.]+).*sched_p99_ms=([0-9.]+).*/\1 \/ \2 \/ \3 (\4)/' <<<"${OPEN[wasmtime]}") |
| wasmtime serve -S cli, pooling tuned | ${RPS[wasmtime_tuned]} | ${P50[wasmtime_tuned]} | ${P99[wasmtime_tuned]} | $(sed -E 's/.*p50_ms=([0-9.]+).*p99_ms=([0-9.]+).*max_ms=([0-9.]+).*sched_p99_ms=([0-9.]+).*/\1 \/ \2 \/ \3 (\4)/' <<<"${OPEN[wasmtime_tuned]}") |
| strato gateway | ${RPS[strato]} | ${P50[strato]} | ${P99[strato]} | $(sed -E 's/.*p50_ms=([0-9.]+).*p99_ms=([0-9.]+).*max_ms=([0-9.]+).*sched_p99_ms=([0-9.]+).*/\1 \/ \2 \/ \3 (\4)/' <<<"${OPEN[strato]}") |

strato / wasmtime serve throughput: ${ratio}x
first request after fresh deploy (ms, curl time_total incl. connect): ${FIRST[*]} (compilations: ${COMPILES})
TABLE
