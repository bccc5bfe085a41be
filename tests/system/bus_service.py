"""bus_service — what the fixtures of a service started on the bus share
(identity_fixtures.py, notifications_fixtures.py): a client that calls the
service as the gateway does and reads its answer (ServiceClient, CallResult),
clients that present a principal's CURVE certificate to the broker and are
closed with the service, and the wait until the service answers on the bus.

    class XClient(ServiceClient):
        SERVICE, METHODS = "x", {"x.list": ("nagar.x.ListRequest", "nagar.x.ListReply")}
    class RunningX(BusService):
        def __init__(self, proc, broker):
            super().__init__(broker, XClient)
    running.wait_answering("x.list", {"pageSize": 1}, "x to answer on the bus")
"""
import os
import time
import uuid

import contract
from mdp_packed import NagarClient
from nagar_proc import wait_until


class CallResult:
    """A nagar.Reply: its status by name, and the reply decoded as reply_type when OK."""

    def __init__(self, method, reply, reply_type):
        self.method = method
        status = reply["status"] or {"code": 0, "message": "", "field": ""}
        self.code = contract.enum_name("nagar.StatusCode", status["code"])
        self.message = status["message"]
        self.field = status["field"]
        self.replayed = reply["replayed"]
        self.request_id = reply["requestId"]
        self.payload = reply["payload"]
        self.reply = contract.decode(reply_type, self.payload) if self.code == "OK" else None

    @property
    def ok(self):
        return self.code == "OK"

    def __repr__(self):
        return (f"CallResult({self.method}: {self.code} field={self.field!r} "
                f"message={self.message!r} reply={self.reply!r})")


class ServiceClient:
    """Calls SERVICE over the broker as one principal, the way the gateway does: a
    nagar.Request envelope in one MDP body frame, with the caller's signed access token
    (never an actor field) in the context. METHODS: method -> (request type, reply type)."""
    SERVICE = None
    METHODS = {}

    def __init__(self, endpoint, curve, token_keys=None):
        self.mdp = NagarClient(endpoint, curve=curve)
        self.token_keys = token_keys

    def authorization(self, actor):
        """A TokenPair's access token as is; an actor dict {"userId","role",
        "ulb"} as a token minted with identity's key (what a login would give)."""
        if not actor:
            return ""
        if "accessToken" in actor:
            return actor["accessToken"]
        assert self.token_keys is not None, "minting a token needs the broker's token keys"
        return self.token_keys.mint(user_id=actor["userId"], role=actor["role"],
                                    ulb=actor.get("ulb", ""))

    def call_raw(self, method, payload, actor=None, client_ip="", idempotency_key="",
                 timeout_ms=15000, request_id=None, authorization=None, forged_actor=None):
        request_id = request_id or uuid.uuid4().hex
        context = {"requestId": request_id, "idempotencyKey": idempotency_key,
                   "clientIp": client_ip,
                   "authorization": self.authorization(actor) if authorization is None
                   else authorization}
        context = contract.encode("nagar.RequestContext", context)
        if forged_actor:
            context += contract.forged_actor(forged_actor["userId"], forged_actor["role"],
                                             forged_actor.get("ulb", ""))
        body = contract.encode("nagar.Request", {"method": method, "context": context,
                                                 "payload": payload})
        self.mdp.send(self.SERVICE, body)
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            got = self.mdp.recv(max(left_ms, 0)) if left_ms > 0 else None
            assert got is not None, f"no reply to {method} within {timeout_ms} ms"
            service, frames = got
            assert service == self.SERVICE.encode(), f"reply from {service!r}"
            reply = contract.decode("nagar.Reply", frames[-1])
            # A late reply to an earlier call that timed out is skipped.
            if reply["requestId"] in ("", request_id):
                return reply

    def call(self, method, request=None, actor=None, *, client_ip="", idempotency_key="",
             timeout_ms=15000, authorization=None, forged_actor=None):
        """request: dict by JSON name; actor: a TokenPair dict (its access
        token is sent) or {"userId","role","ulb"} (a token is minted for it);
        authorization: the exact credential to send instead; forged_actor: an
        old-style Actor field to write as well (services must ignore it)."""
        payload = contract.encode(self.METHODS[method][0], request or {})
        reply = self.call_raw(method, payload, actor, client_ip, idempotency_key, timeout_ms,
                              authorization=authorization, forged_actor=forged_actor)
        return CallResult(method, reply, self.METHODS[method][1])

    def close(self):
        self.mdp.close()


class BusService:
    def __init__(self, broker, client_class):
        self.broker = broker
        self._client_class = client_class
        self._clients = []

    def client(self, principal="gateway"):
        """A client speaking as principal (its key from the broker's key directory)."""
        keys = self.broker.keys_dir
        curve = None if self.broker.insecure else (
            os.path.join(keys, "secret", f"{principal}.cert"), self.broker.public_key_path)
        c = self._client_class(self.broker.endpoint, curve,
                               getattr(self.broker, "token_keys", None))
        self._clients.append(c)
        return c

    def wait_answering(self, method, body, what, principal="gateway", timeout=20, **call):
        """Waits until method answers OK: the broker routes to the service (a process that
        logged "ready" may not have registered with the broker yet)."""
        def answers():
            probe = self.client(principal)
            try:
                return probe.call(method, body, timeout_ms=1000, **call).ok
            except AssertionError:
                return False
            finally:
                probe.close()
                self._clients.remove(probe)
        wait_until(answers, timeout, interval=0.1, what=what)

    def close(self):
        for c in self._clients:
            c.close()
        self._clients = []
