"""Verifies one Standard Webhooks delivery with the reference library.

Usage: verify_webhook.py SECRET  (a JSON object on stdin:
{"headers": {...}, "body": "..."}). Prints the verified payload's JSON;
exits 1 when the signature does not verify.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

secret = sys.argv[1]
delivery = json.load(sys.stdin)
try:
    payload = Webhook(secret).verify(delivery["body"], delivery["headers"])
except WebhookVerificationError as error:
    print(f"refused: {error}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(payload))
