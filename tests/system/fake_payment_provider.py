#!/usr/bin/python3
"""A small local payment provider over HTTP for the tests.

It plays the provider's side of common/payment_provider.h, with one merchant
account per service, each with its own key (as deploy/provision.sh lays them
out: one provider key per service, so that no service can sign a callback
for another's order):

    POST /checkout  {"orderId","amountPaise","merchantSignature","callbackUrl","outcome"}
        picks the merchant by callbackUrl (the webhook the merchant registered:
        /api/v1/property-tax/..., /api/v1/water-tax/..., /api/v1/certificates/...),
        checks that merchant's HMAC-SHA256 over "v1|order|<orderId>|<amountPaise>"
        (403 when it does not verify, 400 for an unknown merchant), "takes the
        money", and posts the callback {"orderId","providerRef","amountPaise",
        "status","signature"} signed with that merchant's key to callbackUrl;
        answers {"callbackStatus": <HTTP status>, "callbackBody": {...}}.

Used as

    provider = FakePaymentProvider(key_hex)   # one merchant: a one-service stack
    provider = FakePaymentProvider({"property_tax": k1, "water_tax": k2,
                                    "certificates": k3})   # the whole suite
    provider.url                              # http://127.0.0.1:<port>
    provider.url + "/pay"                     # its hosted page, as a browser sees it:
        GET /pay?orderId&amountPaise&merchantSignature&callbackUrl&returnUrl shows a
        form with a "Pay" button; POST /pay does what /checkout does, then sends the
        browser back to returnUrl (303)
    provider.sign_callback(order, ref, amount, status[, merchant])
    provider.stop()

Under `make run`, to pay through the portal on this machine:

    tests/system/fake_payment_provider.py var 7700 &     # each service's key from var/secrets
    NAGAR_WEB_PAYMENT_PAGE_URL=http://127.0.0.1:7700/pay make run
"""
import hashlib
import hmac
import html
import json
import os
import signal
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


# Which merchant (service) a webhook address belongs to.
MERCHANT_PATHS = {"/api/v1/property-tax/": "property_tax", "/api/v1/water-tax/": "water_tax",
                  "/api/v1/certificates/": "certificates"}


def hmac_hex(key, message):
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def merchant_of(callback_url):
    path = urllib.parse.urlsplit(callback_url).path
    return next((m for prefix, m in MERCHANT_PATHS.items() if path.startswith(prefix)), None)


class FakePaymentProvider:
    def __init__(self, keys, port=0):
        """keys: one key (hex) for a single merchant, or {merchant: key hex}."""
        if isinstance(keys, str):
            self.keys = {None: bytes.fromhex(keys)}
        else:
            self.keys = {m: bytes.fromhex(k) for m, k in keys.items()}
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
                    merchant = provider.merchant(body["callbackUrl"])
                except (ValueError, KeyError):
                    return self._answer(400, {"error": "malformed checkout"})
                if merchant not in provider.keys:
                    return self._answer(400, {"error": "no merchant has that callbackUrl"})
                expected = hmac_hex(provider.keys[merchant], f"v1|order|{order}|{amount}")
                if not hmac.compare_digest(expected, body.get("merchantSignature", "")):
                    return self._answer(403, {"error": "merchant signature does not verify"})
                status = body.get("outcome", "SUCCESS")
                ref = "FP" + uuid.uuid4().hex[:16]
                callback = {"orderId": order, "providerRef": ref, "amountPaise": str(amount),
                            "status": status,
                            "signature": provider.sign_callback(order, ref, amount, status,
                                                                merchant)}
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

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def merchant(self, callback_url):
        """The merchant a webhook address belongs to (None: the only one)."""
        return None if None in self.keys else merchant_of(callback_url)

    def sign_callback(self, order, ref, amount, status, merchant=None):
        """The callback's signature under the key of merchant (a service name;
        omitted when there is one merchant)."""
        return hmac_hex(self.keys[merchant], f"v1|callback|{order}|{ref}|{int(amount)}|{status}")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def main(argv):
    """fake_payment_provider.py [NAGAR_VAR [PORT]]: serves with each service's
    key from NAGAR_VAR/secrets/payment_provider/ until interrupted."""
    var = argv[1] if len(argv) > 1 else os.environ.get("NAGAR_VAR", "var")
    port = int(argv[2]) if len(argv) > 2 else 0
    keys = {}
    for merchant in MERCHANT_PATHS.values():
        with open(os.path.join(var, "secrets", "payment_provider", f"{merchant}.key")) as f:
            keys[merchant] = f.read().strip()
    provider = FakePaymentProvider(keys, port)
    print(f"test payment provider: {provider.url}/pay (merchants {', '.join(keys)})", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        provider.stop()


if __name__ == "__main__":
    # Blocked before the server's thread starts, so that sigwait receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main(sys.argv)
