"""An HTTP receiver for keyward's webhooks, for the tests: it verifies each
delivery with the Standard Webhooks reference library and prints one JSON
line per request on stdout.

Usage: webhook_receiver.py PORT SECRET [FAIL_FIRST] [DELAY_MS]
The first FAIL_FIRST requests are answered 503 (a receiver that is down),
the rest 204 once verified; a delivery that does not verify gets 401.
DELAY_MS makes it a slow receiver: each answer waits that long. Each line
has `received_at` (Unix seconds, when the request arrived) for measurements.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

port, secret = int(sys.argv[1]), sys.argv[2]
fail_first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
delay = int(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0
verifier = Webhook(secret)
seen = 0


def say(line):
    print(json.dumps(line), flush=True)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        received_at = time.time()
        seen += 1
        if delay:
            time.sleep(delay)
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if seen <= fail_first:
            say({"answered": 503, "id": headers.get("webhook-id")})
            self.send_response(503)
            self.end_headers()
            return
        try:
            payload = verifier.verify(body, headers)
        except WebhookVerificationError as error:
            say({"answered": 401, "refused": str(error)})
            self.send_response(401)
            self.end_headers()
            return
        say({"answered": 204, "id": headers["webhook-id"], "payload": payload, "body": body, "received_at": received_at})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


say({"listening": port})
ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
