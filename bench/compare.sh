#!/usr/bin/env bash
# Two builds of Strato side by side: runs a benchmark script alternately
# against each (STRATO_BIN=<build> STRATO_ONLY=1, so peers are skipped),
# ROUNDS times, and keeps each run's output in OUT_DIR.
# Usage: bench/compare.sh BEFORE_BIN AFTER_BIN "bench/gateway.sh 5" [ROUNDS] [OUT_DIR]
# Example (two commits): build each into its own target dir, copy the
# binaries out, then compare; the machine drifts, so read every round.
set -euo pipefail
BEFORE="$1"; AFTER="$2"; BENCH="$3"; ROUNDS="${4:-3}"
OUT="${5:-$(mktemp -d)}"
mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
    for side in before after; do
        bin="$BEFORE"; [ "$side" = after ] && bin="$AFTER"
        echo "== round $round, $side ($bin)"
        STRATO_BIN="$bin" STRATO_ONLY=1 bash -c "$BENCH" 2>&1 | tee "$OUT/$side.$round.txt" | grep -E '^(wrk|open loop|first request)'
    done
done
echo "outputs in $OUT"
