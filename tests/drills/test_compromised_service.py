"""Drill: the certificates process is compromised. The attacker holds its
database password (certificates_app), its bus key (secret/certificates.cert)
and its payment provider key (secrets/payment_provider/certificates.key) and
tries to reach everything else: other services' databases, the ledger,
roles, functions, files on the server, other services' names and methods on
the bus, the broker's admin service, replays of the gateway's requests, a
flood, "paid" callbacks for other services' online orders. Every attempt must
fail and leave a log line (PostgreSQL's log for the database, the broker's
or the receiving worker's JSON log for the bus and the callbacks).
Then the operator quarantines certificates: its routes answer 503 in under
50 ms while every other route keeps 100% success."""
import os
import subprocess
import threading
import time
import uuid

import zmq
import zmq.auth as zauth

import contract
from mdp_packed import NagarClient
from mdp_peers import MdpWorker
from suite import ROOT, AttackTally

ULB = "250786"
PRINCIPAL = "certificates"


def status_of(reply_body):
    status = contract.decode("nagar.Reply", reply_body)["status"] or \
        contract.decode("nagar.Status", b"")
    return status["code"], status["message"]


def envelope(method, payload=b"", actor=("admin:1", "STATE_ADMIN", ""), key=None):
    """A request with an actor written into the envelope (the old field 3,
    which services once believed), as a compromised host would send it."""
    context = contract.encode("nagar.RequestContext", {"requestId": uuid.uuid4().hex,
                                                      "idempotencyKey": key or ""})
    return contract.encode("nagar.Request", {
        "method": method, "payload": payload,
        "context": context + contract.forged_actor(*actor)})


def message(type_name, **fields):
    """A payload: message("property_tax.ListPropertiesRequest", ulb=ULB)."""
    return contract.encode("nagar." + type_name, fields)


def ulb_get():
    return envelope("ulb.get", message("identity.GetUlbRequest", code=ULB))


class Attacks(AttackTally):
    def __init__(self, suite):
        super().__init__()
        self.s = suite
        out = suite.run([os.path.join(ROOT, "deploy", "pg.sh"), "env"])
        self.pg_log = dict(line.split("=", 1) for line in out.stdout.split())["NAGAR_PG_LOG"]
        self.password = suite.password(f"{PRINCIPAL}_app")
        self.curve = (os.path.join(suite.keys, "secret", f"{PRINCIPAL}.cert"),
                      os.path.join(suite.keys, "broker.pub"))
        self.endpoint = f"tcp://127.0.0.1:{suite.broker_port}"

    # ---- the database ----
    def pg_log_text(self):
        with open(self.pg_log, errors="replace") as f:
            return f.read()

    def psql(self, db, sql, user=None, password=None):
        env = dict(self.s.env, PGPASSWORD=password or self.password, PGCONNECT_TIMEOUT="5")
        return subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                               "-p", str(self.s.pg_port), "-U", user or f"{PRINCIPAL}_app", "-d",
                               db, "-c", sql], env=env, capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)

    def sql_attack(self, name, db, sql, user=None, password=None, log_marker=None):
        marker = f"attack-{len(self.tried) + 1:02d}"
        text = f"/* {marker} */ {sql}"
        r = self.psql(db, text, user=user, password=password)
        blocked = r.returncode != 0
        needle = log_marker or marker

        def logged():
            return needle in self.pg_log_text()
        deadline = time.monotonic() + 3
        while not logged() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.record(name, blocked, logged(), (r.stdout + r.stderr).strip()[:200])

    # ---- the bus ----
    def broker_events(self, event):
        return [e for p in self.s.procs["broker"] for e in p.events(event)]

    def worker_events(self, svc, event):
        return [e for p in self.s.procs.get(svc, []) for e in p.events(event)]

    def bus_attack(self, name, service, body, expect_code, log_source):
        """log_source: ("broker", event) or (service, event)."""
        source, event = log_source
        count = (len(self.broker_events(event)) if source == "broker"
                 else len(self.worker_events(source, event)))
        client = NagarClient(self.endpoint, curve=self.curve)
        try:
            reply = client.request(service, body, timeout_ms=5000)
        finally:
            client.close()
        code = status_of(reply[1][0])[0] if reply else None
        blocked = code == expect_code

        def grown():
            now = (len(self.broker_events(event)) if source == "broker"
                   else len(self.worker_events(source, event)))
            return now > count
        deadline = time.monotonic() + 3
        while not grown() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.record(name, blocked, grown(), f"code={code}")
        time.sleep(0.3)   # the broker rate-limits its denial lines; space them out

    def callback_attack(self, name, service, order, token):
        """A payment provider's SUCCESS callback for another service's order,
        signed with the provider key on this host (certificates' own, from
        secrets/payment_provider/certificates.key): refused, logged by that
        service as <service>.callback_forged, and the order stays unpaid."""
        event = f"{service}.callback_forged"

        def count():
            return len([e for e in self.worker_events(service, event)
                        if e.get("order_id") == order["orderId"]])
        before = count()
        r = self.s.provider_callback(service, order, key_of=PRINCIPAL)
        deadline = time.monotonic() + 3
        while count() <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        status = self.s.order_status(service, order, token)
        self.record(name, r.status_code == 403 and status == "CREATED", count() > before,
                    f"HTTP {r.status_code}, order {status}: {r.text[:120]}")

    def serve_attack_quarantined(self, name):
        self.serve_attack(name, PRINCIPAL, refusal="acl.quarantined")

    def serve_attack(self, name, service, refusal="acl.serve_denied"):
        """Registers a worker for service with the stolen key: blocked when the
        broker answers DISCONNECT, and logged when it writes a refusal event."""
        count = len(self.broker_events(refusal))
        worker = MdpWorker(self.endpoint, service, curve=self.curve)
        worker.connect()
        got = None
        if worker.sock.poll(3000, zmq.POLLIN):
            got = worker.sock.recv_multipart()
        worker.sock.close(0)
        blocked = got is not None and len(got) >= 3 and got[2] == b"\x05"   # DISCONNECT
        deadline = time.monotonic() + 3
        while len(self.broker_events(refusal)) <= count and time.monotonic() < deadline:
            time.sleep(0.05)
        self.record(name, blocked, len(self.broker_events(refusal)) > count,
                    f"got={got!r}"[:200])
        time.sleep(0.3)


def bus_methods():
    """Every bus method of every service, read from the method tables
    (nagar_method_t arrays) in each service's source."""
    import glob
    import re
    table = re.compile(r"nagar_method_t\s+\w+\[\]\s*=\s*\{(.*?)\n\};", re.S)
    entry = re.compile(r'^\s*(?:\{|M\()\s*"([a-z_]+\.[a-z_.]+)"', re.M)
    out = {}
    for path in glob.glob(os.path.join(ROOT, "services", "*", "*.c")):
        service = os.path.basename(os.path.dirname(path))
        with open(path) as f:
            for body in table.findall(f.read()):
                out.setdefault(service, set()).update(entry.findall(body))
    assert sum(len(v) for v in out.values()) >= 40 and len(out) >= 5, out
    return {k: sorted(v) for k, v in out.items()}


def test_compromised_certificates_service(suite_factory):
    s = suite_factory()
    s.start_all()
    clerk, pid, _ = s.paid_property(ULB, 1000)
    citizen = s.token("CITIZEN", "", "citizen:9876543210")
    registrar = s.token("REGISTRAR", ULB)
    s.issue_birth_certificate(ULB, citizen, registrar)
    s.ctl_ok("checkpoint")
    a = Attacks(s)
    own = "nagar_certificates"

    # Other services' databases and the maintenance databases.
    for db in ("nagar_property_tax", "nagar_identity", "nagar_notifications", "nagar_water_tax",
               "postgres", "template1"):
        a.sql_attack(f"connect to {db}", db, "SELECT 1",
                     log_marker=f"{PRINCIPAL}_app@{db}")
    a.sql_attack("log in as property_tax_app with certificates' password", "nagar_property_tax",
                 "SELECT 1", user="property_tax_app",
                 log_marker='password authentication failed for user "property_tax_app"')
    # Its own ledger of issued certificates: append-only for everyone.
    a.sql_attack("update an issued certificate", own,
                 "UPDATE certificates.certificate SET subject_name = 'forged'")
    a.sql_attack("delete issued certificates", own, "DELETE FROM certificates.certificate")
    a.sql_attack("truncate issued certificates", own, "TRUNCATE certificates.certificate")
    a.sql_attack("disable the append-only triggers", own,
                 "ALTER TABLE certificates.certificate DISABLE TRIGGER USER")
    a.sql_attack("drop the certificate table", own, "DROP TABLE certificates.certificate")
    a.sql_attack("create a function in its schema", own,
                 "CREATE FUNCTION certificates.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    a.sql_attack("create a function in public", own,
                 "CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    a.sql_attack("replace the app's trigger function", own,
                 "CREATE OR REPLACE FUNCTION certificates.refuse_change() RETURNS "
                 "trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'")
    a.sql_attack("create a table", own, "CREATE TABLE certificates.evil (x int)")
    a.sql_attack("create a schema", own, "CREATE SCHEMA evil")
    a.sql_attack("create a temporary table", own, "CREATE TEMP TABLE evil (x int)")
    a.sql_attack("create a role", own, "CREATE ROLE evil LOGIN PASSWORD 'x'")
    a.sql_attack("make itself superuser", own, "ALTER ROLE certificates_app SUPERUSER")
    a.sql_attack("become the owner", own, "SET ROLE certificates_owner")
    a.sql_attack("become the superuser", own, "SET SESSION AUTHORIZATION postgres")
    a.sql_attack("grant itself the owner role", own, "GRANT certificates_owner TO certificates_app")
    a.sql_attack("install dblink to reach other databases", own, "CREATE EXTENSION dblink")
    a.sql_attack("read a server file", own, "SELECT pg_read_file('/etc/passwd')")
    a.sql_attack("write a server file", own,
                 "COPY (SELECT 1) TO '/tmp/nagar-drill-evil'")
    a.sql_attack("run a program on the server", own, "COPY certificates.certificate FROM PROGRAM 'id'")
    a.sql_attack("create a large object from a server file", own, "SELECT lo_import('/etc/passwd')")

    body_pay = envelope("payment.record",
                        message("property_tax.RecordPaymentRequest", propertyId=pid,
                                amountPaise=100, mode="CASH", counter="C1", advance=True),
                        actor=("clerk:x", "CLERK", ULB), key=uuid.uuid4().hex)
    # Calls its key may not make (the broker refuses them).
    a.bus_attack("record a property-tax payment", "property_tax", body_pay, 5,
                 ("broker", "acl.call_denied"))
    a.bus_attack("read another service's data (property.list)", "property_tax",
                 envelope("property.list", message("property_tax.ListPropertiesRequest", ulb=ULB),
                          actor=("clerk:x", "CLERK", ULB)), 5, ("broker", "acl.call_denied"))
    a.bus_attack("call water_tax", "water_tax", envelope("bill.list"), 5,
                 ("broker", "acl.call_denied"))
    a.bus_attack("admin stats", "nagar.admin", envelope("stats"), 5, ("broker", "acl.call_denied"))
    a.bus_attack("admin: quarantine property_tax", "nagar.admin",
                 envelope("quarantine", message("admin.QuarantineRequest",
                                                service="property_tax", reason="x")), 5,
                 ("broker", "acl.call_denied"))
    a.bus_attack("admin: revoke the gateway's key", "nagar.admin",
                 envelope("revoke", message("admin.RevokeRequest", principal="gateway")), 5,
                 ("broker", "acl.call_denied"))
    # A request the gateway made, replayed with the stolen key.
    a.bus_attack("replay the gateway's payment request", "property_tax", body_pay, 5,
                 ("broker", "acl.call_denied"))
    # Services it may reach, methods it may not call (the worker refuses).
    a.bus_attack("identity staff.create as STATE_ADMIN", "identity",
                 envelope("staff.create", message(
                     "identity.CreateStaffRequest", username="evil", fullName="Evil",
                     role="STATE_ADMIN", password="password-123456")), 5,
                 ("identity", "bus.worker_caller_denied"))
    # (token.revocations it may read: every service verifies tokens itself now.)
    a.bus_attack("identity grant.issue (a job grant)", "identity",
                 envelope("grant.issue", message("identity.IssueGrantRequest",
                                                 job="receipts.replay", ulb=ULB)), 5,
                 ("identity", "bus.worker_caller_denied"))
    a.bus_attack("notifications message.send (OTP channel)", "notifications",
                 envelope("message.send", message("notifications.SendMessageRequest",
                                                   type="9876500001")), 5,
                 ("notifications", "bus.worker_caller_denied"))
    a.bus_attack("notifications campaign.start", "notifications",
                 envelope("campaign.start", message("notifications.StartCampaignRequest",
                                                    ulb=ULB)), 5,
                 ("notifications", "bus.worker_caller_denied"))
    # Serving names that are not its own.
    for name in ("property_tax", "identity", "nagar.admin"):
        a.serve_attack(f"serve {name}", name)

    # The payment provider's callbacks: certificates' provider key (a file on
    # its host) signs a "paid" callback for orders citizens started in the
    # other services. Each service has its own key, so neither is paid.
    orders = s.online_orders(ULB)
    for service in ("property_tax", "water_tax"):
        order, owner = orders[service]
        a.callback_attack(f"sign a provider callback paying a {service} order with "
                          f"certificates' provider key", service, order, owner)

    # A key the broker does not know, claiming to be certificates.
    forged_dir = os.path.join(s.base, "forged")
    os.makedirs(forged_dir)
    _, secret_file = zauth.create_certificates(forged_dir, "forged")
    forged = NagarClient(a.endpoint, curve=(secret_file, a.curve[1]))
    before = len(a.broker_events("bus.auth_failed")) + len(a.broker_events("acl.unknown_key"))
    reply = forged.request("certificates", envelope("application.list"), timeout_ms=1500)
    forged.close()
    deadline = time.monotonic() + 3
    while (len(a.broker_events("bus.auth_failed")) + len(a.broker_events("acl.unknown_key"))
           <= before and time.monotonic() < deadline):
        time.sleep(0.05)
    a.record("connect with a forged key", reply is None,
             len(a.broker_events("bus.auth_failed")) + len(a.broker_events("acl.unknown_key"))
             > before)

    # The flood: 20000 denied requests as fast as it can send; the broker keeps
    # serving everyone else, and counts (and rate-limits the lines of) every refusal.
    stats_before = s.ctl_ok("status").stdout
    denied_before = int(stats_before.split("; ")[1].split()[0])
    flood_ok = threading.Event()
    legit = []

    def legit_traffic():
        for _ in range(20):
            legit.append(s.pay(clerk, pid, 10).status_code)
        flood_ok.set()
    t = threading.Thread(target=legit_traffic)
    ctx = zmq.Context.instance()
    flooder = NagarClient(a.endpoint, curve=a.curve, context=ctx)
    t.start()
    for _ in range(20000):
        flooder.send("property_tax", body_pay)
    t.join(timeout=60)
    flooder.close()
    time.sleep(1.0)
    stats_after = s.ctl_ok("status").stdout
    denied_after = int(stats_after.split("; ")[1].split()[0])
    a.record("flood the broker (20000 denied requests)",
             flood_ok.is_set() and legit == [200] * 20 and s.alive("broker") != [],
             denied_after - denied_before >= 20000, f"legit={legit} denied+={denied_after - denied_before}")

    # Nothing changed where the attacks aimed; the provider, with each
    # service's own key, still pays those orders.
    assert s.ctl("verify").returncode == 0
    for service in ("property_tax", "water_tax"):
        order, owner = orders[service]
        r = s.provider_callback(service, order, key_of=service)
        assert r.status_code == 200 and r.json()["status"] == "PAID", r.text
    assert s.sql("nagar_certificates", "SELECT count(*) FROM certificates.certificate "
                                       "WHERE subject_name = 'forged'") == "0"

    # A flood through a service it may call: 2,000 requests kept in flight to
    # identity with certificates' key. The broker holds it to its share and
    # serves the gateway in turn: gateway reads of identity keep working.
    flood_ctx = zmq.Context()
    flood = NagarClient(a.endpoint, curve=a.curve, context=flood_ctx)
    sent = 0

    def keep_flooding(stop):
        nonlocal sent
        while not stop.is_set():
            for _ in range(200):
                flood.send("identity", ulb_get())
                sent += 1
            while flood.sock.poll(0):
                flood.sock.recv_multipart()
            time.sleep(0.01)
    stop_flood = threading.Event()
    flooding = threading.Thread(target=keep_flooding, args=(stop_flood,))
    def limited_count():
        row = s.principal_stats().get(PRINCIPAL, {})
        return row.get("limit_in_flight", 0) + row.get("rate", 0)
    limited_before = limited_count()
    flooding.start()
    time.sleep(0.5)
    reads = [s.http("GET", f"/api/v1/ulbs/{ULB}").status_code for _ in range(100)]
    stop_flood.set()
    flooding.join(timeout=30)
    flood.close()
    flood_ctx.term()
    limited = limited_count() - limited_before
    a.record("flood identity with 2000 requests in flight (fair share)",
             reads.count(200) >= 99, limited > 0 and a.broker_events("broker.principal_limited"),
             f"gateway reads ok {reads.count(200)}/100, flood sent {sent}, refused {limited}")

    # Quarantine: its routes fail fast, the others keep serving.
    r = s.ctl_ok("quarantine", "certificates", "drill: compromised")
    # Both ways: certificates' key may now call nothing at all — every method
    # of every service, MMI and the broker's admin service — and gets no
    # answer; each refusal is counted (and logged, rate-limited).
    quarantined_before = s.principal_stats()[PRINCIPAL]["quarantine"]
    cut = NagarClient(a.endpoint, curve=a.curve)
    calls = [(service, method) for service, names in bus_methods().items() for method in names]
    calls += [("nagar.admin", "stats"), ("nagar.admin", "release")]
    answered = []
    for service, method in calls:
        cut.send(service, envelope(method))
        if cut.recv(100) is not None:
            answered.append(f"{service} {method}")
    # MMI too, mmi.quarantine included: a cut-off key may not even learn it is cut off.
    for mmi, body in (("mmi.service", b"identity"), ("mmi.quarantine", PRINCIPAL.encode())):
        cut.send(mmi, body)
        if cut.recv(500) is not None:
            answered.append(mmi)
    cut.close()
    refused = s.principal_stats()[PRINCIPAL]["quarantine"] - quarantined_before
    a.record(f"call any of {len(calls)} methods while quarantined", not answered,
             refused >= len(calls) + 2 and a.broker_events("acl.quarantined"),
             f"answered={answered[:5]} refused={refused}")
    a.serve_attack_quarantined("serve certificates while quarantined")
    latencies = []
    for _ in range(30):
        started = time.monotonic()
        r = s.http("GET", "/api/v1/certificates/applications", token=registrar)
        latencies.append((time.monotonic() - started) * 1000)
        assert r.status_code == 503, r.text
    others = []
    for i in range(40):
        others.append(s.pay(clerk, pid, 5).status_code)
        others.append(s.http("GET", f"/api/v1/property-tax/properties/{pid}",
                             token=clerk).status_code)
        others.append(s.http("GET", f"/api/v1/ulbs/{ULB}").status_code)
    assert others == [200] * len(others), others
    assert max(latencies) < 50, latencies
    assert s.stats()["certificates"]["quarantined"]
    s.ctl_ok("release", "certificates")
    # Released, its key works again both ways.
    again = NagarClient(a.endpoint, curve=a.curve)
    reply = again.request("identity", ulb_get(), timeout_ms=5000)
    again.close()
    assert reply is not None and status_of(reply[1][0])[0] == 0, reply

    a.report(f"\nDRILL compromised service ({PRINCIPAL}): attacks tried {len(a.tried)}, blocked "
             f"and logged {len(a.blocked)}; quarantined routes 503 in max "
             f"{max(latencies):.1f} ms; other routes {others.count(200)}/{len(others)} succeeded",
             at_least=30)
