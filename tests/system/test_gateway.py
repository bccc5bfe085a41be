"""System tests of nagar-gateway over real HTTP on loopback.

Two groups: tests that need only a broker (the gateway decodes, checks
tokens and limits before anything reaches a service, and answers 503 fast
when a service has no worker), and tests with the identity service behind
it (every identity route, revocation, ULB scope, OTP brute force, request
id propagation, quarantine).
"""
import os
import socket
import subprocess
import threading
import time

import pytest
import requests

import contract
from gateway_fixtures import REFRESH
from mdp_packed import NagarClient
from mdp_peers import MdpWorker
from nagar_proc import wait_until
from node_tools import node_tools_dir

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def assert_error(r, status, code=None, field=None, message_has=None):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    body = r.json()
    err = body["error"]
    assert set(err) == {"code", "message", "field", "requestId"}, body
    assert err["requestId"] == r.headers["X-Request-Id"]
    if code:
        assert err["code"] == code, body
    if field is not None:
        assert err["field"] == field, body
    if message_has:
        assert message_has in err["message"], body
    return err


def raw_http(port, data, timeout=5.0):
    """Sends raw bytes, returns everything the server sent until it closed
    (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
    return b"".join(chunks)


@pytest.fixture
def gw(broker, gateway):  # noqa: F811
    """A gateway over a broker with no service workers."""
    return gateway(broker())


# ---- operations endpoints and headers ----------------------------------------

def test_healthz_headers_and_request_id(gw):
    r = gw.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value, name
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "Strict-Transport-Security" not in r.headers
    generated = r.headers["X-Request-Id"]
    assert 8 <= len(generated) <= 64
    assert gw.get("/healthz").headers["X-Request-Id"] != generated
    r = gw.get("/healthz", headers={"X-Request-Id": "client-chosen-id-42"})
    assert r.headers["X-Request-Id"] == "client-chosen-id-42"
    # Unsafe or too short/long ids are replaced, never echoed.
    for bad in ["short", "has space in it", "x" * 65, "semi;colon;id"]:
        got = gw.get("/healthz", headers={"X-Request-Id": bad}).headers["X-Request-Id"]
        assert got != bad and 8 <= len(got) <= 64


def test_hsts_when_configured(broker, gateway):  # noqa: F811
    g = gateway(broker(), NAGAR_GATEWAY_HSTS_SECONDS=31536000)
    r = g.get("/api/v1/nowhere")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_unknown_route_404_and_wrong_method_405(gw):
    err = assert_error(gw.get("/api/v1/nowhere"), 404, "NOT_FOUND")
    assert "/api/v1/nowhere" in err["message"]
    for name, value in SECURITY_HEADERS.items():
        assert gw.get("/api/v1/nowhere").headers[name] == value
    r = gw.request("DELETE", "/api/v1/ulbs")
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    r = gw.post("/healthz", {})
    assert_error(r, 405)
    # A trailing slash or extra segment is another path.
    assert_error(gw.get("/api/v1/ulbs/"), 404)
    assert_error(gw.get("/api/v1/ulbs/1/extra"), 404)


def test_readyz_names_missing_service_and_metrics(gw):
    def not_ready_named():
        r = gw.get("/readyz")
        body = r.json()
        return (r.status_code == 503 and body["broker"] == "reachable" and
                body["services"]["identity"] == "no worker" and body)
    body = wait_until(not_ready_named, 10, what="/readyz to name identity")
    assert body["broker"] == "reachable" and body["services"]["identity"] == "no worker"
    assert "identity" in body["message"]
    gw.get("/api/v1/nowhere")
    m = gw.get("/metrics")
    assert m.status_code == 200 and m.headers["Content-Type"].startswith("text/plain")
    text = m.text
    assert 'nagar_gateway_requests_total{route="unmatched",status="404"}' in text
    assert 'nagar_gateway_requests_total{route="healthz",status="200"}' in text
    assert "nagar_gateway_request_duration_seconds_bucket{" in text
    assert "nagar_gateway_in_flight_requests 1" in text     # this very request
    assert 'nagar_gateway_service_available{service="identity"} 0' in text


def test_readyz_broker_unreachable(broker, gateway):  # noqa: F811
    b = broker()
    g = gateway(b, NAGAR_GATEWAY_TIMEOUT_MS=30000)
    wait_until(lambda: g.get("/readyz").json()["broker"] == "reachable", 10,
               what="the gateway to reach the broker")
    b.stop()
    def unreachable():
        r = g.get("/readyz")
        return r.status_code == 503 and r.json()["broker"] == "unreachable"
    wait_until(unreachable, 10, what="/readyz to report the broker unreachable")
    # API calls fail at once instead of waiting out the 30 s deadline (the
    # client gives up at 10 s: a 503 at all is the proof, on a loaded machine too).
    assert_error(g.get("/api/v1/ulbs/123", timeout=10), 503, "UNAVAILABLE", message_has="broker")


# ---- OpenAPI -------------------------------------------------------------------

VALIDATE_JS = """
const SwaggerParser = require('@apidevtools/swagger-parser');
SwaggerParser.validate(process.argv[2]).then(api => {
  console.log('valid ' + api.info.title + ' ' + Object.keys(api.paths).length);
}).catch(err => { console.error(err.message); process.exit(1); });
"""


def test_openapi_document_validates(gw, tmp_path):
    r = gw.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.0")
    get_ulb = doc["paths"]["/api/v1/ulbs/{code}"]["get"]
    assert get_ulb["security"] == [] and get_ulb["parameters"][0]["in"] == "path"
    assert doc["paths"]["/api/v1/staff"]["get"]["security"] == [{"bearer": []}]
    schemas = doc["components"]["schemas"]
    ulb = schemas["nagar.identity.Ulb"]["properties"]
    assert ulb["districtCode"] == {"type": "string"}
    assert ulb["type"]["enum"][1] == "NAGAR_NIGAM"
    assert schemas["nagar.identity.AuditEntry"]["properties"]["id"]["type"] == "string"
    list_query = {p["name"] for p in doc["paths"]["/api/v1/ulbs"]["get"]["parameters"]}
    assert {"query", "type", "district", "pageSize", "pageToken"} <= list_query
    path = tmp_path / "openapi.json"
    path.write_text(r.text)
    tools = node_tools_dir()   # the locked test tools (tests/tools/package.json)
    script = tmp_path / "validate.js"
    script.write_text(VALIDATE_JS)
    env = dict(os.environ, NODE_PATH=os.path.join(tools, "node_modules"))
    result = subprocess.run(["node", str(script), str(path)], capture_output=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.decode().startswith("valid Nagar API")


# ---- decoding: malformed JSON, types, unknown fields, limits --------------------

def test_malformed_and_invalid_bodies_are_400_with_path(gw):
    path = "/api/v1/auth/otp"
    err = assert_error(gw.post(path, data=b'{"mobile": "98', headers={"Content-Type":
                       "application/json"}), 400, "MALFORMED_JSON", field="")
    assert "line 1" in err["message"]
    assert_error(gw.post(path, data=b'["not", "an", "object"]'), 400, "MALFORMED_JSON")
    assert_error(gw.post(path, data=b'{"mobile":"1","mobile":"2"}'), 400, "MALFORMED_JSON")
    assert_error(gw.post(path, {"mobile": 9876543210}), 400, "INVALID_ARGUMENT", field="mobile")
    assert_error(gw.post(path, {"mobile": "9876543210", "admin": True}), 400,
                 "INVALID_ARGUMENT", field="admin")
    err = assert_error(gw.post("/api/v1/ulbs", {"ulb": {"code": "1", "type": "VILLAGE"}},
                               token=None), 401)
    # Deep nesting is refused by the codec's depth limit, naming where.
    deep = {"ulb": {}}
    inner = deep["ulb"]
    for _ in range(20):
        inner["name"] = {}
        inner = inner["name"]
    assert_error(gw.post(path, deep), 400, "INVALID_ARGUMENT")
    # Thousands of levels: still a clean 400, never a crash.
    assert_error(gw.post(path, data=b"[" * 30000 + b"]" * 30000), 400)
    # A GET takes no body.
    assert_error(gw.request("GET", "/api/v1/ulbs", data=b'{"query":"x"}'), 400)


def test_query_and_path_parameters(gw):
    # Unknown query parameter: named.
    assert_error(gw.get("/api/v1/ulbs?colour=red"), 400, "INVALID_ARGUMENT", field="colour")
    # Wrong type in the query: named.
    assert_error(gw.get("/api/v1/ulbs?pageSize=lots"), 400, "INVALID_ARGUMENT", field="pageSize")
    assert_error(gw.get("/api/v1/ulbs?type=VILLAGE"), 400, "INVALID_ARGUMENT", field="type")
    # Given twice.
    assert_error(gw.get("/api/v1/ulbs?query=a&query=b"), 400, field="query")
    # Bad percent-encoding and control characters.
    for target in [b"/api/v1/ulbs?query=%zz", b"/api/v1/ulbs?query=a%00b",
                   b"/api/v1/ulbs?query=%4"]:
        got = raw_http(gw.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 400"), got
        assert b'"field":"query"' in got, got
    got = raw_http(gw.port, b"GET /api/v1/ulbs/ab%0acd HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 400"), got
    too_many = "&".join(f"p{i}=1" for i in range(40))
    assert_error(gw.get("/api/v1/ulbs?" + too_many), 400)


# ---- size limits and slow clients ---------------------------------------------

def test_body_too_large_413_and_url_too_long_414(broker, gateway):  # noqa: F811
    g = gateway(broker(), NAGAR_GATEWAY_MAX_BODY=1024)
    r = g.post("/api/v1/auth/otp", data=b'{"mobile":"' + b"9" * 2000 + b'"}')
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    r = g.get("/api/v1/ulbs?query=" + "a" * 2100)
    assert_error(r, 414, "URI_TOO_LONG")
    # Chunked upload past the limit: the connection is closed, nothing is served.
    body = b"".join(b"%x\r\n%s\r\n" % (500, b"x" * 500) for _ in range(4)) + b"0\r\n\r\n"
    got = raw_http(g.port, b"POST /api/v1/auth/otp HTTP/1.1\r\nHost: x\r\n"
                   b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" + body)
    assert not got.startswith(b"HTTP/1.1 200")
    # Huge headers are refused by the server's per-connection memory limit.
    r = g.get("/healthz", headers={"X-Big": "h" * 40000})
    assert r.status_code in (400, 413, 431), r.status_code
    assert g.get("/healthz").status_code == 200


def test_slow_loris_client_is_dropped(broker, gateway):  # noqa: F811
    g = gateway(broker(), NAGAR_GATEWAY_CONNECTION_TIMEOUT_S=2)
    # A header line every 2 s, polled every 0.5 s: all of them would take 15 s.
    closed = g.trickle_headers(
        [b"X-Slow-%d: y\r\n" % i if i % 4 == 0 else b"" for i in range(30)], 0.5)
    assert closed, "the slow client was not disconnected before its 15 s of trickling ended"
    # Meanwhile everyone else is served.
    assert g.get("/healthz").status_code == 200


def test_connection_limit_per_ip(broker, gateway):  # noqa: F811
    g = gateway(broker(), NAGAR_GATEWAY_MAX_CONNECTIONS_PER_IP=4)
    held = [socket.create_connection(("127.0.0.1", g.port), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        extra.settimeout(3)
        try:
            got = extra.recv(1024)
        except (ConnectionResetError, socket.timeout):
            got = b""
        extra.close()
        assert not got.startswith(b"HTTP/1.1 200"), got
    finally:
        for s in held:
            s.close()
    wait_until(lambda: g.get("/healthz").status_code == 200, 5, what="service after release")


# ---- CORS ----------------------------------------------------------------------

def test_cors_allowed_and_denied_origins(broker, gateway):  # noqa: F811
    g = gateway(broker(), NAGAR_GATEWAY_CORS_ORIGINS="https://nagar.example, https://app.example")
    r = g.get("/healthz", headers={"Origin": "https://app.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-Request-Id" in r.headers["Access-Control-Expose-Headers"]
    assert r.headers["Vary"] == "Origin"
    r = g.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    r = g.get("/healthz", headers={"Origin": "https://nagar.example.evil"})
    assert "Access-Control-Allow-Origin" not in r.headers
    pre = g.request("OPTIONS", "/api/v1/staff", headers={
        "Origin": "https://nagar.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, idempotency-key"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://nagar.example"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Idempotency-Key" in pre.headers["Access-Control-Allow-Headers"]
    denied = g.request("OPTIONS", "/api/v1/staff", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert_error(denied, 403, "CORS_ORIGIN_DENIED")
    assert "Access-Control-Allow-Origin" not in denied.headers
    assert_error(g.request("OPTIONS", "/api/v1/none", headers={
        "Origin": "https://nagar.example"}), 404)


# ---- tokens and roles -------------------------------------------------------------

def test_missing_malformed_forged_expired_tokens_are_401(gw, token_keys):  # noqa: F811
    path = "/api/v1/staff"
    r = gw.get(path)
    assert_error(r, 401, "UNAUTHENTICATED", message_has="Authorization")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert_error(gw.get(path, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}), 401)
    assert_error(gw.get(path, token="not-a-token"), 401)
    good = token_keys.mint(user_id="staff:1", role="STATE_ADMIN")
    assert_error(gw.get(path, token=token_keys.forge(user_id="staff:1", role="STATE_ADMIN")),
                 401, message_has="signature")
    # One changed character in the claims breaks the signature.
    head, claims, sig = good.rsplit(".", 2)
    tampered = f"{head}.{claims[:-2]}{'A' if claims[-2] != 'A' else 'B'}{claims[-1]}.{sig}"
    assert_error(gw.get(path, token=tampered), 401)
    expired = token_keys.mint(user_id="staff:1", role="STATE_ADMIN",
                              issued_at_ms=int(time.time() * 1000) - 120_000, ttl_ms=60_000)
    assert_error(gw.get(path, token=expired), 401, message_has="expired")
    # Issue 12: issued in the future, or not valid before a time to come (a
    # year-long token dated next year used to be accepted: only the lifetime
    # was checked).
    now_ms = int(time.time() * 1000)
    future = token_keys.mint(user_id="staff:1", role="STATE_ADMIN",
                             issued_at_ms=now_ms + 3_600_000, ttl_ms=600_000)
    assert_error(gw.get(path, token=future), 401, message_has="not valid yet")
    not_before = token_keys.mint(user_id="staff:1", role="STATE_ADMIN",
                                 not_before_ms=now_ms + 600_000, ttl_ms=900_000)
    assert_error(gw.get(path, token=not_before), 401, message_has="not valid yet")
    refresh = token_keys.mint(user_id="staff:1", role="STATE_ADMIN", token_type=REFRESH)
    assert_error(gw.get(path, token=refresh), 401, message_has="refresh")
    too_long = token_keys.mint(user_id="staff:1", role="STATE_ADMIN", ttl_ms=30 * 86400_000)
    assert_error(gw.get(path, token=too_long), 401, message_has="lifetime")
    assert_error(gw.get(path, token="v1.zz." + claims + "." + sig), 401)
    # With a valid token the request gets past authentication (and, with no
    # identity worker, fails on availability).
    assert_error(gw.get(path, token=good), 503)


def test_wrong_role_is_403(gw, token_keys):  # noqa: F811
    citizen = token_keys.mint(user_id="citizen:1", role="CITIZEN")
    clerk = token_keys.mint(user_id="staff:2", role="CLERK", ulb="800001")
    err = assert_error(gw.get("/api/v1/staff", token=citizen), 403, "PERMISSION_DENIED")
    assert "STATE_ADMIN" in err["message"] and "COMMISSIONER" in err["message"]
    assert_error(gw.post("/api/v1/ulbs", {"ulb": {"code": "9"}}, token=clerk), 403)
    assert_error(gw.put("/api/v1/staff/x/role", {"role": "CLERK"}, token=clerk), 403)
    # Logout admits any logged-in role, but not anonymous.
    assert_error(gw.post("/api/v1/auth/logout", {"refreshToken": "x"}), 401)
    assert_error(gw.post("/api/v1/auth/logout", {"refreshToken": "x"}, token=citizen), 503)


def test_idempotency_key_is_validated(gw, token_keys):  # noqa: F811
    admin = token_keys.mint(user_id="staff:1", role="STATE_ADMIN")
    assert_error(gw.post("/api/v1/staff", {"username": "abc"}, token=admin,
                         headers={"Idempotency-Key": "has space"}), 400,
                 field="Idempotency-Key")
    assert_error(gw.post("/api/v1/staff", {"username": "abc"}, token=admin,
                         headers={"Idempotency-Key": "k" * 200}), 400, field="Idempotency-Key")
    # The rule is common/idempotency_key.h's, the one every service applies.
    r = assert_error(gw.post("/api/v1/staff", {"username": "abc"}, token=admin,
                             headers={"Idempotency-Key": "tab\tkey"}), 400,
                     field="Idempotency-Key")
    assert "printable ASCII characters without spaces" in r["message"], r


# ---- rate limits ---------------------------------------------------------------------

def test_rate_limit_per_ip_429_with_retry_after(broker, gateway):  # noqa: F811
    g = gateway(broker(), NAGAR_GATEWAY_RATE_PER_IP=2, NAGAR_GATEWAY_BURST_PER_IP=5)
    statuses = [g.get("/api/v1/ulbs/1").status_code for _ in range(12)]
    assert statuses[:5] == [503] * 5, statuses      # no identity worker: fast 503
    assert 429 in statuses[5:], statuses
    r = g.get("/api/v1/ulbs/1")
    err = assert_error(r, 429, "RESOURCE_EXHAUSTED")
    assert int(r.headers["Retry-After"]) >= 1
    assert "retry after" in err["message"]
    # Operations endpoints are not rate limited.
    assert g.get("/healthz").status_code == 200
    time.sleep(1.1)
    assert g.get("/api/v1/ulbs/1").status_code == 503


def test_rate_limit_per_user(broker, gateway, token_keys):  # noqa: F811
    g = gateway(broker(), NAGAR_GATEWAY_RATE_PER_USER=1, NAGAR_GATEWAY_BURST_PER_USER=3)
    alice = token_keys.mint(user_id="staff:alice", role="STATE_ADMIN")
    bob = token_keys.mint(user_id="staff:bob", role="STATE_ADMIN")
    statuses = [g.get("/api/v1/staff", token=alice).status_code for _ in range(6)]
    assert statuses[:3] == [503] * 3 and statuses[3:] == [429] * 3, statuses
    assert g.get("/api/v1/staff", token=bob).status_code == 503


# ---- absent service: fast 503 --------------------------------------------------------

def test_absent_service_is_503_fast(broker, gateway):  # noqa: F811
    # With a 30 s deadline, a client that gives up at 10 s gets its 503 only
    # if the gateway answers at once, without waiting for a worker to appear.
    g = gateway(broker(), NAGAR_GATEWAY_TIMEOUT_MS=30000)
    for _ in range(5):
        r = g.get("/api/v1/ulbs/800001", timeout=10)
        assert_error(r, 503, "UNAVAILABLE", message_has="identity")
        assert r.headers["Retry-After"] == "1"
    assert g.get("/healthz").status_code == 200


# ---- a service that never answers: deadlines and shutdown -------------------------

@pytest.fixture
def hung_identity_gateway(broker, gateway, keys):  # noqa: F811
    """hung_identity_gateway(*timeouts_ms): one gateway per request timeout,
    on one broker whose identity is an RFC 7 worker that takes requests and
    never answers (a hung service), once each gateway has seen it."""
    workers = []

    def start(*timeouts_ms):
        b = broker()
        gateways = [gateway(b, NAGAR_GATEWAY_TIMEOUT_MS=ms) for ms in timeouts_ms]
        w = MdpWorker(b.endpoint, "identity", (keys.secret("identity"), keys.broker_pub))
        w.connect()
        workers.append(w)
        for g in gateways:
            wait_until(lambda: g.get("/readyz").json()["services"]["identity"] == "ok", 10,
                       what="the silent worker to be seen")
        return gateways
    yield start
    for w in workers:
        w.close()


def test_hung_service_gives_504_at_the_deadline(hung_identity_gateway):
    # The second gateway's 20 s deadline keeps twenty requests suspended below.
    g, g2 = hung_identity_gateway(600, 20000)
    started = time.monotonic()
    r = g.get("/api/v1/ulbs/250946", timeout=10)
    elapsed = time.monotonic() - started
    assert_error(r, 504, "DEADLINE_EXCEEDED", message_has="identity")
    assert elapsed >= 0.6, f"answered before its 0.6 s deadline, after {elapsed:.2f} s"
    # Waiting requests hold no thread: with twenty suspended (a deadline of
    # 20 s keeps them so), the gateway still answers others.
    results = []
    threads = [threading.Thread(target=lambda: results.append(g2.get("/api/v1/ulbs/1", timeout=40).status_code))
               for _ in range(20)]
    for t in threads:
        t.start()
    wait_until(lambda: "nagar_gateway_suspended_connections 20" in g2.get("/metrics").text, 15,
               what="twenty suspended requests")
    assert g2.get("/healthz", timeout=10).status_code == 200
    assert "nagar_gateway_suspended_connections 20" in g2.get("/metrics").text
    for t in threads:
        t.join(40)
    assert results == [504] * 20, results


def test_shutdown_answers_suspended_requests(hung_identity_gateway):
    [g] = hung_identity_gateway(30000)
    results = []

    def call():
        try:
            results.append(g.get("/api/v1/ulbs/250946", timeout=15))
        except requests.RequestException as e:
            results.append(e)
    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: "nagar_gateway_suspended_connections 3" in g.get("/metrics").text, 5,
               what="three suspended requests")
    # Stopping within 10 s (a third of the requests' 30 s deadline) and
    # exiting 0: the suspended requests were answered, not waited out.
    assert g.proc.stop(timeout=10) == 0
    for t in threads:
        t.join(10)
    assert [getattr(r, "status_code", r) for r in results] == [503] * 3, results
    assert "shutting down" in results[0].json()["error"]["message"]
    assert "Sanitizer" not in g.proc.log_text()


# ---- with the identity service behind the gateway ----------------------------------

ULB_A, ULB_B = "250946", "250901"       # Bhopal and Indore (LGD codes)


class Stack:
    def __init__(self, broker, identity, gateway):
        self.broker, self.identity, self.gateway = broker, identity, gateway
        self.counter = 0

    def key(self):
        self.counter += 1
        return {"Idempotency-Key": f"test-{time.time_ns()}-{self.counter}"}

    def admin_token(self):
        return self.gateway.login_staff(self.identity.admin_username,
                                        self.identity.admin_password)["accessToken"]

    def create_staff(self, admin, role, ulb, username=None, password="correct horse battery"):
        username = username or f"u{time.time_ns() % 10**12}"
        r = self.gateway.post("/api/v1/staff", {"username": username, "fullName": "Test Person",
                                                "role": role, "ulb": ulb, "password": password},
                              token=admin, headers=self.key())
        assert r.status_code == 200, r.text
        return r.json(), username, password


@pytest.fixture
def stack(broker, identity, gateway):  # noqa: F811
    b = broker()
    ident = identity(b, NAGAR_IDENTITY_OTP_RESEND_S=0, NAGAR_IDENTITY_OTP_PER_IP=100000)
    g = gateway(b, identity=ident, NAGAR_GATEWAY_RATE_PER_IP=1000,
                NAGAR_GATEWAY_BURST_PER_IP=1000, NAGAR_GATEWAY_RATE_PER_USER=1000,
                NAGAR_GATEWAY_BURST_PER_USER=1000)
    g.wait_ready(services=["identity"])
    return Stack(b, ident, g)


def test_public_ulb_routes(stack):
    g = stack.gateway
    r = g.get(f"/api/v1/ulbs/{ULB_A}")
    assert r.status_code == 200, r.text
    ulb = r.json()
    assert ulb["code"] == ULB_A and ulb["name"] and ulb["districtName"]
    assert ulb["type"] in ("NAGAR_NIGAM", "NAGAR_PALIKA_PARISHAD", "NAGAR_PARISHAD")
    r = g.get("/api/v1/ulbs?type=NAGAR_NIGAM&pageSize=50")
    assert r.status_code == 200, r.text
    listed = r.json()
    assert listed["ulbs"] and all(u["type"] == "NAGAR_NIGAM" for u in listed["ulbs"])
    r = g.get("/api/v1/ulbs?pageSize=2")
    assert len(r.json()["ulbs"]) == 2 and r.json()["nextPageToken"]
    nxt = g.get("/api/v1/ulbs", params={"pageSize": 2, "pageToken": r.json()["nextPageToken"]})
    assert nxt.status_code == 200 and nxt.json()["ulbs"][0] != r.json()["ulbs"][0]
    assert_error(g.get("/api/v1/ulbs/999999999"), 404, "NOT_FOUND")
    # A rule the service enforces comes back as 422 naming the field.
    assert_error(g.get("/api/v1/ulbs?pageSize=100000"), 422, "INVALID_ARGUMENT", field="pageSize")


def test_request_id_reaches_the_service_log(stack):
    g = stack.gateway
    r = g.post("/api/v1/auth/otp", {"mobile": "9876500011"},
               headers={"X-Request-Id": "trace-gw-0123456789"})
    assert r.status_code == 200 and r.headers["X-Request-Id"] == "trace-gw-0123456789", r.text
    sent = stack.identity.proc.wait_event("identity.otp_sent")
    assert any(l.get("request_id") == "trace-gw-0123456789" for l in sent), sent
    # The gateway writes its access line when the response is done, which
    # may be a moment after the client has it.
    wait_until(lambda: any(l.get("request_id") == "trace-gw-0123456789" and l.get("event") ==
                           "gateway.request" for l in g.proc.log_lines()), 5,
               what="the gateway to log the request under its id")
    # A generated id travels the same way.
    r = g.post("/api/v1/auth/otp", {"mobile": "9876500012"})
    assert r.status_code == 200, r.text
    generated = r.headers["X-Request-Id"]
    wait_until(lambda: any(l.get("request_id") == generated and l.get("event") ==
                           "identity.otp_sent" for l in stack.identity.proc.log_lines()), 5,
               what="identity to log the generated request id")
    # The service's own validation error carries the id in the body as well.
    err = assert_error(g.post("/api/v1/auth/otp", {"mobile": "12345"}), 422,
                       "INVALID_ARGUMENT", field="mobile")
    assert len(err["requestId"]) >= 8
    # Issue 12: the access line names the verified user and role ("" when
    # anonymous), whatever the request did.
    admin = g.login_staff(stack.identity.admin_username, stack.identity.admin_password)
    r = g.get("/api/v1/staff", token=admin["accessToken"],
              headers={"X-Request-Id": "trace-gw-who-0001"})
    assert r.status_code == 200, r.text

    def access_line(request_id):
        lines = [l for l in g.proc.log_lines()
                 if l.get("request_id") == request_id and l.get("event") == "gateway.request"]
        return lines[0] if lines else None
    line = wait_until(lambda: access_line("trace-gw-who-0001"), 5, what="the access line")
    assert line["user_id"] == admin["userId"] and line["role"] == "STATE_ADMIN", line
    anonymous = access_line("trace-gw-0123456789")
    assert anonymous["user_id"] == "" and anonymous["role"] == "", anonymous


def test_staff_administration_flow(stack):
    g = stack.gateway
    pair = g.login_staff(stack.identity.admin_username, stack.identity.admin_password)
    admin = pair["accessToken"]
    assert pair["role"] == "STATE_ADMIN"
    account, username, password = stack.create_staff(admin, "CLERK", ULB_A)
    assert account["role"] == "CLERK" and account["ulb"] == ULB_A and "password" not in account
    # The same Idempotency-Key returns the first result.
    key = stack.key()
    body = {"username": "idem" + username, "fullName": "Idem Person", "role": "CLERK",
            "ulb": ULB_A, "password": "correct horse battery"}
    first = g.post("/api/v1/staff", body, token=admin, headers=key)
    again = g.post("/api/v1/staff", body, token=admin, headers=key)
    assert first.status_code == again.status_code == 200
    assert dict(first.json(), replayed=True) == again.json(), "a replay is the first answer, marked"
    assert again.headers["Idempotent-Replayed"] == "true"
    conflict = g.post("/api/v1/staff", dict(body, fullName="Other"), token=admin, headers=key)
    assert_error(conflict, 409, "CONFLICT")
    # Service-side validation: 422 with the field.
    assert_error(g.post("/api/v1/staff", dict(body, username="x", password="short"),
                        token=admin, headers=stack.key()), 422, field="username")
    listed = g.get(f"/api/v1/staff?ulb={ULB_A}", token=admin)
    assert listed.status_code == 200 and any(s["username"] == username
                                             for s in listed.json()["staff"])
    r = g.put(f"/api/v1/staff/{account['userId']}/role", {"role": "REGISTRAR", "ulb": ULB_A},
              token=admin, headers=stack.key())
    assert r.status_code == 200 and r.json()["role"] == "REGISTRAR", r.text
    clerk = g.login_staff(username, password)
    assert clerk["role"] == "REGISTRAR" and clerk["ulb"] == ULB_A
    # The registrar may not administer staff (the gateway's role check).
    assert_error(g.get("/api/v1/staff", token=clerk["accessToken"]), 403)
    r = g.post(f"/api/v1/staff/{account['userId']}/disable", {"reason": "left"}, token=admin,
               headers=stack.key())
    assert r.status_code == 200 and r.json()["disabled"] is True, r.text
    # Disabling revokes the user's sessions; the gateway learns it by polling.
    def refused():
        return g.get("/api/v1/auth/logout", token=clerk["accessToken"]).status_code == 405 and \
            g.post("/api/v1/auth/logout", {"refreshToken": clerk["refreshToken"]},
                   token=clerk["accessToken"]).status_code == 401
    wait_until(refused, 5, interval=0.1, what="the disabled user's token to be refused")
    audit = g.get(f"/api/v1/audit?subject={account['userId']}", token=admin)
    assert audit.status_code == 200, audit.text
    actions = {e["action"] for e in audit.json()["entries"]}
    assert {"staff.create", "staff.set_role", "staff.disable"} <= actions, actions
    # ULB master data: only a state admin may add one.
    code = str(990000 + time.time_ns() % 9999)
    r = g.post("/api/v1/ulbs", {"ulb": {"code": code, "name": "Test Nagar", "type":
               "NAGAR_PARISHAD", "districtCode": "396", "districtName": "BHOPAL"}},
               token=admin, headers=stack.key())
    assert r.status_code == 200, r.text
    assert g.get(f"/api/v1/ulbs/{code}").json()["name"] == "Test Nagar"


def test_wrong_ulb_is_403_from_identity(stack):
    g = stack.gateway
    admin = stack.admin_token()
    _, username, password = stack.create_staff(admin, "COMMISSIONER", ULB_A)
    commissioner = g.login_staff(username, password)["accessToken"]
    assert g.get(f"/api/v1/staff?ulb={ULB_A}", token=commissioner).status_code == 200
    err = assert_error(g.get(f"/api/v1/staff?ulb={ULB_B}", token=commissioner), 403,
                       "PERMISSION_DENIED")
    assert err["field"] in ("ulb", "")
    assert_error(g.post("/api/v1/staff", {"username": "crossulb" + username, "fullName": "X",
                                          "role": "CLERK", "ulb": ULB_B,
                                          "password": "correct horse battery"},
                        token=commissioner, headers=stack.key()), 403)


def test_citizen_login_refresh_logout_revokes(stack):
    g = stack.gateway
    pair = g.login_citizen("9876500001")
    assert pair["role"] == "CITIZEN" and pair["accessToken"] and pair["refreshToken"]
    access = pair["accessToken"]
    # A citizen is logged in but may not administer staff.
    assert_error(g.get("/api/v1/staff", token=access), 403)
    r = g.post("/api/v1/auth/refresh", {"refreshToken": pair["refreshToken"]})
    assert r.status_code == 200, r.text
    fresh = r.json()
    r = g.post("/api/v1/auth/logout", {"refreshToken": fresh["refreshToken"]},
               token=fresh["accessToken"], headers=stack.key())
    assert r.status_code == 200 and r.json() == {}, r.text
    # The logged-out access token is refused once the revocation is polled.
    def revoked():
        r = g.post("/api/v1/auth/logout", {"refreshToken": fresh["refreshToken"]},
                   token=fresh["accessToken"])
        return r.status_code == 401 and "session has ended" in r.json()["error"]["message"]
    wait_until(revoked, 5, interval=0.1, what="the logged-out token to be refused")
    assert g.proc.events("gateway.revocations_applied")
    # An access token is no refresh token.
    assert_error(g.post("/api/v1/auth/refresh", {"refreshToken": access}), 401)


def test_otp_brute_force_kills_the_code(stack):
    g = stack.gateway
    mobile = "9876500002"
    assert g.post("/api/v1/auth/otp", {"mobile": mobile}).status_code == 200
    otp = stack.identity.read_otp(mobile)
    wrong = "000000" if otp != "000000" else "111111"
    for _ in range(3):
        r = g.post("/api/v1/auth/otp/verify", {"mobile": mobile, "otp": wrong})
        assert r.status_code in (401, 422), r.text
    r = g.post("/api/v1/auth/otp/verify", {"mobile": mobile, "otp": otp})
    assert r.status_code in (401, 422, 429), f"the right code still worked after 3 wrong: {r.text}"
    assert "accessToken" not in r.text


def admin_call(broker, keys, method, request_type, fields):  # noqa: F811
    client = NagarClient(broker.endpoint, (keys.secret("operator"), keys.broker_pub))
    try:
        request = contract.encode("nagar.Request", {
            "method": method, "context": {"requestId": f"op-{method}-{time.time_ns()}"},
            "payload": contract.encode(f"nagar.admin.{request_type}", fields)})
        client.send("nagar.admin", request)
        got = client.recv(5000)
        assert got is not None, f"no answer from nagar.admin {method}"
        return got
    finally:
        client.sock.close()


def test_quarantined_service_is_503_fast_while_gateway_serves(stack, keys):  # noqa: F811
    g = stack.gateway
    assert g.get(f"/api/v1/ulbs/{ULB_A}").status_code == 200
    admin_call(stack.broker, keys, "quarantine", "QuarantineRequest",
               {"service": "identity", "reason": "gateway test"})
    stack.broker.proc.wait_event("admin.quarantine")
    # Answered at once, not at the 5 s deadline: a client giving up at 2.5 s
    # still gets every 503.
    for _ in range(10):
        r = g.get(f"/api/v1/ulbs/{ULB_A}", timeout=2.5)
        err = assert_error(r, 503, "UNAVAILABLE", message_has="identity")
    assert "quarantine" in err["message"], err
    # The gateway itself keeps answering, and readiness names the service.
    assert g.get("/healthz").status_code == 200
    assert g.get("/api/v1/openapi.json").status_code == 200
    wait_until(lambda: "identity" in g.get("/readyz").json()["missing"], 5,
               what="/readyz to name the quarantined service")
    admin_call(stack.broker, keys, "release", "ReleaseRequest", {"service": "identity"})
    wait_until(lambda: g.get(f"/api/v1/ulbs/{ULB_A}").status_code == 200, 20, interval=0.2,
               what="identity to serve again after release")


def test_notifications_routes_for_staff(stack, notifications):
    """Staff read delivery status and templates through the gateway; a
    citizen may not read other people's messages."""
    notifications(stack.broker)
    g = stack.gateway
    admin = stack.admin_token()
    wait_until(lambda: g.get("/api/v1/notifications/templates", token=admin).status_code == 200,
               20, interval=0.2, what="notifications to answer through the gateway")
    r = g.get("/api/v1/notifications/templates", token=admin,
              params={"type": "payment.received"})
    assert r.status_code == 200, r.text
    templates = r.json()["templates"]
    assert {t["language"] for t in templates} == {"hi", "en"}, templates
    r = g.get("/api/v1/notifications/messages", token=admin, params={"pageSize": 5})
    assert r.status_code == 200, r.text
    assert set(r.json()) <= {"messages", "nextPageToken"}
    citizen = g.login_citizen("98" + str(time.time_ns() % 10**8).zfill(8))["accessToken"]
    assert_error(g.get("/api/v1/notifications/messages", token=citizen), 403)
    assert_error(g.get("/api/v1/notifications/messages", token=admin,
                       params={"pageSize": 5, "colour": "red"}), 400)


def test_idle_gateway_keeps_serving(gw):
    # The gateway's loop wakes at least once a second with nothing to do;
    # idle across several of those, it must still answer.
    time.sleep(2.5)
    r = gw.get("/healthz")
    assert r.status_code == 200, r.text
