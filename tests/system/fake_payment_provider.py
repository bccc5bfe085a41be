"""A small local payment provider over HTTP for the property-tax tests.

It plays the provider's side of common/payment_provider.h:

    POST /checkout  {"orderId","amountPaise","merchantSignature","callbackUrl","outcome"}
        checks the merchant's HMAC-SHA256 over "v1|order|<orderId>|<amountPaise>"
        (403 when it does not verify), "takes the money", and posts the signed
        callback {"orderId","providerRef","amountPaise","status","signature"} to
        callbackUrl; answers {"callbackStatus": <HTTP status>, "callbackBody": {...}}.

Used as

    provider = FakePaymentProvider(key_hex)   # the key shared with the service
    provider.url                              # http://127.0.0.1:<port>
    provider.url + "/pay"                     # its hosted page, as a browser sees it:
        GET /pay?orderId&amountPaise&merchantSignature&callbackUrl&returnUrl shows a
        form with a "Pay" button; POST /pay does what /checkout does, then sends the
        browser back to returnUrl (303)
    provider.sign_callback(order, ref, amount, status)
    provider.stop()
"""
import hashlib
import hmac
import html
import json
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


def hmac_hex(key, message):
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


class FakePaymentProvider:
    def __init__(self, key_hex):
        self.key = bytes.fromhex(key_hex)
        self.callbacks = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path != "/pay":
                    return self._answer(404, {"error": "unknown path"})
                q = dict(urllib.parse.parse_qsl(url.query))
                fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                                 for k, v in q.items())
                amount = int(q.get("amountPaise", "0"))
                page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test '
                        f'payment provider</title></head><body><main><h1>Test payment provider</h1>'
                        f'<form method="post" action="/pay">{fields}<button type="submit">Pay Rs '
                        f'{amount // 100}.{amount % 100:02d}</button></form></main></body></html>')
                data = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                if length > 65536:
                    return self._answer(413, {"error": "too large"})
                hosted = self.path == "/pay"
                if self.path != "/checkout" and not hosted:
                    return self._answer(404, {"error": "unknown path"})
                try:
                    raw = self.rfile.read(length)
                    body = (dict(urllib.parse.parse_qsl(raw.decode())) if hosted
                            else json.loads(raw))
                    order, amount = body["orderId"], int(body["amountPaise"])
                except (ValueError, KeyError):
                    return self._answer(400, {"error": "malformed checkout"})
                expected = hmac_hex(provider.key, f"v1|order|{order}|{amount}")
                if not hmac.compare_digest(expected, body.get("merchantSignature", "")):
                    return self._answer(403, {"error": "merchant signature does not verify"})
                status = body.get("outcome", "SUCCESS")
                ref = "FP" + uuid.uuid4().hex[:16]
                callback = {"orderId": order, "providerRef": ref, "amountPaise": str(amount),
                            "status": status,
                            "signature": provider.sign_callback(order, ref, amount, status)}
                r = requests.post(body["callbackUrl"], json=callback, timeout=10)
                provider.callbacks.append((callback, r.status_code))
                if hosted:
                    self.send_response(303)
                    self.send_header("Location", body.get("returnUrl", "/"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                try:
                    reply = r.json()
                except ValueError:
                    reply = {"raw": r.text}
                return self._answer(200, {"callbackStatus": r.status_code, "callbackBody": reply,
                                          "callback": callback})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def sign_callback(self, order, ref, amount, status):
        return hmac_hex(self.key, f"v1|callback|{order}|{ref}|{int(amount)}|{status}")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
