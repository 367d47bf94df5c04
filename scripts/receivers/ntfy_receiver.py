"""A receiver speaking ntfy's publish API (https://docs.ntfy.sh/publish/),
for the tests: POST or PUT /<topic> with the message as the body and the
Title, Priority and Tags headers (RFC 2047 encoded-words decoded, as ntfy
does). It prints one JSON line per request and answers as ntfy does, with
the message as JSON.

Usage: ntfy_receiver.py PORT [TOKEN] [FAIL_FIRST]
With TOKEN, a request without "Authorization: Bearer TOKEN" gets 403. The
first FAIL_FIRST requests get 503.
"""
import json
import sys
import time
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port = int(sys.argv[1])
token = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
fail_first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
seen = 0


def say(line):
    print(json.dumps(line), flush=True)


def header(value):
    return str(make_header(decode_header(value))) if value else None


class Receiver(BaseHTTPRequestHandler):
    def publish(self):
        global seen
        seen += 1
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        topic = self.path.strip("/")
        if seen <= fail_first:
            say({"answered": 503})
            return self.answer(503, {"error": "unavailable"})
        if token and self.headers.get("authorization") != f"Bearer {token}":
            say({"answered": 403, "authorization": self.headers.get("authorization") is not None})
            return self.answer(403, {"code": 40301, "error": "forbidden"})
        message = {
            "id": f"m{seen}",
            "time": int(time.time()),
            "event": "message",
            "topic": topic,
            "title": header(self.headers.get("title")),
            "priority": self.headers.get("priority"),
            "tags": (self.headers.get("tags") or "").split(",") if self.headers.get("tags") else [],
            "message": body,
        }
        say({"answered": 200, **message, "content_type": self.headers.get("content-type")})
        self.answer(200, message)

    do_POST = publish
    do_PUT = publish

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


say({"listening": port})
ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
