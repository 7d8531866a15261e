#!/usr/bin/env bash
# Async invocations and queues (issue 5), side by side in one run on this
# machine:
#   floor    raw SQLite, WAL + synchronous=FULL like Strato's store: insert a
#            row and update it (queue + settle), one transaction per 256
#            operations (Python's sqlite3)
#   async    no-op async invocations of the kitchen guest through the
#            gateway (`X-Strato-Invocation-Type: Event`) with wrk at 64
#            connections for DUR seconds: accepted/s (durable before each
#            202), then the time until the queue is drained (end to end)
#   batch    the same invocations queued 100 per request through the
#            control API's batch endpoint: end to end until drained
#   backlog  work queued beforehand (graphile-worker's own measure): the
#            batch load again, the server killed (-9) as the last batch is
#            accepted, restarted: the backlog left in the store, run from
#            the restart until drained
#   latency  open loop at 1,000 invocations/s for 5 s: from the client's
#            send to the guest's first instruction (its own clock reading)
#   queue    8 workers, each: send 10, receive 10, delete 10, for DUR s
# Usage: bench/async.sh [SECONDS]   (default 10)
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
DUR="${1:-10}"
ensure_packages wrk:wrk curl:curl
echo "building strato, the guests and the bench tools"
build_strato >/dev/null 2>&1
build_guests >/dev/null 2>&1
(cd bench/tools && cargo build --release --target-dir "$CARGO_TARGET_DIR/bench-tools" >/dev/null 2>&1)
TOOLS="$CARGO_TARGET_DIR/bench-tools/release"
KITCHEN="$CARGO_TARGET_DIR/guests/wasm32-wasip2/release/kitchen.wasm"
WORK="$(mktemp -d -p "$HOME")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

echo "== floor: SQLite insert + update, WAL, synchronous=FULL, 256 per transaction"
python3 - "$WORK/floor.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, body BLOB, done INTEGER)")
n, batch = 100_000, 256
t0 = time.time()
for start in range(0, n, batch):
    db.execute("BEGIN")
    db.executemany("INSERT INTO q (id, body, done) VALUES (?, x'00', 0)", [(i,) for i in range(start, start + batch)])
    db.execute("COMMIT")
for start in range(0, n, batch):
    db.execute("BEGIN")
    db.executemany("UPDATE q SET done = 1 WHERE id = ?", [(i,) for i in range(start, start + batch)])
    db.execute("COMMIT")
print("floor: %.0f queue+settle pairs/s" % (n / (time.time() - t0)))
PY

start_strato() {
  "$STRATO" server --data-dir "$WORK/strato" --http 127.0.0.1:18680 --api 127.0.0.1:18690 --s3 127.0.0.1:18699 --registry 127.0.0.1:18695 >>"$WORK/strato.log" 2>&1 & SPID=$!; PIDS+=($SPID)
  for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18690/api/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
}
start_strato
export STRATO_DATA_DIR="$WORK/strato"
mkdir -p "$WORK/app"
printf '[app]\nname = "ab"\n[functions.k]\ncomponent = "%s"\nroutes = ["/k/*"]\nconcurrency = 1000\n[functions.lat]\ncomponent = "%s"\nroutes = ["/lat/*"]\n[queues.q]\n' "$KITCHEN" "$KITCHEN" > "$WORK/app/strato.toml"
"$STRATO" deploy "$WORK/app" >/dev/null
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "x"
wrk.headers["X-Strato-Invocation-Type"] = "Event"
LUA
pending() { curl -fsS http://127.0.0.1:18690/metrics | awk '/^strato_async_invocations_pending /{print $2}'; }
echo "== strato: async invocations through the gateway, wrk -c64 -t2 -d${DUR}s"
START=$(date +%s.%N)
wrk -c64 -t2 -d"${DUR}s" -s "$WORK/post.lua" http://127.0.0.1:18680/k/echo | grep -E "Requests/sec|Non-2xx|requests in"
SENT_END=$(date +%s.%N)
while [ "$(pending)" != "0" ]; do sleep 0.05; done
DONE=$(date +%s.%N)
RUNS=$(curl -fsS http://127.0.0.1:18690/metrics | awk '/^strato_runs_total\{status="succeeded"\}/{print $2}')
python3 - "$START" "$SENT_END" "$DONE" "$RUNS" <<'PY'
import sys
start, sent, done, runs = map(float, sys.argv[1:])
print("strato: %d invocations run; queue drained %.2f s after the load stopped; %.0f invocations/s end to end" % (runs, done - sent, runs / (done - start)))
PY

TOKEN="$(cat "$WORK/strato/admin.token")"
echo "== strato: 200,000 async invocations queued 100 per request (POST .../invocations), 4 clients"
"$TOOLS/asyncbench" batch http://127.0.0.1:18690 "$TOKEN" ab k 200000 4 100
echo "== strato: a backlog queued beforehand: 100,000 queued while the function naps (concurrency 1), redeployed fast, kill -9, restart, drain"
# Revision 1 of bl/nap sleeps 10 minutes, one at a time: accepted work
# piles up. Revision 2 answers at once; the kill leaves the pile in the
# store, and the restarted server runs it with revision 2.
mkdir -p "$WORK/bl"
printf '[app]\nname = "bl"\n[functions.nap]\ncomponent = "%s"\nconcurrency = 1\nenv = { NAP_MS = "600000" }\n' "$KITCHEN" > "$WORK/bl/strato.toml"
"$STRATO" deploy "$WORK/bl" >/dev/null
"$TOOLS/asyncbench" batch http://127.0.0.1:18690 "$TOKEN" bl nap 100000 4 100 /nap accept-only
printf '[app]\nname = "bl"\n[functions.nap]\ncomponent = "%s"\nconcurrency = 1000\n' "$KITCHEN" > "$WORK/bl/strato.toml"
"$STRATO" deploy "$WORK/bl" >/dev/null
kill -9 "$SPID"; wait "$SPID" 2>/dev/null || true
START=$(date +%s.%N)
start_strato
while [ "$(pending)" != "0" ]; do sleep 0.1; done
DONE=$(date +%s.%N)
RUNS=$(curl -fsS http://127.0.0.1:18690/metrics | awk '/^strato_runs_total\{status="succeeded"\}/{print $2}')
python3 - "$START" "$DONE" "$RUNS" <<'PY'
import sys
start, done, runs = map(float, sys.argv[1:])
print("strato: %d invocations run %.2f s after the restart began: %.0f invocations/s end to end (start-up included)" % (runs, done - start, runs / (done - start)))
PY
echo "== strato: enqueue-to-start latency, open loop at 1,000/s for 5 s (4 connections)"
"$TOOLS/asyncbench" latency http://127.0.0.1:18680/lat/ http://127.0.0.1:18690 "$TOKEN" ab 1000 5 4
echo "== strato: queue send + receive + delete in batches of 10, 8 workers, ${DUR}s"
"$TOOLS/asyncbench" queue http://127.0.0.1:18690 "$TOKEN" ab q "$DUR" 8

# The peer: graphile-worker (Node) on PostgreSQL 15 with its default
# durability (fsync on, synchronous_commit on), on the same machine, with
# Strato stopped. 20,000 no-op jobs added one per transaction by 64
# clients while one worker runs them 24 at a time; then 20,000 queued in
# one transaction beforehand (its best case).
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=()
# STRATO_ONLY=1 (comparing two builds of Strato) stops here.
[ -n "${STRATO_ONLY:-}" ] && exit 0
ensure_packages postgresql:/usr/lib/postgresql/15/bin/initdb nodejs:node npm:npm
PG=/usr/lib/postgresql/15/bin
PEER="$HOME/.cache/strato-bench/peer"
mkdir -p "$PEER" && cp bench/peer/package.json bench/peer/graphile.js "$PEER/"
(cd "$PEER" && npm install --silent --no-audit --no-fund >/dev/null 2>&1)
PGWORK="$(mktemp -d)"; chown postgres "$PGWORK"
stop_pg() { su postgres -c "$PG/pg_ctl -D $PGWORK/data -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$PGWORK"; }
trap 'cleanup; stop_pg' EXIT
su postgres -c "$PG/initdb -D $PGWORK/data -A trust" >/dev/null
su postgres -c "$PG/pg_ctl -D $PGWORK/data -l $PGWORK/pg.log -o '-p 18632 -k $PGWORK -c max_connections=200 -c fsync=on -c synchronous_commit=on' -w start" >/dev/null
echo "== peer: graphile-worker $(node -p "require('$PEER/node_modules/graphile-worker/package.json').version") on PostgreSQL $($PG/postgres --version | awk '{print $3}'), 20,000 jobs, 64 clients, concurrency 24"
node "$PEER/graphile.js" "postgres://postgres@127.0.0.1:18632/postgres" 20000 64 24
