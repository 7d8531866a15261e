#!/usr/bin/env bash
# Registry benchmark, side by side in one run on this machine and disk:
# Strato's registry (--registry, token auth with the admin key) against
# Debian's docker-registry (CNCF distribution 2.8, filesystem storage, no
# auth), both driven by skopeo (the client a user pushes with), each run on
# fresh storage with skopeo's blob-info cache cleared (so every blob moves):
#   big    one 100 MB layer (random bytes, gzip level 1)
#   small  1,000 layers of 1 KiB each (1,000 small blobs, one manifest)
# push: `skopeo copy oci:… docker://…`; pull: `skopeo copy docker://… oci:…`
# into a fresh directory. The floor is `cp -r` of the same layout on the
# same disk, then `sync`.
# Usage: bench/registry.sh [RUNS]   (default 3)
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
RUNS="${1:-3}"
ensure_packages skopeo:skopeo docker-registry:docker-registry curl:curl
echo "building strato"
build_strato >/dev/null 2>&1
WORK="$(mktemp -d -p "$HOME")"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

echo "making the images"
python3 bench/tools/oci_layout.py "$WORK/big" 1 $((100 * 1024 * 1024))
python3 bench/tools/oci_layout.py "$WORK/small" 1000 1024

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
clear_cache() { rm -f /var/lib/containers/cache/blob-info-cache-v1.* 2>/dev/null || true; }

start_docker_registry() {
    rm -rf "$WORK/dreg"; mkdir -p "$WORK/dreg"
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:18895\n' "$WORK/dreg" > "$WORK/dreg.yml"
    docker-registry serve "$WORK/dreg.yml" >"$WORK/dreg.log" 2>&1 & PID=$!
    for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18895/v2/ >/dev/null 2>&1 && break; sleep 0.05; done
    HOST=127.0.0.1:18895 CREDS=()
}

start_strato() {
    rm -rf "$WORK/strato"
    "$STRATO" server --data-dir "$WORK/strato" --http 127.0.0.1:18880 --api 127.0.0.1:18890 \
        --s3 127.0.0.1:18899 --registry 127.0.0.1:18595 >"$WORK/strato.log" 2>&1 & PID=$!
    for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18890/api/v1/health >/dev/null 2>&1 && break; sleep 0.05; done
    local id secret
    id="$(sed -n 's/aws_access_key_id = //p' "$WORK/strato/s3.credentials")"
    secret="$(sed -n 's/aws_secret_access_key = //p' "$WORK/strato/s3.credentials")"
    HOST=127.0.0.1:18595 CREDS=(--creds "$id:$secret")
}

stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

declare -A RESULT
measure() { # registry image run
    local reg=$1 image=$2 run=$3 t0 t1 t2
    "start_$reg"
    clear_cache
    t0=$(now)
    skopeo copy -q --dest-tls-verify=false ${CREDS[@]/#--creds/--dest-creds} "oci:$WORK/$image:bench" "docker://$HOST/bench/$image:1" >/dev/null
    t1=$(now)
    rm -rf "$WORK/pulled"; clear_cache
    skopeo copy -q --src-tls-verify=false ${CREDS[@]/#--creds/--src-creds} "docker://$HOST/bench/$image:1" "oci:$WORK/pulled:bench" >/dev/null
    t2=$(now)
    stop
    RESULT[$reg.$image.push]+=" $(ms "$t0" "$t1")"
    RESULT[$reg.$image.pull]+=" $(ms "$t1" "$t2")"
}

floor() { # image
    local t0 t1
    rm -rf "$WORK/copy"; sync
    t0=$(now); cp -r "$WORK/$1" "$WORK/copy"; sync; t1=$(now)
    RESULT[floor.$1.push]+=" $(ms "$t0" "$t1")"
}

for run in $(seq 1 "$RUNS"); do
    for image in big small; do
        floor "$image"
        measure docker_registry "$image" "$run"
        measure strato "$image" "$run"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "registry, $RUNS runs each, median ms (all runs)"
printf '%-16s %-6s %10s   %s\n' who image push pull
for image in big small; do
    printf '%-16s %-6s %10s   %s\n' "floor (cp)" "$image" "$(echo "${RESULT[floor.$image.push]}" | median)" "-"
    for reg in docker_registry strato; do
        printf '%-16s %-6s %10s   %-8s (push:%s; pull:%s)\n' "$reg" "$image" \
            "$(echo "${RESULT[$reg.$image.push]}" | median)" "$(echo "${RESULT[$reg.$image.pull]}" | median)" \
            "${RESULT[$reg.$image.push]}" "${RESULT[$reg.$image.pull]}"
    done
done
