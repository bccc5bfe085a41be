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
    provider.sign_callback(order, ref, amount, status)
    provider.stop()
"""
import hashlib
import hmac
import json
import threading
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

            def do_POST(self):
                if self.path != "/checkout":
                    return self._answer(404, {"error": "unknown path"})
                length = int(self.headers.get("Content-Length", "0"))
                if length > 65536:
                    return self._answer(413, {"error": "too large"})
                try:
                    body = json.loads(self.rfile.read(length))
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
