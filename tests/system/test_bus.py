"""System tests of libnagar's bus client and worker against the real
nagar-broker with CURVE on: load spread, a worker killed or frozen while it
holds a request, the caller's principal reaching the worker, the worker's
per-method caller list, deadlines, and retries that keep the request id and
idempotency key.

Workers are tests/support/test_worker ("echo"), clients are
tests/support/bus_call (one JSON line per result). Every wait has a bound;
each test has its own timeout on top. No stopwatch: "promptly" is shown by a
request deadline (or worker sleep) far longer than the time the test gives the
client to finish, so an answer at all proves nobody waited it out; a deadline
is shown by its lower bound (elapsed_ms >= the deadline).
"""
import json
import os
import signal
import subprocess
import time
from collections import Counter

import pytest

import contract
from mdp_packed import NagarClient
from nagar_proc import wait_until

HEARTBEAT = {"NAGAR_BUS_HEARTBEAT_MS": "100", "NAGAR_BUS_LIVENESS": "3"}
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

pytestmark = pytest.mark.timeout(90)


def sanitizer_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


@pytest.fixture
def bus(broker, procs, nagar_bin):  # noqa: F811  (fixture from bus_fixtures)
    """A CURVE broker with test heartbeats and helpers to start echo workers
    and run bus_call."""
    return Bus(broker(**HEARTBEAT), procs, nagar_bin)


class Bus:
    def __init__(self, running_broker, procs, nagar_bin):
        self.broker = running_broker
        self.procs = procs
        self.nagar_bin = nagar_bin
        self.workers = []

    def start_worker(self, name, principal="echo", **env):
        full = self.broker.client_env(principal)
        full.update(HEARTBEAT)
        full.update({k: str(v) for k, v in env.items()})
        worker = self.procs.start(name, [self.nagar_bin("test_worker")], env=full)
        worker.wait_event("bus.worker_ready", timeout=10)
        self.workers.append(worker)
        return worker

    def call_argv(self, **args):
        argv = [self.nagar_bin("bus_call")]
        for key, value in args.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                argv.append(flag)
            else:
                argv += [flag, str(value)]
        return argv

    def call_env(self, principal, **env):
        full = sanitizer_env()
        full.update(self.broker.client_env(principal))
        full.update({k: str(v) for k, v in env.items()})
        return full

    def call(self, principal="client", timeout=60, env=None, log=None, **args):
        """Runs bus_call to completion; returns its result lines (and appends
        its log, stderr, to the list log when one is given)."""
        result = subprocess.run(self.call_argv(**args), env=self.call_env(principal, **(env or {})),
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        stderr = result.stderr.decode(errors="replace")
        if log is not None:
            log.append(stderr)
        assert result.returncode == 0, f"bus_call failed ({result.returncode}): {stderr[-3000:]}"
        assert not any(mark in stderr for mark in SANITIZER_MARKS), stderr[-3000:]
        return [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]

    def call_background(self, principal="client", env=None, **args):
        return subprocess.Popen(self.call_argv(**args), env=self.call_env(principal, **(env or {})),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def worker_holding(self, count, sleep_ms, request_id, timeout_ms=15000):
        """One echo worker, sleeping sleep_ms on the first of count requests
        sent at once without retries (request_id, or request_id-0 .. -N when
        count > 1) while it holds the rest: (worker, the bus_call process)."""
        worker = self.start_worker("echo")
        self.wait_registered(1)
        call = self.call_background(count=count, in_flight=count, sleep_ms=sleep_ms,
                                    timeout_ms=timeout_ms, attempts=1, request_id=request_id)
        sleeping_worker([worker], request_id if count == 1 else f"{request_id}-0")
        return worker, call

    def wait_registered(self, count, timeout=10.0):
        """Until the broker hands requests to `count` distinct workers at once:
        count slow requests in flight can only all run if that many workers
        are registered and idle."""
        def all_serving():
            lines = self.call(count=count, in_flight=count, sleep_ms=150, timeout_ms=3000,
                              attempts=1, timeout=20)
            return len({l.get("worker") for l in lines if l["code"] == "OK"}) == count
        wait_until(all_serving, timeout=timeout, interval=0.1,
                   what=f"{count} echo workers to be registered with the broker")

    def stats(self):
        """The broker's admin stats (nagar.admin.StatsReply), asked as the operator."""
        curve = (os.path.join(self.broker.keys_dir, "secret", "operator.cert"),
                 self.broker.public_key_path)
        operator = NagarClient(self.broker.endpoint, curve=curve)
        try:
            operator.send("nagar.admin", contract.encode("nagar.Request", {
                "method": "stats", "context": {"requestId": "test-bus-stats"}}))
            got = operator.recv(10000)
            assert got is not None, "the broker did not answer nagar.admin stats"
            reply = contract.decode("nagar.Reply", got[1][-1])
            assert not reply["status"] or reply["status"]["code"] == 0, reply
            return contract.decode("nagar.admin.StatsReply", reply["payload"])
        finally:
            operator.close()

    def assert_clean(self, worker):
        text = worker.log_text()
        assert not any(mark in text for mark in SANITIZER_MARKS), text[-4000:]


def finish(process, timeout=30):
    stdout, stderr = process.communicate(timeout=timeout)
    stderr = stderr.decode(errors="replace")
    assert process.returncode == 0, f"bus_call failed ({process.returncode}): {stderr[-3000:]}"
    assert not any(mark in stderr for mark in SANITIZER_MARKS), stderr[-3000:]
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def sleeping_worker(workers, request_id, timeout=10.0):
    """The worker that has started sleeping on request_id."""
    def holder():
        return next((w for w in workers
                     if any(e.get("request_id") == request_id for e in w.events("echo.sleeping"))),
                    None)
    return wait_until(holder, timeout=timeout, what=f"a worker to start request {request_id}")


def test_load_spreads_over_three_workers(bus):
    workers = [bus.start_worker(f"echo{i}") for i in range(3)]
    bus.wait_registered(3)
    lines = bus.call(count=300, in_flight=16, timeout_ms=10000)
    assert len(lines) == 300
    assert all(l["code"] == "OK" for l in lines), [l for l in lines if l["code"] != "OK"][:3]
    assert all(l["attempts"] == 1 for l in lines)
    served = Counter(l["worker"] for l in lines)
    pids = {str(w.pid) for w in workers}
    assert set(served) == pids, served
    for pid, count in served.items():
        assert count >= 45, f"worker {pid} served {count} of 300 (< 15%): {served}"
    for worker in workers:
        assert worker.stop() == 0
        bus.assert_clean(worker)


def test_worker_learns_caller_principal_and_context(bus, token_keys):
    """The worker tells the handler the caller principal the broker
    authenticated, and the actor it verified itself from the request's
    signed token (issue 12): never one the caller wrote."""
    bus.start_worker("echo", NAGAR_TOKEN_PUBLIC_KEYS_DIR=token_keys)
    bus.wait_registered(1)
    token = token_keys.mint(user_id="citizen-42", role="CITIZEN")
    [line] = bus.call(text="namaste", authorization=token, idempotency_key="key-abc",
                      request_id="feedc0de")
    assert line["code"] == "OK", line
    assert line["text"] == "namaste"
    assert line["caller"] == "client"
    assert line["actor_user_id"] == "citizen-42"
    assert line["idempotency_key"] == "key-abc"
    assert line["request_id"] == "feedc0de"
    [line] = bus.call(principal="gateway")
    assert line["code"] == "OK" and line["caller"] == "gateway", line
    assert line["actor_user_id"] == "", line     # no token: acts for nobody
    # A token the worker cannot verify is refused before the handler runs.
    forged = token_keys.forge(user_id="staff:x", role="STATE_ADMIN")
    [line] = bus.call(principal="gateway", authorization=forged)
    assert line["code"] == "UNAUTHENTICATED" and "signature" in line["message"], line
    future = token_keys.mint(user_id="staff:x", role="STATE_ADMIN",
                             issued_at_ms=int(time.time() * 1000) + 3_600_000)
    [line] = bus.call(principal="gateway", authorization=future)
    assert line["code"] == "UNAUTHENTICATED" and "not valid yet" in line["message"], line


def test_worker_refuses_caller_not_in_method_list(bus):
    worker = bus.start_worker("echo", TEST_WORKER_CALLERS="gateway,batch")
    # "client" is refused by this worker, so probe readiness as the gateway.
    wait_until(lambda: bus.call(principal="gateway", attempts=1, timeout_ms=2000)[0]["code"] == "OK",
               timeout=10, what="the echo worker to serve the gateway")
    [line] = bus.call(principal="client", request_id="denied-1")
    assert line["code"] == "PERMISSION_DENIED", line
    assert "'client'" in line["message"] and "'echo'" in line["message"], line
    assert line["attempts"] == 1
    denied = worker.wait_event("bus.worker_caller_denied")
    assert denied[-1].get("request_id") == "denied-1"
    [line] = bus.call(principal="batch")
    assert line["code"] == "OK" and line["caller"] == "batch", line


def test_unknown_method_is_not_found(bus):
    bus.start_worker("echo")
    bus.wait_registered(1)
    [line] = bus.call(method="no.such.method")
    assert line["code"] == "NOT_FOUND", line
    assert line["field"] == "method"
    assert "unknown method 'no.such.method' on service 'echo'" in line["message"]


def test_kill_worker_mid_request_is_retried_on_another_worker(bus):
    workers = [bus.start_worker(f"echo{i}") for i in range(2)]
    bus.wait_registered(2)
    call = bus.call_background(sleep_ms=3000, timeout_ms=60000, attempts=3,
                               idempotency_key="pay-7", request_id="kill-1")
    victim = sleeping_worker(workers, "kill-1")
    victim.kill(signal.SIGKILL)
    # The deadline is 60 s; the client is given 30 s to finish: an answer at
    # all means the retry did not wait for the deadline (on a loaded machine too).
    [line] = finish(call, timeout=30)
    survivor = next(w for w in workers if w is not victim)
    # The broker reports the lost worker at once; the client retries with the
    # same request id and idempotency key on the other worker.
    assert line["code"] == "OK", line
    assert line["attempts"] == 2, line
    assert line["worker"] == str(survivor.pid)
    assert line["request_id"] == "kill-1"
    assert line["idempotency_key"] == "pay-7"
    # The survivor ran the request in full (its 3 s sleep) on the retry.
    assert line["elapsed_ms"] >= 3000, line
    assert survivor.stop() == 0
    bus.assert_clean(survivor)


def test_kill_worker_mid_request_without_retry_fails_promptly(bus):
    worker, call = bus.worker_holding(1, 30000, "kill-2", timeout_ms=60000)
    worker.kill(signal.SIGKILL)
    # UNAVAILABLE (the worker was lost), not DEADLINE_EXCEEDED, and within the
    # 15 s the client is given of a 60 s deadline: promptly, on any machine.
    [line] = finish(call, timeout=15)
    assert line["code"] == "UNAVAILABLE", line
    assert line["attempts"] == 1


def test_heartbeat_expiry_of_a_frozen_worker_and_its_recovery(bus):
    worker, call = bus.worker_holding(1, 4000, "frozen-1", timeout_ms=60000)
    worker.popen.send_signal(signal.SIGSTOP)
    try:
        # Expired after heartbeat * liveness = 300 ms: UNAVAILABLE within the
        # 15 s the client is given, not DEADLINE_EXCEEDED at its 60 s deadline.
        [line] = finish(call, timeout=15)
        assert line["code"] == "UNAVAILABLE", line
        assert bus.broker.proc.wait_event("broker.worker_expired")[-1].get("held_requests") == 1
    finally:
        worker.popen.send_signal(signal.SIGCONT)
    # Thawed, it finds the broker has forgotten it and comes back with READY.
    worker.wait_event("bus.worker_reconnect", timeout=10)
    wait_until(lambda: bus.call(attempts=1, timeout_ms=2000)[0].get("worker") == str(worker.pid),
               timeout=15, interval=0.1, what="the thawed worker to serve again")
    assert worker.stop() == 0
    bus.assert_clean(worker)


def test_client_deadline_with_slow_worker(bus):
    worker = bus.start_worker("echo")
    bus.wait_registered(1)
    # The worker would answer after 30 s; the client is given 15 s to finish,
    # so it must have given up at its own 1 s deadline, and not before it.
    [line] = bus.call(sleep_ms=30000, timeout_ms=1000, attempts=1, timeout=15)
    assert line["code"] == "DEADLINE_EXCEEDED", line
    assert line["elapsed_ms"] >= 1000, line
    worker.kill()       # still sleeping: not a drain to wait for


def test_retry_keeps_request_id_and_idempotency_key(bus, tmp_path):
    # No worker yet: the broker answers UNAVAILABLE at once and the client
    # keeps retrying with back-off until a worker turns up.
    log_path = tmp_path / "bus_call_retry.log"
    with open(log_path, "wb") as log:
        call = subprocess.Popen(
            bus.call_argv(attempts=10, timeout_ms=60000, idempotency_key="receipt-99",
                          request_id="retry-1"),
            env=bus.call_env("client", NAGAR_BUS_RETRY_BASE_MS="200", NAGAR_LOG_LEVEL="debug"),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
    # The worker starts only once an attempt has been refused (the client
    # logs that it will retry), however slowly the client started.
    wait_until(lambda: b"bus.client_retry" in log_path.read_bytes(), timeout=15,
               what="the client to be refused and schedule a retry")
    bus.start_worker("echo")
    stdout, _ = call.communicate(timeout=60)
    stderr = log_path.read_text(errors="replace")
    assert call.returncode == 0, f"bus_call failed ({call.returncode}): {stderr[-3000:]}"
    assert not any(mark in stderr for mark in SANITIZER_MARKS), stderr[-3000:]
    [line] = [json.loads(l) for l in stdout.decode().splitlines() if l.strip()]
    assert line["code"] == "OK", line
    assert line["attempts"] >= 2, line
    assert line["request_id"] == "retry-1"
    assert line["idempotency_key"] == "receipt-99"


def test_no_worker_fails_fast_when_retries_run_out(bus):
    # Fast: the client is given 15 s of a 60 s deadline.
    [line] = bus.call(attempts=2, timeout_ms=60000, timeout=15)
    assert line["code"] == "UNAVAILABLE", line
    assert line["attempts"] == 2


def test_worker_stops_cleanly_on_sigterm(bus):
    worker = bus.start_worker("echo")
    bus.wait_registered(1)
    assert worker.stop() == 0
    assert worker.events("bus.worker_stopped")
    bus.assert_clean(worker)
    # The worker said DISCONNECT, so the broker knows it is gone (it says so,
    # rather than expiring it) and answers at once: within the 15 s the client
    # is given of a 60 s deadline.
    drained = bus.broker.proc.wait_event("broker.worker_drained")
    assert not bus.broker.proc.events("broker.worker_expired"), drained
    [line] = bus.call(attempts=1, timeout_ms=60000, timeout=15)
    assert line["code"] == "UNAVAILABLE", line


def test_crashing_worker_does_not_hang_the_caller(bus):
    workers = [bus.start_worker(f"echo{i}") for i in range(2)]
    bus.wait_registered(2)
    # Both attempts crash a worker (with a key the retry is safe); the caller
    # hears UNAVAILABLE, not silence until its 60 s deadline (it is given 20 s).
    [line] = bus.call(crash=True, attempts=2, timeout_ms=60000, timeout=20,
                      idempotency_key="crash-1")
    assert line["code"] == "UNAVAILABLE", line
    assert line["attempts"] == 2
    wait_until(lambda: not any(w.alive() for w in workers), timeout=15,
               what="both workers to abort")


def test_a_request_without_a_key_that_a_lost_worker_had_is_not_run_again(bus):
    workers = [bus.start_worker(f"echo{i}") for i in range(2)]
    bus.wait_registered(2)
    # The worker that takes it dies holding it: it may have been carried out,
    # and without an idempotency key a retry could run it twice. So the
    # caller is answered at once, after one attempt of the three allowed, and
    # the other worker never sees it.
    [line] = bus.call(crash=True, attempts=3, timeout_ms=60000, timeout=20)
    assert line["code"] == "UNAVAILABLE", line
    assert line["attempts"] == 1, line
    assert "may or may not have been carried out" in line["message"], line
    assert sum(len(w.events("echo.crash")) for w in workers) == 1
    survivor = next(w for w in workers if w.alive())
    [line] = bus.call(attempts=1, timeout_ms=5000)
    assert line["code"] == "OK" and line["worker"] == str(survivor.pid), line
    assert survivor.stop() == 0
    bus.assert_clean(survivor)


# ---- the credit extension (mdp.h) with real libnagar workers ---------------------

def test_killed_worker_every_held_request_fails_promptly(bus):
    # Credit 8 (the default): all four requests are sent to the one worker,
    # which sleeps on the first while holding the other three.
    worker, call = bus.worker_holding(4, 30000, "held", timeout_ms=60000)

    def all_four_held():
        stats = bus.stats()
        client = next((p for p in stats["principals"] if p["name"] == "client"), None)
        echo = next((s for s in stats["services"] if s["name"] == "echo"), None)
        return client and client["inFlight"] == 4 and echo and echo["queued"] == 0
    wait_until(all_four_held, timeout=10, what="the broker to hand all four to the worker")
    worker.kill(signal.SIGKILL)
    # Answered at expiry (300 ms), not at the 60 s deadline (the client is
    # given 15 s): all four were held by the worker, none left waiting in the
    # broker's queue.
    lines = finish(call, timeout=15)
    assert len(lines) == 4
    assert all(l["code"] == "UNAVAILABLE" for l in lines), json.dumps(lines)
    assert sorted(l["request_id"] for l in lines) == [f"held-{i}" for i in range(4)]
    [expired] = bus.broker.proc.wait_event("broker.worker_expired")
    assert expired.get("held_requests") == 4, expired


def test_worker_credit_setting_reaches_the_broker(bus):
    worker = bus.start_worker("echo", NAGAR_BUS_WORKER_CREDIT=3)
    plain = bus.start_worker("echo1", NAGAR_BUS_WORKER_CREDIT=1)
    bus.wait_registered(2)
    credits = sorted(e.get("credit") for e in bus.broker.proc.events("broker.worker_ready"))
    assert credits == [1, 3], credits
    # Six slow requests on credit 3 + credit 1: four are running or held at
    # once, so the last two wait for a worker; all succeed, in about two
    # rounds of sleeps per worker rather than six.
    lines = bus.call(count=6, in_flight=6, sleep_ms=300, timeout_ms=10000, attempts=1)
    assert all(l["code"] == "OK" for l in lines), lines
    served = Counter(l["worker"] for l in lines)
    assert set(served) == {str(worker.pid), str(plain.pid)}, served
    for process in (worker, plain):
        assert process.stop() == 0
        bus.assert_clean(process)


def test_out_of_range_credit_is_refused_at_start(bus):
    env = bus.broker.client_env("echo")
    env.update(NAGAR_BUS_WORKER_CREDIT="0")
    result = subprocess.run([bus.nagar_bin("test_worker")], env=dict(sanitizer_env(), **env),
                            stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert result.returncode != 0
    assert b"NAGAR_BUS_WORKER_CREDIT" in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("insecure", [True, False], ids=["insecure", "curve"])
def test_idle_worker_and_client_keep_serving(broker, procs, nagar_bin, insecure):  # noqa: F811
    # Every event loop that polls with a timeout must survive waking with
    # nothing to read (the insecure broker used to abort on it): broker and
    # worker idle across many heartbeat intervals, then a call is served.
    bus = Bus(broker(NAGAR_BROKER_INSECURE=int(insecure), **HEARTBEAT), procs, nagar_bin)
    worker = bus.start_worker("idle_worker")
    time.sleep(1.5)                          # 15 intervals of 100 ms
    assert worker.alive() and bus.broker.proc.alive()
    lines = bus.call(count=2, in_flight=1, text="after idle", timeout_ms=3000, attempts=1)
    assert [l["code"] for l in lines] == ["OK", "OK"], lines
    bus.assert_clean(worker)
