#!/usr/bin/env bash
# The demo: builds Strato and the hello example, starts `strato up` on the
# embedded defaults (SQLite in examples/hello/.strato, ports 8080/8090/9000),
# calls the function through the gateway and the CLI, shows its runs and
# logs, then stops the server.
source "$(dirname "$0")/env.sh"
cd "$ROOT"

command -v curl >/dev/null || { echo "installing curl"; apt-get install -y curl >/dev/null; }

echo "== building strato"
cargo build --release -p strato-cli
STRATO="$CARGO_TARGET_DIR/release/strato"
APP="$ROOT/examples/hello"
export STRATO_DATA_DIR="$APP/.strato"

echo "== strato up examples/hello"
"$STRATO" up "$APP" --no-watch > "$ROOT/target-demo-up.log" 2>&1 &
UP=$!
trap 'kill -INT $UP 2>/dev/null || true; wait $UP 2>/dev/null || true; rm -f "$ROOT/target-demo-up.log"' EXIT
for _ in $(seq 1 600); do
    if ! kill -0 $UP 2>/dev/null; then cat "$ROOT/target-demo-up.log"; echo "strato up failed" >&2; exit 1; fi
    if curl -fsS http://127.0.0.1:8080/hello >/dev/null 2>&1; then break; fi
    sleep 0.2
done
cat "$ROOT/target-demo-up.log"

echo "== curl http://127.0.0.1:8080/hello"
curl -sS -i http://127.0.0.1:8080/hello
echo "== strato invoke hello --path /hello/cli"
"$STRATO" invoke hello --path /hello/cli
sleep 0.3
echo "== strato runs --app hello"
"$STRATO" runs --app hello --limit 5
echo "== strato logs hello"
"$STRATO" logs hello --limit 5
echo "== demo done; stopping the server"
