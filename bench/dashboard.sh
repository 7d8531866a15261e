#!/usr/bin/env bash
# The dashboard at scale: its runs list for an app with 1,000,000 runs
# (written straight into the SQLite store), the first page and a page deep
# in the list, filtered by function and by status; and how fast a live tail
# delivers a task's new line (from the line's timestamp to the browser-side
# event, measured with curl on the SSE stream).
# Usage: bench/dashboard.sh [RUNS]   (default 1000000)
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
RUNS="${1:-1000000}"
build_strato >/dev/null 2>&1
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null
WORK="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
start() {
    "$STRATO" server --data-dir "$WORK/d" --http 127.0.0.1:18280 --api 127.0.0.1:18290 \
        --s3 127.0.0.1:18299 --registry 127.0.0.1:18295 >>"$WORK/log" 2>&1 &
    PID=$!
    for _ in $(seq 1 300); do curl -fs http://127.0.0.1:18290/api/v1/health >/dev/null && return; sleep 0.1; done
    echo "server did not start" >&2; exit 1
}
start; kill "$PID"; wait "$PID" 2>/dev/null
echo "writing $RUNS runs of app big (3 functions, 1 in 50 failed) into the store"
t0=$(date +%s.%N)
sqlite3 "$WORK/d/strato.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $RUNS)
INSERT INTO runs (id, app, function, revision, trigger, status, started_at_ms, duration_us,
                  cold_start, memory_limit_bytes, billed_ms, http_status, attempt)
SELECT printf('r%012x%08x', 1700000000000 + i, i), 'big', 'f' || (i % 3), 1, 'http',
       CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
       1700000000000 + i, 1500, 0, 134217728, 2, 200, 1 FROM n;
SQL
echo "  $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
start
TOKEN="$(cat "$WORK/d/admin.token")"
curl -s -o /dev/null -c "$WORK/cookies" --data-urlencode "token=$TOKEN" http://127.0.0.1:18290/login
DEEP="$(sqlite3 "$WORK/d/strato.db" "SELECT id FROM runs WHERE app = 'big' ORDER BY id DESC LIMIT 1 OFFSET $((RUNS / 2))")"
page() {  # median of 7 requests, ms
    for _ in 1 2 3 4 5 6 7; do
        curl -s -o /dev/null -b "$WORK/cookies" -w '%{time_total}\n' "http://127.0.0.1:18290$1"
    done | sort -n | sed -n 4p | awk '{printf "%.1f", $1 * 1000}'
}
curl -s -b "$WORK/cookies" "http://127.0.0.1:18290/runs?app=big" | grep -o 'href="/runs/r[0-9a-f]*"' | sort -u | wc -l | xargs echo "  rows on the first page:"
echo "runs list, app with $RUNS runs (median of 7, ms):"
echo "  first page:                    $(page '/runs?app=big')"
echo "  a page halfway down (before=): $(page "/runs?app=big&before=$DEEP")"
echo "  by function:                   $(page '/runs?app=big&function=f1')"
echo "  by status (1 in 50 failed):    $(page '/runs?app=big&status=failed')"
echo "  by status, halfway down:       $(page "/runs?app=big&status=failed&before=$DEEP")"
echo "  the same through the JSON API: $(curl -s -o /dev/null -H "authorization: Bearer $TOKEN" -w '%{time_total}' 'http://127.0.0.1:18290/api/v1/runs?app=big&limit=50' | awk '{printf "%.1f", $1 * 1000}')"

# The live tail: a task prints a line every 100 ms; a client reads the
# run's SSE stream and compares each line's capture time (ts_ms, taken
# when Strato reads it from the container) with when the event arrived.
ensure_packages busybox-static:/bin/busybox runc:runc
ROOTFS="$WORK/rootfs"; mkdir -p "$ROOTFS/bin" "$ROOTFS/tmp"
cp /bin/busybox "$ROOTFS/bin/busybox"
for tool in sh seq sleep echo date; do ln -sf busybox "$ROOTFS/bin/$tool"; done
tar -C "$ROOTFS" -cf "$WORK/bb.tar" .
export STRATO_URL=http://127.0.0.1:18290 STRATO_TOKEN="$TOKEN"
"$STRATO" image import --rootfs -t bench/bb:1 "$WORK/bb.tar" >/dev/null
mkdir -p "$WORK/app"
cat > "$WORK/app/strato.toml" <<TOML
[app]
name = "tail"
[tasks.ticker]
image = "bench/bb:1"
command = ["sh", "-c", "for i in \$(seq 1 100); do echo tick \$i; sleep 0.1; done"]
TOML
"$STRATO" deploy "$WORK/app" >/dev/null
RUN="$(curl -s -X POST -H "authorization: Bearer $TOKEN" -d '{}' http://127.0.0.1:18290/api/v1/apps/tail/tasks/ticker/runs |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
python3 - "$RUN" "$WORK/cookies" <<'PY'
import json, sys, time, urllib.request
run, cookies = sys.argv[1], sys.argv[2]
# curl writes the HttpOnly cookie as a "#HttpOnly_" line.
session = [l.split("\t")[-1].strip() for l in open(cookies) if "strato_session" in l][0]
request = urllib.request.Request(f"http://127.0.0.1:18290/runs/{run}/tail",
                                 headers={"Cookie": f"strato_session={session}"})
stream = urllib.request.urlopen(request, timeout=60)
lags, event = [], None
for raw in stream:
    line = raw.decode().rstrip("\n")
    if line.startswith("event:"):
        event = line.split(":", 1)[1].strip()
    elif line.startswith("data:") and event == "line":
        sent = json.loads(line[5:])["ts_ms"]
        lags.append(time.time() * 1000 - sent)
    elif line.startswith("data:") and event == "end":
        break
lags = sorted(lags[5:])  # the first lines were written before the stream opened
if lags:
    pick = lambda q: lags[min(len(lags) - 1, int(len(lags) * q))]
    print(f"live tail, capture to browser event over {len(lags)} lines: p50 {pick(0.5):.0f} ms, "
          f"p99 {pick(0.99):.0f} ms, max {lags[-1]:.0f} ms")
PY

