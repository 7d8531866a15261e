#!/usr/bin/env bash
# Lambda functions (issue 13), side by side in one run on this machine, all
# on the same python3.11 runtime image Strato builds from Debian packages:
#   cold      a Python hello handler with idle = "0s" (every request starts
#             an environment): request to response through the gateway
#   floor     bare `runc run` of the same runtime image: `python3 -c pass`
#             (the interpreter's start) and `python3 -c "import
#             awslambdaric.bootstrap, app"` (the runtime client and the
#             handler loaded: what a runtime does before its first `next`)
#   warm      the same handler kept warm (min_warm = 8, concurrency 8):
#             wrk at 1 and 8 connections
#             (req/s, p50, p99), against a raw hyper server (the loopback
#             HTTP round trip) and the handler called in-process in a tight
#             Python loop (the handler's own cost)
#   memory    RSS of one warm environment's processes, and how many fit in
#             4 GiB
# Usage: bench/lambda.sh [N] [SECONDS]   (N cold starts, default 20; wrk
# duration, default 5 s). Needs root, runc, mmdebstrap, wrk.
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
N="${1:-20}" DUR="${2:-5}"
ensure_packages runc:runc mmdebstrap:mmdebstrap wrk:wrk curl:curl
echo "building strato and the bench tools"
build_strato >/dev/null 2>&1
(cd bench/tools && cargo build --release --target-dir "$CARGO_TARGET_DIR/bench-tools" >/dev/null 2>&1)
TOOLS="$CARGO_TARGET_DIR/bench-tools/release"
WORK="$(mktemp -d -p "$HOME")"
PIDS=()
# SIGTERM: the server stops its environments before it exits; its warnings
# (runs lost, environments failing) are printed.
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; grep -E " (WARN|ERROR) " "$WORK/strato.log" >&2 || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$TOOLS/hyper-hello" 127.0.0.1:18470 & PIDS+=($!)
"$STRATO" server --data-dir "$WORK/strato" --http 127.0.0.1:18480 --api 127.0.0.1:18490 --s3 127.0.0.1:18499 --registry 127.0.0.1:18495 \
    --runtime-cache "${STRATO_RUNTIME_CACHE:-$HOME/.cache/strato-runtimes}" --trust-host-cas \
    >"$WORK/strato.log" 2>&1 & PIDS+=($!)
export STRATO_DATA_DIR="$WORK/strato"
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18490/api/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$WORK/app/src"
cat > "$WORK/app/src/app.py" <<'PY'
def handler(event, context):
    return {"statusCode": 200, "body": "hello"}
PY
cat > "$WORK/app/strato.toml" <<'TOML'
[app]
name = "lb"
[functions.cold]
runtime = "python3.11"
handler = "app.handler"
code = "src"
routes = ["/cold"]
idle = "0s"
[functions.warm]
runtime = "python3.11"
handler = "app.handler"
code = "src"
routes = ["/warm"]
concurrency = 8
min_warm = 8
TOML
echo "deploying (builds the python3.11 runtime image once per machine)"
"$STRATO" deploy "$WORK/app" >/dev/null
ROOTFS="$(ls -d "$WORK"/strato/images/rootfs/*)"
CODE="$(ls -d "$WORK"/strato/lambda/code/*)"

# The bare runc bundle: runc's default config on the runtime image, the
# code bound at /var/task as Strato binds it.
mkdir -p "$WORK/bundle"
(cd "$WORK/bundle" && runc spec)
python3 - "$WORK/bundle/config.json" "$ROOTFS" "$CODE" <<'PY'
import json, sys
path, rootfs, code = sys.argv[1:]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["cwd"] = "/var/task"
c["mounts"].append({"destination": "/var/task", "type": "bind", "source": code, "options": ["rbind", "ro"]})
json.dump(c, open(path, "w"))
PY

python3 - "$N" "$WORK" <<'PY'
import http.client, json, statistics, subprocess, sys, time
n, work = int(sys.argv[1]), sys.argv[2]
def timed(fn, count):
    out = []
    for _ in range(count):
        t0 = time.perf_counter(); fn(); out.append((time.perf_counter() - t0) * 1000)
    return out
def runc(code):
    def go():
        with open(work + "/bundle/config.json") as f:
            c = json.load(f)
        c["process"]["args"] = ["/usr/bin/python3", "-c", code]
        with open(work + "/bundle/config.json", "w") as f:
            json.dump(c, f)
        subprocess.run(["runc", "--root", work + "/runc-state", "run", "--bundle", work + "/bundle", "bench"],
                       check=True, stdout=subprocess.DEVNULL)
    return go
def cold():
    conn = http.client.HTTPConnection("127.0.0.1", 18480)
    conn.request("GET", "/cold"); r = conn.getresponse(); body = r.read()
    assert r.status == 200 and body == b"hello", (r.status, body)
    conn.close()
for f in (runc("pass"), cold):
    f()
rows = [("python3 -c pass (runc)", runc("pass")),
        ("runtime client + handler loaded (runc)", runc("import awslambdaric.bootstrap, app")),
        ("strato cold start (idle = 0s)", cold)]
times = {name: [] for name, _ in rows}
for _ in range(n):
    for name, fn in rows:
        times[name] += timed(fn, 1)
floor = statistics.median(times[rows[1][0]])
print("%-40s %5s %8s %8s %8s %8s" % ("", "runs", "p50 ms", "p90 ms", "max ms", "vs floor"))
for name, _ in rows:
    xs = sorted(times[name]); p50 = statistics.median(xs)
    print("%-40s %5d %8.1f %8.1f %8.1f %7.2fx" % (name, len(xs), p50, xs[int(len(xs) * 0.9) - 1], xs[-1], p50 / floor))
PY

echo "== warm: wrk ${DUR}s"
python3 - <<'PY'
import time, sys
sys.path.insert(0, "/dev/null")
def handler(event, context):
    return {"statusCode": 200, "body": "hello"}
n = 200000
t0 = time.perf_counter()
for _ in range(n):
    handler({}, None)
dt = time.perf_counter() - t0
print("handler in-process: %.3f us per call (%.0f calls/s)" % (dt / n * 1e6, n / dt))
PY
for target in hyper:18470/hello strato:18480/warm; do
    name="${target%%:*}"; url="http://127.0.0.1:${target#*:}"
    wrk -t1 -c8 -d1s "$url" >/dev/null
    for c in 1 8; do
        out="$(wrk -t1 -c"$c" -d"${DUR}s" --latency "$url")"
        rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
        p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
        p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
        errors="$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)"
        echo "$name c=$c: $rps req/s, p50 $p50, p99 $p99 $errors"
    done
done

echo "== memory of warm environments"
# The environments of this server (runc's state names them), their
# processes' resident memory.
RSS_KB=0 ENVS=0
sleep 1   # let the last cold environment go
STATES=0
for state in "$WORK"/strato/runc/l*; do
    id="$(basename "$state")"
    STATES=$((STATES + 1))
    pids="$(cat /sys/fs/cgroup/memory/strato/"$id"/ctr/cgroup.procs 2>/dev/null || true)"
    [ -n "$pids" ] || continue
    ENVS=$((ENVS + 1))
    for pid in $pids; do
        RSS_KB=$((RSS_KB + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
done
if [ "$ENVS" -gt 0 ] && [ "$RSS_KB" -gt 0 ]; then
    PER=$((RSS_KB / ENVS))
    echo "warm environments: $ENVS with processes (of $STATES in runc's state), RSS $PER KiB each; $((4 * 1024 * 1024 / PER)) fit in 4 GiB"
else
    echo "no running environment found"
fi
