"""A broker that restarts, or whose connection drops and comes back, faster
than the clients' pings (NAGAR_BUS_PING_MS) or the workers' heartbeats
notice: what it held is gone with it, and nobody may wait for it.

The libnagar client and worker watch each broker connection (a ZeroMQ socket
monitor, bus_watch.h). When an established connection is lost, the client
sends what that broker held again, with the same request id and idempotency
key, when that is safe (the request carries an idempotency key, or the
caller marked it repeatable, a read); any other request is answered
UNAVAILABLE at once, never sent twice. The worker drops what the lost
connection had delivered (its answers could reach nobody) and registers
again at once.

The brokers are real nagar-broker processes (CURVE on), killed with SIGKILL
and started again on the same address; workers are tests/support/test_worker
("echo"), clients tests/support/bus_call. No stopwatch: each request has a
60 s deadline and the client is given 20 s to finish, so an answer at all
shows nobody waited the deadline out; a worker's heartbeat is 20 s, so one
served within 8 s of the restart shows it did not wait for one.
"""
import signal

import pytest

from nagar_proc import wait_until
from test_bus import HEARTBEAT, Bus, finish, sleeping_worker

pytestmark = pytest.mark.timeout(120)

# Retries leave room for the worker to register again after the restart
# (the resent request may reach the new broker first and be told "no worker").
RETRIES = {"NAGAR_BUS_RETRY_BASE_MS": "200"}


@pytest.fixture
def bus(broker, procs, nagar_bin):  # noqa: F811  (fixture from bus_fixtures)
    return Bus(broker(**HEARTBEAT), procs, nagar_bin)


def restart(bus, broker, **env):
    """SIGKILL the bus's broker and start another on its address at once."""
    endpoint, state_dir = bus.broker.endpoint, bus.broker.state_dir
    bus.broker.proc.kill(signal.SIGKILL)
    bus.broker = broker(NAGAR_BROKER_BIND=endpoint, NAGAR_BROKER_STATE_DIR=state_dir,
                        **(env or HEARTBEAT))


def started(workers, request_id):
    """How many times a worker began the request (echo.sleeping lines)."""
    return sum(1 for w in workers for e in w.events("echo.sleeping")
               if e.get("request_id") == request_id)


def restarted_while_held(bus, broker, request_id, count, **args):
    """One echo worker sleeping 400 ms on each of count requests (ids
    request_id-0 ..) sent at once with 60 s deadlines and up to 6 attempts,
    the broker restarted while the worker is on the first: (worker, the
    client's result lines)."""
    worker = bus.start_worker("echo")
    bus.wait_registered(1)
    call = bus.call_background(count=count, in_flight=count, sleep_ms=400, timeout_ms=60000,
                               attempts=6, request_id=request_id, env=RETRIES, **args)
    sleeping_worker([worker], f"{request_id}-0")
    restart(bus, broker)
    return worker, finish(call, timeout=20)


def test_keyed_requests_held_by_a_restarted_broker_are_answered(bus, broker):
    worker, lines = restarted_while_held(bus, broker, "rs", 3, idempotency_key="pay")
    assert [l["code"] for l in lines] == ["OK"] * 3, lines
    assert sorted(l["request_id"] for l in lines) == ["rs-0", "rs-1", "rs-2"]
    # Sent again with its own key: a service answers the second from its
    # idempotency record.
    assert all(l["idempotency_key"] == "pay-" + l["request_id"][3:] for l in lines), lines
    assert worker.events("bus.worker_reconnected"), "the worker did not register again"
    assert worker.stop() == 0
    bus.assert_clean(worker)


def test_a_request_without_a_key_is_refused_at_once_never_sent_twice(bus, broker):
    worker, lines = restarted_while_held(bus, broker, "nk", 3)
    assert [l["code"] for l in lines] == ["UNAVAILABLE"] * 3, lines
    assert all("idempotency key" in l["message"] and "may or may not" in l["message"]
               for l in lines), lines
    # The one the worker had begun ran once; none was sent again.
    bus.wait_registered(1, timeout=20)
    assert started([worker], "nk-0") == 1
    assert started([worker], "nk-1") <= 1 and started([worker], "nk-2") <= 1
    assert worker.stop() == 0
    bus.assert_clean(worker)


def test_a_repeatable_request_without_a_key_is_sent_again(bus, broker):
    worker, lines = restarted_while_held(bus, broker, "rd", 2, repeatable=True)
    assert [l["code"] for l in lines] == ["OK"] * 2, lines
    assert worker.stop() == 0
    bus.assert_clean(worker)


def test_an_idle_worker_registers_again_at_once(broker, procs, nagar_bin):
    # Heartbeats every 20 s: before this change the worker learnt of the new
    # broker only from the DISCONNECT answering its next heartbeat, and came
    # back a back-off later.
    slow = {"NAGAR_BUS_HEARTBEAT_MS": "20000", "NAGAR_BUS_LIVENESS": "3"}
    bus = Bus(broker(**slow), procs, nagar_bin)
    worker = bus.start_worker("echo", **slow)
    bus.wait_registered(1)
    restart(bus, broker, **slow)

    def served():
        lines = bus.call(count=1, timeout_ms=2000, attempts=1, timeout=20)
        return lines[0]["code"] == "OK"
    wait_until(served, timeout=8, interval=0.1, what="the worker serving through the new broker")
    assert worker.events("bus.worker_reconnected")
    assert worker.stop() == 0
    bus.assert_clean(worker)


def test_two_brokers_one_restarted_between_pings(broker, procs, nagar_bin, tmp_path):
    # Pings a minute apart: only the lost connection can tell the client.
    a = broker(NAGAR_BROKER_STATE_DIR=str(tmp_path / "state_a"), **HEARTBEAT)
    b = broker(NAGAR_BROKER_STATE_DIR=str(tmp_path / "state_b"), **HEARTBEAT)
    bus = Bus(a, procs, nagar_bin)
    both = f"{a.endpoint},{b.endpoint}"
    workers = [bus.start_worker(f"echo{i}", NAGAR_BUS_ENDPOINT=both) for i in range(2)]
    bus.wait_registered(2)
    env = dict(RETRIES, NAGAR_BUS_ENDPOINT=both, NAGAR_BUS_PING_MS="60000",
               NAGAR_BUS_BROKER_LIVENESS_MS="600000")
    call = bus.call_background(count=8, in_flight=8, sleep_ms=400, timeout_ms=60000,
                               attempts=6, idempotency_key="pay", request_id="tb", env=env)
    sleeping_worker(workers, "tb-0")
    restart(bus, broker)
    lines = finish(call, timeout=20)
    assert [l["code"] for l in lines] == ["OK"] * 8, lines
    for w in workers:
        assert w.stop() == 0
        bus.assert_clean(w)
