"""Water-tax fixtures for system tests: the whole stack a water-tax
test needs, started through the other subsystems' fixtures (the same shape as
property_tax_fixtures.py).


    def test_something(water_tax_stack):
        s = water_tax_stack(business_date="2025-06-10")   # processes=2, **env
        clerk = s.staff("CLERK", ULB_A)        # a logged-in staff member: .token, .user_id
        r = s.post("/api/v1/water-tax/connections", body, token=clerk.token)
        s.sql("SELECT count(*) FROM ledger")  # superuser, in nagar_water_tax
        s.app_sql("UPDATE ledger ...")        # as water_tax_app: a PsqlResult
        s.cli("verify", "250786")             # nagar-water_tax with the app role's env
        s.provider                            # FakePaymentProvider sharing the HMAC key
        s.services                            # the running nagar-water_tax Procs
        s.start_service()                     # one more process of the service

`water_tax_stack(business_date=None, processes=1, **env)` starts a CURVE
broker, nagar-identity, `processes` nagar-water_tax workers (principal
water_tax, database role water_tax_app, the payment provider key and
NAGAR_WATER_TAX_BUSINESS_DATE when given) and nagar-gateway with its
rate limits off, and logs the bootstrapped STATE_ADMIN in. The database is
the session's (tests keep their data apart by ULB and financial year).

Registered as a plugin in conftest.py: tests use the fixtures by name.
"""
import os
import subprocess
import uuid

import pytest

from fake_payment_provider import FakePaymentProvider
from nagar_proc import wait_until

CLI_TIMEOUT = 60


class Staff:
    def __init__(self, username, password, tokens):
        self.username = username
        self.password = password
        self.tokens = tokens
        self.token = tokens["accessToken"]
        self.user_id = tokens["userId"]
        self.ulb = tokens.get("ulb", "")


class WtStack:
    def __init__(self, cluster, binary, procs, broker, identity, gateway, env, provider):
        self.cluster = cluster
        self.binary = binary
        self.procs = procs
        self.broker = broker
        self.identity = identity
        self.gateway = gateway
        self.env = env
        self.provider = provider
        self.services = []
        self.admin = Staff(identity.admin_username, identity.admin_password,
                           gateway.login_staff(identity.admin_username, identity.admin_password))

    # ---- processes ----
    def start_service(self, **extra):
        env = dict(self.env)
        env.update({k: str(v) for k, v in extra.items()})
        name = f"water_tax{len(self.services) + 1}"
        proc = self.procs.start(name, [self.binary], env=env)
        proc.wait_event("water_tax.ready", timeout=20)
        self.services.append(proc)
        return proc

    def wait_serving(self):
        def answers():
            r = self.get("/api/v1/water-tax/tariffs/250786/2025-26", token=self.admin.token)
            return r.status_code == 200
        wait_until(answers, 20, interval=0.1, what="water_tax to answer through the gateway")

    def cli(self, *args):
        env = dict(self.env)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        return subprocess.run([self.binary, *args], env=env, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)

    # ---- people ----
    def staff(self, role, ulb):
        username = f"wt-{role.lower().replace('_', '-')}-{uuid.uuid4().hex[:10]}"
        password = "pw-" + uuid.uuid4().hex
        r = self.post("/api/v1/staff", {"username": username, "fullName": f"Test {role}",
                                        "role": role, "ulb": ulb, "password": password},
                      token=self.admin.token)
        assert r.status_code == 200, f"creating {role} of {ulb} failed: {r.status_code} {r.text}"
        return Staff(username, password, self.gateway.login_staff(username, password))

    def citizen(self, mobile):
        tokens = self.gateway.login_citizen(mobile)
        return Staff(mobile, "", tokens)

    # ---- HTTP ----
    def request(self, method, path, token=None, key=None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if key:
            headers["Idempotency-Key"] = key
        return self.gateway.request(method, path, token=token, headers=headers, **kwargs)

    def get(self, path, token=None, params=None):
        return self.request("GET", path, token=token, params=params)

    def post(self, path, body=None, token=None, key=None):
        return self.request("POST", path, token=token, key=key, json=body)

    def put(self, path, body=None, token=None, key=None):
        return self.request("PUT", path, token=token, key=key, json=body)

    # ---- database ----
    def sql(self, text):
        return self.cluster.sql("SET search_path = water_tax; " + text,
                                dbname="nagar_water_tax")

    def app_sql(self, text):
        return self.cluster.psql_as("water_tax_app", text, dbname="nagar_water_tax")


@pytest.fixture
def water_tax_stack(procs, pg_cluster, nagar_bin, broker, identity, gateway, tmp_path):
    binary = nagar_bin("nagar-water_tax")
    providers = []

    def start(business_date=None, processes=1, **extra):
        b = broker()
        ident = identity(b, NAGAR_IDENTITY_OTP_PER_IP=100000)
        key_path = str(tmp_path / f"provider_{len(providers)}.key")
        result = subprocess.run([binary, "provider-keygen", key_path], capture_output=True,
                                text=True, timeout=CLI_TIMEOUT)
        assert result.returncode == 0, f"provider-keygen failed: {result.stderr}"
        with open(key_path) as f:
            provider = FakePaymentProvider(f.read().strip())
        providers.append(provider)
        env = pg_cluster.role_env("water_tax_app")
        env.update(b.client_env("water_tax"))
        env["NAGAR_PAYMENT_PROVIDER_KEY_FILE"] = key_path
        if business_date:
            env["NAGAR_WATER_TAX_BUSINESS_DATE"] = business_date
        env.update({k: str(v) for k, v in extra.items()})
        g = gateway(b, identity=ident, NAGAR_GATEWAY_RATE_PER_IP=0, NAGAR_GATEWAY_RATE_PER_USER=0,
                    NAGAR_GATEWAY_TIMEOUT_MS=20000)
        stack = WtStack(pg_cluster, binary, procs, b, ident, g, env, provider)
        for _ in range(processes):
            stack.start_service()
        stack.wait_serving()
        return stack

    yield start
    for provider in providers:
        provider.stop()
