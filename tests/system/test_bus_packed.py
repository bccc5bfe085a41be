"""System tests of the packed transport extension (common/mdp.h,
common/mdp_pack.h) against the real nagar-broker with CURVE on.

A libnagar peer sends each MDP message as one packed frame; the broker
unpacks it at the door and packs what it sends back to packed peers, while
RFC 7 peers (tests/system/mdp_peers.py, written from RFC 7 only) keep
seeing exactly RFC 7 frames. Shown here:

  - a packed libnagar client (bus_call) served by an RFC 7 worker;
  - an RFC 7 client served by a packed libnagar worker (test_worker);
  - the broker packs for a packed peer and only for it (Python peers that
    pack by hand, from the format in mdp_pack.h);
  - the ACL and quarantine apply to packed peers as to plain ones;
  - malformed packed frames from a client or a worker are dropped with the
    log event broker.malformed_packed while the broker keeps serving.

Every receive has a timeout; nothing here can hang.
"""
import time

import pytest
import zmq

import contract

from mdp_peers import DISCONNECT, HEARTBEAT, MDPC, MDPW, READY, REPLY, REQUEST, MdpClient, \
    MdpWorker, _dealer
from mdp_packed import MAGIC, pack, unpack
from nagar_proc import wait_until
from test_broker import OK, PERMISSION_DENIED, UNAVAILABLE, admin, curve, quarantine_of, \
    make_request, parse_reply, request_context
from test_bus import HEARTBEAT as BUS_HEARTBEAT, Bus, SANITIZER_MARKS

pytestmark = pytest.mark.timeout(90)

class PackedPeer:
    """A DEALER that speaks MDP in packed frames only."""

    def __init__(self, endpoint, curve_files):
        self.sock = _dealer(zmq.Context.instance(), endpoint, curve_files)

    def send(self, frames):
        self.sock.send(pack(frames))

    def send_raw(self, *frames):
        self.sock.send_multipart(list(frames))

    def recv_frames(self, timeout_ms=3000):
        """The ZeroMQ frames of the next message, or None on timeout."""
        if not self.sock.poll(timeout_ms, zmq.POLLIN):
            return None
        return self.sock.recv_multipart()

    def recv(self, timeout_ms=3000, skip_heartbeats=True):
        """The unpacked frames of the next packed message; a plain message
        fails the test (the broker must answer a packed peer packed)."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            remaining = int((deadline - time.monotonic()) * 1000)
            got = self.recv_frames(max(remaining, 0))
            if got is None:
                return None
            assert len(got) == 1, f"the broker sent a packed peer plain frames: {got!r}"
            frames = unpack(got[0])
            if skip_heartbeats and frames[1:3] == [MDPW, HEARTBEAT]:
                continue
            return frames

    def close(self):
        self.sock.close(0)


def echo_reply_body(request_body, text):
    """A nagar.Reply answering the nagar.Request request_body with an
    EchoReply of text (what a worker not using libnagar has to build)."""
    return contract.encode("nagar.Reply", {
        "requestId": request_context(request_body)["requestId"],
        "payload": contract.encode("nagar.test.EchoReply", {"text": text})})


def echo_request_body(text, request_id):
    return make_request("echo", contract.encode("nagar.test.EchoRequest", {"text": text}),
                        request_id=request_id)


def echo_text(payload):
    return contract.decode("nagar.test.EchoReply", payload)["text"]


def request_text(request_body):
    """The text of the EchoRequest inside a nagar.Request body."""
    payload = contract.decode("nagar.Request", request_body)["payload"]
    return contract.decode("nagar.test.EchoRequest", payload)["text"]


@pytest.fixture
def bus(broker, procs, nagar_bin):  # noqa: F811  (fixture from bus_fixtures)
    return Bus(broker(**BUS_HEARTBEAT), procs, nagar_bin)


def keys_of(bus):
    return bus.broker.keys_dir


def secret(bus, principal):
    return (f"{keys_of(bus)}/secret/{principal}.cert", bus.broker.public_key_path)


# ---- interoperability ---------------------------------------------------------------

def test_packed_libnagar_client_with_rfc7_worker(bus, peers):
    seen = []

    def handler(body):
        seen.append(body)
        return [echo_reply_body(body[0], "from rfc7")]

    peers(MdpWorker(bus.broker.endpoint, "echo", secret(bus, "echo"),
                    heartbeat_ms=100)).serve_in_thread(handler)
    wait_until(lambda: bus.broker.proc.events("broker.worker_ready"), timeout=10,
               what="the RFC 7 worker to register")
    ready = bus.broker.proc.events("broker.worker_ready")[-1]
    assert ready.get("packed") is False and ready.get("credit") == 1, ready
    # bus_call packs by default (NAGAR_BUS_PACKED unset) ...
    lines = bus.call(count=3, in_flight=1, text="hi", timeout_ms=3000, attempts=1)
    assert [l["code"] for l in lines] == ["OK"] * 3, lines
    assert all(l["text"] == "from rfc7" for l in lines), lines
    # ... and the RFC 7 worker saw plain RFC 7 frames: [body][principal].
    assert len(seen) == 3
    assert all(len(body) == 2 and body[1] == b"client" for body in seen), seen
    assert contract.decode("nagar.Request", seen[0][0])["method"] == "echo"
    # The same client unpacked works too.
    lines = bus.call(count=1, text="hi", timeout_ms=3000, attempts=1,
                     env={"NAGAR_BUS_PACKED": "0"})
    assert lines[0]["code"] == "OK", lines
    assert len(seen) == 4


def test_rfc7_client_with_packed_libnagar_worker(bus, peers):
    worker = bus.start_worker("packed_worker")
    wait_until(lambda: bus.broker.proc.events("broker.worker_ready"), timeout=10,
               what="the libnagar worker to register")
    ready = bus.broker.proc.events("broker.worker_ready")[-1]
    assert ready.get("packed") is True, ready
    client = peers(MdpClient(bus.broker.endpoint, secret(bus, "client")))
    for i in range(3):
        # MdpClient.recv asserts RFC 7 reply frames [""][MDPC01][service][body].
        client.send("echo", echo_request_body(f"plain {i}", f"rfc7-{i}"))
        got = client.recv(3000)
        assert got is not None, "no reply for the RFC 7 client"
        service, body = got
        assert service == b"echo" and len(body) == 1
        reply = parse_reply(body[0])
        assert reply["code"] == OK and reply["request_id"] == f"rfc7-{i}", reply
        assert echo_text(reply["payload"]) == f"plain {i}"
        # The packed worker learnt the caller from the principal frame.
        assert contract.decode("nagar.test.EchoReply", reply["payload"])["caller"] == "client"
    bus.assert_clean(worker)


def test_broker_packs_for_packed_peers_only(bus, peers):
    """A hand-packed worker gets its REQUEST packed with the principal frame;
    a hand-packed client gets its reply packed; an RFC 7 client beside them
    still gets plain frames from the same packed worker."""
    worker = peers(PackedPeer(bus.broker.endpoint, secret(bus, "echo")))
    worker.send([b"", MDPW, READY, b"echo", b"credit=2"])
    wait_until(lambda: bus.broker.proc.events("broker.worker_ready"), timeout=10,
               what="the packed worker to register")
    ready = bus.broker.proc.events("broker.worker_ready")[-1]
    assert ready.get("packed") is True and ready.get("credit") == 2, ready

    client = peers(PackedPeer(bus.broker.endpoint, secret(bus, "client")))
    plain_client = peers(MdpClient(bus.broker.endpoint, secret(bus, "client")))
    client.send([b"", MDPC, b"echo", echo_request_body("one", "p-1")])
    plain_client.send("echo", echo_request_body("two", "p-2"))

    answered = set()
    for _ in range(2):
        request = worker.recv(3000)
        assert request is not None, "the packed worker got no REQUEST"
        assert request[:3] == [b"", MDPW, REQUEST] and request[4] == b"", request
        assert len(request) == 7 and request[6] == b"client", request
        worker.send([b"", MDPW, REPLY, request[3], b"",
                     echo_reply_body(request[5], "echo " + request_text(request[5]))])
        answered.add(request[3])
    assert len(answered) == 2

    got = client.recv(3000)
    assert got is not None and got[:3] == [b"", MDPC, b"echo"] and len(got) == 4, got
    reply = parse_reply(got[3])
    assert reply["code"] == OK and reply["request_id"] == "p-1"
    assert echo_text(reply["payload"]) == "echo one"

    got = plain_client.recv(3000)
    assert got is not None
    reply = parse_reply(got[1][0])
    assert reply["code"] == OK and reply["request_id"] == "p-2"
    assert echo_text(reply["payload"]) == "echo two"

    # MMI answers a packed client packed too.
    client.send([b"", MDPC, b"mmi.service", b"echo"])
    assert client.recv(3000) == [b"", MDPC, b"mmi.service", b"200"]


def test_acl_and_quarantine_apply_to_packed_peers(bus, peers):
    # A key that may not serve "certificates": DISCONNECT, packed, and the log line.
    intruding = peers(PackedPeer(bus.broker.endpoint, secret(bus, "water_tax")))
    intruding.send([b"", MDPW, READY, b"certificates"])
    assert intruding.recv(3000) == [b"", MDPW, DISCONNECT]
    denied = bus.broker.proc.wait_event("acl.serve_denied", timeout=5)
    assert denied[-1].get("principal") == "water_tax"

    # A caller that may not call the service: an error reply, packed.
    client = peers(PackedPeer(bus.broker.endpoint, secret(bus, "client")))
    client.send([b"", MDPC, b"certificates", echo_request_body("x", "acl-1")])
    got = client.recv(3000)
    assert got is not None and got[:3] == [b"", MDPC, b"certificates"], got
    reply = parse_reply(got[3])
    assert reply["code"] == PERMISSION_DENIED and reply["request_id"] == "acl-1", reply
    assert bus.broker.proc.events("acl.call_denied")

    # The admin service, packed, with the operator's key: quarantine echo.
    operator = peers(PackedPeer(bus.broker.endpoint, secret(bus, "operator")))
    operator.send([b"", MDPC, b"nagar.admin",
                   make_request("quarantine", quarantine_of("echo", "test"),
                                request_id="q-1")])
    got = operator.recv(3000)
    assert got is not None and parse_reply(got[3])["code"] == OK, got
    client.send([b"", MDPC, b"echo", echo_request_body("x", "q-2")])
    got = client.recv(3000)
    reply = parse_reply(got[3])
    assert reply["code"] == UNAVAILABLE and "quarantined" in reply["message"], reply
    # A packed READY for the quarantined service is refused.
    worker = peers(PackedPeer(bus.broker.endpoint, secret(bus, "echo")))
    worker.send([b"", MDPW, READY, b"echo"])
    assert worker.recv(3000) == [b"", MDPW, DISCONNECT]
    assert bus.broker.proc.wait_event("acl.quarantined")[-1]["principal"] == "echo"


# ---- malformed packed frames -----------------------------------------------------------

VALID_CLIENT = pack([b"", MDPC, b"echo", b"body"])
MALFORMED = [
    ("truncated", VALID_CLIENT[:-1]),
    ("magic only", MAGIC),
    ("header only", MAGIC + b"\x01\x01"),
    ("bad version", MAGIC + b"\x02" + VALID_CLIENT[5:]),
    ("zero frames", MAGIC + b"\x01\x00"),
    ("too many frames", MAGIC + b"\x01\xff" + b"\x00\x00\x00\x00" * 255),
    ("length past the end", MAGIC + b"\x01\x01\xff\xff\xff\xffabc"),
    ("trailing bytes", VALID_CLIENT + b"!"),
]


def test_malformed_packed_frames_are_dropped_and_logged(bus, peers):
    worker = bus.start_worker("packed_worker")
    bus.wait_registered(1)
    bad_client = peers(PackedPeer(bus.broker.endpoint, secret(bus, "client")))
    bad_worker = peers(PackedPeer(bus.broker.endpoint, secret(bus, "echo")))
    for name, data in MALFORMED:
        bad_client.send_raw(data)
        bad_worker.send_raw(data)
    # Nothing comes back for any of them.
    assert bad_client.recv_frames(300) is None
    assert bad_worker.recv_frames(300) is None

    logged = wait_until(lambda: bus.broker.proc.events("broker.malformed_packed"), timeout=5,
                        what="broker.malformed_packed in the broker's log")
    first = logged[0]
    assert first.get("bytes") == len(MALFORMED[0][1]), first
    assert len(first.get("public_key", "")) == 40, first      # who sent it
    assert "does not unpack" in first.get("msg", ""), first
    # The log is rate limited per second; the count is not.
    time.sleep(1.1)
    bad_client.send_raw(MALFORMED[0][1])
    wait_until(lambda: any(e.get("malformed_packed") == 2 * len(MALFORMED) + 1
                           for e in bus.broker.proc.events("broker.malformed_packed")),
               timeout=5, what="the malformed packed count to reach every frame sent")

    # A packed frame that unpacks to something that is not MDP is the
    # broker's ordinary malformed case.
    bad_client.send([b"not", b"mdp", b"at all"])
    wait_until(lambda: bus.broker.proc.events("broker.malformed"), timeout=5,
               what="broker.malformed for a packed non-MDP message")

    # The broker kept serving, packed and plain, and is still alive.
    assert bus.broker.proc.alive()
    lines = bus.call(count=4, in_flight=2, text="still here", timeout_ms=3000, attempts=1)
    assert [l["code"] for l in lines] == ["OK"] * 4, lines
    plain = peers(MdpClient(bus.broker.endpoint, secret(bus, "client")))
    plain.send("echo", echo_request_body("plain", "after-1"))
    got = plain.recv(3000)
    assert got is not None and parse_reply(got[1][0])["code"] == OK
    # The libnagar worker was never sent anything malformed and is clean.
    bus.assert_clean(worker)
    text = bus.broker.proc.log_text()
    assert not any(mark in text for mark in SANITIZER_MARKS), text[-4000:]


def test_packing_off_by_environment(bus, peers):
    worker = bus.start_worker("plain_worker", NAGAR_BUS_PACKED="0")
    wait_until(lambda: bus.broker.proc.events("broker.worker_ready"), timeout=10,
               what="the worker to register")
    assert bus.broker.proc.events("broker.worker_ready")[-1].get("packed") is False
    for packed in ("0", "1"):
        lines = bus.call(count=2, text="t", timeout_ms=3000, attempts=1,
                         env={"NAGAR_BUS_PACKED": packed})
        assert [l["code"] for l in lines] == ["OK", "OK"], lines
    bus.assert_clean(worker)
