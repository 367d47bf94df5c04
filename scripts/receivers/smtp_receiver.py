"""An SMTP server for keyward's email alerts, for the tests (aiosmtpd): it
prints one JSON line per message on stdout, with the parts a person reads.

Usage: smtp_receiver.py PORT USER PASSWORD FAIL_FIRST
With USER and PASSWORD (not "-") it requires AUTH (over the plain connection: a test
on 127.0.0.1). The first FAIL_FIRST messages are refused with 451 (try
again later), as a mail server that is briefly unwell does.
"""
import asyncio
import json
import logging
import sys
import warnings
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

# aiosmtpd warns that AUTH without TLS is unsafe: true, and this is a test on 127.0.0.1.
warnings.simplefilter("ignore")
logging.getLogger("mail.log").setLevel(logging.ERROR)

port = int(sys.argv[1])
user = sys.argv[2] if sys.argv[2] != "-" else None
password = sys.argv[3]
fail_first = int(sys.argv[4])
seen = 0


def say(line):
    print(json.dumps(line), flush=True)


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login.decode() == user and auth_data.password.decode() == password
    say({"auth": mechanism, "accepted": ok})
    return AuthResult(success=ok)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        global seen
        seen += 1
        if seen <= fail_first:
            say({"answered": 451})
            return "451 4.3.0 try again later"
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        say({
            "answered": 250,
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "message_id": str(message["message-id"]),
            "text": text.get_content() if text else None,
            "html": html.get_content() if html else None,
            "raw": envelope.original_content.decode("utf-8", "replace"),
        })
        return "250 OK"


kwargs = {}
if user:
    kwargs = {"authenticator": authenticate, "auth_required": True, "auth_require_tls": False}
controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
controller.start()
say({"listening": port})
try:
    asyncio.get_event_loop().run_forever()
except KeyboardInterrupt:
    pass
finally:
    controller.stop()
