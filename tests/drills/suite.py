"""The whole Nagar suite as `make run` lays it out (deploy/run.sh), but with
each process started and stoppable on its own, for drills that kill, attack,
restore and quarantine.

    suite = Suite(base_dir, backup=True)   # PostgreSQL, provisioning, keys, [pgBackRest]
    suite.start_all()                      # broker, every built service, gateway
    suite.http("POST", "/api/v1/...", token=suite.token("CLERK", ulb), json=..., key=...)
    suite.ctl("verify")                    # nagar-ctl with the layout's settings
    suite.sql("nagar_property_tax", "SELECT ...")          # superuser
    suite.sql_as("property_tax_owner", "nagar_property_tax", "...")  # with that role's password
    suite.stop()

Tokens are minted with identity's own signing key (var/secrets/token/k1.key),
so drills need no interactive login. Each service gets only its own secrets,
as deploy/run.sh hands them (suite.service_secrets(svc)); the payment
provider's keys, one per service, are suite.provider_keys(). Every wait has a
deadline.
"""
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))

from gateway_fixtures import sign_token  # noqa: E402
import nagar_proc  # noqa: E402
from nagar_proc import free_port, wait_until  # noqa: E402

SERVICES = ["identity", "notifications", "certificates", "property_tax", "water_tax", "witness"]
# The services that take online payments, each with its own provider key.
PROVIDER_SERVICES = ["property_tax", "water_tax", "certificates"]
PROVIDER_CALLBACKS = {"property_tax": "/api/v1/property-tax/online-payments/callback",
                      "water_tax": "/api/v1/water-tax/online-payments/callback",
                      "certificates": "/api/v1/certificates/fee-payments/callback"}
PROVIDER_ORDERS = {"property_tax": "/api/v1/property-tax/online-payments/{}",
                   "water_tax": "/api/v1/water-tax/online-payments/{}",
                   "certificates": "/api/v1/certificates/fee-payments/{}"}
DB_SERVICES = ["identity", "certificates", "property_tax", "water_tax", "notifications",
               "witness"]


def build_dir():
    return os.path.join(ROOT, os.environ.get("BUILD", "build"))


def ctl_binary():
    for name in ("nagarctl", "nagar-ctl", "nagar-nagarctl"):
        path = os.path.join(build_dir(), name)
        if os.path.exists(path):
            return path
    raise AssertionError(f"nagarctl is not built in {build_dir()} (make BUILD=... all)")


def make_base_dir():
    """A directory the postgres and nagar-backup users can traverse (pytest's
    tmp_path is 0700 root), so nothing is relocated to /var/tmp."""
    base = tempfile.mkdtemp(prefix="nagar-drill-", dir="/tmp")
    os.chmod(base, 0o755)
    return base


class Proc(nagar_proc.Proc):
    """tests/system/nagar_proc.py's started process with the drills' defaults:
    text() for its log, a longer wait for an event (a drill's services start
    on a loaded machine) and stop() with the signal first."""

    def text(self):
        return self.log_text()

    def wait_event(self, event, timeout=20, count=1):
        return super().wait_event(event, timeout, count)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        return super().stop(timeout, sig)


class AttackTally:
    """An attack drill's account: every attempt tried, those both blocked and
    logged, and the rest as failures with what came back."""

    def __init__(self):
        self.tried, self.blocked, self.failures = [], [], []

    def record(self, name, blocked, logged, detail=""):
        self.tried.append(name)
        if blocked and logged:
            self.blocked.append(name)
        else:
            self.failures.append(f"{name}: blocked={blocked} logged={logged} {detail}")

    def report(self, summary, at_least=0):
        """Prints the drill's summary line and each attempt's outcome; asserts
        that every attempt was blocked and logged, and that at least
        at_least were tried."""
        print(summary)
        for name in self.tried:
            print(f"  {'blocked' if name in self.blocked else 'NOT BLOCKED'}: {name}")
        assert not self.failures, "\n".join(self.failures)
        assert len(self.tried) >= at_least, self.tried


def ledger_payments(sql, ulb):
    """Idempotency key (its last part) -> [(receipt, amount paise)] of every
    payment in ulb's property-tax ledger, read with sql(db, text) (a Suite's
    or a Cluster's): the drills compare it with what clerks were told."""
    rows = sql("nagar_property_tax",
               "SELECT idempotency_key, reference, amount_paise FROM property_tax.ledger "
               f"WHERE ulb = '{ulb}' AND kind = 'PAYMENT'")
    found = {}
    for line in rows.splitlines():
        key, reference, amount = line.split("|")
        found.setdefault(key.rsplit(":", 1)[1], []).append((reference, int(amount)))
    return found


def property_body(ulb, area=1000):
    """The property every drill registers: one owner, one floor of area sq ft."""
    return {"ulb": ulb, "ward": 1, "zone": "A", "address": "12 Gandhi Marg",
            "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": "RENTED",
            "owners": [{"name": "Asha Verma", "mobile": "9876500001", "shareBp": 10000}],
            "floors": [{"floor": 0, "areaSqft": str(area)}]}

class Suite:
    def __init__(self, base, backup=False):
        self.base = base
        self.var = os.path.join(base, "var")
        os.makedirs(self.var, exist_ok=True)
        self.logs = os.path.join(base, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.pg_port, self.broker_port, self.http_port = free_port(), free_port(), free_port()
        self.backup = backup
        self.env = dict(os.environ, BUILD=build_dir(), NAGAR_VAR=self.var,
                        NAGAR_PG_PORT=str(self.pg_port),
                        NAGAR_BACKUP_REPO_PORT=str(free_port()),
                        NAGAR_BACKUP_PG_PORT=str(free_port()),
                        ASAN_OPTIONS="detect_leaks=0:abort_on_error=0")
        self.ctl_asan = "detect_leaks=1:abort_on_error=0"
        for key in ("NAGAR_DB_HOST", "NAGAR_BUS_ENDPOINT", "NAGAR_CONFIG",
                    "NAGAR_IDENTITY_TOKEN_KEY", "NAGAR_IDENTITY_OTP_KEY_FILE",
                    "NAGAR_CERTIFICATES_SEAL_KEY", "NAGAR_NOTIFY_SEAL_KEY_FILE",
                    "NAGAR_PAYMENT_PROVIDER_KEY_FILE"):
            self.env.pop(key, None)
        self.procs = {}
        self.counter = 0
        self._setup()

    # ---- set-up ----
    def run(self, argv, timeout=300, check=True, env=None):
        r = subprocess.run(argv, env=env or self.env, cwd=ROOT, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"{argv} failed ({r.returncode}):\n{r.stdout[-3000:]}\n"
                                 f"{r.stderr[-3000:]}")
        return r

    def _setup(self):
        deploy = os.path.join(ROOT, "deploy")
        self.run([f"{deploy}/pg.sh", "init"])
        self.run([f"{deploy}/pg.sh", "start"])
        self.run([f"{deploy}/provision.sh"])
        self.run([f"{deploy}/keys.sh", build_dir()])
        if self.backup:
            self.run([f"{deploy}/backup.sh", "setup"], timeout=300)
        self.ctl_ok("checkpoint-keygen")
        self.keys = os.path.join(self.var, "keys")
        secrets = os.path.join(self.var, "secrets")
        with open(os.path.join(secrets, "token", "k1.key")) as f:
            raw = bytes.fromhex(f.read().strip())
        self.token_key = Ed25519PrivateKey.from_private_bytes(raw[:32])
        self.svc_env = dict(self.env)
        self.svc_env.update({
            "NAGAR_BUS_ENDPOINT": f"tcp://127.0.0.1:{self.broker_port}",
            "NAGAR_BUS_BROKER_KEY": os.path.join(self.keys, "broker.pub"),
            "NAGAR_TOKEN_PUBLIC_KEYS_DIR": os.path.join(self.var, "token_keys"),
            "NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR": os.path.join(self.var, "certificate_keys"),
            "NAGAR_CHECKPOINT_PUBLIC_KEY": os.path.join(self.var, "checkpoint_key",
                                                        "checkpoint.pub"),
            "NAGAR_NOTIFY_FILE_SINK": os.path.join(self.var, "notify_sink.jsonl"),
            "NAGAR_IDENTITY_OTP_VIA": "notifications",
            "NAGAR_GATEWAY_LISTEN": f"127.0.0.1:{self.http_port}",
            "NAGAR_GATEWAY_RATE_PER_IP": "0", "NAGAR_GATEWAY_RATE_PER_USER": "0",
            "NAGAR_GATEWAY_TIMEOUT_MS": "20000",
            "NAGAR_GATEWAY_READY_INTERVAL_MS": "200",
            "NAGAR_GATEWAY_REVOCATION_POLL_MS": "500",
            "NAGAR_DB_STATEMENT_TIMEOUT_MS": "20000",
        })

    def service_secrets(self, svc):
        """The secret settings of one service, as deploy/run.sh hands them: each
        its own keys, none another's (one payment provider key per service)."""
        secrets = os.path.join(self.var, "secrets")
        out = {"identity": {"NAGAR_IDENTITY_TOKEN_KEY": os.path.join(secrets, "token", "k1.key"),
                            "NAGAR_IDENTITY_OTP_KEY_FILE": os.path.join(secrets,
                                                                        "identity_otp.key")},
               "certificates": {"NAGAR_CERTIFICATES_SEAL_KEY": os.path.join(
                   secrets, "certificate_seal", "c1.key")},
               "notifications": {"NAGAR_NOTIFY_SEAL_KEY_FILE": os.path.join(secrets,
                                                                            "notify_seal.key")},
               }.get(svc, {})
        if svc in PROVIDER_SERVICES:
            out["NAGAR_PAYMENT_PROVIDER_KEY_FILE"] = self.provider_key_path(svc)
        return out

    def provider_key_path(self, svc):
        return os.path.join(self.var, "secrets", "payment_provider", f"{svc}.key")

    def provider_key(self, svc):
        """The payment provider key of service svc (hex), as the provider holds it."""
        with open(self.provider_key_path(svc)) as f:
            return f.read().strip()

    def provider_keys(self):
        """{service: key hex} of every service that takes online payments."""
        return {svc: self.provider_key(svc) for svc in PROVIDER_SERVICES}

    def ctl_env(self):
        env = dict(self.env)
        env.update({"NAGAR_BUS_ENDPOINT": f"tcp://127.0.0.1:{self.broker_port}",
                    "NAGAR_DB_HOST": "127.0.0.1", "NAGAR_DB_PORT": str(self.pg_port),
                    "NAGAR_BUS_TIMEOUT_MS": "10000",
                    # nagarctl's own leaks fail the drill; the services' are not its business.
                    "ASAN_OPTIONS": self.ctl_asan})
        return env

    def ctl(self, *args, timeout=300):
        return self.run([ctl_binary(), *args], timeout=timeout, check=False, env=self.ctl_env())

    def ctl_ok(self, *args, timeout=300):
        r = self.run([ctl_binary(), *args], timeout=timeout, check=False, env=self.ctl_env())
        assert r.returncode == 0, f"nagarctl {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        return r

    # ---- processes ----
    def built(self, svc):
        return (os.path.exists(os.path.join(build_dir(), f"nagar-{svc}"))
                and os.path.isdir(os.path.join(ROOT, "services", svc)))

    def services(self):
        return [s for s in SERVICES if self.built(s)]

    def service_env(self, svc):
        env = dict(self.svc_env)
        env["NAGAR_BUS_CERT"] = os.path.join(self.keys, "secret", f"{svc}.cert")
        env["NAGAR_DB_CONNINFO"] = (f"host=127.0.0.1 port={self.pg_port} dbname=nagar_{svc} "
                                    f"user={svc}_app connect_timeout=5")
        env["PGPASSFILE"] = os.path.join(self.var, "secrets", f"{svc}_app.pgpass")
        env.update(self.service_secrets(svc))
        return env

    def start(self, name, argv, env, ready_event=None):
        self.counter += 1
        proc = Proc(name, argv, env, os.path.join(self.logs, f"{name}.{self.counter}.log"))
        self.procs.setdefault(name, []).append(proc)
        if ready_event:
            proc.wait_event(ready_event, timeout=30)
        return proc

    def start_broker(self):
        env = dict(self.svc_env)
        env.update({"NAGAR_BROKER_BIND": f"tcp://127.0.0.1:{self.broker_port}",
                    "NAGAR_BROKER_KEYS_DIR": self.keys,
                    "NAGAR_BROKER_STATE_DIR": os.path.join(self.var, "broker")})
        os.makedirs(os.path.join(self.var, "broker"), exist_ok=True)
        return self.start("broker", [os.path.join(build_dir(), "nagar-broker")], env,
                          "broker.ready")

    def start_service(self, svc):
        return self.start(svc, [os.path.join(build_dir(), f"nagar-{svc}")],
                          self.service_env(svc))

    def start_gateway(self):
        env = dict(self.svc_env)
        env["NAGAR_BUS_CERT"] = os.path.join(self.keys, "secret", "gateway.cert")
        proc = self.start("gateway", [os.path.join(build_dir(), "nagar-gateway")], env)
        wait_until(lambda: self._get("/healthz") == 200, 30, 0.1, "the gateway to listen")
        return proc

    def start_all(self):
        self.start_broker()
        for svc in self.services():
            self.start_service(svc)
        self.start_gateway()
        self.wait_serving()

    def wait_serving(self, services=None, timeout=60):
        want = services or self.services()

        def workers():
            stats = self.stats()
            return stats and all(stats.get(s, {}).get("workers", 0) > 0 for s in want)
        wait_until(workers, timeout, 0.2, f"workers of {want}")

    def alive(self, name):
        return [p for p in self.procs.get(name, []) if p.alive()]

    def stop_service(self, name, sig=signal.SIGTERM):
        for p in self.alive(name):
            p.stop(sig)

    def kill(self, name):
        for p in self.alive(name):
            p.popen.kill()
            p.popen.wait(timeout=10)

    def stats(self):
        r = self.ctl("status")
        if r.returncode != 0:
            return None
        out = {}
        for line in r.stdout.splitlines()[1:]:
            if not line.strip():
                break                  # the services table ends; principals follow
            parts = line.split()
            if len(parts) >= 7 and parts[1].isdigit():
                out[parts[0]] = {"workers": int(parts[1]), "queued": int(parts[3]),
                                 "quarantined": "QUARANTINED" in line}
        return out

    def principal_stats(self):
        """nagarctl status's principals table: {principal: {column: int}}."""
        r = self.ctl("status")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("PRINCIPAL"))
        out = {}
        for line in lines[start + 1:]:
            parts = line.split()
            if len(parts) < 8:
                continue
            out[parts[0]] = dict(zip(("in_flight", "requests", "acl", "quarantine",
                                      "limit_in_flight", "rate", "by_service"),
                                     (int(v) for v in parts[1:8])))
        return out

    def stop(self):
        for name in list(self.procs)[::-1]:
            for p in self.procs[name]:
                try:
                    p.stop(timeout=10)
                except Exception:  # noqa: BLE001 - teardown goes on
                    pass
        deploy = os.path.join(ROOT, "deploy")
        self.run([f"{deploy}/pg.sh", "stop"], check=False, timeout=90)
        if self.backup:
            self.run([f"{deploy}/backup.sh", "stop"], check=False, timeout=60)
        if os.environ.get("NAGAR_DRILL_KEEP") != "1":
            shutil.rmtree(self.base, ignore_errors=True)

    # ---- HTTP ----
    def _get(self, path):
        try:
            return requests.get(f"http://127.0.0.1:{self.http_port}{path}", timeout=2).status_code
        except requests.RequestException:
            return None

    def token(self, role, ulb="", user_id=None):
        user = user_id or f"{role.lower()}:{uuid.uuid4().hex[:12]}"
        return sign_token(self.token_key, "k1", user_id=user, role=role, ulb=ulb,
                          ttl_ms=3_600_000)

    def staff_account(self, role, ulb=""):
        """A real staff account (created by a state admin through the gateway):
        (username, password, user_id). Jobs log in with it (issue 12)."""
        username = f"{role.lower().replace('_', '.')}.{uuid.uuid4().hex[:8]}"
        password = "drill-" + uuid.uuid4().hex
        admin = self.token("STATE_ADMIN")
        r = self.http("POST", "/api/v1/staff", token=admin, key=uuid.uuid4().hex,
                      json={"username": username, "fullName": f"Drill {role.title()}",
                            "role": role, "ulb": ulb, "password": password})
        assert r.status_code == 200, r.text
        return username, password, r.json()["userId"]

    def ctl_as(self, operator, *args, timeout=300):
        """nagarctl logged in as operator (username, password[, ...])."""
        env = self.ctl_env()
        env.update(NAGAR_OPERATOR_USER=operator[0], NAGAR_OPERATOR_PASSWORD=operator[1])
        return self.run([ctl_binary(), *args], timeout=timeout, check=False, env=env)

    def http(self, method, path, token=None, key=None, timeout=20, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["Idempotency-Key"] = key
        return requests.request(method, f"http://127.0.0.1:{self.http_port}{path}",
                                headers=headers, timeout=timeout, **kwargs)

    # ---- domain helpers ----
    def create_property(self, clerk, ulb, area=1000):
        r = self.http("POST", "/api/v1/property-tax/properties", token=clerk,
                      key=uuid.uuid4().hex, json=property_body(ulb, area))
        assert r.status_code == 200, r.text
        return r.json()["propertyId"]

    def pay(self, clerk, pid, amount, key=None, timeout=20, advance=True):
        body = {"propertyId": pid, "amountPaise": str(amount), "mode": "CASH", "counter": "C1",
                "advance": advance}
        return self.http("POST", "/api/v1/property-tax/payments", token=clerk,
                         key=key or uuid.uuid4().hex, json=body, timeout=timeout)

    def paid_property(self, ulb, *amounts):
        """A clerk of ulb, a property they register, and a counter payment of
        each amount, every one accepted: (clerk's token, property id,
        [receipt])."""
        clerk = self.token("CLERK", ulb)
        pid = self.create_property(clerk, ulb)
        receipts = []
        for amount in amounts:
            r = self.pay(clerk, pid, amount)
            assert r.status_code == 200, r.text
            receipts.append(r.json())
        return clerk, pid, receipts

    def issue_birth_certificate(self, ulb, citizen, registrar, days_ago=3):
        from datetime import date, timedelta
        born = (date.today() - timedelta(days=days_ago)).isoformat()
        report = {"dateOfBirth": born, "sex": "FEMALE", "childName": "Asha Verma",
                  "fatherName": "Ramesh Verma", "motherName": "Sunita Verma",
                  "addressAtBirth": "12 Station Road", "permanentAddress": "12 Station Road, MP",
                  "placeKind": "HOSPITAL", "placeName": "District Hospital",
                  "informant": {"name": "Ramesh Verma", "relation": "father",
                                "address": "12 Station Road", "mobile": "9876543210"}}
        r = self.http("POST", "/api/v1/certificates/applications/birth", token=citizen,
                      key=uuid.uuid4().hex, json={"birth": report, "ulb": ulb})
        assert r.status_code == 200, r.text
        app_id = r.json()["applicationId"]
        if r.json()["feeStatus"] == "DUE":
            # A late report's fee is taken at a counter first (issue 14 item 3).
            r = self.http("POST", f"/api/v1/certificates/applications/{app_id}/fee/payment",
                          token=self.token("CLERK", ulb), key=uuid.uuid4().hex,
                          json={"amountPaise": r.json()["feePaise"], "mode": "CASH",
                                "counter": "C1"})
            assert r.status_code == 200, r.text
        r = self.http("POST", f"/api/v1/certificates/applications/{app_id}/register",
                      token=registrar, key=uuid.uuid4().hex, json={})
        assert r.status_code == 200, r.text
        return r.json()

    # ---- online payments (one provider key per service) ----
    def online_orders(self, ulb, mobile="9812377001"):
        """One online-payment order a citizen started in each service that takes
        them, still unpaid: {service: (order, citizen token)}. Property tax: a
        property the citizen owns; water tax: a connection the citizen applied
        for, approved; certificates: the fee of a marriage registration."""
        import test_certificates   # tests/system: the requests' shapes
        import test_water_tax
        citizen_id = f"citizen:{mobile}"
        citizen = self.token("CITIZEN", "", citizen_id)
        clerk, officer = self.token("CLERK", ulb), self.token("REVENUE_OFFICER", ulb)
        fy = self.financial_year()
        out = {}

        def ok(r):
            assert r.status_code == 200, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
            return r.json()
        body = {"ulb": ulb, "ward": 1, "zone": "A", "address": "3 Station Road",
                "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": "SELF_OCCUPIED",
                "owners": [{"name": "Ravi Kumar", "mobile": mobile, "userId": citizen_id,
                            "shareBp": 10000}],
                "floors": [{"floor": 0, "areaSqft": "800"}]}
        pid = ok(self.http("POST", "/api/v1/property-tax/properties", token=clerk,
                           key=uuid.uuid4().hex, json=body))["propertyId"]
        out["property_tax"] = (ok(self.http(
            "POST", "/api/v1/property-tax/online-payments", token=citizen, key=uuid.uuid4().hex,
            json={"propertyId": pid, "amountPaise": "50000", "advance": True})), citizen)
        ok(self.http("PUT", f"/api/v1/water-tax/tariffs/{ulb}/{fy}", token=officer,
                     key=uuid.uuid4().hex,
                     json=test_water_tax.tariff_body(connectionFees=test_water_tax.NO_FEE)))
        cid = ok(self.http("POST", "/api/v1/water-tax/connections", token=citizen,
                           key=uuid.uuid4().hex, json={
                               "ulb": ulb, "ward": 1, "propertyId": pid,
                               "consumerName": "Ravi Kumar", "mobile": mobile,
                               "address": "3 Station Road", "category": "DOMESTIC",
                               "pipeSizeMm": 15, "metered": False, "units": 1}))["connectionId"]
        ok(self.http("POST", f"/api/v1/water-tax/connections/{cid}/decision", token=officer,
                     key=uuid.uuid4().hex, json={"approve": True, "reason": "site inspected",
                                                 "activeFrom": fy[:4] + "-04-01"}))
        out["water_tax"] = (ok(self.http(
            "POST", "/api/v1/water-tax/online-payments", token=citizen, key=uuid.uuid4().hex,
            json={"connectionId": cid, "amountPaise": "20000", "advance": True})), citizen)
        app = ok(self.http("POST", "/api/v1/certificates/applications/marriage", token=citizen,
                           key=uuid.uuid4().hex,
                           json={"marriage": test_certificates.marriage_report(10), "ulb": ulb}))
        assert app["feeStatus"] == "DUE", app
        out["certificates"] = (ok(self.http(
            "POST", f"/api/v1/certificates/applications/{app['applicationId']}/fee/online-payments",
            token=citizen, key=uuid.uuid4().hex, json={})), citizen)
        for svc, (order, _) in out.items():
            assert order["status"] == "CREATED", (svc, order)
        return out

    @staticmethod
    def financial_year():
        from datetime import datetime, timedelta, timezone
        today = datetime.now(timezone(timedelta(hours=5, minutes=30))).date()
        start = today.year if today.month >= 4 else today.year - 1
        return f"{start}-{(start + 1) % 100:02d}"

    def provider_callback(self, svc, order, key_of, status="SUCCESS", ref=None):
        """The payment provider's callback for an order of service svc, signed
        with the provider key of service key_of (svc's own: what the provider
        sends; another's: what that service's host could forge)."""
        import hashlib
        import hmac
        ref = ref or "FP" + uuid.uuid4().hex[:16]
        amount = int(order["amountPaise"])
        signature = hmac.new(bytes.fromhex(self.provider_key(key_of)),
                             f"v1|callback|{order['orderId']}|{ref}|{amount}|{status}".encode(),
                             hashlib.sha256).hexdigest()
        return self.http("POST", PROVIDER_CALLBACKS[svc],
                         json={"orderId": order["orderId"], "providerRef": ref,
                               "amountPaise": str(amount), "status": status,
                               "signature": signature})

    def order_status(self, svc, order, token):
        r = self.http("GET", PROVIDER_ORDERS[svc].format(order["orderId"]), token=token)
        assert r.status_code == 200, r.text
        return r.json()["status"]

    # ---- database ----
    def sql(self, db, text, check=True):
        env = dict(self.env, PGDATABASE=db)
        r = self.run([os.path.join(ROOT, "deploy", "pg.sh"), "psql", "-At", "-v",
                      "ON_ERROR_STOP=1", "-c", text], env=env, check=check, timeout=60)
        return r.stdout.strip() if check else r

    def password(self, role):
        with open(os.path.join(self.var, "secrets", f"{role}.pgpass")) as f:
            return f.read().strip().split(":", 4)[4]

    def sql_as(self, role, db, text):
        """psql as a service role with its password; returns the CompletedProcess."""
        env = dict(self.env, PGPASSWORD=self.password(role))
        return subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                               "-p", str(self.pg_port), "-U", role, "-d", db, "-c", text],
                              env=env, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def fingerprint(self):
        """Every table of every service database: row count and an md5 over
        its rows in a stable order — what "every row is back" compares."""
        out = {}
        for svc in DB_SERVICES:
            db = f"nagar_{svc}"
            tables = self.sql(db, "SELECT schemaname || '.' || tablename FROM pg_tables "
                                  "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
                                  "ORDER BY 1")
            for table in [t for t in tables.split("\n") if t]:
                out[f"{db}:{table}"] = self.sql(
                    db, f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' "
                        f"ORDER BY t::text)), '') FROM {table} t")
        return out
