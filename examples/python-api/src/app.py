"""A small JSON API on an API Gateway HTTP API (payload 2.0) event.

GET  /api/hello?name=NAME   a greeting
POST /api/items             stores the JSON body, answers it with an id
GET  /api/items             the items this environment holds

Items live in the environment's memory, as module state does on Lambda:
they last while the environment is warm (use a bucket for anything that
must outlive it).
"""
import json
import uuid

ITEMS = []


def answer(status, body):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    path = event["rawPath"]
    if path == "/api/hello" and method == "GET":
        name = (event.get("queryStringParameters") or {}).get("name", "world")
        return answer(200, {"message": f"hello {name}", "request_id": context.aws_request_id})
    if path == "/api/items" and method == "POST":
        try:
            item = json.loads(event.get("body") or "{}")
        except json.JSONDecodeError as e:
            return answer(400, {"error": f"the body is not JSON: {e}"})
        item["id"] = str(uuid.uuid4())
        ITEMS.append(item)
        print("stored item", item["id"])
        return answer(201, item)
    if path == "/api/items" and method == "GET":
        return answer(200, {"items": ITEMS})
    return answer(404, {"error": f"no route for {method} {path}"})
