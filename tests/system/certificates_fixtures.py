"""Certificates fixtures for system tests: the certificates database, a
running nagar-certificates, and a whole stack behind the gateway with staff
of two ULBs.


    def test_something(cert_stack):
        s = cert_stack                          # broker, identity, certificates, gateway
        s.gateway.post(path, body, token=s.registrar_a)
        s.citizen                               # a citizen's access token
        s.clerk_a, s.registrar_a, s.registrar_b, s.commissioner_a, s.admin   # staff tokens
        s.ulb_a, s.ulb_b                        # LGD codes
        s.certificates.public_key_path          # <key id>.pub for offline checks
        s.db.sql(text)                          # superuser SQL in nagar_certificates
        s.db.psql_as_app(text)                  # psql as certificates_app (PsqlResult)
        s.db.run_cli(*args)                     # nagar-certificates as a command
        s.provider                              # FakePaymentProvider sharing the service's key

`certificates_db` (session scope) uses the session's pg_cluster, where
provision.sh applied services/certificates/migrations. `certificates(broker,
**env)` makes a signing key pair ("c1") under the test's tmp_path, starts
nagar-certificates with CURVE as the "certificates" principal and a payment
provider key (.provider_key_hex) beside it, waits for
"certificates.ready" and returns a RunningCertificates (.proc, .key_dir,
.key_path, .public_key_path). `cert_stack` starts everything and creates, as
the bootstrap state admin, a clerk, a registrar and a commissioner of ULB A
and a registrar of ULB B (each test gets fresh usernames), and logs them and
a citizen in.

Registered as a plugin in conftest.py: tests use the fixtures by name.
"""
import os
import secrets
import uuid

import pytest

from fake_payment_provider import FakePaymentProvider
from nagar_proc import wait_until
from service_db import ServiceDb

ULB_A = "250858"   # Agar (LGD)
ULB_B = "250749"   # Ajaygarh (LGD)
STAFF_PASSWORD = "correct-horse-battery-9"


class CertificatesDb(ServiceDb):
    def __init__(self, cluster, binary):
        super().__init__(cluster, binary, "certificates")

    def psql_as_app(self, text):
        return self.cluster.psql_as("certificates_app", text)


@pytest.fixture(scope="session")
def certificates_db(pg_cluster, nagar_bin):
    db = CertificatesDb(pg_cluster, nagar_bin("nagar-certificates"))
    db.assert_migrated(9)
    return db


class RunningCertificates:
    def __init__(self, proc, key_dir, key_id):
        self.proc = proc
        self.key_dir = key_dir
        self.key_id = key_id
        self.key_path = os.path.join(key_dir, f"{key_id}.key")
        self.public_key_path = os.path.join(key_dir, f"{key_id}.pub")
        with open(os.path.join(key_dir, "payment_provider.key")) as f:
            self.provider_key_hex = f.read().strip()


@pytest.fixture
def certificates(procs, certificates_db, tmp_path):
    count = [0]

    def start(running_broker, **env):
        count[0] += 1
        suffix = "" if count[0] == 1 else str(count[0])
        key_dir = str(tmp_path / f"certificate_keys{suffix}")
        if not os.path.exists(os.path.join(key_dir, "c1.key")):
            made = certificates_db.run_cli("keygen", key_dir, "c1")
            assert made.returncode == 0, f"keygen failed: {made.stderr}"
        full = dict(certificates_db.env)
        full.update(running_broker.client_env("certificates"))
        full["NAGAR_CERTIFICATES_SEAL_KEY"] = os.path.join(key_dir, "c1.key")
        # The key shared with the payment provider: fees paid online.
        provider_key = os.path.join(key_dir, "payment_provider.key")
        if not os.path.exists(provider_key):
            fd = os.open(provider_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
        full["NAGAR_PAYMENT_PROVIDER_KEY_FILE"] = provider_key
        full.update({k: str(v) for k, v in env.items()})
        proc = procs.start(f"certificates{suffix}", [certificates_db.binary], env=full)
        proc.wait_event("certificates.ready", timeout=20)
        return RunningCertificates(proc, key_dir, "c1")

    return start


class CertStack:
    ulb_a = ULB_A
    ulb_b = ULB_B

    def __init__(self, broker, identity, certificates, gateway, db):
        self.broker = broker
        self.identity = identity
        self.certificates = certificates
        self.gateway = gateway
        self.db = db

    def create_staff(self, role, ulb):
        username = f"{role.lower()}-{uuid.uuid4().hex[:10]}"
        r = self.gateway.post("/api/v1/staff", {
            "username": username, "fullName": f"Test {role.title()}", "role": role,
            "ulb": ulb, "password": STAFF_PASSWORD}, token=self.admin)
        assert r.status_code == 200, f"creating {role} of {ulb} failed: {r.status_code} {r.text}"
        return self.gateway.login_staff(username, STAFF_PASSWORD)


@pytest.fixture
def cert_stack(broker, identity, certificates, gateway, certificates_db):
    b = broker()
    # Every test logs citizens in from 127.0.0.1: lift the OTP rate limits.
    ident = identity(b, NAGAR_IDENTITY_OTP_RESEND_S=0, NAGAR_IDENTITY_OTP_PER_IP=100000,
                     NAGAR_IDENTITY_OTP_PER_NUMBER=1000)
    certs = certificates(b)
    g = gateway(b, identity=ident, NAGAR_GATEWAY_RATE_PER_IP=1000,
                NAGAR_GATEWAY_BURST_PER_IP=1000, NAGAR_GATEWAY_RATE_PER_USER=1000,
                NAGAR_GATEWAY_BURST_PER_USER=1000)
    stack = CertStack(b, ident, certs, g, certificates_db)

    def routed():
        r = g.get("/api/v1/certificates/fees")
        return r.status_code == 200
    wait_until(routed, 20, interval=0.1, what="the gateway to reach certificates")
    stack.admin = g.login_staff(ident.admin_username, ident.admin_password)["accessToken"]
    stack.clerk_a = stack.create_staff("CLERK", ULB_A)["accessToken"]
    stack.registrar_a = stack.create_staff("REGISTRAR", ULB_A)["accessToken"]
    stack.commissioner_a = stack.create_staff("COMMISSIONER", ULB_A)["accessToken"]
    stack.registrar_b = stack.create_staff("REGISTRAR", ULB_B)["accessToken"]
    mobile = "9" + str(uuid.uuid4().int)[:9]
    citizen = g.login_citizen(mobile)
    stack.citizen = citizen["accessToken"]
    stack.citizen_id = citizen["userId"]
    # A local payment provider sharing the service's key (fees paid online).
    stack.provider = FakePaymentProvider(certs.provider_key_hex)
    yield stack
    stack.provider.stop()
