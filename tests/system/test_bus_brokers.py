"""Several brokers (NAGAR_BUS_ENDPOINT lists them, bus.h): a libnagar worker
registers with every broker, a libnagar client sends to one that serves and
fails over to another with the same request id and idempotency key when a
broker dies, when it has no worker for the service, or when it says it is
draining.

Workers are tests/support/test_worker ("echo"), clients tests/support/bus_call;
the brokers are real nagar-broker processes with CURVE on, sharing one key
pair. Every wait has a bound; no assertion is about timing beyond "well
before the deadline" (the deadline is what a missed fail-over would cost).
"""
import json
import signal

import pytest

from nagar_proc import wait_until
from test_bus import HEARTBEAT, Bus, finish, sleeping_worker

pytestmark = pytest.mark.timeout(120)

# Quick fail-over for the tests: ping every 100 ms, down after 600 ms of silence.
PING = {"NAGAR_BUS_PING_MS": "100", "NAGAR_BUS_BROKER_LIVENESS_MS": "600"}


class Brokers(Bus):
    """Two brokers; workers and clients are given both unless told otherwise."""

    def __init__(self, start_broker, procs, nagar_bin, tmp_path):
        self.a = start_broker(NAGAR_BROKER_STATE_DIR=str(tmp_path / "state_a"), **HEARTBEAT)
        self.b = start_broker(NAGAR_BROKER_STATE_DIR=str(tmp_path / "state_b"), **HEARTBEAT)
        super().__init__(self.a, procs, nagar_bin)

    def endpoints(self, which="ab"):
        return ",".join({"a": self.a.endpoint, "b": self.b.endpoint}[c] for c in which)

    def start_worker(self, name, principal="echo", brokers="ab", **env):
        env.setdefault("NAGAR_BUS_ENDPOINT", self.endpoints(brokers))
        return super().start_worker(name, principal, **env)

    def call(self, principal="client", timeout=60, env=None, brokers="ab", log=None, **args):
        full = dict(PING, NAGAR_BUS_ENDPOINT=self.endpoints(brokers))
        full.update(env or {})
        return super().call(principal, timeout, full, log, **args)

    def call_background(self, principal="client", env=None, brokers="ab", **args):
        full = dict(PING, NAGAR_BUS_ENDPOINT=self.endpoints(brokers))
        full.update(env or {})
        return super().call_background(principal, full, **args)

    def wait_served_through(self, which, count=1, timeout=10.0):
        def served():
            lines = self.call(brokers=which, count=count, in_flight=count, sleep_ms=100,
                              timeout_ms=3000, attempts=1, timeout=20)
            return all(l["code"] == "OK" for l in lines) and \
                len({l["worker"] for l in lines}) == count
        wait_until(served, timeout=timeout, interval=0.1,
                   what=f"{count} echo workers registered with broker {which}")


@pytest.fixture
def brokers(broker, procs, nagar_bin, tmp_path):  # noqa: F811  (fixture from bus_fixtures)
    return Brokers(broker, procs, nagar_bin, tmp_path)


def test_a_worker_registers_with_every_broker(brokers):
    worker = brokers.start_worker("echo0")
    brokers.wait_served_through("a")
    brokers.wait_served_through("b")
    lines = brokers.call(count=20, in_flight=4)
    assert [l["code"] for l in lines] == ["OK"] * 20
    assert {l["worker"] for l in lines} == {str(worker.pid)}
    assert worker.stop() == 0
    brokers.assert_clean(worker)


@pytest.mark.parametrize("client_env", [
    {},
    # Plain multi-frame requests: no part may wait for a connection that went.
    {"NAGAR_BUS_PACKED": "0"},
    # A ping a second: the client's first ping goes out before its
    # connections are up and is refused, so broker a is usually given
    # requests before it has answered any ping and dies "unknown". Only the
    # next ping, refused for want of a connection, can tell; nothing would
    # ever be declared down by liveness (no ping of a's is outstanding).
    {"NAGAR_BUS_PING_MS": "1000", "NAGAR_BUS_BROKER_LIVENESS_MS": "3000"},
], ids=["packed", "plain", "before_its_first_ping"])
def test_killed_broker_its_requests_go_to_the_other_with_the_same_keys(brokers, client_env):
    workers = [brokers.start_worker(f"echo{i}") for i in range(2)]
    brokers.wait_served_through("a", 2)
    brokers.wait_served_through("b", 2)
    # Slow requests, so some are held by each broker when one dies.
    call = brokers.call_background(count=8, in_flight=8, sleep_ms=700, timeout_ms=60000,
                                   attempts=1, idempotency_key="pay", request_id="fo",
                                   env=client_env)
    sleeping_worker(workers, "fo-0")
    brokers.a.proc.kill(signal.SIGKILL)
    # Well before the 60 s deadline that a missed fail-over would have cost:
    # the client is given 30 s to finish.
    lines = finish(call, timeout=30)
    assert len(lines) == 8
    # Every request answered OK, each with its own id and key, none by a retry
    # that counted as an attempt: the held ones were resent to broker b.
    assert [l["code"] for l in lines] == ["OK"] * 8, lines
    assert sorted(l["request_id"] for l in lines) == sorted(f"fo-{i}" for i in range(8))
    assert all(l["idempotency_key"] == "pay-" + l["request_id"].split("-")[1] for l in lines)
    assert all(l["attempts"] == 1 for l in lines), lines
    # New requests go straight to the survivor.
    lines = brokers.call(count=10, in_flight=2, timeout_ms=5000, attempts=1)
    assert [l["code"] for l in lines] == ["OK"] * 10
    for w in workers:
        assert w.stop() == 0
        brokers.assert_clean(w)


def test_a_broker_without_the_service_sends_the_client_to_another(brokers):
    # The worker is registered with b only; a client that asks a first is
    # answered UNAVAILABLE there and tries b at once, not as a counted attempt.
    worker = brokers.start_worker("echo0", brokers="b")
    brokers.wait_served_through("b")
    lines = brokers.call(count=12, in_flight=3, timeout_ms=5000, attempts=1)
    assert [l["code"] for l in lines] == ["OK"] * 12, lines
    assert all(l["attempts"] == 1 for l in lines)
    assert worker.stop() == 0


def test_a_dead_broker_at_start_costs_nothing(brokers, tmp_path):
    # One of the two addresses has no broker at all.
    worker = brokers.start_worker("echo0", brokers="b")
    brokers.wait_served_through("b")
    brokers.a.proc.kill(signal.SIGKILL)
    # All ten answered by b within the 20 s the client is given of a 60 s
    # deadline, and none was ever queued for the dead address: with
    # ZMQ_IMMEDIATE (set before connecting) a send to a broker with no
    # connection fails at once and goes to the next, so nothing waits for the
    # dead broker to be declared down and nothing is failed over. (Set after
    # connecting, where libzmq ignores it, the first request was queued for
    # the dead broker and failed over a liveness later.)
    log = []
    lines = brokers.call(count=10, in_flight=1, timeout_ms=60000, attempts=1, timeout=20,
                         log=log)
    assert [l["code"] for l in lines] == ["OK"] * 10, lines
    assert all(l["attempts"] == 1 for l in lines), lines
    events = [json.loads(l) for l in log[0].splitlines() if l.startswith("{")]
    failed_over = [e for e in events if e.get("event") == "bus.client_failover"]
    assert failed_over == [], failed_over
    assert worker.stop() == 0


def test_unavailable_with_a_dead_broker_ends_in_one_attempt(brokers):
    # No worker anywhere and broker a dead from the start: b answers
    # UNAVAILABLE, and the fail-over finds a's socket unconnected. It waits a
    # back-off (a may be still connecting) and asks again, until a has
    # refused for a liveness (600 ms) and is down; then b's answer stands, as
    # the one attempt. Bouncing between the dead socket and b would last the
    # whole 60 s deadline, far beyond the 20 s the client is given.
    brokers.a.proc.kill(signal.SIGKILL)
    log = []
    lines = brokers.call(count=3, in_flight=1, timeout_ms=60000, attempts=1, timeout=20,
                         log=log, env={"NAGAR_LOG_LEVEL": "debug"})
    assert [l["code"] for l in lines] == ["UNAVAILABLE"] * 3, lines
    assert all(l["attempts"] == 1 for l in lines), lines
    # Between two askings of b there is a back-off of at least 50 ms (half the
    # 100 ms of a first attempt's), so a liveness holds at most a dozen: not
    # one per round trip to b.
    bounces = [l for l in log[0].splitlines() if '"bus.client_failover"' in l]
    assert len(bounces) <= 30, len(bounces)


def test_worker_keeps_serving_through_one_broker_while_the_other_restarts(brokers, broker):
    worker = brokers.start_worker("echo0")
    brokers.wait_served_through("a")
    brokers.wait_served_through("b")
    endpoint = brokers.a.endpoint
    brokers.a.proc.kill(signal.SIGKILL)
    lines = brokers.call(brokers="b", count=5, timeout_ms=3000, attempts=1)
    assert [l["code"] for l in lines] == ["OK"] * 5
    # The broker comes back on the same address: the worker registers again.
    brokers.a = broker(NAGAR_BROKER_BIND=endpoint, NAGAR_BROKER_STATE_DIR=brokers.a.state_dir,
                       **HEARTBEAT)
    brokers.wait_served_through("a", timeout=20)
    assert worker.events("bus.worker_reconnected")
    assert worker.stop() == 0
    brokers.assert_clean(worker)


def test_out_of_range_broker_lists_are_refused(brokers):
    import subprocess
    from test_bus import sanitizer_env
    env = dict(sanitizer_env(), **brokers.broker.client_env("echo"))
    for endpoint in ("tcp://127.0.0.1:1,", "tcp://127.0.0.1:1,udp://x:2",
                     ",".join(f"tcp://127.0.0.1:{i}" for i in range(1, 10))):
        env["NAGAR_BUS_ENDPOINT"] = endpoint
        result = subprocess.run([brokers.nagar_bin("test_worker")], env=env, timeout=20,
                                capture_output=True, stdin=subprocess.DEVNULL)
        assert result.returncode != 0
        assert b"NAGAR_BUS_ENDPOINT" in result.stdout + result.stderr
