#!/usr/bin/env bash
# Container task benchmark, side by side in one run on this machine, all on
# the same busybox image (Debian's static busybox, one layer):
#   runc    bare `runc run` of a bundle on the image's unpacked rootfs
#           (process `true`): the floor
#   strato  a task running `true`: POST /api/v1/apps/b/tasks/t/runs to the
#           run's exit recorded in the store (a long poll, GET
#           /api/v1/runs/ID?wait=30s, answers when it is), default
#           `platform` network, and `none`
#   podman  `podman run --rm --runtime runc --network none` of the same
#           image, loaded with `podman load` (the peer a user would pick)
#   cli     `strato task run --wait b/t` from the shell: the CLI's own start,
#           the request, the long poll and the output
# and the CLI's start alone: `strato --version` beside a small Rust binary
# (bench/tools hello-cli). STRATO_BIN=PATH measures another build.
# Each figure is the median of N runs (default 50; podman 20), the rows
# interleaved round by round.
# Usage: bench/tasks.sh [N]   (needs root)
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
N="${1:-50}"
ensure_packages runc:runc busybox-static:/bin/busybox curl:curl
# STRATO_ONLY=1 (comparing two builds of Strato) skips podman.
[ -n "${STRATO_ONLY:-}" ] || ensure_packages podman:podman
echo "building strato and the bench tools"
build_strato >/dev/null 2>&1
(cd bench/tools && cargo build --release --target-dir "$CARGO_TARGET_DIR/bench-tools" >/dev/null 2>&1)
TOOLS="$CARGO_TARGET_DIR/bench-tools/release"
WORK="$(mktemp -d -p "$HOME")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# The image: a docker-archive around busybox.
python3 bench/tools/docker_archive.py "$WORK/bb.tar" localhost/bench/bb:1 '["true"]' '["PATH=/bin"]' \
    /bin/busybox=bin/busybox 'bin/sh->busybox' 'bin/true->busybox'

"$STRATO" server --data-dir "$WORK/strato" --http 127.0.0.1:18280 --api 127.0.0.1:18290 --s3 127.0.0.1:18299 --registry 127.0.0.1:18295 >"$WORK/strato.log" 2>&1 & PIDS+=($!)
export STRATO_DATA_DIR="$WORK/strato"
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18290/api/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
"$STRATO" image import "$WORK/bb.tar" >/dev/null
mkdir -p "$WORK/app"
cat > "$WORK/app/strato.toml" <<'TOML'
[app]
name = "b"
[tasks.t]
image = "localhost/bench/bb:1"
command = ["true"]
[tasks.none]
image = "localhost/bench/bb:1"
command = ["true"]
network = "none"
TOML
"$STRATO" deploy "$WORK/app" >/dev/null
ROOTFS="$(ls -d "$WORK"/strato/images/rootfs/*)"

# The bare runc bundle: runc's own default config on the same rootfs.
mkdir -p "$WORK/bundle"
(cd "$WORK/bundle" && runc spec)
python3 - "$WORK/bundle/config.json" "$ROOTFS" <<'PY'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
json.dump(c, open(path, "w"))
PY

[ -n "${STRATO_ONLY:-}" ] || podman load -q -i "$WORK/bb.tar" >/dev/null 2>&1
TOKEN="$(cat "$WORK/strato/admin.token")"
python3 - "$N" "$WORK" "$TOKEN" "$STRATO" "$TOOLS/hello-cli" "${STRATO_ONLY:-}" <<'PY'
import http.client, json, statistics, subprocess, sys, time
n, work, token, strato_bin, hello_cli = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
strato_only = bool(sys.argv[6])

def timed(fn, count):
    out = []
    for _ in range(count):
        t0 = time.perf_counter(); fn(); out.append((time.perf_counter() - t0) * 1000)
    return out

def runc():
    subprocess.run(["runc", "--root", work + "/runc-state", "run", "--bundle", work + "/bundle", "bench"],
                   check=True, stdout=subprocess.DEVNULL)

conn = http.client.HTTPConnection("127.0.0.1", 18290)
auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
def strato(task):
    def go():
        conn.request("POST", "/api/v1/apps/b/tasks/%s/runs" % task, body="{}", headers=auth)
        r = conn.getresponse(); run = json.loads(r.read()); assert r.status == 202, run
        # Long poll: the answer comes when the run's end is recorded.
        conn.request("GET", "/api/v1/runs/%s?wait=30s" % run["id"], headers=auth)
        r = conn.getresponse(); got = json.loads(r.read())
        assert got["status"] == "succeeded", got
    return go

def cli_run():
    # What a user types: the CLI's own start, the API request, the long
    # poll for the end and the output.
    subprocess.run([strato_bin, "task", "run", "--wait", "b/t"], check=True,
                   stdout=subprocess.DEVNULL)

def start(binary, *args):
    def go():
        subprocess.run([binary, *args], check=True, stdout=subprocess.DEVNULL)
    return go

def podman():
    subprocess.run(["podman", "run", "--rm", "--runtime", "runc", "--network", "none",
                    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                    "localhost/bench/bb:1", "true"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)

for f in (runc, strato("t")) if strato_only else (runc, strato("t"), podman):  # warm caches once
    f()
# Interleaved: each round runs every row once, so a slow phase of the
# machine (this VM has them) falls on all rows alike, not on one.
rows = [("bare runc run", runc),
        ("strato task (platform network)", strato("t")),
        ("strato task (network none)", strato("none")),
        ("strato task run --wait (CLI)", cli_run)]
times = {name: [] for name, _ in rows}
for _ in range(n):
    for name, fn in rows:
        times[name] += timed(fn, 1)
rows = [(name, times[name]) for name, _ in rows]
if not strato_only:
    rows.append(("podman run --rm", timed(podman, max(5, n // 2))))
floor = statistics.median(rows[0][1])
print("%-34s %6s %9s %9s %9s %8s" % ("", "runs", "p50 ms", "p90 ms", "max ms", "vs runc"))
for name, xs in rows:
    xs.sort(); p50 = statistics.median(xs)
    print("%-34s %6d %9.1f %9.1f %9.1f %7.2fx" % (name, len(xs), p50, xs[int(len(xs) * 0.9) - 1], xs[-1], p50 / floor))
# A command-line tool's own start, beside a small Rust binary's.
for name, xs in [("strato --version", timed(start(strato_bin, "--version"), 5 * n)),
                 ("small Rust binary (hello-cli)", timed(start(hello_cli), 5 * n))]:
    xs.sort()
    print("%-34s %6d %9.2f %9.2f %9.2f" % (name, len(xs), statistics.median(xs), xs[int(len(xs) * 0.9) - 1], xs[-1]))
PY
