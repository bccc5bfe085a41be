"""rules_stack.py — the stack a property-tax or water-tax system test runs
against; rules_fixtures.py makes it a fixture for each (both services are
built the same way on common/service_rules, so their tests start them the
same way).

    s = property_tax_stack(business_date="2025-08-31")   # processes=2, **env
    clerk = s.staff("CLERK", ULB_A)        # a logged-in staff member: .token, .user_id
    r = s.post("/api/v1/property-tax/properties", body, token=clerk.token)
    s.sql("SELECT count(*) FROM ledger")  # superuser, in nagar_<service>
    s.app_sql("UPDATE ledger ...")        # as <service>_app: a PsqlResult
    s.cli("verify", "250786")             # nagar-<service> with the app role's env
    s.provider                            # FakePaymentProvider sharing the HMAC key
    s.services                            # the running service Procs
    s.start_service()                     # one more process of the service
    s.run_job(jobs_path, body, token, timeout)   # a demand or bill run, until DONE
    job_through_a_killed_worker(s, ...)   # a demand or bill run that loses its worker

start(business_date=None, processes=1, **env) starts a CURVE broker,
nagar-identity, `processes` workers of the service (its principal, database
role <service>_app, the payment provider key and NAGAR_<SERVICE>_BUSINESS_DATE
when given) and nagar-gateway with its rate limits off, and logs the
bootstrapped STATE_ADMIN in. The database is the session's (tests keep their
data apart by ULB and financial year).
"""
import subprocess
import uuid

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


class RulesStack:
    """A running stack of one rules service (see the module docstring)."""

    def __init__(self, service, probe_path, cluster, binary, procs, broker, identity, gateway,
                 env, provider):
        self.service = service
        self.probe_path = probe_path
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
        name = f"{self.service}{len(self.services) + 1}"
        proc = self.procs.start(name, [self.binary], env=env)
        proc.wait_event(f"{self.service}.ready", timeout=20)
        self.services.append(proc)
        return proc

    def wait_serving(self):
        def answers():
            return self.get(self.probe_path, token=self.admin.token).status_code == 200
        wait_until(answers, 20, interval=0.1, what=f"{self.service} to answer through the gateway")

    def cli(self, *args):
        env = dict(self.env)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        return subprocess.run([self.binary, *args], env=env, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)

    # ---- people ----
    def staff(self, role, ulb):
        username = f"{self.service[:2]}-{role.lower().replace('_', '-')}-{uuid.uuid4().hex[:10]}"
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

    def run_job(self, jobs_path, body, token, timeout):
        """POST jobs_path (a demand or bill run) with body, then its status
        until the job is DONE: that status."""
        r = self.post(jobs_path, body, token=token, key=uuid.uuid4().hex)
        assert r.status_code == 200, r.text
        job_id = r.json()["jobId"]

        def done():
            job = self.get(f"{jobs_path}/{job_id}", token=token).json()
            return job if job["status"] == "DONE" else None
        return wait_until(done, timeout, interval=0.1, what=f"job {jobs_path}/{job_id} to finish")

    def check_job_reach(self, jobs_path, job_id, noun, other_ulb, ulb):
        """A job of another ULB reads as a missing one, word for word (issue
        12), for that ULB's officer; a clerk of the job's own ULB reads none."""
        other = self.staff("REVENUE_OFFICER", other_ulb)
        for jid in (job_id, "999999"):
            r = self.get(f"{jobs_path}/{jid}", token=other.token)
            assert r.status_code == 404, r.text
            assert r.json()["error"]["message"] == f"no {noun} {jid}", r.text
        r = self.get(f"{jobs_path}/{job_id}", token=self.staff("CLERK", ulb).token)
        assert r.status_code == 403, r.text

    # ---- database ----
    def sql(self, text):
        return self.cluster.sql(f"SET search_path = {self.service}; " + text,
                                dbname=f"nagar_{self.service}")

    def app_sql(self, text):
        return self.cluster.psql_as(f"{self.service}_app", text, dbname=f"nagar_{self.service}")


def rules_stack_starter(service, probe_path, procs, pg_cluster, nagar_bin, broker, identity,
                        gateway, tmp_path):
    """(start, stop): start(business_date=None, processes=1, **env) -> RulesStack;
    stop() ends the fake payment providers it started."""
    binary = nagar_bin(f"nagar-{service}")
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
        env = pg_cluster.role_env(f"{service}_app")
        env.update(b.client_env(service))
        env["NAGAR_PAYMENT_PROVIDER_KEY_FILE"] = key_path
        if business_date:
            env[f"NAGAR_{service.upper()}_BUSINESS_DATE"] = business_date
        env.update({k: str(v) for k, v in extra.items()})
        g = gateway(b, identity=ident, NAGAR_GATEWAY_RATE_PER_IP=0, NAGAR_GATEWAY_RATE_PER_USER=0,
                    NAGAR_GATEWAY_TIMEOUT_MS=20000)
        stack = RulesStack(service, probe_path, pg_cluster, binary, procs, b, ident, g, env,
                           provider)
        for _ in range(processes):
            stack.start_service()
        stack.wait_serving()
        return stack

    def stop():
        for provider in providers:
            provider.stop()

    return start, stop


def job_through_a_killed_worker(s, token, jobs_path, body, job_table, bill_table, total):
    """A queued job (demand or bill run) of `total` rows that loses its worker
    half way: started at POST jobs_path with body, the first service process
    is killed (SIGKILL) once a fifth of the rows are done, when the bills
    written must be exactly the rows the job counts as processed; a new
    process then finishes it. Asserts the job ends DONE with every row billed
    once and none skipped, and returns its status through the gateway (the
    broker may route to the killed worker until its heartbeats lapse: 503s
    are retried). Run the stack with a small chunk and a short tick."""
    r = s.post(jobs_path, body, token=token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    job_id = r.json()["jobId"]

    def processed():
        return int(s.sql(f"SELECT processed FROM {job_table} WHERE id = {job_id}"))
    wait_until(lambda: processed() >= total // 5, 60, interval=0.02,
               what="the job to be under way")
    s.services[0].kill()
    half = processed()
    assert 0 < half < total, half
    assert int(s.sql(f"SELECT count(*) FROM {bill_table} WHERE job_id = {job_id}")) == half

    s.start_service()
    wait_until(lambda: s.sql(f"SELECT status FROM {job_table} WHERE id = {job_id}") == "DONE",
               90, interval=0.2, what="the job to finish after the restart")
    job = wait_until(lambda: (lambda r: r.json() if r.status_code == 200 else None)(
        s.get(f"{jobs_path}/{job_id}", token=token)), 30, interval=0.2,
        what="the job's status through the gateway")
    assert [int(job.get(k, 0)) for k in ("processed", "billsCreated", "skipped")] == \
        [total, total, 0], job
    return job

