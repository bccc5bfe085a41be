"""rules_bench_stack.py — the suite a rules-service benchmark runs against
(bench_property_tax.py, bench_water_tax.py): fresh CURVE keys, nagar-broker,
a private PostgreSQL provisioned as `make run` does, nagar-identity with the
ULBs seeded, `workers` processes of the service, and nagar-gateway with its
rate limits off; STATE_ADMIN and staff tokens are minted with a key of the
benchmark's own in the gateway's key directory.

    stack = RulesBenchStack("nagar-bench-wt-")
    try:
        stack.start("water_tax", workers=8, service_env={"NAGAR_WATER_TAX_BILL_CHUNK": "5000"})
        http("POST", stack.base + "/api/v1/...", stack.admin, body, key="...")
        stack.cluster.sql("...", dbname="nagar_water_tax")
        stack.minter.mint(user_id=..., role="CLERK", ulb=..., ...)
    finally:
        stack.stop()      # processes, PostgreSQL, the temporary directory
"""
import json
import os
import shutil
import subprocess
import tempfile
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("BUILD", os.path.relpath(BUILD, ROOT))

from bench_gateway import Procs, free_port, wait_http, wait_log  # noqa: E402
from gateway_fixtures import make_token_keys  # noqa: E402
from identity_fixtures import IdentityDb, ULB_CSV  # noqa: E402
from pg_fixtures import PgCluster  # noqa: E402


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.path.exists(path):
        sys.exit(f"{os.path.basename(sys.argv[0])}: {path} is not built; run `make BUILD="
                 f"{os.path.relpath(BUILD, ROOT)} all` first")
    return path


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

    def stop(self):
        self.procs.stop_all()
        if self.cluster:
            self.cluster.run_script("pg.sh", "stop", check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, service, workers, service_env):
        principals = [("gateway", "", f"identity,{service}"),
                      ("identity", "identity", "notifications"),
                      (service, service, "notifications,identity")]
        keys = os.path.join(self.tmp, "keys")
        subprocess.run([binary("nagar-keygen"), "--keys", keys, "--principal", "broker"],
                       check=True, capture_output=True, timeout=30)
        for principal, serve, call in principals:
            argv = [binary("nagar-keygen"), "--keys", keys, "--principal", principal]
            if serve:
                argv += ["--serve", serve]
            argv += ["--call", call]
            subprocess.run(argv, check=True, capture_output=True, timeout=30)
        bus_port = free_port()
        base_env = dict(os.environ, NAGAR_LOG_LEVEL="warn")
        _, broker_log = self.procs.start("broker", [binary("nagar-broker")], dict(
            base_env, NAGAR_BROKER_BIND=f"tcp://127.0.0.1:{bus_port}", NAGAR_BROKER_KEYS_DIR=keys,
            NAGAR_BROKER_STATE_DIR=os.path.join(self.tmp, "broker_state"), NAGAR_LOG_LEVEL="info"))
        wait_log(broker_log, "broker.ready")

        def bus_env(principal):
            return {"NAGAR_BUS_ENDPOINT": f"tcp://127.0.0.1:{bus_port}",
                    "NAGAR_BUS_CERT": os.path.join(keys, "secret", f"{principal}.cert"),
                    "NAGAR_BUS_BROKER_KEY": os.path.join(keys, "broker.pub")}

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
        if db.run_cli("seed-ulbs", ULB_CSV).returncode != 0:
            sys.exit("rules_bench_stack: nagar-identity seed-ulbs failed")
        token_dir = os.path.join(self.tmp, "token_keys")
        otp_key = os.path.join(self.tmp, "otp.key")
        for cli in (("keygen", token_dir, "k1"), ("otp-keygen", otp_key)):
            if db.run_cli(*cli).returncode != 0:
                sys.exit(f"rules_bench_stack: nagar-identity {cli[0]} failed")
        ident_env = dict(db.env, NAGAR_LOG_LEVEL="warn", **bus_env("identity"))
        ident_env.update(NAGAR_IDENTITY_TOKEN_KEY=os.path.join(token_dir, "k1.key"),
                         NAGAR_TOKEN_PUBLIC_KEYS_DIR=token_dir, NAGAR_IDENTITY_OTP_KEY_FILE=otp_key)
        self.procs.start("identity", [binary("nagar-identity")], ident_env)
        self.minter = make_token_keys(token_dir, key_id="bench")
        self.admin = self.minter.mint(user_id="staff:bench-admin", role="STATE_ADMIN",
                                        ttl_ms=3_000_000)

        # Each service verifies the caller's token itself (issue 12).
        env = dict(self.cluster.role_env(f"{service}_app"), NAGAR_LOG_LEVEL="info",
                   NAGAR_TOKEN_PUBLIC_KEYS_DIR=token_dir, **bus_env(service))
        env.update(service_env)
        for i in range(workers):
            _, log = self.procs.start(f"{service}{i + 1}", [binary(f"nagar-{service}")], env)
            wait_log(log, f"{service}.ready")
        gw_port = free_port()
        gw_env = dict(base_env, **bus_env("gateway"))
        gw_env.update(NAGAR_GATEWAY_LISTEN=f"127.0.0.1:{gw_port}",
                      NAGAR_TOKEN_PUBLIC_KEYS_DIR=token_dir, NAGAR_GATEWAY_RATE_PER_IP="0",
                      NAGAR_GATEWAY_RATE_PER_USER="0", NAGAR_GATEWAY_TIMEOUT_MS="30000",
                      NAGAR_GATEWAY_MAX_CONNECTIONS_PER_IP="1024")
        self.procs.start("gateway", [binary("nagar-gateway")], gw_env)
        self.base = f"http://127.0.0.1:{gw_port}"
        wait_http(self.base + "/healthz")
        time.sleep(1.0)
