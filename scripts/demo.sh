#!/usr/bin/env bash
# The demo: builds Strato and the hello example, starts `strato up` on the
# embedded defaults (SQLite in examples/hello/.strato, ports 8080/8090/9000),
# calls the function through the gateway and the CLI, shows its runs and
# logs; then deploys examples/uppercase and drops a file into its bucket
# with the stock aws CLI (installed from PyPI into ~/.cache/strato-py): the
# bucket event runs the function, which writes an uppercased copy; then
# deploys examples/python-api, an unmodified Python Lambda handler (its
# runtime built from Debian packages the first time, ~40 s) and calls it.
# Stops that server, then runs the seed example, examples/thumbnailer/run.sh:
# an .mp4 uploaded with the aws CLI starts an ffmpeg container task (runc)
# whose thumbnail fires a second function; once with wasm handlers, once
# with the seed's JavaScript handlers. Last, examples/web-service/run.sh: a
# Python web app built with buildah, pushed to Strato's registry and run as
# a service that starts on the first request and scales back to zero.
# Needs root for the containers.
source "$(dirname "$0")/env.sh"
cd "$ROOT"

ensure_packages curl:curl

echo "== building strato (the same build ./scripts/test.sh uses)"
build_strato
APP="$ROOT/examples/hello"
export STRATO_DATA_DIR="$APP/.strato"
# Lambda runtime images are built once per machine; pip inside the build
# trusts this machine's extra CA certificates (a TLS-inspecting proxy).
export STRATO_RUNTIME_CACHE="$HOME/.cache/strato-runtimes" STRATO_TRUST_HOST_CAS=true

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

echo "== strato deploy examples/uppercase (a bucket and a function subscribed to it)"
"$STRATO" deploy "$ROOT/examples/uppercase"
ensure_aws_cli
# The server wrote an admin key pair in the AWS credentials format.
export AWS_SHARED_CREDENTIALS_FILE="$STRATO_DATA_DIR/s3.credentials" AWS_CONFIG_FILE=/dev/null
export AWS_ENDPOINT_URL=http://127.0.0.1:9000
echo "== aws s3 cp note.txt s3://docs/incoming/note.txt"
echo "hello from the strato demo" > "$ROOT/target-demo-note.txt"
"$AWS" s3 cp "$ROOT/target-demo-note.txt" s3://docs/incoming/note.txt
rm -f "$ROOT/target-demo-note.txt"
for _ in $(seq 1 100); do
    "$AWS" s3api head-object --bucket docs --key upper/note.txt >/dev/null 2>&1 && break
    sleep 0.1
done
echo "== aws s3 ls s3://docs --recursive"
"$AWS" s3 ls s3://docs --recursive
echo "== aws s3 cp s3://docs/upper/note.txt -"
"$AWS" s3 cp s3://docs/upper/note.txt -
sleep 0.3
echo "== strato runs --app uppercase"
"$STRATO" runs --app uppercase --limit 5
echo "== strato logs upper"
"$STRATO" logs upper --limit 5
"$STRATO" destroy uppercase --force

echo "== strato deploy examples/python-api (a Python Lambda handler on /api/*)"
"$STRATO" deploy "$ROOT/examples/python-api"
echo "== curl http://127.0.0.1:8080/api/hello?name=demo"
curl -sS http://127.0.0.1:8080/api/hello?name=demo; echo
echo "== curl -X POST http://127.0.0.1:8080/api/items -d '{\"name\": \"lamp\"}'"
curl -sS -X POST http://127.0.0.1:8080/api/items -d '{"name": "lamp"}'; echo
echo "== curl http://127.0.0.1:8080/api/items (the same warm environment)"
curl -sS http://127.0.0.1:8080/api/items; echo
sleep 0.3
echo "== strato runs --app pyapi (the first run is cold, with its init time)"
"$STRATO" runs --app pyapi --limit 5
echo "== strato logs pyapi/api"
"$STRATO" logs pyapi/api --limit 8
echo "== aws lambda list-functions (the Lambda API on the control port)"
"$AWS" --endpoint-url http://127.0.0.1:8090 --region us-east-1 lambda list-functions \
    --query 'Functions[].[FunctionName, Runtime, Handler]' --output text
"$STRATO" destroy pyapi --force
echo "== stopping the strato up server"
kill -INT $UP; wait $UP 2>/dev/null || true

echo "== the seed example: examples/thumbnailer/run.sh (a container task runs ffmpeg)"
STRATO_BIN="$STRATO" "$ROOT/examples/thumbnailer/run.sh"
echo "== the seed example with its JavaScript handlers: THUMBNAILER_APP=js run.sh"
STRATO_BIN="$STRATO" THUMBNAILER_APP=js "$ROOT/examples/thumbnailer/run.sh"
echo "== a web app as a container service: examples/web-service/run.sh"
STRATO_BIN="$STRATO" "$ROOT/examples/web-service/run.sh"
echo "== demo done"
