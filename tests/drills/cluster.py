"""The compose cluster (docker-compose.yml, deploy/cluster.sh) as the drills
drive it: brought up once under a project name of its own, in a directory of
its own, on a free HTTPS port; containers killed, cut off, restarted; payment
load through HAProxy with every attempt recorded; what was acknowledged
compared with what the primary holds.

    c = Cluster()              # project nagar-drill-<random>, dir under /var/tmp
    c.up()                     # deploy/cluster.sh up (builds what is missing)
    load = Load(c, clerks=6); load.start(); ...; load.stop()
    c.kill("pg1"); c.primary(); c.sql("nagar_property_tax", "SELECT ...")
    c.down()                   # removes this project's containers, networks, volumes

Only the containers, networks and volumes of this project are touched, by
name. Every wait has a deadline.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))

from gateway_fixtures import sign_token  # noqa: E402
from nagar_proc import free_port  # noqa: E402
from suite import ledger_payments, property_body  # noqa: E402

PG_NODES = ("pg1", "pg2", "pg3")
ULB = "250852"


def build_dir():
    return os.path.join(ROOT, os.environ.get("BUILD", "build"))


class Cluster:
    """NAGAR_DRILL_REUSE=PROJECT:DIR:PORT drives a cluster that is already up
    (deploy/cluster.sh up with those settings) and leaves it up: for working
    on a drill without waiting for a new cluster each time."""

    def __init__(self, project=None, scale=None):
        reuse = os.environ.get("NAGAR_DRILL_REUSE", "")
        self.reused = bool(reuse)
        if reuse:
            project, directory, port = reuse.split(":")
            self.dir, self.port = directory, int(port)
        else:
            self.dir = tempfile.mkdtemp(prefix="nagar-cluster-", dir="/var/tmp")
            self.port = free_port()
        self.project = project or f"nagardrill{uuid.uuid4().hex[:6]}"
        self.scale = scale or {}
        self.env = dict(os.environ, NAGAR_CLUSTER_PROJECT=self.project,
                        NAGAR_CLUSTER_DIR=self.dir, NAGAR_CLUSTER_HTTPS_PORT=str(self.port),
                        # The drills' load is a few clerks from one address.
                        NAGAR_GATEWAY_RATE_PER_IP="5000", NAGAR_GATEWAY_BURST_PER_IP="10000",
                        NAGAR_GATEWAY_RATE_PER_USER="1000", NAGAR_GATEWAY_BURST_PER_USER="2000")
        for key in ("NAGAR_BUS_ENDPOINT", "NAGAR_CONFIG", "NAGAR_DB_HOST"):
            self.env.pop(key, None)
        self.ca = os.path.join(self.dir, "tls", "ca.crt")
        self.token_key = None
        self._ips = {}

    # ---- life cycle ----
    def cluster_sh(self, *args, timeout=600, check=True):
        r = subprocess.run([os.path.join(ROOT, "deploy", "cluster.sh"), *args], env=self.env,
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check:
            assert r.returncode == 0, f"cluster.sh {' '.join(args)}: {r.stderr[-4000:]}"
        return r

    def up(self, timeout=2400):
        scale = [a for svc, n in self.scale.items() for a in ("--scale", f"{svc}={n}")]
        started = time.monotonic()
        r = None if self.reused else self.cluster_sh("up", *scale, timeout=timeout)
        self.up_seconds = time.monotonic() - started
        with open(os.path.join(self.dir, "secrets", "token", "k1.key")) as f:
            raw = bytes.fromhex(f.read().strip())
        self.token_key = Ed25519PrivateKey.from_private_bytes(raw[:32])
        return r

    def down(self):
        if self.reused:
            return
        self.cluster_sh("down", "--volumes", timeout=600, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def compose(self, *args, timeout=300, check=True):
        return self.cluster_sh("compose", *args, timeout=timeout, check=check)

    def podman(self, *args, timeout=120, check=True):
        r = subprocess.run(["podman", *args], env=self.podman_env(), capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert r.returncode == 0, f"podman {' '.join(args)}: {r.stderr[-2000:]}"
        return r

    def podman_env(self):
        return dict(self.env, CONTAINERS_CONF=os.path.join(self.dir, "containers.conf"))

    def name(self, service, n=1):
        return f"{self.project}_{service}_{n}"

    def containers(self, service):
        r = self.podman("ps", "--format", "{{.Names}}", "--filter",
                        f"label=com.docker.compose.project={self.project}", "--filter",
                        f"label=com.docker.compose.service={service}")
        return sorted(r.stdout.split())

    def ip(self, service, network, n=1):
        r = self.podman("inspect", self.name(service, n), "--format",
                        "{{json .NetworkSettings.Networks}}")
        networks = json.loads(r.stdout)
        return networks[f"{self.project}_{network}"]["IPAddress"]

    def kill(self, service, n=1):
        """SIGKILL: the host is lost."""
        self.podman("kill", self.name(service, n))

    def start(self, service, n=1):
        self.podman("start", self.name(service, n))
        self.ensure_dns()

    def stop(self, service, n=1, grace=30):
        """SIGTERM, then SIGKILL after grace: an orderly stop (drain)."""
        self.podman("stop", "-t", str(grace), self.name(service, n), timeout=grace + 60)

    def ensure_dns(self):
        self.cluster_sh("dns", timeout=120, check=False)

    def disconnect(self, service, networks):
        for network in networks:
            self.podman("network", "disconnect", f"{self.project}_{network}",
                        self.name(service))

    def connect(self, service, networks):
        for network in networks:
            self.podman("network", "connect", "--alias", service, f"{self.project}_{network}",
                        self.name(service))
        self.ensure_dns()

    def logs(self, service, n=1, since=None):
        args = ["logs"] + (["--since", since] if since else []) + [self.name(service, n)]
        r = self.podman(*args, check=False, timeout=60)
        return r.stdout + r.stderr

    def events(self, service, event, n=1):
        out = []
        for line in self.logs(service, n).splitlines():
            if f'"event":"{event}"' in line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    # ---- PostgreSQL ----
    def patroni(self, node, path):
        r = self.podman("exec", self.name(node), "curl", "-s", "-o", "/dev/null", "-w",
                        "%{http_code}", "--max-time", "2", f"http://127.0.0.1:8008{path}",
                        check=False, timeout=20)
        return r.stdout.strip()

    def writable(self, node):
        """Whether node's PostgreSQL accepts writes now (asked locally, so it
        answers even when the node is cut off from the network)."""
        r = self.podman("exec", self.name(node), "psql", "-h", "/tmp", "-U", "postgres", "-Atc",
                        "SELECT NOT pg_is_in_recovery()", check=False, timeout=20)
        return r.returncode == 0 and r.stdout.strip() == "t"

    def primary(self, timeout=60, exclude=()):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in PG_NODES:
                if node not in exclude and self.patroni(node, "/primary") == "200":
                    return node
            time.sleep(0.25)
        raise AssertionError(f"no PostgreSQL primary within {timeout} s")

    def wait_healthy(self, timeout=180):
        """A primary, and every other node a streaming standby, one of them
        synchronous."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ensure_dns()
            codes = {n: (self.patroni(n, "/primary"), self.patroni(n, "/replica"),
                         self.patroni(n, "/sync")) for n in PG_NODES}
            primaries = [n for n, c in codes.items() if c[0] == "200"]
            replicas = [n for n, c in codes.items() if c[1] == "200"]
            syncs = [n for n, c in codes.items() if c[2] == "200"]
            if len(primaries) == 1 and len(replicas) == 2 and syncs:
                return primaries[0]
            time.sleep(1)
        # What the nodes that are neither primary nor streaming say (Patroni, pg_rewind).
        stuck = [n for n, c in codes.items() if "200" not in c[:2]]
        tails = "".join(f"\n--- {n}'s log, last lines:\n{self.logs(n)[-3000:]}" for n in stuck)
        raise AssertionError(f"PostgreSQL not healthy within {timeout} s: {codes}{tails}")

    def sql(self, db, text, node=None):
        node = node or self.primary()
        r = self.podman("exec", self.name(node), "psql", "-h", "/tmp", "-U", "postgres", "-d", db,
                        "-v", "ON_ERROR_STOP=1", "-Atc", text, timeout=120)
        return r.stdout.strip()

    # ---- the bus, as the operator ----
    def ctl(self, *args, brokers=("broker1", "broker2"), timeout=120, db_hosts=None,
            checkpoint_dir=None):
        endpoint = ",".join(f"tcp://{self.ip(b, 'bus')}:5555" for b in brokers)
        pg_hosts = ",".join(db_hosts or [self.ip(n, "data") for n in PG_NODES])
        env = dict(self.env, NAGAR_BUS_ENDPOINT=endpoint,
                   NAGAR_BUS_BROKER_KEY=os.path.join(self.dir, "keys", "broker.pub"),
                   NAGAR_BUS_CERT=os.path.join(self.dir, "keys", "secret", "operator.cert"),
                   NAGAR_CTL_KEYS_DIR=os.path.join(self.dir, "keys"),
                   NAGAR_CTL_SECRETS_DIR=os.path.join(self.dir, "secrets"),
                   NAGAR_DB_HOST=pg_hosts, NAGAR_DB_PORT="5432",
                   NAGAR_CHECKPOINT_DIR=checkpoint_dir or os.path.join(self.dir, "checkpoints"),
                   NAGAR_CHECKPOINT_PUBLIC_KEY=os.path.join(self.dir, "checkpoint_key",
                                                            "checkpoint.pub"),
                   NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR=os.path.join(self.dir, "certificate_keys"),
                   NAGAR_BUS_PING_MS="100", NAGAR_BUS_BROKER_LIVENESS_MS="1000",
                   ASAN_OPTIONS="detect_leaks=0:abort_on_error=0")
        binary = os.path.join(build_dir(), "nagar-ctl")
        return subprocess.run([binary, *args], env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def service_state(self, service, broker):
        """The state column of `nagarctl status` at one broker."""
        r = self.ctl("status", brokers=(broker,), timeout=30)
        for line in r.stdout.splitlines()[1:]:
            if not line.strip():
                break
            parts = line.split()
            if parts and parts[0] == service:
                return line
        return ""

    def workers_at(self, broker):
        """service -> workers, as `nagarctl status` at one broker says."""
        r = self.ctl("status", brokers=(broker,), timeout=30)
        out = {}
        for line in r.stdout.splitlines()[1:]:
            if not line.strip():
                break               # the services' table ends; the principals' follows
            parts = line.split()
            if len(parts) > 1 and parts[1].isdigit():
                out[parts[0]] = int(parts[1])
        return out

    def wait_serving_again(self, service, timeout=60):
        """After a restart: a service until every broker counts all its
        containers again; a broker until it counts every service's workers
        and its warm-up is over; a gateway until its own /readyz is 200 and
        HAProxy sends it requests again (wait_in_rotation)."""
        deadline = time.monotonic() + timeout
        brokers = ("broker1", "broker2")
        services = ("identity", "certificates", "notifications", "property_tax", "water_tax")

        def done():
            if service.startswith("gateway"):
                r = self.podman("exec", self.name("haproxy"), "curl", "-s", "-o", "/dev/null",
                                "-w", "%{http_code}", "--max-time", "2",
                                f"http://{service}:8080/readyz", check=False, timeout=20)
                return r.stdout.strip() == "200"
            wanted = {s: len(self.containers(s)) for s in services}
            if service.startswith("broker"):
                counts = self.workers_at(service)
                return all(counts.get(s, 0) >= n for s, n in wanted.items())
            return all(self.workers_at(b).get(service, 0) >= wanted[service] for b in brokers)
        while not done():
            assert time.monotonic() < deadline, f"{service} is not serving again"
            time.sleep(0.3)
        if service.startswith("gateway"):
            self.wait_in_rotation(service, deadline)
        elif service.startswith("broker"):
            time.sleep(3.0)

    def wait_in_rotation(self, gateway, deadline):
        """Until HAProxy sends requests to gateway again: its own /readyz is
        not enough, HAProxy takes it back only after its rise count of
        checks, and restarting the other gateway before then leaves HAProxy
        none to send to. Requests through HAProxy, until gateway logs one."""
        while True:
            sent = set()
            for _ in range(4):
                try:
                    r = self.http("GET", f"/api/v1/ulbs/{ULB}", timeout=5)
                    if r.headers.get("x-request-id"):
                        sent.add(r.headers["x-request-id"])
                except requests.RequestException:
                    pass
            if any(line.get("request_id") in sent
                   for line in self.events(gateway, "gateway.request")):
                return
            assert time.monotonic() < deadline, f"HAProxy does not send to {gateway} again"
            time.sleep(0.5)

    # ---- HTTP through HAProxy ----
    def url(self, path):
        return f"https://localhost:{self.port}{path}"

    def token(self, role, ulb=ULB, user_id=None):
        user = user_id or f"{role.lower()}:{uuid.uuid4().hex[:12]}"
        return sign_token(self.token_key, "k1", user_id=user, role=role, ulb=ulb,
                          ttl_ms=3_600_000)

    def http(self, method, path, token=None, key=None, timeout=20, session=None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["Idempotency-Key"] = key
        return (session or requests).request(method, self.url(path), headers=headers,
                                             timeout=timeout, verify=self.ca, **kwargs)

    def ready(self):
        try:
            return self.http("GET", "/readyz", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def create_property(self, clerk, area=1000):
        r = self.http("POST", "/api/v1/property-tax/properties", token=clerk,
                      key=uuid.uuid4().hex, json=property_body(ULB, area))
        assert r.status_code == 200, r.text
        return r.json()["propertyId"]

    def ledger(self):
        """Idempotency key -> [(receipt, amount)] of every payment of ULB."""
        return ledger_payments(self.sql, ULB)


class Load:
    """Clerks paying through HAProxy: each payment retried with its
    idempotency key until acknowledged; every attempt recorded."""

    def __init__(self, cluster, clerks=6, properties=4, pause=0.0):
        self.cluster = cluster
        self.clerk_tokens = [cluster.token("CLERK", user_id=f"clerk:drill{i}")
                             for i in range(clerks)]
        self.pids = [cluster.create_property(self.clerk_tokens[0]) for _ in range(properties)]
        self.pause = pause
        self.lock = threading.Lock()
        self.acknowledged = {}       # key -> (receipt, amount)
        self.attempts = []           # (monotonic time, ok, what)
        self.stop_event = threading.Event()
        self.failures = []
        self.threads = []

    def _clerk(self, index):
        rng = random.Random(index * 7919 + int(time.time()))
        session = requests.Session()
        try:
            while not self.stop_event.is_set():
                key = uuid.uuid4().hex
                amount = rng.randint(100, 99999)
                pid = rng.choice(self.pids)
                # An advance: the drills' properties have no demand raised,
                # and a payment beyond what is due must say so.
                body = {"propertyId": pid, "amountPaise": str(amount), "mode": "CASH",
                        "counter": "C1", "advance": True}
                give_up = time.monotonic() + 120
                while True:
                    if time.monotonic() > give_up:
                        raise AssertionError(f"payment {key} never acknowledged")
                    at = time.monotonic()
                    try:
                        r = self.cluster.http("POST", "/api/v1/property-tax/payments",
                                              token=self.clerk_tokens[index], key=key, json=body,
                                              timeout=30, session=session)
                        ok, what = r.status_code == 200, r.status_code
                        if 400 <= r.status_code < 500 and r.status_code not in (408, 409, 429):
                            # Refused for what it is: retrying cannot help.
                            raise AssertionError(f"payment refused: {r.status_code} {r.text}")
                    except requests.RequestException as e:
                        ok, what = False, type(e).__name__
                        session = requests.Session()
                    with self.lock:
                        self.attempts.append((at, time.monotonic(), ok, what))
                        if ok:
                            self.acknowledged[key] = (r.json()["receiptNo"], amount)
                    if ok:
                        break
                    time.sleep(0.2)
                if self.pause:
                    time.sleep(self.pause)
        except BaseException as e:  # noqa: BLE001 - reported by check()
            self.failures.append(repr(e))

    def start(self):
        for i in range(len(self.clerk_tokens)):
            t = threading.Thread(target=self._clerk, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def wait_acknowledged(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        start = len(self.acknowledged)
        while len(self.acknowledged) < start + count:
            assert not self.failures, self.failures
            assert time.monotonic() < deadline, f"fewer than {count} payments in {timeout} s"
            time.sleep(0.05)

    def stop(self, timeout=180):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=timeout)
            assert not t.is_alive(), "a clerk is stuck"
        assert not self.failures, self.failures

    def failed_since(self, since):
        with self.lock:
            return [a for a in self.attempts if a[0] >= since and not a[2]]

    def report(self, since):
        """Attempts, failed attempts, and the time from since to the end of
        the last failed attempt (0 when none failed)."""
        with self.lock:
            window = [a for a in self.attempts if a[0] >= since]
        failed = [a for a in window if not a[2]]
        recover = max((a[1] for a in failed), default=since) - since
        kinds = {}
        for a in failed:
            kinds[str(a[3])] = kinds.get(str(a[3]), 0) + 1
        return {"requests": len(window), "failed": len(failed), "recover_s": round(recover, 1),
                "failed_kinds": kinds}

    def reconcile(self):
        """What was acknowledged against what the primary holds."""
        found = self.cluster.ledger()
        ours = {k: v for k, v in found.items() if k in self.acknowledged}
        missing = [k for k in self.acknowledged if k not in found]
        doubled = [k for k, v in ours.items() if len(v) > 1]
        different = [k for k, v in self.acknowledged.items() if k in found and found[k][0] != v]
        return {"acknowledged": len(self.acknowledged),
                "present": sum(len(v) for v in ours.values()),
                "missing": len(missing), "doubled": len(doubled), "different": len(different)}
