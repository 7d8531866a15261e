#!/usr/bin/env bash
# Cluster mode (issue 15), side by side in one run on this machine, all on
# one PostgreSQL 15 with its default durability (fsync on,
# synchronous_commit on):
#   floor     PostgreSQL insert + update pairs (queue + settle), batched
#             256 per transaction and unbatched (one transaction each, 64
#             clients), from Node's `pg`
#   strato    no-op async invocations of the kitchen guest, 100,000 queued
#             100 per request by 4 clients, end to end until the queue is
#             empty; and enqueue-to-start latency, open loop at 500/s for
#             5 s, for: 1 node on SQLite (the embedded default), 1 node on
#             PostgreSQL, 3 nodes on PostgreSQL (the load split over the
#             three nodes' APIs)
#   peer      graphile-worker on the same PostgreSQL: 20,000 jobs added one
#             per transaction by 64 clients while a worker runs them, and
#             20,000 queued beforehand
# Usage: bench/cluster.sh [INVOCATIONS]   (default 100000)
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
N="${1:-100000}"
ensure_packages curl:curl postgresql:/usr/lib/postgresql/15/bin/initdb nodejs:node npm:npm
echo "building strato, the guests and the bench tools"
build_strato >/dev/null 2>&1
build_guests >/dev/null 2>&1
(cd bench/tools && cargo build --release --target-dir "$CARGO_TARGET_DIR/bench-tools" >/dev/null 2>&1)
TOOLS="$CARGO_TARGET_DIR/bench-tools/release"
KITCHEN="$CARGO_TARGET_DIR/guests/wasm32-wasip2/release/kitchen.wasm"
PEER="$HOME/.cache/strato-bench/peer"
mkdir -p "$PEER" && cp bench/peer/package.json bench/peer/graphile.js bench/peer/floor.js "$PEER/"
(cd "$PEER" && npm install --silent --no-audit --no-fund >/dev/null 2>&1)

WORK="$(mktemp -d -p "$HOME")"
PG=/usr/lib/postgresql/15/bin
PGWORK="$(mktemp -d)"; chown postgres "$PGWORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  su postgres -c "$PG/pg_ctl -D $PGWORK/data -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$WORK" "$PGWORK"
}
trap cleanup EXIT
su postgres -c "$PG/initdb -D $PGWORK/data -A trust -U postgres" >/dev/null
su postgres -c "$PG/pg_ctl -D $PGWORK/data -l $PGWORK/pg.log -o '-p 18632 -k $PGWORK -c max_connections=300 -c fsync=on -c synchronous_commit=on' -w start" >/dev/null
PGURL="postgres://postgres@127.0.0.1:18632"
newdb() { su postgres -c "$PG/psql -h 127.0.0.1 -p 18632 -qc 'CREATE DATABASE $1'" >/dev/null; echo "$PGURL/$1"; }

echo "== floor: PostgreSQL $($PG/postgres --version | awk '{print $3}') insert + update pairs"
node "$PEER/floor.js" "$(newdb floor)" 20000 64

# start_node NAME N STORE: a node with listeners on 18N80/18N90/18N99.
start_node() {
  local name="$1" n="$2" store="$3"
  "$STRATO" server --data-dir "$WORK/$name" --http "127.0.0.1:18${n}80" --api "127.0.0.1:18${n}90" \
    --s3 "127.0.0.1:18${n}99" --registry "127.0.0.1:18${n}95" --store "$store" --blobs "$BLOBS" >>"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do curl -fsS "http://127.0.0.1:18${n}90/api/v1/health" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "node $name did not start:"; tail -5 "$WORK/$name.log"; exit 1
}
stop_nodes() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
mkdir -p "$WORK/app"
printf '[app]\nname = "cb"\n[functions.k]\ncomponent = "%s"\nroutes = ["/k/*"]\nconcurrency = 1000\n[functions.lat]\ncomponent = "%s"\nroutes = ["/lat/*"]\n' "$KITCHEN" "$KITCHEN" > "$WORK/app/strato.toml"

# measure LABEL NODES...: deploy through the first node, queue N
# invocations split over the nodes' APIs, wait for the queue to empty;
# then the latency run through the first node's gateway.
measure() {
  local label="$1"; shift
  local first="$1"
  STRATO_DATA_DIR="$WORK/$first" STRATO_URL="http://127.0.0.1:18${NODE_PORT[$first]}90" "$STRATO" deploy "$WORK/app" >/dev/null
  local token; token="$(cat "$WORK/$first/admin.token")"
  sleep 1 # every node serves the deploy (they poll every 500 ms)
  local per=$((N / $#)) start; start=$(date +%s.%N)
  local clients=$(( 4 / $# )); [ "$clients" -lt 1 ] && clients=1
  local loaders=()
  for node in "$@"; do
    "$TOOLS/asyncbench" batch "http://127.0.0.1:18${NODE_PORT[$node]}90" "$token" cb k "$per" "$clients" 100 /k/echo accept-only >/dev/null &
    loaders+=($!)
  done
  wait "${loaders[@]}"
  local api="http://127.0.0.1:18${NODE_PORT[$first]}90"
  while [ "$(curl -fsS "$api/metrics" | awk '/^strato_async_invocations_pending /{print $2}')" != "0" ]; do sleep 0.05; done
  local done_at; done_at=$(date +%s.%N)
  python3 -c "import sys; s,d,n=map(float,sys.argv[1:]); print('%s: %d invocations end to end in %.2f s: %.0f invocations/s' % ('$label', n, d-s, n/(d-s)))" "$start" "$done_at" "$((per * $#))"
  echo -n "$label: "
  "$TOOLS/asyncbench" latency "http://127.0.0.1:18${NODE_PORT[$first]}80/lat/" "$api" "$token" cb 500 5 4
}
declare -A NODE_PORT=([solo]=7 [pg1]=7 [a]=7 [b]=8 [c]=9)

echo "== strato: 1 node on SQLite (embedded default)"
BLOBS=""
start_node solo 7 ""
measure "1 node, SQLite" solo
stop_nodes

echo "== strato: 1 node on PostgreSQL"
DB="$(newdb strato1)"
start_node pg1 7 "$DB"
measure "1 node, PostgreSQL" pg1
stop_nodes

echo "== strato: 3 nodes on PostgreSQL"
DB="$(newdb strato3)"
BLOBS="$WORK/shared-blobs"
start_node a 7 "$DB"; start_node b 8 "$DB"; start_node c 9 "$DB"
measure "3 nodes, PostgreSQL" a b c
stop_nodes

echo "== peer: graphile-worker $(node -p "require('$PEER/node_modules/graphile-worker/package.json').version") on the same PostgreSQL, 20,000 jobs, 64 clients, concurrency 24"
node "$PEER/graphile.js" "$(newdb graphile)" 20000 64 24
