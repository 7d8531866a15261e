"""A small notes web app on Python's standard library: Strato runs it as a
container service, sets PORT, and proxies the gateway's requests to it."""
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOTES = []
LOCK = threading.Lock()
REPLICA = socket.gethostname()


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            return self.reply(200, "ok\n", "text/plain")
        if self.path == "/notes":
            with LOCK:
                return self.reply(200, json.dumps({"notes": NOTES, "replica": REPLICA}) + "\n")
        if self.path == "/":
            client = self.headers.get("X-Forwarded-For", "?")
            return self.reply(200, f"<h1>notes</h1><p>served by {REPLICA} for {client}</p>\n", "text/html")
        self.reply(404, json.dumps({"error": "not found"}) + "\n")

    def do_POST(self):
        if self.path != "/notes":
            return self.reply(404, json.dumps({"error": "not found"}) + "\n")
        length = int(self.headers.get("Content-Length", "0"))
        text = self.rfile.read(length).decode(errors="replace").strip()
        with LOCK:
            NOTES.append(text)
            count = len(NOTES)
        self.reply(201, json.dumps({"added": text, "count": count}) + "\n")

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"notes listening on {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
