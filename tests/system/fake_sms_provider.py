"""A stand-in for an Indian SMS provider's HTTP API, for system tests.

    provider = FakeSmsProvider()            # listens on 127.0.0.1:<free port>
    provider.url                            # http://127.0.0.1:port/v1/sms
    provider.mode = "ok" | "500" | "400" | "hang"
    provider.requests                       # every request received, in order:
                                            #   {"path", "headers", "body" (str), "json" (or None),
                                            #    "answered" (status, or "hang")}
    provider.accepted()                     # parsed JSON bodies of requests answered 2xx
    provider.close()

"ok" answers 200 {"id": "prov-<n>", "status": "accepted"}; "500" answers
HTTP 500; "400" answers HTTP 400 (a permanent rejection); "hang" reads the
request and then answers nothing until the client gives up or close() (at
most hang_limit_s seconds), as a provider stuck behind a dead load balancer
would. Every request is recorded before it is answered.
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from nagar_proc import free_port


class FakeSmsProvider:
    def __init__(self, hang_limit_s=30.0):
        self.mode = "ok"
        self.requests = []
        self.hang_limit_s = hang_limit_s
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/sms"
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):   # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                if length > 1 << 20:
                    self.send_error(413)
                    return
                raw = self.rfile.read(length)
                body = raw.decode("utf-8")
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                mode = provider.mode
                with provider._lock:
                    number = len(provider.requests) + 1
                    record = {"path": self.path, "headers": dict(self.headers), "body": body,
                              "json": parsed, "answered": mode if mode == "hang" else None}
                    provider.requests.append(record)
                if mode == "hang":
                    provider._release.wait(provider.hang_limit_s)
                    self.close_connection = True
                    return
                status = {"ok": 200, "500": 500, "400": 400}[mode]
                record["answered"] = status
                answer = (json.dumps({"id": f"prov-{number}", "status": "accepted"})
                          if status == 200 else json.dumps({"error": "provider says no"}))
                data = answer.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self):
        with self._lock:
            return [r["json"] for r in self.requests if r["answered"] == 200]

    def to(self, mobile):
        """Accepted requests addressed to mobile (the msisdn 91<mobile>)."""
        return [j for j in self.accepted() if j and j.get("to") == f"91{mobile}"]

    def close(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
