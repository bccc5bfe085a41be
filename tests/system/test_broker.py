"""System tests of nagar-broker with raw pyzmq peers (tests/system/mdp_peers.py).

Each test starts its own broker on a free port (bus_fixtures.broker) and
talks to it with a Python MDP/0.1 client and worker that know nothing of
libnagar. Two kinds of client: MdpClient speaks plain RFC 7 and gets RFC 7
behaviour (a request waits for a worker until its deadline; what cannot be
served is dropped, never answered with a body it cannot read); NagarClient
(tests/system/mdp_packed.py) sends its requests packed, which negotiates the
libnagar extension, and gets the broker's typed errors at once. Every
receive has a timeout; a broker that does not answer makes a test fail,
never hang.
"""
import json
import os
import threading
import time

import pytest
import zmq.auth

import contract
from mdp_packed import NagarClient
from mdp_peers import DISCONNECT, READY, MdpClient, MdpWorker, _dealer

# nagar.StatusCode
OK, PERMISSION_DENIED, UNAVAILABLE, DEADLINE_EXCEEDED = 0, 5, 6, 7
INVALID_ARGUMENT, FAILED_PRECONDITION, RESOURCE_EXHAUSTED = 1, 4, 10


# ---- the contract (proto/envelope.proto, proto/admin.proto) -------------------

def make_request(method="echo", payload=b"", request_id="", deadline_unix_ms=0):
    return contract.encode("nagar.Request", {
        "method": method, "payload": payload,
        "context": {"requestId": request_id, "deadlineUnixMs": deadline_unix_ms}})


def make_reply(request_id, code=0, message=""):
    return contract.encode("nagar.Reply", {"requestId": request_id,
                                           "status": {"code": code, "message": message}})


def request_context(body):
    """The RequestContext of a worker's request body."""
    return contract.decode("nagar.Request", body)["context"] or \
        contract.decode("nagar.RequestContext", b"")


def parse_reply(data):
    reply = contract.decode("nagar.Reply", data)
    status = reply["status"] or contract.decode("nagar.Status", b"")
    return {"request_id": reply["requestId"], "code": status["code"],
            "message": status["message"], "field": status["field"],
            "payload": reply["payload"]}


def quarantine_of(service, reason=""):
    return contract.encode("nagar.admin.QuarantineRequest", {"service": service, "reason": reason})


def release_of(service):
    return contract.encode("nagar.admin.ReleaseRequest", {"service": service})


def revoke_of(principal="", public_key=""):
    return contract.encode("nagar.admin.RevokeRequest", {"principal": principal,
                                                        "publicKey": public_key})


def admin_detail(reply):
    return contract.decode("nagar.admin.AdminReply", reply["payload"])["detail"]


def parse_stats(payload):
    reply = contract.decode("nagar.admin.StatsReply", payload)
    services = {s["name"]: {"workers": s["workers"], "idle": s["idleWorkers"],
                            "queued": s["queued"], "served": s["served"],
                            "errors": s["errors"], "quarantined": s["quarantined"],
                            "reason": s["quarantineReason"]}
                for s in reply["services"]}
    return {"services": services, "revoked_keys": reply["revokedKeys"],
            "denied": reply["denied"]}


# ---- helpers ----------------------------------------------------------------

def curve(keys, principal):
    return (keys.secret(principal), keys.broker_pub)


def public_key(keys, principal):
    return zmq.auth.load_certificate(keys.public(principal))[0].decode()


def call(client, service, method="echo", payload=b"", timeout_ms=3000, **context):
    client.send(service, make_request(method, payload, **context))
    got = client.recv(timeout_ms)
    assert got is not None, f"no reply from the broker for {service} within {timeout_ms} ms"
    reply_service, body = got
    assert reply_service == service.encode()
    assert len(body) == 1
    return parse_reply(body[0])


def admin(client, method, payload=b""):
    reply = call(client, "nagar.admin", method, payload, request_id=f"admin-{method}")
    assert reply["request_id"] == f"admin-{method}"
    return reply


def stats(operator):
    reply = admin(operator, "stats")
    assert reply["code"] == OK, reply
    return parse_stats(reply["payload"])


def echo_handler(body):
    return body


def held_until(worker, release, entered=None):
    """A handler for worker.serve_in_thread that holds each request until
    release is set (or the worker stops), heartbeating meanwhile as a slow but
    healthy worker does, then answers OK; entered is set when one is held."""
    def handler(body):
        if entered is not None:
            entered.set()
        while not release.is_set() and not worker.stopping.is_set():
            if time.monotonic() - worker.last_sent >= worker.heartbeat_ms / 1000.0:
                worker.heartbeat()
            release.wait(0.01)
        return [make_reply_ok()]
    return handler


def assert_clean_stop(running):
    code = running.stop()
    text = running.proc.log_text()
    assert "AddressSanitizer" not in text and "runtime error" not in text, text[-4000:]
    assert code == 0, f"broker exited with {code}:\n{text[-4000:]}"
    assert running.proc.events("broker.stopped")


def wait_for(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def ready_worker(running, keys, peers, principal, service, **kwargs):
    worker = peers(MdpWorker(running.endpoint, service,
                             None if running.insecure else curve(keys, principal), **kwargs))
    return worker


def mmi(client, service, timeout_ms=3000):
    client.send("mmi.service", service)
    got = client.recv(timeout_ms)
    assert got is not None, "no MMI reply"
    assert got[0] == b"mmi.service"
    return got[1][0]


def wait_served(client, service):
    wait_for(lambda: mmi(client, service) == b"200", what=f"{service} to have a worker")


# ---- RFC 7 / RFC 8 interoperability -------------------------------------------

def test_rfc7_client_and_worker_interoperate_with_security_off(broker, keys, peers):
    running = broker(NAGAR_BROKER_INSECURE=1, NAGAR_BROKER_REQUEST_TIMEOUT_MS=30000)
    assert running.proc.events("broker.insecure"), "no loud warning about security being off"
    seen = []

    def handler(body):
        seen.append(body)
        return [b"echo:" + frame for frame in body]

    worker = ready_worker(running, keys, peers, None, "echo").serve_in_thread(handler)
    client = peers(MdpClient(running.endpoint))
    wait_served(client, b"echo")
    assert mmi(client, b"nothing_here") == b"404"
    client.send("mmi.unknown", b"x")
    got = client.recv(3000)
    assert got == (b"mmi.unknown", [b"501"])

    client.send("echo", b"hello", b"world")
    got = client.recv(3000)
    assert got == (b"echo", [b"echo:hello", b"echo:world"])
    # Security off: the worker gets the body exactly, no principal frame.
    assert seen == [[b"hello", b"world"]]

    # No worker at all: an RFC 7 client's request waits in the queue (and is
    # dropped at its deadline); a libnagar client is told at once.
    client.send("nobody", make_request(request_id="r-wait"))
    assert client.recv(500) is None, "an RFC 7 client got an answer it cannot read"
    typed = peers(NagarClient(running.endpoint))
    # At once: queued, it would wait 30 s (the broker's default deadline);
    # the client gives up at 10 s.
    reply = call(typed, "nobody", request_id="r-none", timeout_ms=10000)
    assert reply["code"] == UNAVAILABLE and "no workers" in reply["message"]
    assert reply["request_id"] == "r-none"
    worker.stop()
    assert_clean_stop(running)


def test_load_is_spread_over_idle_workers(broker, keys, peers):
    running = broker(NAGAR_BROKER_INSECURE=1)
    names = []
    for i in range(3):
        name = f"w{i}".encode()
        ready_worker(running, keys, peers, None, "echo").serve_in_thread(
            lambda body, name=name: [name])
        names.append(name)
    client = peers(MdpClient(running.endpoint))
    wait_served(client, b"echo")
    time.sleep(0.2)  # all three READY
    answered = []
    for _ in range(9):
        client.send("echo", b"x")
        got = client.recv(3000)
        assert got is not None
        answered.append(got[1][0])
    assert sorted(answered) == sorted(names * 3), answered


# ---- CURVE and the ACL -----------------------------------------------------------

def test_key_may_not_serve_another_service(broker, keys, peers):
    running = broker()
    worker = ready_worker(running, keys, peers, "water_tax", "certificates")
    worker.connect()
    got = worker.recv(3000)
    assert got is not None and got[0] == DISCONNECT, f"expected DISCONNECT, got {got!r}"
    denied = running.proc.wait_event("acl.serve_denied")
    assert denied[0]["principal"] == "water_tax" and denied[0]["service"] == "certificates"

    # The same key may serve its own service.
    own = ready_worker(running, keys, peers, "water_tax", "water_tax").serve_in_thread(echo_handler)
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    wait_served(operator, b"water_tax")
    assert mmi(operator, b"certificates") == b"404"
    own.stop()
    assert_clean_stop(running)


def test_service_key_cannot_call_admin(broker, keys, peers):
    running = broker()
    client = peers(NagarClient(running.endpoint, curve(keys, "certificates")))
    reply = call(client, "nagar.admin", "stats", request_id="steal-stats")
    assert reply["code"] == PERMISSION_DENIED, reply
    assert reply["request_id"] == "steal-stats"
    denied = running.proc.wait_event("acl.call_denied")
    assert denied[0]["principal"] == "certificates" and denied[0]["service"] == "nagar.admin"
    # "*" does not include nagar.admin either.
    gateway = peers(NagarClient(running.endpoint, curve(keys, "gateway")))
    assert call(gateway, "nagar.admin", "stats")["code"] == PERMISSION_DENIED
    # The operator may.
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    assert stats(operator)["denied"] >= 2
    assert admin(operator, "dance")["code"] == INVALID_ARGUMENT


def test_unknown_key_cannot_connect(broker, keys, peers):
    running = broker()
    intruder = peers(MdpClient(running.endpoint,
                               (keys.intruder_secret, keys.broker_pub)))
    intruder.send("mmi.service", b"echo")
    assert intruder.recv(1500) is None, "a key that is not in the store got an answer"
    running.proc.wait_event("bus.auth_failed")
    worker = ready_worker(running, keys, peers, None, "echo")
    worker.curve = (keys.intruder_secret, keys.broker_pub)
    worker.connect()
    assert worker.recv(1000) is None
    assert not running.proc.events("broker.worker_ready")
    assert_clean_stop(running)


def test_caller_may_not_call_service_outside_its_list(broker, keys, peers):
    running = broker()
    seen = []

    def handler(body):
        seen.append(body)
        return [make_reply_ok()]

    ready_worker(running, keys, peers, "echo", "echo").serve_in_thread(handler)
    ready_worker(running, keys, peers, "water_tax", "water_tax").serve_in_thread(echo_handler)
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    wait_served(client, b"water_tax")
    reply = call(client, "water_tax", request_id="r1")
    assert reply["code"] == PERMISSION_DENIED and reply["request_id"] == "r1", reply
    denied = running.proc.wait_event("acl.call_denied")
    assert denied[0]["principal"] == "client" and denied[0]["service"] == "water_tax"

    # Its own service works, and the worker learns who called.
    wait_served(client, b"echo")
    assert call(client, "echo", request_id="r2")["code"] == OK
    assert len(seen) == 1 and seen[0][-1] == b"client", seen
    assert seen[0][0] == make_request("echo", request_id="r2")


def make_reply_ok():
    return make_reply("x", OK)


def reply_ok_to(body):
    """An OK nagar.Reply to the nagar.Request in body[0], with its request id."""
    return [make_reply(request_context(body[0])["requestId"], OK)]


# ---- admin: quarantine, release, revoke, persistence ------------------------------

def test_quarantine_and_release(broker, keys, peers):
    running = broker(NAGAR_BROKER_REQUEST_TIMEOUT_MS=30000)
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    worker = ready_worker(running, keys, peers, "echo", "echo")
    worker.connect()
    wait_served(client, b"echo")

    reply = admin(operator, "quarantine", quarantine_of("echo", "suspected compromise"))
    assert reply["code"] == OK, reply
    got = worker.recv_request(2000)
    assert got == "disconnect", got
    logged = running.proc.wait_event("admin.quarantine")
    assert logged[0]["operator"] == "operator" and logged[0]["target"] == "echo"

    # At once, not at the 30 s default deadline (the client gives up at 10 s).
    reply = call(client, "echo", request_id="q1", timeout_ms=10000)
    assert reply["code"] == UNAVAILABLE and "quarantined" in reply["message"], reply

    # Its key is cut off at the door: a new READY gets DISCONNECT.
    again = ready_worker(running, keys, peers, "echo", "echo")
    again.connect()
    got = again.recv(3000)
    assert got is not None and got[0] == DISCONNECT
    refused = running.proc.wait_event("acl.quarantined")
    assert refused[-1]["principal"] == "echo" and refused[-1]["reason"] == "quarantine", refused
    s = stats(operator)["services"]["echo"]
    assert s["quarantined"] and s["reason"] == "suspected compromise" and s["workers"] == 0

    assert admin(operator, "release", release_of("echo"))["code"] == OK
    running.proc.wait_event("admin.release")
    ready_worker(running, keys, peers, "echo", "echo").serve_in_thread(
        lambda body: [make_reply_ok()])
    wait_served(client, b"echo")
    assert call(client, "echo")["code"] == OK
    assert not stats(operator)["services"]["echo"]["quarantined"]
    assert admin(operator, "release", release_of("echo"))["code"] == FAILED_PRECONDITION
    assert admin(operator, "quarantine", quarantine_of("nagar.admin"))["code"] == INVALID_ARGUMENT


def test_quarantine_and_revocation_survive_restart(broker, keys, peers):
    running = broker()
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    assert admin(operator, "quarantine", quarantine_of("water_tax", "audit"))["code"] == OK
    assert admin(operator, "revoke", revoke_of("batch"))["code"] == OK
    logged = running.proc.wait_event("admin.revoke")
    assert logged[0]["operator"] == "operator" and logged[0]["target"] == "batch"
    # The operator cannot revoke the key it is using.
    assert admin(operator, "revoke", revoke_of("operator"))["code"] == FAILED_PRECONDITION
    assert admin(operator, "revoke", revoke_of(public_key="not-a-key"))["code"] == INVALID_ARGUMENT
    operator.close()
    assert_clean_stop(running)

    with open(os.path.join(running.state_dir, "state.json")) as f:
        state = json.load(f)
    batch_key = public_key(keys, "batch")
    assert state["quarantined"] == {"water_tax": "audit"}
    assert state["revoked_keys"] == [batch_key]

    restarted = broker()
    operator = peers(NagarClient(restarted.endpoint, curve(keys, "operator")))
    s = stats(operator)
    assert s["services"]["water_tax"]["quarantined"]
    assert s["revoked_keys"] == [batch_key]
    batch = peers(NagarClient(restarted.endpoint, curve(keys, "batch")))
    batch.send("mmi.service", b"echo")
    assert batch.recv(1000) is None, "a revoked key got an answer after a restart"
    restarted.proc.wait_event("acl.revoked_key")
    worker = ready_worker(restarted, keys, peers, "water_tax", "water_tax")
    worker.connect()
    got = worker.recv(3000)
    assert got is not None and got[0] == DISCONNECT
    # The quarantine survived: water_tax's key is cut off at the door.
    refused = restarted.proc.wait_event("acl.quarantined")
    assert refused[-1]["principal"] == "water_tax", refused
    assert_clean_stop(restarted)


def test_revoked_key_established_session_is_cut(broker, keys, peers):
    running = broker()
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    ready_worker(running, keys, peers, "echo", "echo").serve_in_thread(
        lambda body: [make_reply_ok()])
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    wait_served(client, b"echo")
    assert call(client, "echo")["code"] == OK          # the session is established

    reply = admin(operator, "revoke", revoke_of(public_key=public_key(keys, "client")))
    assert reply["code"] == OK, reply
    client.send("echo", make_request())
    assert client.recv(1500) is None, "a revoked key's session still got a reply"
    running.proc.wait_event("acl.revoked_key")

    # Revoking a worker's principal disconnects its established worker.
    worker = ready_worker(running, keys, peers, "notifications", "notifications")
    worker.connect()
    wait_served(operator, b"notifications")
    assert admin(operator, "revoke", revoke_of("notifications"))["code"] == OK
    got = worker.recv(3000)
    while got is not None and got[0] != DISCONNECT:
        got = worker.recv(3000)
    assert got is not None and got[0] == DISCONNECT
    assert sorted(stats(operator)["revoked_keys"]) == sorted(
        [public_key(keys, "client"), public_key(keys, "notifications")])
    assert_clean_stop(running)


# ---- queues, deadlines, dead workers ----------------------------------------------

def test_full_queue_answers_busy_at_once_and_stats_count(broker, keys, peers):
    running = broker(NAGAR_BROKER_MAX_QUEUE=2, NAGAR_BROKER_REQUEST_TIMEOUT_MS=30000)
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    release = threading.Event()
    worker = ready_worker(running, keys, peers, "echo", "echo")
    worker.serve_in_thread(held_until(worker, release))
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    wait_served(client, b"echo")
    for i in range(4):   # 1 held by the worker, 2 queued, 1 refused
        client.send("echo", make_request(request_id=f"b{i}"))
    # At once: the worker holds b0 until released and the queued two would
    # wait 30 s for their deadline, so the first answer can only be b3's.
    got = client.recv(10000)
    assert got is not None, "a full queue did not answer busy at once"
    first = parse_reply(got[1][0])
    assert first["code"] == RESOURCE_EXHAUSTED and first["request_id"] == "b3", first
    assert "busy" in first["message"]
    s = stats(operator)["services"]["echo"]
    assert s["queued"] == 2 and s["workers"] == 1 and s["idle"] == 0, s

    release.set()
    answered = []
    for _ in range(3):
        got = client.recv(10000)
        assert got is not None
        answered.append(parse_reply(got[1][0])["request_id"])
    s = stats(operator)["services"]["echo"]
    assert s["served"] == 3 and s["errors"] == 1 and s["queued"] == 0, s
    assert_clean_stop(running)


def test_queued_request_past_its_deadline(broker, keys, peers):
    running = broker(NAGAR_BROKER_REQUEST_TIMEOUT_MS=600)
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    held = threading.Event()
    worker = ready_worker(running, keys, peers, "echo", "echo")
    worker.serve_in_thread(held_until(worker, threading.Event(), held))   # never released
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    wait_served(client, b"echo")
    client.send("echo", make_request(request_id="busy"))          # occupies the worker
    assert held.wait(10), "the worker never got the request that occupies it"
    # Its own deadline (1.5 s), longer than the broker's default (600 ms):
    # answered at it, not before. The worker never frees up, so an answer at
    # all within the client's 10 s means the deadline was enforced.
    started = time.monotonic()
    client.send("echo", make_request(request_id="d1",
                                     deadline_unix_ms=int(time.time() * 1000) + 1500))
    got = client.recv(10000)
    assert got is not None
    reply = parse_reply(got[1][0])
    assert reply["code"] == DEADLINE_EXCEEDED and reply["request_id"] == "d1", reply
    elapsed = time.monotonic() - started
    assert elapsed >= 1.4, f"answered after {elapsed:.2f} s, before its own 1.5 s deadline"

    # No deadline: NAGAR_BROKER_REQUEST_TIMEOUT_MS applies.
    started = time.monotonic()
    client.send("echo", make_request(request_id="d2"))
    got = client.recv(10000)
    assert got is not None
    reply = parse_reply(got[1][0])
    assert reply["code"] == DEADLINE_EXCEEDED and reply["request_id"] == "d2", reply
    elapsed = time.monotonic() - started
    assert elapsed >= 0.55, f"answered after {elapsed:.2f} s, before the 600 ms default"

    # A clean stop answers the held and the queued request; nothing leaks.
    client.send("echo", make_request(request_id="q3",
                                     deadline_unix_ms=int(time.time() * 1000) + 60000))
    wait_for(lambda: stats(operator)["services"]["echo"]["queued"] == 1, timeout=10,
             what="q3 to be queued")
    assert_clean_stop(running)
    answered = {}
    for _ in range(2):
        got = client.recv(10000)
        assert got is not None, "a caller was left waiting when the broker stopped"
        reply = parse_reply(got[1][0])
        answered[reply["request_id"]] = reply
    assert set(answered) == {"busy", "q3"}
    assert all(r["code"] == UNAVAILABLE and "shutting down" in r["message"]
               for r in answered.values()), answered


def test_silent_worker_holding_a_request_is_answered_for(broker, keys, peers):
    running = broker(NAGAR_BUS_HEARTBEAT_MS=100, NAGAR_BUS_LIVENESS=3)
    worker = ready_worker(running, keys, peers, "echo", "echo", heartbeat_ms=100)
    worker.connect()
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    wait_served(client, b"echo")
    # A plain RFC 7 worker is silent while it works, so the request's own
    # deadline (800 ms here), not liveness (300 ms), says when it is lost.
    started = time.monotonic()
    client.send("echo", make_request(request_id="lost",
                                     deadline_unix_ms=int(time.time() * 1000) + 800))
    got = worker.recv_request(10000)
    assert isinstance(got, tuple)
    got = client.recv(10000)             # the worker now goes silent
    assert got is not None, "the caller of a dead worker was never answered"
    elapsed = time.monotonic() - started
    reply = parse_reply(got[1][0])
    assert reply["code"] == DEADLINE_EXCEEDED and reply["request_id"] == "lost", reply
    assert "deadline" in reply["message"]
    assert elapsed >= 0.75, f"answered after {elapsed:.2f}s, before its 800 ms deadline"
    expired = running.proc.wait_event("broker.worker_expired")[-1]
    assert expired.get("plain") is True, expired

    # A worker that says DISCONNECT while holding a request: answered at once.
    other = ready_worker(running, keys, peers, "echo", "echo", heartbeat_ms=100)
    other.connect()
    wait_served(client, b"echo")
    # Its deadline is 60 s; the client gives up at 10 s.
    client.send("echo", make_request(request_id="gone",
                                     deadline_unix_ms=int(time.time() * 1000) + 60000))
    got = other.recv_request(10000)
    assert isinstance(got, tuple)
    other.disconnect()
    got = client.recv(10000)
    assert got is not None
    reply = parse_reply(got[1][0])
    assert reply["code"] == UNAVAILABLE and reply["request_id"] == "gone"
    assert_clean_stop(running)


def test_idle_rss_is_small(broker, keys, peers):
    running = broker()
    client = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    stats(client)
    time.sleep(0.5)
    with open(f"/proc/{running.pid}/status") as f:
        rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    with open(running.proc.argv[0], "rb") as f:
        sanitized = b"__asan_init" in f.read()
    print(f"broker idle RSS: {rss_kb} kB ({'ASan build' if sanitized else 'plain build'})")
    # ASan's shadow memory and quarantine dwarf the broker's own; the 10 MB
    # target applies to the plain build.
    assert rss_kb < (80 * 1024 if sanitized else 10 * 1024), rss_kb


def test_removed_certificate_cuts_established_session(broker, keys, peers):
    running = broker()
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    assert mmi(client, b"echo") == b"404"          # the session is established
    os.unlink(keys.public("client"))
    # The broker notices the store changed (checked every 5 s) and from then
    # on drops the key's messages, although libzmq keeps the session open.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        client.send("mmi.service", b"echo")
        if client.recv(500) is None:
            break
    else:
        raise AssertionError("a removed key kept getting answers")
    running.proc.wait_event("acl.unknown_key")
    assert_clean_stop(running)


# ---- the credit extension (mdp.h): prefetch for libnagar workers -----------------

def connect_with_credit(worker, credit):
    """READY with Nagar's optional credit frame after the service name."""
    worker.sock = _dealer(worker.context, worker.endpoint, worker.curve)
    worker._send(READY, worker.service, f"credit={credit}".encode())


def request_id_of(body):
    """The request id inside a REQUEST body (nagar.Request.context.request_id)."""
    return request_context(body[0])["requestId"]


def test_credit_worker_gets_up_to_credit_requests_before_replying(broker, keys, peers):
    running = broker()
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    worker = ready_worker(running, keys, peers, "echo", "echo")
    connect_with_credit(worker, 3)
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    wait_served(client, b"echo")
    ids = [f"c{i}" for i in range(1, 6)]
    for request_id in ids:
        client.send("echo", make_request(request_id=request_id))
    held = []
    for _ in range(3):
        got = worker.recv_request(2000)
        assert isinstance(got, tuple), f"credit 3 but only {len(held)} requests arrived"
        held.append(got)
    assert [request_id_of(body) for _, body in held] == ids[:3]
    # Its credit is used up: the fourth waits in the broker until a reply.
    assert worker.recv_request(400) is None, "the broker sent more than the credit"
    s = stats(operator)["services"]["echo"]
    assert s["workers"] == 1 and s["queued"] == 2 and s["idle"] == 0, s

    # Replies in order; each one returns a credit and the queue moves.
    answered_to = []
    for expected in ids:
        client_address, body = held.pop(0)
        worker.reply(client_address, make_reply_ok())
        answered_to.append(request_id_of(body))
        if len(answered_to) <= 2:
            got = worker.recv_request(2000)
            assert isinstance(got, tuple), "a returned credit did not bring the next request"
            held.append(got)
    assert answered_to == ids
    replies = []
    for _ in ids:
        got = client.recv(3000)
        assert got is not None
        replies.append(parse_reply(got[1][0]))
    assert all(r["code"] == OK for r in replies), replies
    s = stats(operator)["services"]["echo"]
    assert s["served"] == 5 and s["queued"] == 0 and s["idle"] == 1, s
    assert running.proc.events("broker.worker_ready")[-1].get("credit") == 3
    assert_clean_stop(running)


def test_rfc7_worker_still_gets_one_request_at_a_time(broker, keys, peers):
    running = broker()
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    worker = ready_worker(running, keys, peers, "echo", "echo")
    worker.connect()                     # plain RFC 7 READY: credit 1
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    wait_served(client, b"echo")
    for i in range(3):
        client.send("echo", make_request(request_id=f"one{i}"))
    for i in range(3):
        got = worker.recv_request(2000)
        assert isinstance(got, tuple), f"request one{i} never reached the worker"
        client_address, body = got
        assert request_id_of(body) == f"one{i}"
        assert worker.recv_request(400) is None, "an RFC 7 worker got a second request"
        s = stats(operator)["services"]["echo"]
        assert s["queued"] == 2 - i and s["idle"] == 0, s
        worker.reply(client_address, make_reply_ok())
        got = client.recv(3000)
        assert got is not None and parse_reply(got[1][0])["code"] == OK
    assert running.proc.events("broker.worker_ready")[-1].get("credit") == 1
    assert_clean_stop(running)


def test_every_request_held_by_a_lost_credit_worker_is_answered(broker, keys, peers):
    # Requests wait 30 s for their deadline; the client gives up at 10 s: an
    # answer at all is an answer at the worker's loss, not at the deadline.
    running = broker(NAGAR_BUS_HEARTBEAT_MS=100, NAGAR_BUS_LIVENESS=3,
                     NAGAR_BROKER_REQUEST_TIMEOUT_MS=30000)
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))

    def worker_holding(credit, request_ids):
        """A raw worker with that credit, holding the client's requests."""
        worker = ready_worker(running, keys, peers, "echo", "echo", heartbeat_ms=100)
        connect_with_credit(worker, credit)
        wait_served(client, b"echo")
        for request_id in request_ids:
            client.send("echo", make_request(request_id=request_id))
        for _ in request_ids:
            assert isinstance(worker.recv_request(10000), tuple)
        return worker

    # It says DISCONNECT while holding four: all four answered at once.
    worker = worker_holding(8, [f"gone{i}" for i in range(4)])
    worker.disconnect()
    answered = [parse_reply(client.recv(10000)[1][0]) for _ in range(4)]
    running.proc.wait_event("broker.worker_disconnected")
    assert not running.proc.events("broker.worker_expired"), "answered by expiry, not DISCONNECT"
    assert sorted(r["request_id"] for r in answered) == [f"gone{i}" for i in range(4)]
    assert all(r["code"] == UNAVAILABLE and "worker lost" in r["message"] for r in answered)
    worker.close()

    # It goes silent holding three: all three answered at expiry (300 ms).
    silent = worker_holding(8, [f"lost{i}" for i in range(3)])
    answered = []
    for _ in range(3):
        got = client.recv(10000)
        assert got is not None, "a caller of a dead credit worker was never answered"
        answered.append(parse_reply(got[1][0]))
    assert sorted(r["request_id"] for r in answered) == [f"lost{i}" for i in range(3)]
    assert all(r["code"] == UNAVAILABLE for r in answered), answered
    expired = running.proc.wait_event("broker.worker_expired")[-1]
    assert expired.get("held_requests") == 3, expired
    silent.close()

    # A reply to a client it holds nothing for: cut, and its held request
    # answered; the stray reply is never forwarded.
    rogue = worker_holding(4, ["victim"])
    rogue.reply(b"\x00nobody", make_reply_ok())
    got = client.recv(2000)
    assert got is not None
    reply = parse_reply(got[1][0])
    assert reply["code"] == UNAVAILABLE and reply["request_id"] == "victim", reply
    running.proc.wait_event("broker.unexpected_reply")
    assert client.recv(300) is None, "a stray reply was forwarded"
    assert_clean_stop(running)


def test_credit_workers_share_the_load(broker, keys, peers):
    running = broker(NAGAR_BROKER_INSECURE=1)
    names = [f"w{i}".encode() for i in range(3)]
    for name in names:
        worker = ready_worker(running, keys, peers, None, "echo")
        worker.connect = lambda worker=worker: connect_with_credit(worker, 4)
        worker.serve_in_thread(lambda body, name=name: [name], hold_s=0.02)
    client = peers(MdpClient(running.endpoint))
    wait_served(client, b"echo")
    time.sleep(0.2)  # all three READY
    # Few in flight: the broker prefers the worker with the most free
    # credit, so each request lands on a different, idle worker.
    answered = []
    for _ in range(3):
        for _ in range(3):
            client.send("echo", b"x")
        for _ in range(3):
            got = client.recv(3000)
            assert got is not None
            answered.append(got[1][0])
    assert sorted(answered) == sorted(names * 3), answered
    # Many in flight: still spread.
    for _ in range(60):
        client.send("echo", b"x")
    many = []
    for _ in range(60):
        got = client.recv(5000)
        assert got is not None
        many.append(got[1][0])
    counts = {name: many.count(name) for name in names}
    assert all(count >= 12 for count in counts.values()), counts


def test_malformed_credit_is_refused(broker, keys, peers):
    running = broker()
    for bad in (b"credit=0", b"credit=257", b"credit=x", b"prefetch=8"):
        worker = ready_worker(running, keys, peers, "echo", "echo")
        worker.sock = _dealer(worker.context, worker.endpoint, worker.curve)
        worker._send(READY, worker.service, bad)
        got = worker.recv(3000)
        assert got is not None and got[0] == DISCONNECT, f"{bad!r}: expected DISCONNECT, got {got!r}"
        worker.close()
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    assert mmi(client, b"echo") == b"404"
    assert running.proc.events("broker.malformed")
    assert_clean_stop(running)


# ---- RFC 7 peers get RFC 7 behaviour; idle brokers keep serving ---------------------
#
# The peers below are mdp_peers' MdpClient and MdpWorker, written from RFC 7
# alone. A broker that answered a plain client's failures with a nagar.Reply
# made a stock RFC 7 client count "busy" as a service answer; one that
# expired a plain worker for not heartbeating while it worked dropped slow
# but healthy work.

@pytest.mark.parametrize("insecure", [True, False], ids=["insecure", "curve"])
def test_idle_broker_keeps_serving(broker, keys, peers, insecure):
    # Idle across several poll timeouts (the loop wakes once per heartbeat
    # interval with nothing to read): the insecure broker used to abort
    # here, receiving from the socket monitor it does not have.
    running = broker(NAGAR_BROKER_INSECURE=int(insecure), NAGAR_BUS_HEARTBEAT_MS=200)
    time.sleep(1.5)
    assert running.proc.alive(), running.proc.log_text()[-4000:]
    worker = ready_worker(running, keys, peers, None if insecure else "echo", "echo",
                          heartbeat_ms=200).serve_in_thread(lambda body: [b"pong"])
    client = peers(MdpClient(running.endpoint, None if insecure else curve(keys, "client")))
    wait_served(client, b"echo")
    time.sleep(1.5)                      # idle again, now with a worker heartbeating
    client.send("echo", b"ping")
    assert client.recv(3000) == (b"echo", [b"pong"])
    worker.stop()
    assert_clean_stop(running)


@pytest.mark.parametrize("insecure", [True, False], ids=["insecure", "curve"])
def test_rfc7_request_before_any_worker_is_served_once_one_registers(broker, keys, peers,
                                                                     insecure):
    running = broker(NAGAR_BROKER_INSECURE=int(insecure))
    client = peers(MdpClient(running.endpoint, None if insecure else curve(keys, "client")))
    client.send("echo", b"early")
    assert client.recv(700) is None, "the broker answered before any worker existed"
    ready_worker(running, keys, peers, None if insecure else "echo", "echo").serve_in_thread(
        lambda body: [b"served:" + body[0]])
    got = client.recv(5000)
    assert got == (b"echo", [b"served:early"]), got
    assert not running.proc.events("broker.dropped")
    assert_clean_stop(running)


def test_rfc7_worker_busy_for_8_seconds_still_delivers(broker, keys, peers):
    # Default liveness (5 x 1000 ms) is shorter than the work; the request's
    # deadline (NAGAR_BROKER_REQUEST_TIMEOUT_MS, default 10 s) is not.
    running = broker(NAGAR_BROKER_INSECURE=1)
    worker = ready_worker(running, keys, peers, None, "slow").serve_in_thread(
        lambda body: [b"done:" + body[0]], hold_s=8.0, heartbeat_while_busy=False)
    client = peers(MdpClient(running.endpoint))
    wait_served(client, b"slow")
    client.send("slow", b"job")
    got = client.recv(12000)
    assert got == (b"slow", [b"done:job"]), got
    assert not running.proc.events("broker.worker_expired")
    # It is still registered and serves the next one.
    assert mmi(client, b"slow") == b"200"
    worker.stop()
    assert_clean_stop(running)


def test_rfc7_client_failures_get_no_reply_body_while_libnagar_gets_typed_errors(
        broker, keys, peers):
    running = broker(NAGAR_BROKER_MAX_QUEUE=1, NAGAR_BROKER_REQUEST_TIMEOUT_MS=600)
    ready_worker(running, keys, peers, "echo", "echo").serve_in_thread(
        reply_ok_to, hold_s=1.5)
    plain = peers(MdpClient(running.endpoint, curve(keys, "client")))
    typed = peers(NagarClient(running.endpoint, curve(keys, "client")))
    wait_served(plain, b"echo")

    # Full queue: one held by the worker, one queued, the third is refused.
    plain.send("echo", make_request(request_id="held",
                                    deadline_unix_ms=int(time.time() * 1000) + 5000))
    time.sleep(0.1)
    plain.send("echo", make_request(request_id="queued",
                                    deadline_unix_ms=int(time.time() * 1000) + 5000))
    time.sleep(0.1)
    plain.send("echo", make_request(request_id="plain-busy"))
    reply = call(typed, "echo", request_id="typed-busy")
    assert reply["code"] == RESOURCE_EXHAUSTED and reply["request_id"] == "typed-busy", reply
    dropped = running.proc.wait_event("broker.dropped")
    assert dropped[0]["code"] == "RESOURCE_EXHAUSTED" and dropped[0]["service"] == "echo"

    # The plain client gets exactly its two served requests, nothing else.
    answered = []
    for _ in range(2):
        got = plain.recv(5000)
        assert got is not None
        answered.append(parse_reply(got[1][0]))
    assert [r["request_id"] for r in answered] == ["held", "queued"], answered
    assert all(r["code"] == OK for r in answered), answered
    assert plain.recv(500) is None, "a plain client got an answer for a refused request"

    # Past its deadline in the queue: dropped for the plain client, typed
    # DEADLINE_EXCEEDED for the libnagar one.
    plain.send("echo", make_request(request_id="occupy",
                                    deadline_unix_ms=int(time.time() * 1000) + 5000))
    time.sleep(0.1)
    plain.send("echo", make_request(request_id="plain-late"))       # 600 ms default
    got = plain.recv(2500)
    assert got is not None and parse_reply(got[1][0])["request_id"] == "occupy", got
    assert plain.recv(300) is None, "a plain client got an answer for an expired request"
    assert any(d["code"] == "DEADLINE_EXCEEDED" for d in running.proc.events("broker.dropped"))
    typed.send("echo", make_request(request_id="occupy2",
                                    deadline_unix_ms=int(time.time() * 1000) + 5000))
    time.sleep(0.1)
    reply = call(typed, "echo", request_id="typed-late", timeout_ms=3000,
                 deadline_unix_ms=int(time.time() * 1000) + 300)
    assert reply["code"] == DEADLINE_EXCEEDED and reply["request_id"] == "typed-late", reply
    assert parse_reply(typed.recv(3000)[1][0])["request_id"] == "occupy2"

    # Not allowed by the ACL: dropped (and logged) for the plain client,
    # PERMISSION_DENIED for the libnagar one.
    plain.send("water_tax", make_request(request_id="plain-denied"))
    assert plain.recv(500) is None
    reply = call(typed, "water_tax", request_id="typed-denied")
    assert reply["code"] == PERMISSION_DENIED, reply
    assert_clean_stop(running)


def test_service_names_the_broker_refuses(broker, keys, peers):
    running = broker(NAGAR_BROKER_INSECURE=1)
    plain = peers(MdpClient(running.endpoint))
    typed = peers(NagarClient(running.endpoint))
    for bad in (b"has space", b"x" * 65, b"tab\there"):
        plain.send(bad, make_request(request_id="p"))
        assert plain.recv(300) is None, f"a plain client got an answer for {bad!r}"
        reply = call_raw(typed, bad, make_request(request_id="t"))
        assert reply["code"] == INVALID_ARGUMENT and reply["request_id"] == "t", reply
        assert "printable ASCII" in reply["message"], reply
    assert running.proc.events("broker.malformed")
    # MMI answers only what RFC 8 defines: a name no service can have is 404.
    for asked in (b"", b"has space", b"y" * 65):
        assert mmi(plain, asked) == b"404", asked
    assert mmi(plain, b"echo") == b"404"
    assert_clean_stop(running)


def call_raw(client, service_bytes, body, timeout_ms=3000):
    client.send(service_bytes, body)
    got = client.recv(timeout_ms)
    assert got is not None, f"no answer for service {service_bytes!r}"
    return parse_reply(got[1][0])



# ---- quarantine both ways; fair share per principal; refusals counted ---------------

def parse_principals(payload):
    return {p["name"]: {"in_flight": p["inFlight"], "max_in_flight": p["maxInFlight"],
                        "requests": p["requests"], "acl": p["refusedAcl"],
                        "quarantine": p["refusedQuarantine"],
                        "limit_in_flight": p["refusedInFlight"], "rate": p["refusedRate"],
                        "by_service": p["refusedByService"]}
            for p in contract.decode("nagar.admin.StatsReply", payload)["principals"]}


def principals(operator):
    reply = admin(operator, "stats")
    assert reply["code"] == OK, reply
    return parse_principals(reply["payload"])


def test_quarantined_principal_can_neither_serve_nor_call(broker, keys, peers):
    running = broker()
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    # certificates' key serves certificates and may call notifications and
    # identity; identity and notifications have workers.
    for principal in ("identity", "notifications"):
        ready_worker(running, keys, peers, principal, principal).serve_in_thread(reply_ok_to)
    certificates = peers(NagarClient(running.endpoint, curve(keys, "certificates")))
    ready_worker(running, keys, peers, "certificates", "certificates").serve_in_thread(
        reply_ok_to)
    wait_served(certificates, b"identity")
    wait_served(certificates, b"notifications")
    assert call(certificates, "identity", request_id="before")["code"] == OK

    # A request of certificates' already at a worker when the quarantine
    # lands: its answer must not reach the quarantined key.
    slow = ready_worker(running, keys, peers, "notifications", "notifications")
    slow.connect()
    wait_for(lambda: stats(operator)["services"]["notifications"]["workers"] == 2,
             what="the second notifications worker")

    reply = admin(operator, "quarantine", quarantine_of("certificates", "drill"))
    assert reply["code"] == OK and "may neither serve nor call" in \
        admin_detail(reply), reply

    # Every method of every service, MMI and admin: no answer, each refusal
    # logged with principal and method, counted for the principal.
    before = len(running.proc.events("acl.quarantined"))
    for service, method in (("identity", "user.get"), ("notifications", "event.deliver"),
                            ("certificates", "certificate.get"), ("nagar.admin", "stats"),
                            ("water_tax", "bill.get")):
        certificates.send(service, make_request(method, request_id=f"q-{service}"))
        assert certificates.recv(700) is None, f"a quarantined key got an answer from {service}"
    certificates.send("mmi.service", b"identity")
    assert certificates.recv(700) is None, "a quarantined key got an MMI answer"
    refused = wait_for_events(running, "acl.quarantined", before + 6)
    methods = {(e["service"], e["method"]) for e in refused[before:]}
    assert ("identity", "user.get") in methods and ("nagar.admin", "stats") in methods, methods
    assert all(e["principal"] == "certificates" for e in refused[before:])
    assert principals(operator)["certificates"]["quarantine"] >= 6

    # Serving: a READY from its key is refused.
    again = ready_worker(running, keys, peers, "certificates", "certificates")
    again.connect()
    got = again.recv(3000)
    assert got is not None and got[0] == DISCONNECT, got

    # Others keep serving, and see it quarantined.
    gateway = peers(NagarClient(running.endpoint, curve(keys, "gateway")))
    assert call(gateway, "identity", request_id="gw")["code"] == OK
    reply = call(gateway, "certificates", request_id="gw-cert")
    assert reply["code"] == UNAVAILABLE and "quarantined" in reply["message"], reply

    # Released, it works again both ways.
    assert admin(operator, "release", release_of("certificates"))["code"] == OK
    assert call(certificates, "identity", request_id="after")["code"] == OK
    ready_worker(running, keys, peers, "certificates", "certificates").serve_in_thread(
        reply_ok_to)
    wait_served(gateway, b"certificates")
    assert call(gateway, "certificates", request_id="gw-after")["code"] == OK
    assert_clean_stop(running)


def test_answers_to_a_caller_quarantined_meanwhile_go_nowhere(broker, keys, peers):
    running = broker()
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    worker = ready_worker(running, keys, peers, "identity", "identity")
    worker.connect()
    certificates = peers(NagarClient(running.endpoint, curve(keys, "certificates")))
    wait_served(certificates, b"identity")
    certificates.send("identity", make_request("user.get", request_id="in-flight"))
    got = worker.recv_request(3000)
    assert isinstance(got, tuple), got
    client_address, body = got
    assert admin(operator, "quarantine", quarantine_of("certificates"))["code"] == OK
    worker.reply(client_address, *reply_ok_to(body))
    assert certificates.recv(700) is None, "a quarantined caller got its answer"
    # The worker was not cut for answering; it serves the next caller.
    gateway = peers(NagarClient(running.endpoint, curve(keys, "gateway")))
    gateway.send("identity", make_request("user.get", request_id="next"))
    got = worker.recv_request(3000)
    assert isinstance(got, tuple), got
    worker.reply(got[0], *reply_ok_to(got[1]))
    assert parse_reply(gateway.recv(3000)[1][0])["request_id"] == "next"
    assert_clean_stop(running)


def wait_for_events(running, event, count, timeout=5.0):
    wait_for(lambda: len(running.proc.events(event)) >= count, timeout=timeout,
             what=f"{count} {event} lines")
    return running.proc.events(event)


def test_one_principal_cannot_starve_another(broker, keys, peers):
    # certificates keeps far more requests in flight to identity than its
    # share; the gateway's requests still go through promptly, served in
    # turn with the flood, and the flood is refused at its limit.
    running = broker(NAGAR_BROKER_PRINCIPAL_IN_FLIGHT=50, NAGAR_BROKER_PRINCIPAL_RATE=0,
                     NAGAR_BROKER_PRINCIPAL_LIMITS="gateway=1000:0")
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    ready_worker(running, keys, peers, "identity", "identity").serve_in_thread(
        reply_ok_to, hold_s=0.01)
    flooder = peers(NagarClient(running.endpoint, curve(keys, "certificates")))
    gateway = peers(NagarClient(running.endpoint, curve(keys, "gateway")))
    wait_served(gateway, b"identity")
    for i in range(2000):
        flooder.send("identity", make_request("user.get", request_id=f"flood{i}"))
    time.sleep(0.1)
    answered = 0
    for i in range(20):
        reply = call(gateway, "identity", request_id=f"gw{i}", timeout_ms=3000)
        answered += reply["code"] == OK and reply["request_id"] == f"gw{i}"
    assert answered == 20, answered
    # Of the flood, at most the share was admitted at a time; the rest got
    # RESOURCE_EXHAUSTED at once.
    codes = {}
    for _ in range(2000):
        got = flooder.recv(3000)
        if got is None:
            break
        reply = parse_reply(got[1][0])
        codes[reply["code"]] = codes.get(reply["code"], 0) + 1
    assert codes.get(RESOURCE_EXHAUSTED, 0) >= 1000 and sum(codes.values()) == 2000, codes
    share = principals(operator)["certificates"]
    assert share["limit_in_flight"] == codes[RESOURCE_EXHAUSTED] and share["max_in_flight"] == 50
    limited = running.proc.events("broker.principal_limited")
    assert limited and limited[0]["principal"] == "certificates"
    assert len(limited) < 200, "refusal lines are not rate-limited"
    assert_clean_stop(running)


def test_rate_limit_per_principal(broker, keys, peers):
    running = broker(NAGAR_BROKER_PRINCIPAL_RATE=20)
    ready_worker(running, keys, peers, "echo", "echo").serve_in_thread(reply_ok_to)
    client = peers(NagarClient(running.endpoint, curve(keys, "client")))
    wait_served(client, b"echo")
    time.sleep(1.1)                      # a full bucket: one second's worth
    for i in range(60):
        client.send("echo", make_request(request_id=f"r{i}"))
    codes = [parse_reply(client.recv(3000)[1][0])["code"] for _ in range(60)]
    assert 15 <= codes.count(OK) <= 40, codes
    assert codes.count(RESOURCE_EXHAUSTED) == 60 - codes.count(OK), codes
    assert running.proc.events("broker.principal_limited")[0]["reason"] == "rate"
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))
    assert principals(operator)["client"]["rate"] == codes.count(RESOURCE_EXHAUSTED)
    assert_clean_stop(running)


def test_refusals_are_counted_per_principal(broker, keys, peers):
    running = broker()
    operator = peers(NagarClient(running.endpoint, curve(keys, "operator")))

    def deny(body):
        return [make_reply(request_context(body[0])["requestId"], PERMISSION_DENIED,
                           "not yours")]

    ready_worker(running, keys, peers, "identity", "identity").serve_in_thread(deny)
    water = peers(NagarClient(running.endpoint, curve(keys, "water_tax")))
    wait_served(water, b"identity")
    assert call(water, "identity", request_id="d1")["code"] == PERMISSION_DENIED
    assert call(water, "property_tax", request_id="d2")["code"] == PERMISSION_DENIED
    wrong = ready_worker(running, keys, peers, "water_tax", "certificates")
    wrong.connect()
    assert wrong.recv(3000)[0] == DISCONNECT
    share = principals(operator)["water_tax"]
    assert share["by_service"] == 1 and share["acl"] == 2, share
    assert_clean_stop(running)
