"""Graceful drain (issue 16 item 4) and the brokers' shared state (item 2),
against real processes: a service, broker or gateway asked to stop finishes
what it holds and takes nothing new, so a restart loses and retries nothing;
a quarantine, release or revocation made at one broker reaches the others
through etcd and survives their restarts.

Workers are tests/support/test_worker ("echo"), clients tests/support/bus_call;
etcd is Debian's etcd-server, one member on loopback. Every wait has a bound.
"""
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
import requests

from nagar_proc import free_port, wait_until
from mdp_packed import NagarClient
from mdp_peers import MdpWorker
from test_broker import OK, admin, curve, reply_ok_to, revoke_of
from test_bus import HEARTBEAT, Bus, finish
from test_bus_brokers import Brokers

pytestmark = pytest.mark.timeout(150)

DRAIN = {"NAGAR_BROKER_DRAIN_GRACE_MS": "600", "NAGAR_BROKER_DRAIN_TIMEOUT_MS": "10000",
         "NAGAR_BROKER_WARMUP_MS": "300", "NAGAR_BROKER_RETURN_GRACE_MS": "8000"}


@pytest.fixture
def bus(broker, procs, nagar_bin):  # noqa: F811
    return Bus(broker(**HEARTBEAT, **DRAIN), procs, nagar_bin)


# ---- a service (worker) asked to stop --------------------------------------

def test_a_stopping_worker_answers_everything_it_holds(bus):
    # Credit 16: the four requests are all at the worker, which sleeps on
    # the first while holding the others.
    worker, call = bus.worker_holding(4, 800, "held")
    worker.popen.send_signal(signal.SIGTERM)
    lines = finish(call)
    assert [l["code"] for l in lines] == ["OK"] * 4, lines
    assert all(l["attempts"] == 1 and l["worker"] == str(worker.pid) for l in lines)
    wait_until(lambda: not worker.alive(), timeout=15, what="the worker to exit")
    assert worker.events("bus.worker_drained") and worker.events("bus.worker_stopped")
    bus.assert_clean(worker)
    assert bus.broker.proc.events("broker.worker_drained")


def test_a_restarted_only_worker_loses_no_request(bus):
    """The service's only process restarts under load: the broker keeps its
    requests waiting (NAGAR_BROKER_RETURN_GRACE_MS) until it is back."""
    first = bus.start_worker("echo-a")
    bus.wait_registered(1)
    call = bus.call_background(count=40, in_flight=2, sleep_ms=50, timeout_ms=8000, attempts=1)
    time.sleep(0.4)
    first.popen.send_signal(signal.SIGTERM)
    wait_until(lambda: not first.alive(), timeout=15, what="the first worker to exit")
    time.sleep(0.5)                       # nobody serves echo for a while
    second = bus.start_worker("echo-b")
    lines = finish(call, timeout=60)
    assert [l["code"] for l in lines] == ["OK"] * 40, [l for l in lines if l["code"] != "OK"]
    assert {l["worker"] for l in lines} == {str(first.pid), str(second.pid)}
    assert all(l["attempts"] == 1 for l in lines)
    assert second.stop() == 0


def test_requests_wait_for_an_only_worker_that_went_silent(bus):
    """The service's only process stops answering for a while (a worker
    blocked on a database that is failing over): the broker presumes it
    dead, but the requests that arrive meanwhile wait for it to come back
    (NAGAR_BROKER_RETURN_GRACE_MS) instead of being refused at once."""
    worker = bus.start_worker("echo")
    bus.wait_registered(1)
    worker.popen.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: bus.broker.proc.events("broker.worker_expired"), timeout=15,
                   what="the broker to presume the silent worker dead")
        call = bus.call_background(count=5, in_flight=1, timeout_ms=8000, attempts=1,
                                   request_id="silent")
        time.sleep(0.5)                   # the first request waits at the broker
    finally:
        worker.popen.send_signal(signal.SIGCONT)
    lines = finish(call, timeout=60)
    assert [l["code"] for l in lines] == ["OK"] * 5, lines
    assert all(l["worker"] == str(worker.pid) and l["attempts"] == 1 for l in lines), lines
    assert worker.stop() == 0


# ---- a broker asked to stop ---------------------------------------------------

def test_a_stopping_broker_finishes_what_it_holds(bus):
    worker, call = bus.worker_holding(3, 900, "b")
    bus.broker.proc.popen.send_signal(signal.SIGTERM)
    lines = finish(call)
    assert [l["code"] for l in lines] == ["OK"] * 3, lines
    wait_until(lambda: not bus.broker.proc.alive(), timeout=15, what="the broker to exit")
    assert bus.broker.proc.events("broker.draining") and bus.broker.proc.events("broker.stopped")
    text = bus.broker.proc.log_text()
    assert "AddressSanitizer" not in text and "runtime error" not in text, text[-3000:]


@pytest.fixture
def brokers(broker, procs, nagar_bin, tmp_path):  # noqa: F811
    def start(**env):
        return broker(**env, **DRAIN)
    return Brokers(start, procs, nagar_bin, tmp_path)


def test_clients_leave_a_draining_broker_without_a_failure(brokers):
    workers = [brokers.start_worker(f"echo{i}") for i in range(2)]
    brokers.wait_served_through("a", 2)
    brokers.wait_served_through("b", 2)
    call = brokers.call_background(count=300, in_flight=4, sleep_ms=20, timeout_ms=8000,
                                   attempts=1)
    time.sleep(1.0)
    brokers.a.proc.popen.send_signal(signal.SIGTERM)
    lines = finish(call, timeout=90)
    assert [l["code"] for l in lines] == ["OK"] * 300, [l for l in lines if l["code"] != "OK"]
    assert all(l["attempts"] == 1 for l in lines)
    wait_until(lambda: not brokers.a.proc.alive(), timeout=20, what="broker a to exit")
    for w in workers:
        assert w.stop() == 0
        brokers.assert_clean(w)


# ---- the shared state: etcd -----------------------------------------------------

@pytest.fixture
def etcd(tmp_path):
    binary = shutil.which("etcd")
    if not binary:
        pytest.skip("etcd-server is not installed (deploy/deps.sh installs it)")
    client, peer = free_port(), free_port()
    data = tmp_path / "etcd"
    proc = subprocess.Popen(
        [binary, "--name", "t", "--data-dir", str(data),
         "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"t=http://127.0.0.1:{peer}", "--log-level", "error"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{client}"

    def up():
        try:
            return requests.post(url + "/v3/kv/range", json={"key": "eA=="}, timeout=1).ok
        except requests.RequestException:
            return False
    try:
        wait_until(up, timeout=20, what="etcd to answer")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def status_line(brokers, which, service):
    """The service's row of nagarctl status at one broker."""
    env = dict(os.environ, NAGAR_BUS_ENDPOINT=getattr(brokers, which).endpoint,
               NAGAR_CTL_KEYS_DIR=str(brokers.broker.keys_dir),
               NAGAR_BUS_CERT=os.path.join(brokers.broker.keys_dir, "secret", "operator.cert"),
               NAGAR_BUS_BROKER_KEY=brokers.broker.public_key_path,
               ASAN_OPTIONS="detect_leaks=0")
    r = subprocess.run([brokers.nagar_bin("nagar-ctl"), "status"], env=env,
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    return next((l for l in r.stdout.splitlines() if l.split()[:1] == [service]), "")


def ctl(brokers, which, *args):
    env = dict(os.environ, NAGAR_BUS_ENDPOINT=getattr(brokers, which).endpoint,
               NAGAR_CTL_KEYS_DIR=str(brokers.broker.keys_dir),
               NAGAR_BUS_CERT=os.path.join(brokers.broker.keys_dir, "secret", "operator.cert"),
               NAGAR_BUS_BROKER_KEY=brokers.broker.public_key_path,
               ASAN_OPTIONS="detect_leaks=0")
    return subprocess.run([brokers.nagar_bin("nagar-ctl"), *args], env=env, capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_quarantine_at_one_broker_reaches_the_other_within_a_second(broker, procs, nagar_bin,
                                                                    tmp_path, etcd):
    shared = {"NAGAR_BROKER_ETCD_ENDPOINTS": etcd, "NAGAR_BROKER_ETCD_POLL_MS": "100"}
    b = Brokers(lambda **env: broker(**env, **shared), procs, nagar_bin, tmp_path)
    worker = b.start_worker("echo0")
    b.wait_served_through("a")
    b.wait_served_through("b")

    r = ctl(b, "a", "quarantine", "echo", "drill")
    assert r.returncode == 0, r.stdout + r.stderr
    quarantined_at = time.monotonic()
    wait_until(lambda: "QUARANTINED" in status_line(b, "b", "echo"), timeout=5,
               what="broker b to quarantine echo")
    reached_s = time.monotonic() - quarantined_at
    # Refused at b too, at once.
    [line] = b.call(brokers="b", attempts=1, timeout_ms=2000)
    assert line["code"] == "UNAVAILABLE" and "quarantined" in line["message"], line
    assert b.b.proc.events("broker.shared_quarantine")
    print(f"\nquarantine at broker a reached broker b in {reached_s:.2f} s")
    assert reached_s < 1.0

    # It survives a restart of b (read from etcd again), and of a.
    endpoint = b.b.endpoint
    assert b.b.stop() == 0
    b.b = broker(NAGAR_BROKER_BIND=endpoint, NAGAR_BROKER_STATE_DIR=str(tmp_path / "state_b2"),
                 **HEARTBEAT, **shared)
    wait_until(lambda: "QUARANTINED" in status_line(b, "b", "echo"), timeout=5,
               what="the restarted broker b to know the quarantine")

    # Released at b: a lets the worker back.
    r = ctl(b, "b", "release", "echo")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_until(lambda: "QUARANTINED" not in status_line(b, "a", "echo"), timeout=5,
               what="broker a to release echo")
    b.wait_served_through("a", timeout=20)
    assert worker.stop() == 0


def test_revocation_at_one_broker_cuts_the_key_at_the_other(broker, procs, nagar_bin, tmp_path,
                                                            etcd, keys):
    shared = {"NAGAR_BROKER_ETCD_ENDPOINTS": etcd, "NAGAR_BROKER_ETCD_POLL_MS": "100"}
    b = Brokers(lambda **env: broker(**env, **shared), procs, nagar_bin, tmp_path)
    worker = b.start_worker("echo0")
    b.wait_served_through("b")
    operator = NagarClient(b.a.endpoint, curve(keys, "operator"))
    try:
        assert admin(operator, "revoke", revoke_of(principal="client"))["code"] == OK
    finally:
        operator.close()
    wait_until(lambda: bool(b.b.proc.events("broker.shared_revoke")), timeout=5,
               what="broker b to learn the revocation")
    # The revoked key's requests are dropped unanswered at b as well.
    [line] = b.call(brokers="b", attempts=1, timeout_ms=1500)
    assert line["code"] == "DEADLINE_EXCEEDED", line
    assert worker.stop() == 0


# ---- a gateway asked to stop ----------------------------------------------------

def test_a_stopping_gateway_finishes_what_it_holds(broker, gateway, keys):  # noqa: F811
    b = broker(**HEARTBEAT)
    g = gateway(b, NAGAR_GATEWAY_TIMEOUT_MS=10000, NAGAR_GATEWAY_DRAIN_GRACE_MS=800,
                NAGAR_GATEWAY_DRAIN_TIMEOUT_MS=10000, NAGAR_GATEWAY_READY_NEEDS_SERVICES=0)
    # A slow identity: each answer takes 0.7 s.
    identity = MdpWorker(b.endpoint, "identity", curve(keys, "identity"))
    identity.serve_in_thread(reply_ok_to, hold_s=0.7)
    try:
        wait_until(lambda: g.get("/readyz").status_code == 200, 15, what="the gateway ready")
        results = []

        def call():
            try:
                results.append(g.get("/api/v1/ulbs/250946", timeout=20).status_code)
            except requests.RequestException as e:
                results.append(type(e).__name__)
        threads = [threading.Thread(target=call) for _ in range(3)]
        for t in threads:
            t.start()
        wait_until(lambda: "nagar_gateway_suspended_connections 3" in g.get("/metrics").text, 5,
                   what="three requests in hand")
        g.proc.popen.send_signal(signal.SIGTERM)
        g.proc.wait_event("gateway.draining")
        # Out of rotation at once, still answering meanwhile.
        ready = g.get("/readyz", timeout=5)
        assert ready.status_code == 503 and "draining" in ready.json()["message"], ready.text
        assert ready.headers.get("Connection", "").lower() == "close"
        for t in threads:
            t.join(20)
        assert results == [200] * 3, results
        wait_until(lambda: not g.proc.alive(), 15, what="the gateway to exit")
        assert g.proc.wait_event("gateway.draining")
        text = g.proc.log_text()
        assert "AddressSanitizer" not in text and "runtime error" not in text, text[-3000:]
    finally:
        identity.stop()
