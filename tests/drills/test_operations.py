"""nagarctl's everyday commands against a running suite: the status table,
quarantine and release, exit codes, and a key rotation under load that
loses no request (new key installed, the service restarted on it by the
operator's command, then the old key revoked at the broker)."""
import os
import shlex
import signal
import threading
import time
import uuid

from suite import build_dir, ctl_binary

ULB = "250749"


def test_status_quarantine_release_and_exit_codes(suite_factory):
    s = suite_factory()
    s.start_all()
    r = s.ctl_ok("status")
    header = r.stdout.splitlines()[0].split()
    assert header == ["SERVICE", "WORKERS", "IDLE", "QUEUED", "SERVED", "ERRORS", "STATE"]
    for svc in s.services():
        assert any(line.startswith(svc) and "serving" in line for line in r.stdout.splitlines())
    r = s.ctl_ok("quarantine", "notifications", "drill")
    st = s.stats()
    assert st["notifications"]["quarantined"] and st["notifications"]["workers"] == 0
    assert "QUARANTINED: drill" in s.ctl_ok("status").stdout
    s.ctl_ok("release", "notifications")
    s.wait_serving(services=["notifications"], timeout=30)
    # Exit codes: 2 usage, 1 error (broker unreachable).
    assert s.ctl("frobnicate").returncode == 2
    assert s.ctl("quarantine").returncode == 2
    env = s.ctl_env()
    env["NAGAR_BUS_ENDPOINT"] = "tcp://127.0.0.1:1"
    env["NAGAR_BUS_TIMEOUT_MS"] = "500"
    r = s.run([__import__("suite").ctl_binary(), "status"], env=env, check=False, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr


def test_key_rotation_under_load_loses_no_request(suite_factory):
    s = suite_factory()
    s.start_all()
    clerk = s.token("CLERK", ULB)
    pid = s.create_property(clerk, ULB)
    old = s.alive("property_tax")[0]
    with open(os.path.join(s.keys, "public", "property_tax.cert")) as f:
        old_public = [l for l in f.read().splitlines() if "public-key" in l][0].split('"')[1]

    results = []
    stop = threading.Event()

    retried = []

    def load():
        # As a counter client does: a 503 says "retrying with the same
        # idempotency key is safe", so it retries with that key.
        while not stop.is_set():
            key = uuid.uuid4().hex
            for _ in range(20):
                r = s.pay(clerk, pid, 10, key=key, timeout=30)
                if r.status_code != 503:
                    break
                retried.append((key, r.text[:200]))
                time.sleep(0.1)
            results.append((key, r.status_code if r.status_code == 200
                            else (r.status_code, r.text[:300])))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(2)

    # The operator's restart for this layout: start a process on the new key,
    # then stop the old one (SIGTERM: it says DISCONNECT; the broker answers
    # whatever it held with UNAVAILABLE and the callers retry with their keys).
    env = s.service_env("property_tax")
    pidfile = os.path.join(s.base, "new_property_tax.pid")
    log = os.path.join(s.logs, "property_tax.rotated.log")
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()
                       if k.startswith(("NAGAR_", "PGPASSFILE", "ASAN_")))
    restart = (f"env {assigns} {shlex.quote(os.path.join(build_dir(), 'nagar-property_tax'))} "
               f">>{shlex.quote(log)} 2>&1 </dev/null & echo $! > {shlex.quote(pidfile)}; "
               # Stop the old process only once the broker counts the new one too.
               f"for i in $(seq 300); do {shlex.quote(ctl_binary())} status | "
               f"awk '$1 == \"property_tax\" && $2 >= 2 {{ found = 1 }} END {{ exit !found }}' "
               f"&& break; sleep 0.1; done; kill -TERM {old.pid}")
    try:
        started = time.monotonic()
        r = s.ctl("keys", "rotate", "property_tax", "--restart", restart, "--wait", "60",
                  timeout=120)
        rotate_seconds = time.monotonic() - started
        assert r.returncode == 0, r.stdout + r.stderr
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert old.popen.wait(timeout=10) is not None
        with open(os.path.join(s.keys, "public", "property_tax.cert")) as f:
            new_public = [l for l in f.read().splitlines() if "public-key" in l][0].split('"')[1]
        assert new_public != old_public
        assert not os.path.exists(os.path.join(s.keys, "public", "property_tax.next.cert"))
        assert f"{old_public}" in open(os.path.join(s.var, "broker", "state.json")).read()
        # The service serves on the new key.
        assert s.pay(clerk, pid, 11).status_code == 200
        failed = [(k, c) for k, c in results if c != 200]
        keys = [k for k, _ in results]
        rows = int(s.sql("nagar_property_tax",
                         f"SELECT count(*) FROM property_tax.ledger WHERE ulb = '{ULB}'"))
        print(f"\nDRILL key rotation: {len(results)} payments during the rotation, "
              f"{len(failed)} not acknowledged, {len(retried)} answered 503 'worker lost, retry "
              f"with the same key' and acknowledged on retry; ledger rows {rows} (each payment "
              f"exactly once); rotation took {rotate_seconds:.1f} s")
        assert not failed, failed
        assert rows == len(set(keys)) + 1
    finally:
        stop.set()
        if os.path.exists(pidfile):
            try:
                os.kill(int(open(pidfile).read()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
