#!/usr/bin/env bash
# Container services benchmark, side by side in one run on this machine, all
# on one image: bench/tools' hyper-hello (a raw hyper server) linked
# statically, alone in a layer, listening on 127.0.0.1:8080.
#   1. Scale from zero, time to the first byte of `GET /`:
#      floor   bare `runc run -d` of the image (runc's default spec, its own
#              network namespace), then connects from inside that namespace
#              every millisecond until the server answers (bench/tools
#              svcfloor)
#      strato  a request to the gateway while the service has no replica:
#              held while one starts, then proxied
#   2. Proxied throughput and latency against the same server hit directly
#      inside its replica's namespace (wrk run under nsenter), and through
#      nginx (the proxy a user would put in front) run in that namespace
#      too, with upstream keepalive; with wrk -c32 (peak) and with
#      bench/tools loadgen at a fixed rate (p99).
# The registry rows (push/pull against Debian's docker-registry) are
# bench/registry.sh.
# Usage: bench/services.sh [N] [SECONDS]   (needs root; default 20 starts, 10 s loads)
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
N="${1:-20}"
DUR="${2:-10}"
ensure_packages runc:runc curl:curl wrk:wrk nginx-light:/usr/sbin/nginx
echo "building strato and the bench tools"
build_strato >/dev/null 2>&1
(cd bench/tools && cargo build --release --target-dir "$CARGO_TARGET_DIR/bench-tools" >/dev/null 2>&1)
TOOLS="$CARGO_TARGET_DIR/bench-tools/release"
# The server in the image must run without the host's libraries.
(cd bench/tools && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
    --target x86_64-unknown-linux-gnu --bin hyper-hello \
    --target-dir "$CARGO_TARGET_DIR/bench-static" >/dev/null 2>&1)
HELLO="$CARGO_TARGET_DIR/bench-static/x86_64-unknown-linux-gnu/release/hyper-hello"
WORK="$(mktemp -d -p "$HOME")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

python3 bench/tools/docker_archive.py "$WORK/hello.tar" bench/hello:1 \
    '["/hyper-hello", "127.0.0.1:8080"]' '[]' "$HELLO=hyper-hello"

"$STRATO" server --data-dir "$WORK/strato" --http 127.0.0.1:18580 --api 127.0.0.1:18590 --s3 127.0.0.1:18599 --registry 127.0.0.1:18595 >"$WORK/strato.log" 2>&1 & PIDS+=($!)
export STRATO_DATA_DIR="$WORK/strato"
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18590/api/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
"$STRATO" image import "$WORK/hello.tar" >/dev/null
mkdir -p "$WORK/app"
cat > "$WORK/app/strato.toml" <<'TOML'
[app]
name = "b"
[services.hello]
image = "bench/hello:1"
port = 8080
routes = ["/*"]
concurrency = 1000
max_replicas = 1
idle = "1s"
stop_timeout = "1s"
TOML
"$STRATO" deploy "$WORK/app" >/dev/null
ROOTFS="$(ls -d "$WORK"/strato/images/rootfs/*)"

# The floor's bundle: runc's own default config on the same rootfs.
mkdir -p "$WORK/bundle"
(cd "$WORK/bundle" && runc spec)
python3 - "$WORK/bundle/config.json" "$ROOTFS" <<'PY'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["/hyper-hello", "127.0.0.1:8080"]
json.dump(c, open(path, "w"))
PY

TOKEN="$(cat "$WORK/strato/admin.token")"
echo "== scale from zero: time to the first byte of GET / ($N starts each, interleaved)"
python3 - "$N" "$WORK" "$TOKEN" "$TOOLS/svcfloor" <<'PY'
import http.client, json, socket, statistics, subprocess, sys, time
n, work, token, floor_bin = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
api = http.client.HTTPConnection("127.0.0.1", 18590)
def replicas():
    api.request("GET", "/api/v1/services", headers={"Authorization": "Bearer " + token})
    return sum(len(s["replicas"]) + s["starting"] for s in json.loads(api.getresponse().read()))
def strato_first_byte():
    deadline = time.time() + 30
    while replicas() > 0:
        assert time.time() < deadline, "the service did not scale to zero"
        time.sleep(0.05)
    s = socket.create_connection(("127.0.0.1", 18580))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter()
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    assert s.recv(1)
    took = (time.perf_counter() - t0) * 1000
    s.close()
    return took
def floor_first_byte():
    out = subprocess.run([floor_bin, work + "/floor-state", work + "/bundle", "8080", "1"],
                         check=True, capture_output=True, text=True).stdout
    return float(out.split()[0])
strato_first_byte(); floor_first_byte()  # warm caches once
rows = {"floor: runc run -d + connect inside": [], "strato: gateway request at zero": []}
for _ in range(n):
    rows["floor: runc run -d + connect inside"].append(floor_first_byte())
    rows["strato: gateway request at zero"].append(strato_first_byte())
floor = statistics.median(rows["floor: runc run -d + connect inside"])
print("%-40s %5s %8s %8s %8s %10s" % ("", "runs", "p50 ms", "p90 ms", "max ms", "vs floor"))
for name, xs in rows.items():
    xs.sort(); p50 = statistics.median(xs)
    print("%-40s %5d %8.1f %8.1f %8.1f %+9.1f ms" % (name, len(xs), p50, xs[int(len(xs) * 0.9) - 1], xs[-1], p50 - floor))
PY

echo "== proxied against direct, same server (wrk -t1 -c32 -d${DUR}s)"
# One replica, kept: pin it so it does not scale in between the loads.
"$STRATO" services scale b/hello 1 >/dev/null
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null http://127.0.0.1:18580/ && break; sleep 0.1
done
REPLICA="$(curl -fsS -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18590/api/v1/services \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["replicas"][0]["id"])')"
PID="$(runc --root "$WORK/strato/runc" state "$REPLICA" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
inside() { nsenter --net="/proc/$PID/ns/net" "$@"; }
cat > "$WORK/nginx.conf" <<NGINX
daemon off;
worker_processes auto;
error_log stderr;
pid $WORK/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    upstream app { server 127.0.0.1:8080; keepalive 64; }
    server {
        listen 127.0.0.1:8090;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$remote_addr;
        }
    }
}
NGINX
inside nginx -c "$WORK/nginx.conf" 2>"$WORK/nginx.log" & PIDS+=($!)
sleep 0.5
url_of() {
    case "$1" in
        direct) echo http://127.0.0.1:8080/ ;;
        nginx) echo http://127.0.0.1:8090/ ;;
        strato) echo http://127.0.0.1:18580/ ;;
    esac
}
declare -A PEAK LAT
for round in 1 2; do
    for target in direct nginx strato; do
        if [ "$target" = strato ]; then
            out="$(wrk -t1 -c32 "-d${DUR}s" --latency "$(url_of $target)")"
        else
            out="$(inside wrk -t1 -c32 "-d${DUR}s" --latency "$(url_of $target)")"
        fi
        rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
        p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
        PEAK[$target]="${PEAK[$target]:-} $rps/$p99"
    done
done
HALF="$(echo "${PEAK[strato]}" | awk '{split($NF, a, "/"); printf "%d", a[1] / 2}')"
for target in direct nginx strato; do
    if [ "$target" = strato ]; then
        LAT[$target]="$("$TOOLS/loadgen" "$(url_of $target)" "$HALF" "$DUR" 32)"
    else
        LAT[$target]="$(inside "$TOOLS/loadgen" "$(url_of $target)" "$HALF" "$DUR" 32)"
    fi
done
printf "%-34s %s\n" "" "peak req/s / p99 (two rounds)"
for target in direct nginx strato; do printf "%-34s %s\n" "$target" "${PEAK[$target]}"; done
echo "== fixed rate $HALF req/s (half of strato's peak), loadgen"
for target in direct nginx strato; do printf "%-8s %s\n" "$target" "${LAT[$target]}"; done
"$STRATO" services scale b/hello auto >/dev/null
