"""A minimal MDP/0.1 client and worker in Python, written from ZeroMQ RFC 7
(https://rfc.zeromq.org/spec/7/) only, not from libnagar: the broker must
interoperate with peers that never saw its code.

    Client (DEALER) -> broker: [""]["MDPC01"][service][body...]
    Broker -> client:          [""]["MDPC01"][service][body...]
    Worker (DEALER) -> broker: [""]["MDPW01"][0x01 READY][service]
                               [""]["MDPW01"][0x03 REPLY][client][""][body...]
                               [""]["MDPW01"][0x04 HEARTBEAT]
                               [""]["MDPW01"][0x05 DISCONNECT]
    Broker -> worker:          [""]["MDPW01"][0x02 REQUEST][client][""][body...]
                               [""]["MDPW01"][0x04 HEARTBEAT] / [0x05 DISCONNECT]

CURVE is optional: pass curve=(secret_cert_path, broker_public_cert_path)
(files in CZMQ's zcert format, as nagar-keygen writes them). Every receive
takes a timeout; nothing here can block forever.
"""
import threading
import time

import zmq
import zmq.auth

MDPC = b"MDPC01"
MDPW = b"MDPW01"
READY, REQUEST, REPLY, HEARTBEAT, DISCONNECT = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"


def _dealer(context, endpoint, curve):
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    if curve:
        secret_path, broker_path = curve
        public, secret = zmq.auth.load_certificate(secret_path)
        broker_public, _ = zmq.auth.load_certificate(broker_path)
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.curve_serverkey = broker_public
    sock.connect(endpoint)
    return sock


class MdpClient:
    """RFC 7 client: send a request, wait (bounded) for the reply."""

    def __init__(self, endpoint, curve=None, context=None):
        self.context = context or zmq.Context.instance()
        self.sock = _dealer(self.context, endpoint, curve)

    def send(self, service, *body):
        if isinstance(service, str):
            service = service.encode()
        self.sock.send_multipart([b"", MDPC, service] + [bytes(b) for b in body])

    def recv(self, timeout_ms):
        """(service, [body frames]) or None when nothing came within timeout_ms."""
        if not self.sock.poll(timeout_ms, zmq.POLLIN):
            return None
        frames = self.sock.recv_multipart()
        assert len(frames) >= 4, f"short reply {frames!r}"
        assert frames[0] == b"", f"reply without the empty delimiter {frames!r}"
        assert frames[1] == MDPC, f"reply with header {frames[1]!r}"
        return frames[2], frames[3:]

    def request(self, service, body, timeout_ms=5000):
        self.send(service, body)
        return self.recv(timeout_ms)

    def close(self):
        self.sock.close(0)


class MdpWorker:
    """RFC 7 worker. Either drive it by hand (ready / recv / reply) or let it
    serve in a thread with serve_in_thread(handler)."""

    def __init__(self, endpoint, service, curve=None, heartbeat_ms=1000, context=None):
        self.endpoint = endpoint
        self.service = service.encode() if isinstance(service, str) else service
        self.curve = curve
        self.heartbeat_ms = heartbeat_ms
        self.context = context or zmq.Context.instance()
        self.sock = None
        self.thread = None
        self.stopping = threading.Event()
        self.disconnected = threading.Event()
        self.handled = 0

    # ---- by hand ----------------------------------------------------------
    def connect(self):
        self.sock = _dealer(self.context, self.endpoint, self.curve)
        self._send(READY, self.service)
        self.last_sent = time.monotonic()

    def _send(self, command, *frames):
        self.sock.send_multipart([b"", MDPW, command] + list(frames))
        self.last_sent = time.monotonic()

    def heartbeat(self):
        self._send(HEARTBEAT)

    def recv(self, timeout_ms):
        """The next command from the broker as (command, frames), or None on
        timeout. Heartbeats are returned too."""
        if not self.sock.poll(timeout_ms, zmq.POLLIN):
            return None
        frames = self.sock.recv_multipart()
        assert len(frames) >= 3 and frames[0] == b"" and frames[1] == MDPW, \
            f"not an MDP/0.1 worker message: {frames!r}"
        return frames[2], frames[3:]

    def recv_request(self, timeout_ms):
        """Waits for a REQUEST, answering heartbeats on the way. Returns
        (client, [body frames]), "disconnect", or None on timeout."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if time.monotonic() - self.last_sent >= self.heartbeat_ms / 1000.0:
                self.heartbeat()
            got = self.recv(min(remaining, self.heartbeat_ms / 1000.0) * 1000)
            if got is None:
                continue
            command, frames = got
            if command == REQUEST:
                assert len(frames) >= 3 and frames[1] == b"", f"bad REQUEST {frames!r}"
                return frames[0], frames[2:]
            if command == DISCONNECT:
                self.disconnected.set()
                return "disconnect"
            assert command == HEARTBEAT, f"unexpected command {command!r}"

    def reply(self, client, *body):
        self._send(REPLY, client, b"", *body)

    def disconnect(self):
        self._send(DISCONNECT)

    def close(self):
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None

    # ---- in a thread ---------------------------------------------------
    def serve_in_thread(self, handler, hold_s=0.0, heartbeat_while_busy=True):
        """Serves until stop(): handler(body_frames) returns the reply body
        frames. hold_s keeps each request that long before answering, still
        heartbeating (a slow but healthy worker), or, with
        heartbeat_while_busy=False, silent as RFC 7 lets a worker be while
        it works (it heartbeats only between requests)."""
        ready = threading.Event()

        def run():
            self.connect()
            ready.set()
            try:
                while not self.stopping.is_set():
                    got = self.recv_request(100)
                    if got is None:
                        continue
                    if got == "disconnect":
                        break
                    client, body = got
                    until = time.monotonic() + hold_s
                    while time.monotonic() < until and not self.stopping.is_set():
                        if heartbeat_while_busy and \
                                time.monotonic() - self.last_sent >= self.heartbeat_ms / 1000.0:
                            self.heartbeat()
                        time.sleep(0.01)
                    self.reply(client, *handler(body))
                    self.handled += 1
            finally:
                self.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(5), "worker thread did not start"
        return self

    def stop(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(timeout=5)
            assert not self.thread.is_alive(), "worker thread did not stop"
