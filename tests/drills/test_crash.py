"""Drill: crashes under load. Clerks record payments concurrently (each
retried with its idempotency key until acknowledged, as a counter client
does) while random processes — property-tax workers, the other services,
the gateway, the broker — and then PostgreSQL itself are killed with
SIGKILL and restarted. Afterwards no acknowledged payment is missing, none
is doubled, and every chain verifies.

Also the offline counter: receipts taken while property tax is down are
replayed from a CSV over the bus, exactly once, with a duplicates report."""
import os
import random
import signal
import subprocess
import threading
import time
import uuid

from suite import ROOT, ledger_payments

ULB = "250852"
LOAD_SECONDS = int(os.environ.get("NAGAR_DRILL_LOAD_SECONDS", "25"))
CLERKS = 4


def kill_postgres(s):
    out = s.run([os.path.join(ROOT, "deploy", "pg.sh"), "env"]).stdout
    data = dict(line.split("=", 1) for line in out.split())["NAGAR_PG_DATA"]
    with open(os.path.join(data, "postmaster.pid")) as f:
        pid = int(f.readline())
    os.kill(pid, signal.SIGKILL)
    return pid


def gone(pid):
    """Dead, or a zombie not yet reaped (pg_ctl would take it for running)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def restart_postgres(s, old_pid, timeout=60):
    deadline = time.monotonic() + timeout
    while not gone(old_pid):
        assert time.monotonic() < deadline, f"postmaster {old_pid} did not die"
        time.sleep(0.1)
    while True:
        r = s.run([os.path.join(ROOT, "deploy", "pg.sh"), "start"], check=False, timeout=60)
        if r.returncode == 0 and s.sql("postgres", "SELECT 1", check=False).returncode == 0:
            return
        # Orphaned backends hold the old shared memory until they notice.
        assert time.monotonic() < deadline, r.stdout + r.stderr
        time.sleep(0.5)


def test_crash_under_payment_load(suite_factory):
    s = suite_factory()
    s.start_broker()
    for svc in s.services():
        s.start_service(svc)
    s.start_service("property_tax")            # two processes of it
    s.start_gateway()
    s.wait_serving()
    clerks = [s.token("CLERK", ULB, f"clerk:crash{i}") for i in range(CLERKS)]
    pids = [s.create_property(clerks[0], ULB) for _ in range(4)]

    acknowledged = {}          # idempotency key -> (clerk user, receipt, amount)
    lock = threading.Lock()
    stop = threading.Event()
    errors_seen = []

    def clerk_loop(index):
        rng = random.Random(index)
        while not stop.is_set():
            key = uuid.uuid4().hex
            amount = rng.randint(100, 99999)
            pid = rng.choice(pids)
            give_up = time.monotonic() + 120
            while time.monotonic() < give_up:
                try:
                    r = s.pay(clerks[index], pid, amount, key=key, timeout=25)
                    if r.status_code == 200:
                        with lock:
                            acknowledged[key] = (f"clerk:crash{index}", r.json()["receiptNo"],
                                                 amount)
                        break
                    errors_seen.append(r.status_code)
                    assert r.status_code in (502, 503, 504, 500), r.text
                except Exception as e:  # noqa: BLE001 - the gateway itself may be down
                    errors_seen.append(type(e).__name__)
                time.sleep(0.2)
            else:
                raise AssertionError(f"payment {key} never acknowledged")

    thread_failures = []

    def clerk(index):
        try:
            clerk_loop(index)
        except BaseException as e:  # noqa: BLE001 - reported by the test below
            thread_failures.append(repr(e))

    threads = [threading.Thread(target=clerk, args=(i,)) for i in range(CLERKS)]
    for t in threads:
        t.start()

    kills = []
    rng = random.Random(8)
    victims = ["property_tax", "property_tax", "identity", "notifications", "certificates",
               "gateway", "broker"]
    end = time.monotonic() + LOAD_SECONDS
    while time.monotonic() < end:
        time.sleep(rng.uniform(1.0, 2.5))
        victim = rng.choice(victims)
        alive = s.alive(victim)
        if not alive:
            continue
        proc = rng.choice(alive)
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(timeout=10)
        kills.append(victim)
        time.sleep(0.3)
        if victim == "broker":
            s.start_broker()
        elif victim == "gateway":
            s.start_gateway()
        else:
            s.start_service(victim)
    # And then the database.
    pg_pid = kill_postgres(s)
    kills.append(f"postgres (pid {pg_pid})")
    time.sleep(1.0)
    restart_postgres(s, pg_pid)
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join(timeout=180)
        assert not t.is_alive(), "a clerk is stuck"

    # Every acknowledged payment exactly once in the ledger.
    found = ledger_payments(s.sql, ULB)
    missing = [k for k in acknowledged if k not in found]
    doubled = [k for k, v in found.items() if len(v) > 1]
    wrong = [k for k, (_, receipt, amount) in acknowledged.items()
             if k in found and found[k][0] != (receipt, amount)]
    unacknowledged = [k for k in found if k not in acknowledged]
    r = s.ctl("verify")
    print(f"\nDRILL crash: kills {len(kills)} ({', '.join(kills)}); payments acknowledged "
          f"{len(acknowledged)}, found {sum(len(v) for v in found.values())} (missing "
          f"{len(missing)}, doubled {len(doubled)}, different {len(wrong)}, recorded but never "
          f"acknowledged {len(unacknowledged)}); errors answered during the chaos "
          f"{len(errors_seen)}; nagarctl verify exit {r.returncode}")
    assert not thread_failures, thread_failures
    assert len(acknowledged) > 20
    assert not missing and not doubled and not wrong
    assert not unacknowledged   # every client retried its key until it was acknowledged
    assert r.returncode == 0, r.stdout + r.stderr
    assert "postgres" in kills[-1]


def test_offline_counter_receipts_replayed_exactly_once(suite_factory, tmp_path):
    s = suite_factory()
    s.start_all()
    # The slips are a real clerk's; a revenue officer replays them (issue 12:
    # the batch key alone records nothing, and the ledger names both).
    clerk_name, _, clerk_user = s.staff_account("CLERK", ULB)
    operator = s.staff_account("REVENUE_OFFICER", ULB)
    clerk = s.token("CLERK", ULB, clerk_user)
    pids = [s.create_property(clerk, ULB) for _ in range(3)]

    # Property tax goes down; the counter keeps taking money on paper/laptop.
    s.stop_service("property_tax")
    s.wait_serving(services=["identity"])
    r = s.pay(clerk, pids[0], 100)
    assert r.status_code == 503, r.text
    lines = ["offline_key,property_id,amount_paise,mode,instrument_ref,counter"]
    for i in range(12):
        mode, ref = ("CHEQUE", f"CHQ{100 + i}") if i % 4 == 3 else ("CASH", "")
        lines.append(f"C7-2026-{i:04d},{pids[i % 3]},{1000 + i},{mode},{ref},C7")
    lines.append(lines[3])     # the same slip keyed twice
    csv_path = tmp_path / "offline.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    half = tmp_path / "first_half.csv"
    half.write_text("\n".join(lines[:7]) + "\n")

    # Replaying while the service is down records nothing and says so.
    report = tmp_path / "report0.csv"
    r = s.ctl_as(operator, "receipts", "replay", str(half), "--ulb", ULB, "--clerk", clerk_name,
                 "--report", str(report), timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "6 failed" in r.stdout

    for _ in range(2):
        s.start_service("property_tax")
    s.wait_serving()
    # An interrupted replay: the first half only.
    r = s.ctl_as(operator, "receipts", "replay", str(half), "--ulb", ULB, "--clerk", clerk_name,
                 timeout=120)
    assert r.returncode == 0 and "6 recorded, 0 duplicates" in r.stdout, r.stdout + r.stderr
    # Then the whole file, twice.
    report1 = tmp_path / "report1.csv"
    r1 = s.ctl_as(operator, "receipts", "replay", str(csv_path), "--ulb", ULB, "--clerk",
                  clerk_name, "--report", str(report1), timeout=120)
    assert r1.returncode == 0, r1.stdout + r1.stderr
    assert "13 receipts: 6 recorded, 7 duplicates" in r1.stdout, r1.stdout
    # Another operator replaying the same slips records nothing twice: the
    # keys are the clerk's, whoever replays them.
    other_operator = s.staff_account("COMMISSIONER", ULB)
    r2 = s.ctl_as(other_operator, "receipts", "replay", str(csv_path), "--ulb", ULB, "--clerk",
                  clerk_name, timeout=120)
    assert "13 receipts: 0 recorded, 13 duplicates" in r2.stdout, r2.stdout
    rows = s.sql("nagar_property_tax", "SELECT count(*), count(DISTINCT idempotency_key), "
                 "sum(amount_paise) FROM property_tax.ledger "
                 f"WHERE ulb = '{ULB}' AND idempotency_key LIKE 'payment:{clerk_user}:offline:%'")
    count, distinct, total = rows.split("|")
    assert count == distinct == "12" and int(total) == sum(1000 + i for i in range(12))
    # Each ledger row names the clerk on the slip (its key) and the operator
    # who replayed it (its "by"), both verified, neither typed by the batch key.
    by = s.sql("nagar_property_tax", "SELECT DISTINCT detail::jsonb->>'by' FROM property_tax.ledger "
               f"WHERE idempotency_key LIKE 'payment:{clerk_user}:offline:%'")
    assert by.split() == [operator[2]], by
    # A slip keyed with the same key but another amount is a conflict, not a payment.
    bad = tmp_path / "bad.csv"
    bad.write_text(f"C7-2026-0000,{pids[0]},999999,CASH,,C7\n")
    r = s.ctl_as(operator, "receipts", "replay", str(bad), "--ulb", ULB, "--clerk", clerk_name,
                 timeout=60)
    assert r.returncode == 1 and "1 conflicts" in r.stdout, r.stdout
    s.ctl_ok("verify")
    report_text = report1.read_text()
    print(f"\nDRILL offline counter: 12 slips (+1 keyed twice) replayed after an interrupted "
          f"first half: {r1.stdout.strip().splitlines()[-1]}; again: "
          f"{r2.stdout.strip().splitlines()[-1]}; ledger rows {count}\n"
          f"duplicates report:\n" + "\n".join(l for l in report_text.splitlines()
                                              if "DUPLICATE" in l or l.startswith("line")))
