"""bus_service — what the fixtures of a service started on the bus share
(identity_fixtures.py, notifications_fixtures.py): clients that present a
principal's CURVE certificate to the broker and are closed with the service,
and the wait until the service answers on the bus.

    class RunningX(BusService):
        def __init__(self, proc, broker):
            super().__init__(broker, XClient)   # XClient: an mdp_packed.NagarClient
    running.wait_answering("x.list", {"pageSize": 1}, "x to answer on the bus")
"""
import os

from nagar_proc import wait_until


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
