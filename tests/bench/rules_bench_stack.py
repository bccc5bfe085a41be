"""rules_bench_stack.py — the suite a benchmark runs against
(bench_gateway.py, bench_property_tax.py, bench_water_tax.py): fresh CURVE
keys, nagar-broker, a private PostgreSQL provisioned as `make run` does,
nagar-identity with the ULBs seeded and nagar-gateway with its rate limits
off; for a rules service, `workers` processes of it too, and STATE_ADMIN and
staff tokens minted with a key of the benchmark's own in the gateway's key
directory. Also the process and wait helpers the benchmarks share.

    stack = RulesBenchStack("nagar-bench-wt-")
    try:
        stack.start("water_tax", workers=8, service_env={"NAGAR_WATER_TAX_BILL_CHUNK": "5000"})
        http("POST", stack.base + "/api/v1/...", stack.admin, body, key="...")
        stack.cluster.sql("...", dbname="nagar_water_tax")
        stack.minter.mint(user_id=..., role="CLERK", ulb=..., ...)
    finally:
        stack.stop()      # processes, PostgreSQL, the temporary directory

bench_gateway.py starts only broker, PostgreSQL and identity
(start_core) and the gateway (start_gateway). bench_compare.py copies this
file with bench_property_tax.py into an older tree: it may import only what
tests/system has offered since 7b3248d (make_token_keys, IdentityDb,
ULB_CSV, PgCluster).
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("BUILD", os.path.relpath(BUILD, ROOT))

from gateway_fixtures import make_token_keys  # noqa: E402
from identity_fixtures import IdentityDb, ULB_CSV  # noqa: E402
from pg_fixtures import PgCluster  # noqa: E402


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.path.exists(path):
        sys.exit(f"{os.path.basename(sys.argv[0])}: {path} is not built; run `make BUILD="
                 f"{os.path.relpath(BUILD, ROOT)} all tests` first")
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(keys_dir, principal, serve="", call=""):
    """nagar-keygen: principal's CURVE keys in keys_dir, serving and calling
    the services named (comma-separated)."""
    argv = [binary("nagar-keygen"), "--keys", keys_dir, "--principal", principal]
    if serve:
        argv += ["--serve", serve]
    if call:
        argv += ["--call", call]
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


def wait_http(url, timeout=20.0, expect=200):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == expect:
                    return
                last = r.status
        except urllib.error.HTTPError as e:
            last = e.code
        except OSError as e:
            last = e
        time.sleep(0.1)
    sys.exit(f"{os.path.basename(sys.argv[0])}: {url} did not answer {expect} within {timeout}s "
             f"(last: {last})")


def wait_log(path, event, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and f'"event":"{event}"' in open(path, errors="replace").read():
            return
        time.sleep(0.05)
    sys.exit(f"{os.path.basename(sys.argv[0])}: {path} never logged {event}:\n"
             + open(path).read()[-3000:])


def timed_sql(cluster, dbname, sql):
    """Seconds the superuser's psql took to run sql in dbname (a baseline)."""
    start = time.monotonic()
    cluster.sql(sql, dbname=dbname)
    return time.monotonic() - start


def wait_jobs(base, token, path, jobs, deadline, field="status", absent=None):
    """Polls GET {base}{path}/{job} for each queued job (a demand or bill run)
    until its `field` is DONE or the monotonic deadline passes; True when
    every job got there. A reply without the field counts as `absent` (pass
    "DONE" for a field an older build does not send)."""
    pending = set(jobs)
    while pending and time.monotonic() < deadline:
        for job in list(pending):
            if http("GET", f"{base}{path}/{job}", token).get(field, absent) == "DONE":
                pending.discard(job)
        time.sleep(0.05)
    return not pending


class Procs:
    """Processes started with their output in <log_dir>/<name>.log, stopped
    in reverse order (SIGTERM, SIGKILL after 10 s)."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.started = []

    def start(self, name, argv, env):
        log = os.path.join(self.log_dir, f"{name}.log")
        f = open(log, "ab")
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT)
        self.started.append((p, f))
        return p, log

    def stop_all(self):
        for p, f in reversed(self.started):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            f.close()


def http(method, url, token, body=None, key=None):
    """One JSON call through the gateway; raises on a non-2xx answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    with urllib.request.urlopen(request, timeout=60) as r:
        return json.loads(r.read())


class RulesBenchStack:
    def __init__(self, prefix):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.tmp, 0o755)
        self.procs = Procs(self.tmp)
        self.cluster = None
        self.base = None
        self.minter = None
        self.admin = None
        self.token_dir = None
        self.bus_env = None
        self.base_env = dict(os.environ, NAGAR_LOG_LEVEL="warn")

    def stop(self):
        self.procs.stop_all()
        if self.cluster:
            self.cluster.run_script("pg.sh", "stop", check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, service, workers, service_env):
        """Broker, PostgreSQL, identity, `workers` processes of service (with
        service_env) and the gateway; self.minter and self.admin mint tokens."""
        self.start_core([("gateway", "", f"identity,{service}"),
                         ("identity", "identity", "notifications"),
                         (service, service, "notifications,identity")])
        self.minter = make_token_keys(self.token_dir, key_id="bench")
        self.admin = self.minter.mint(user_id="staff:bench-admin", role="STATE_ADMIN",
                                      ttl_ms=3_000_000)

        # Each service verifies the caller's token itself (issue 12).
        env = dict(self.cluster.role_env(f"{service}_app"), NAGAR_LOG_LEVEL="info",
                   NAGAR_TOKEN_PUBLIC_KEYS_DIR=self.token_dir, **self.bus_env(service))
        env.update(service_env)
        for i in range(workers):
            _, log = self.procs.start(f"{service}{i + 1}", [binary(f"nagar-{service}")], env)
            wait_log(log, f"{service}.ready")
        self.start_gateway({"NAGAR_GATEWAY_TIMEOUT_MS": "30000"})
        time.sleep(1.0)

    def start_core(self, principals, identity_env=None):
        """CURVE keys for the broker and principals ((name, serves, calls)),
        nagar-broker, PostgreSQL provisioned, nagar-identity (with
        identity_env) with the ULBs seeded and its token key in
        self.token_dir."""
        keys = os.path.join(self.tmp, "keys")
        keygen(keys, "broker")
        for principal, serve, call in principals:
            keygen(keys, principal, serve, call)
        bus_port = free_port()
        _, broker_log = self.procs.start("broker", [binary("nagar-broker")], dict(
            self.base_env, NAGAR_BROKER_BIND=f"tcp://127.0.0.1:{bus_port}",
            NAGAR_BROKER_KEYS_DIR=keys,
            NAGAR_BROKER_STATE_DIR=os.path.join(self.tmp, "broker_state"), NAGAR_LOG_LEVEL="info"))
        wait_log(broker_log, "broker.ready")

        def bus_env(principal):
            return {"NAGAR_BUS_ENDPOINT": f"tcp://127.0.0.1:{bus_port}",
                    "NAGAR_BUS_CERT": os.path.join(keys, "secret", f"{principal}.cert"),
                    "NAGAR_BUS_BROKER_KEY": os.path.join(keys, "broker.pub")}
        self.bus_env = bus_env

        pg_var = os.path.join(self.tmp, "pg")
        os.makedirs(pg_var)
        os.chmod(pg_var, 0o755)
        pg_env = dict(os.environ, NAGAR_VAR=pg_var, NAGAR_PG_PORT=str(free_port()),
                      BUILD=os.path.relpath(BUILD, ROOT))
        self.cluster = PgCluster(pg_var, int(pg_env["NAGAR_PG_PORT"]), pg_env)
        self.cluster.run_script("pg.sh", "init")
        self.cluster.run_script("pg.sh", "start")
        self.cluster.run_script("provision.sh")
        db = IdentityDb(self.cluster, binary("nagar-identity"))
        seeded = db.run_cli("seed-ulbs", ULB_CSV)
        if seeded.returncode != 0:
            sys.exit(f"rules_bench_stack: nagar-identity seed-ulbs failed: {seeded.stderr}")
        self.token_dir = os.path.join(self.tmp, "token_keys")
        otp_key = os.path.join(self.tmp, "otp.key")
        for cli in (("keygen", self.token_dir, "k1"), ("otp-keygen", otp_key)):
            done = db.run_cli(*cli)
            if done.returncode != 0:
                sys.exit(f"rules_bench_stack: nagar-identity {cli[0]} failed: {done.stderr}")
        ident_env = dict(db.env, NAGAR_LOG_LEVEL="warn", **bus_env("identity"))
        ident_env.update(NAGAR_IDENTITY_TOKEN_KEY=os.path.join(self.token_dir, "k1.key"),
                         NAGAR_TOKEN_PUBLIC_KEYS_DIR=self.token_dir,
                         NAGAR_IDENTITY_OTP_KEY_FILE=otp_key, **(identity_env or {}))
        self.procs.start("identity", [binary("nagar-identity")], ident_env)

    def start_gateway(self, gateway_env):
        """nagar-gateway (with gateway_env) on a free port, rate limits off,
        answering /healthz; self.base is its URL. Returns its Popen."""
        gw_port = free_port()
        gw_env = dict(self.base_env, **self.bus_env("gateway"))
        gw_env.update(NAGAR_GATEWAY_LISTEN=f"127.0.0.1:{gw_port}",
                      NAGAR_TOKEN_PUBLIC_KEYS_DIR=self.token_dir, NAGAR_GATEWAY_RATE_PER_IP="0",
                      NAGAR_GATEWAY_RATE_PER_USER="0",
                      NAGAR_GATEWAY_MAX_CONNECTIONS_PER_IP="1024", **gateway_env)
        gateway, _ = self.procs.start("gateway", [binary("nagar-gateway")], gw_env)
        self.base = f"http://127.0.0.1:{gw_port}"
        wait_http(self.base + "/healthz")
        return gateway
