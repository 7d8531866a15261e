#!/usr/bin/env bash
# Workflows (issue 16), side by side in one run on this machine, on the
# embedded store (SQLite) and on PostgreSQL 15:
#   floor    one durable insert per transaction, in sequence (a
#            transition's write): raw SQLite with Strato's durability (WAL,
#            synchronous=FULL), and pgbench's one-INSERT transactions
#            (fsync and synchronous_commit on)
#   pass     an execution of 100 Pass states, in sequence: the execution's
#            own duration (stopped - started) / 100 per transition
#   chain    a 3-step chain of no-op wasm functions (the kitchen guest),
#            started and awaited one at a time through the control API
#            (`?wait=`): client-observed p50/p99
#   load     the same chain started and awaited by 32 concurrent clients
#            for DUR s: executions/s end to end, by a Python client (as
#            before) and by bench/tools' wfload (Rust, keep-alive)
#   map      one execution of a 1,000-item Map of the no-op function
# The peer figures (Restate, Temporal) are their published ones, quoted
# in bench/RESULTS.md with their hardware.
# Usage: bench/workflows.sh [SECONDS]   (default 10)
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
DUR="${1:-10}"
ensure_packages curl:curl postgresql:/usr/lib/postgresql/15/bin/initdb
echo "building strato, the guests and the load tool"
build_strato >/dev/null 2>&1
build_guests >/dev/null 2>&1
(cd bench/tools && cargo build --release --target-dir "$CARGO_TARGET_DIR/bench-tools" >/dev/null 2>&1)
WFLOAD="$CARGO_TARGET_DIR/bench-tools/release/wfload"
KITCHEN="$CARGO_TARGET_DIR/guests/wasm32-wasip2/release/kitchen.wasm"
WORK="$(mktemp -d -p "$HOME")"
PG=/usr/lib/postgresql/15/bin
PGWORK="$(mktemp -d)"; chown postgres "$PGWORK"
SPID=""
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null || true
  su postgres -c "$PG/pg_ctl -D $PGWORK/data -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$WORK" "$PGWORK"
}
trap cleanup EXIT
su postgres -c "$PG/initdb -D $PGWORK/data -A trust -U postgres" >/dev/null
su postgres -c "$PG/pg_ctl -D $PGWORK/data -l $PGWORK/pg.log -o '-p 18633 -k $PGWORK -c max_connections=200 -c fsync=on -c synchronous_commit=on' -w start" >/dev/null
PGURL="postgres://postgres@127.0.0.1:18633"

echo "== floor: SQLite, WAL, synchronous=FULL, one insert per transaction"
python3 - "$WORK/floor.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
n = 2000
t0 = time.time()
for i in range(n):
    db.execute("BEGIN")
    db.execute("INSERT INTO t (id, body) VALUES (?, '{}')", (i,))
    db.execute("COMMIT")
print("floor: %.1f us per durable insert (%d in sequence)" % ((time.time() - t0) / n * 1e6, n))
PY

echo "== floor: PostgreSQL $($PG/postgres --version | awk '{print $3}'), one INSERT per transaction (pgbench, 1 client)"
su postgres -c "$PG/psql -h 127.0.0.1 -p 18633 -qc 'CREATE DATABASE floor'" >/dev/null
su postgres -c "$PG/psql -h 127.0.0.1 -p 18633 -d floor -qc 'CREATE TABLE t (id bigserial PRIMARY KEY, body text)'" >/dev/null
echo "INSERT INTO t (body) VALUES ('{}');" > "$PGWORK/insert.sql"; chown postgres "$PGWORK/insert.sql"
su postgres -c "$PG/pgbench -h 127.0.0.1 -p 18633 -n -c 1 -t 2000 -f $PGWORK/insert.sql floor" \
  | awk '/latency average/ {printf "floor (PostgreSQL): %.1f us per durable insert (2000 in sequence)\n", $4 * 1000}'

mkdir -p "$WORK/app"
cat > "$WORK/app/strato.toml" <<TOML
[app]
name = "bench"
[functions.noop]
component = "$KITCHEN"
concurrency = 64
[workflows.pass]
definition = "pass.asl.json"
[workflows.chain]
definition = "chain.asl.json"
[workflows.map]
definition = "map.asl.json"
TOML
python3 - "$WORK/app" <<'PY'
import json, sys
d = sys.argv[1]
states = {f"P{i}": {"Type": "Pass", "Next": f"P{i+1}"} for i in range(99)}
states["P99"] = {"Type": "Pass", "End": True}
json.dump({"StartAt": "P0", "States": states}, open(f"{d}/pass.asl.json", "w"))
task = lambda nxt: {"Type": "Task", "Resource": "noop", "Parameters": {"step": "echo"}, **({"Next": nxt} if nxt else {"End": True})}
json.dump({"StartAt": "F1", "States": {"F1": task("F2"), "F2": task("F3"), "F3": task(None)}}, open(f"{d}/chain.asl.json", "w"))
json.dump({"StartAt": "Each", "States": {"Each": {"Type": "Map", "End": True,
    "ItemsPath": "$.items", "ItemSelector": {"step": "echo", "n.$": "$$.Map.Item.Value"},
    "ItemProcessor": {"StartAt": "F", "States": {"F": task(None)}}}}}, open(f"{d}/map.asl.json", "w"))
PY

# measure LABEL [--store URL]: a fresh server on that store, then every
# figure against it.
measure() {
local label="$1"; shift
rm -rf "$WORK/strato"
"$STRATO" server --data-dir "$WORK/strato" --http 127.0.0.1:18780 --api 127.0.0.1:18790 --s3 127.0.0.1:18799 --registry 127.0.0.1:18795 "$@" >>"$WORK/strato.log" 2>&1 & SPID=$!
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18790/api/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
export STRATO_DATA_DIR="$WORK/strato" STRATO_URL=http://127.0.0.1:18790
"$STRATO" deploy "$WORK/app" >/dev/null
echo "== $label"

python3 - "$DUR" "$(cat "$WORK/strato/admin.token")" <<'PY'
import json, sys, threading, time, urllib.request
dur, token = float(sys.argv[1]), sys.argv[2]
base = "http://127.0.0.1:18790/api/v1/apps/bench/workflows"
def start(workflow):
    req = urllib.request.Request(f"{base}/{workflow}/executions?wait=60s", data=b'{"input": {}}', method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        e = json.load(r)
    assert e["status"] == "SUCCEEDED", e
    return time.perf_counter() - t0, e
for _ in range(3): start("pass")
per = []
for _ in range(20):
    _, e = start("pass")
    per.append((e["stopped_ms"] - e["started_ms"]) / 100.0)
per.sort()
print("pass: %.3f ms per transition (median of 20 executions of 100 Pass states; best %.3f)" % (per[len(per)//2], per[0]))
for _ in range(20): start("chain")
lat = sorted(start("chain")[0] * 1000 for _ in range(300))
print("chain: 3 no-op functions, p50 %.2f ms, p99 %.2f ms (300 in sequence, client-observed)" % (lat[149], lat[296]))
done = [0]; stop = time.time() + dur; lock = threading.Lock()
def worker():
    while time.time() < stop:
        start("chain")
        with lock: done[0] += 1
threads = [threading.Thread(target=worker) for _ in range(32)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
print("load: %.0f 3-step executions/s (32 Python clients, %.0f s)" % (done[0] / (time.time() - t0), dur))
req = urllib.request.Request(f"{base}/map/executions?wait=120s", method="POST",
    data=json.dumps({"input": {"items": list(range(1000))}}).encode(),
    headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
with urllib.request.urlopen(req) as r:
    e = json.load(r)
assert e["status"] == "SUCCEEDED", e
print("map: 1,000 items of a no-op function in %d ms (one execution, started to stopped)" % (e["stopped_ms"] - e["started_ms"]))
PY
echo -n "load (wfload): "
"$WFLOAD" http://127.0.0.1:18790/api/v1/apps/bench/workflows/chain/executions?wait=60s "$(cat "$WORK/strato/admin.token")" "$DUR" 32
kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=""
}

measure "SQLite (embedded)"
su postgres -c "$PG/psql -h 127.0.0.1 -p 18633 -qc 'CREATE DATABASE strato'" >/dev/null
measure "PostgreSQL" --store "$PGURL/strato"
