#!/usr/bin/env bash
# The order pipeline end to end, on a fresh data dir:
#  1. builds a tiny packer image from the host's static busybox and
#     imports it;
#  2. starts `strato server`, deploys this directory (a bucket, two queues,
#     four wasm functions, a container task and the workflow);
#  3. uploads three orders with the stock aws CLI: a small one (straight
#     through), a large one (waits for approval) and one over the card's
#     limit (declined, caught, failed);
#  4. plays the person approving: reads the approval request from the
#     `approvals` queue and answers its task token with
#     `aws stepfunctions send-task-success`;
#  5. waits for the three executions and shows their ends and the large
#     order's history.
# Needs root (runc). Ports: STRATO_HTTP/STRATO_API_ADDR/STRATO_S3 (defaults
# 127.0.0.1:8080/8090/9000; port 0 picks free ones); STRATO_BIN skips
# building strato.
source "$(dirname "$0")/../../scripts/env.sh"
HERE="$ROOT/examples/order-pipeline"
HTTP="${STRATO_HTTP:-127.0.0.1:8080}" API="${STRATO_API_ADDR:-127.0.0.1:8090}" S3="${STRATO_S3:-127.0.0.1:9000}"

ensure_packages runc:runc busybox-static:/bin/busybox curl:curl
if [ -z "${STRATO_BIN:-}" ]; then
    echo "== building strato"
    build_strato
    STRATO_BIN="$STRATO"
fi
start_strato_server
strato() { "$STRATO_BIN" "$@"; }

echo "== building the packer image (busybox) and importing it"
ROOTFS="$DATA/packer"
mkdir -p "$ROOTFS/bin" "$ROOTFS/tmp"
cp /bin/busybox "$ROOTFS/bin/busybox"
for applet in sh echo sleep cat; do ln -s busybox "$ROOTFS/bin/$applet"; done
tar -C "$ROOTFS" --numeric-owner -cf "$DATA/packer.tar" .
strato image import --rootfs -t orders/packer:1 "$DATA/packer.tar"

echo "== strato deploy examples/order-pipeline"
strato deploy "$HERE"

ensure_aws_cli
export AWS_SHARED_CREDENTIALS_FILE="$DATA/s3.credentials" AWS_CONFIG_FILE=/dev/null AWS_DEFAULT_REGION=us-east-1
aws() { "$AWS" "$@"; }
echo '{"id": "o-1001", "customer": "ada", "items": [{"sku": "widget", "quantity": 2}, {"sku": "gadget", "quantity": 1}]}' > "$DATA/o-1001.json"
echo '{"id": "o-1002", "customer": "grace", "items": [{"sku": "gizmo", "quantity": 3}, {"sku": "widget", "quantity": 4}]}' > "$DATA/o-1002.json"
echo '{"id": "o-1003", "customer": "linus", "items": [{"sku": "gizmo", "quantity": 20}]}' > "$DATA/o-1003.json"
for order in o-1001 o-1002 o-1003; do
    echo "== aws s3 cp $order.json s3://orders/incoming/$order.json"
    aws --endpoint-url "http://$S3" s3 cp "$DATA/$order.json" "s3://orders/incoming/$order.json"
done

echo "== waiting for the approval request of the large order"
json() { "$STRATO_PY/bin/python" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
MESSAGE=""
for _ in $(seq 1 240); do
    MESSAGE="$(strato queue receive orders/approvals --output json | json 'd[0]["body"] if d else ""')"
    [ -n "$MESSAGE" ] && break
    sleep 0.5
done
[ -n "$MESSAGE" ] || { echo "error: no approval request arrived" >&2; exit 1; }
echo "approval requested: $(echo "$MESSAGE" | json '"order %s, %s cents" % (d["order"], d["total"])')"
TOKEN="$(echo "$MESSAGE" | json 'd["token"]')"
echo "== aws stepfunctions send-task-success (a person approves)"
aws --endpoint-url "http://$API" stepfunctions send-task-success \
    --task-token "$TOKEN" --task-output '{"approved": true, "by": "the night shift"}'

echo "== waiting for the three executions to end"
for _ in $(seq 1 240); do
    RUNNING="$(strato workflow ls --output json | json 'sum(1 for e in d if e["status"] == "RUNNING")')"
    TOTAL="$(strato workflow ls --output json | json 'len(d)')"
    [ "$TOTAL" = 3 ] && [ "$RUNNING" = 0 ] && break
    sleep 0.5
done
echo "== strato workflow ls"
strato workflow ls
LARGE="$(strato workflow ls --output json | json '[e["id"] for e in d if "o-1002" in json.dumps(e["input"])][0]')"
echo "== strato workflow history $LARGE (the large order)"
strato workflow history "$LARGE"
echo "== strato logs orders/pack, orders/charge, orders/ship"
strato logs orders/pack --limit 10
strato logs orders/charge --limit 10
strato logs orders/ship --limit 10
echo "== strato queue receive orders/notifications"
strato queue receive orders/notifications --max 10

# Two shipped, one declined.
ENDS="$(strato workflow ls --output json | json '" ".join(sorted("%s:%s" % (json.dumps(e["input"]).split("incoming/")[1][:6], e["status"]) for e in d))')"
echo "ends: $ENDS"
if [ "$ENDS" != "o-1001:SUCCEEDED o-1002:SUCCEEDED o-1003:FAILED" ]; then
    echo "error: expected o-1001 and o-1002 shipped and o-1003 declined" >&2
    tail -40 "$DATA/server.log" >&2
    exit 1
fi
echo "== order pipeline example: done"
