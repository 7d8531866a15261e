"""An unmodified Lambda handler beside the service, on its own route: the
gateway sends `/api/*` here and everything else to the container."""
import json
import time


def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({
            "from": "a lambda function",
            "path": event.get("rawPath"),
            "request_id": context.aws_request_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }),
    }
