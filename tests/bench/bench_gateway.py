#!/usr/bin/python3
"""bench_gateway.py — `make bench-gateway`: the gateway's /healthz next to a
bare libmicrohttpd "hello" server measured in the same run, and
GET /api/v1/ulbs/{code} end to end (gateway -> broker -> identity ->
PostgreSQL) with its latency percentiles.

  hello      tests/bench/hello_mhd.c, MHD's internal select thread (the baseline)
  healthz    nagar-gateway /healthz (request id, security headers, metrics, event loop)
  ulb.get    nagar-gateway GET /api/v1/ulbs/250946, CURVE bus, identity, PostgreSQL
  token      tests/bench/bench_token.c: a service's token check per request, first
             sight and cached
  staff.list nagar-gateway GET /api/v1/staff?pageSize=1 with a STATE_ADMIN access token:
             the token is checked by the gateway and (since issue 12) forwarded and
             verified again by identity, so the difference to ulb.get is what an
             authenticated request costs end to end

wrk with 64 connections (-t2 -c64) for each; prints requests/s, the ratio
healthz / hello (target >= 0.80), ulb.get's p50/p99 (wrk --latency), and the
CPU time the gateway process spent per request (user + system, from
/proc/<pid>/stat): on a shared machine requests/s move with the neighbours'
load, CPU per request much less, so that is the figure to compare between
two builds (BUILD=<other build> runs this same script against it). A
benchmark, not a test: it reports, and exits non-zero only when a run could
not complete.

  BUILD=build /usr/bin/python3 tests/bench/bench_gateway.py [--seconds 10]
        [--connections 64] [--mode epoll|select]
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
os.environ.setdefault("BUILD", os.path.relpath(BUILD, ROOT))

from pg_fixtures import PgCluster  # noqa: E402
from identity_fixtures import IdentityDb, ULB_CSV  # noqa: E402

PRINCIPALS = [("gateway", "", "identity"), ("identity", "identity", "notifications")]
ULB = "250946"


def binary(name):
    path = os.path.join(BUILD, name)
    if not os.path.exists(path):
        sys.exit(f"bench_gateway: {path} is not built; run `make BUILD="
                 f"{os.path.relpath(BUILD, ROOT)} all` first")
    return path


def hello_binary():
    source = os.path.join(ROOT, "tests", "bench", "hello_mhd.c")
    out = os.path.join(BUILD, "tests", "hello_mhd")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(source):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run(["cc", "-O2", "-std=c17", "-Wall", "-Wextra", "-Werror", source,
                        "-lmicrohttpd", "-o", out], check=True, timeout=120)
    return out


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=20.0, expect=200):
    import urllib.error
    import urllib.request
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
    sys.exit(f"bench_gateway: {url} did not answer {expect} within {timeout}s (last: {last})")


def wait_log(path, event, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and f'"event":"{event}"' in open(path, errors="replace").read():
            return
        time.sleep(0.05)
    sys.exit(f"bench_gateway: {path} never logged {event}:\n" + open(path).read()[-3000:])


def wrk(url, seconds, connections, latency=False, headers=()):
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
    for header in headers:
        argv += ["-H", header]
    if latency:
        argv.append("--latency")
    out = subprocess.run(argv + [url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps:
        sys.exit(f"bench_gateway: wrk gave no result for {url}:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result = {"rps": float(rps.group(1)), "non2xx": int(non2xx.group(1)) if non2xx else 0,
              "raw": out}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            result[f"p{pct}_ms"] = float(m.group(1)) * scale
    return result


def cpu_seconds(pid):
    """User + system CPU time of a process so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_measured(pid, url, seconds, connections, **kwargs):
    """wrk against url, plus the CPU microseconds process pid spent per request."""
    before = cpu_seconds(pid)
    result = wrk(url, seconds, connections, **kwargs)
    done = re.search(r"(\d+) requests in", result["raw"])
    requests = int(done.group(1)) if done else 0
    result["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / requests if requests else float("nan")
    return result


def admin_token(key_path, key_id):
    """A STATE_ADMIN access token signed with identity's key (as a login would make)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from gateway_fixtures import sign_token
    seed = bytes.fromhex(open(key_path).read().strip())[:32]
    return sign_token(Ed25519PrivateKey.from_private_bytes(seed), key_id,
                      user_id="staff:bench", role="STATE_ADMIN", ttl_ms=3_600_000)


class Procs:
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--mode", default="epoll", choices=["epoll", "select"])
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_gateway: wrk is not installed: apt-get install wrk")
    tmp = tempfile.mkdtemp(prefix="nagar-bench-gw-")
    os.chmod(tmp, 0o755)
    procs = Procs(tmp)
    cluster = None
    results = {}
    try:
        # 1. the bare MHD baseline
        port = free_port()
        procs.start("hello", [hello_binary(), str(port), "select"], dict(os.environ))
        wait_http(f"http://127.0.0.1:{port}/")
        results["hello"] = wrk(f"http://127.0.0.1:{port}/", args.seconds, args.connections)

        # 2. broker, PostgreSQL, identity, gateway
        keys = os.path.join(tmp, "keys")
        subprocess.run([binary("nagar-keygen"), "--keys", keys, "--principal", "broker"],
                       check=True, capture_output=True, timeout=30)
        for principal, serve, call in PRINCIPALS:
            argv = [binary("nagar-keygen"), "--keys", keys, "--principal", principal]
            if serve:
                argv += ["--serve", serve]
            argv += ["--call", call]
            subprocess.run(argv, check=True, capture_output=True, timeout=30)
        bus_port = free_port()
        base_env = dict(os.environ, NAGAR_LOG_LEVEL="warn")
        _, broker_log = procs.start("broker", [binary("nagar-broker")], dict(
            base_env, NAGAR_BROKER_BIND=f"tcp://127.0.0.1:{bus_port}", NAGAR_BROKER_KEYS_DIR=keys,
            NAGAR_BROKER_STATE_DIR=os.path.join(tmp, "broker_state"), NAGAR_LOG_LEVEL="info"))
        wait_log(broker_log, "broker.ready")

        def bus_env(principal):
            return {"NAGAR_BUS_ENDPOINT": f"tcp://127.0.0.1:{bus_port}",
                    "NAGAR_BUS_CERT": os.path.join(keys, "secret", f"{principal}.cert"),
                    "NAGAR_BUS_BROKER_KEY": os.path.join(keys, "broker.pub")}

        pg_var = os.path.join(tmp, "pg")
        os.makedirs(pg_var)
        os.chmod(pg_var, 0o755)
        pg_env = dict(os.environ, NAGAR_VAR=pg_var, NAGAR_PG_PORT=str(free_port()),
                      BUILD=os.path.relpath(BUILD, ROOT))
        cluster = PgCluster(pg_var, int(pg_env["NAGAR_PG_PORT"]), pg_env)
        cluster.run_script("pg.sh", "init")
        cluster.run_script("pg.sh", "start")
        cluster.run_script("provision.sh")
        db = IdentityDb(cluster, binary("nagar-identity"))
        seeded = db.run_cli("seed-ulbs", ULB_CSV)
        if seeded.returncode != 0:
            sys.exit(f"bench_gateway: seed-ulbs failed: {seeded.stderr}")
        token_dir = os.path.join(tmp, "token_keys")
        otp_key = os.path.join(tmp, "otp.key")
        for cli in (("keygen", token_dir, "k1"), ("otp-keygen", otp_key)):
            done = db.run_cli(*cli)
            if done.returncode != 0:
                sys.exit(f"bench_gateway: nagar-identity {cli[0]} failed: {done.stderr}")
        ident_env = dict(db.env, NAGAR_LOG_LEVEL="warn", **bus_env("identity"))
        ident_env.update(NAGAR_IDENTITY_TOKEN_KEY=os.path.join(token_dir, "k1.key"),
                         NAGAR_TOKEN_PUBLIC_KEYS_DIR=token_dir,
                         NAGAR_IDENTITY_OTP_KEY_FILE=otp_key,
                         NAGAR_OTP_SINK_FILE=os.path.join(tmp, "otp_sink.jsonl"))
        procs.start("identity", [binary("nagar-identity")], ident_env)

        gw_port = free_port()
        gw_env = dict(base_env, **bus_env("gateway"))
        gw_env.update(NAGAR_GATEWAY_LISTEN=f"127.0.0.1:{gw_port}",
                      NAGAR_TOKEN_PUBLIC_KEYS_DIR=token_dir, NAGAR_GATEWAY_RATE_PER_IP="0",
                      NAGAR_GATEWAY_RATE_PER_USER="0", NAGAR_GATEWAY_MHD_MODE=args.mode,
                      NAGAR_GATEWAY_MAX_CONNECTIONS_PER_IP="1024")
        gateway_proc, _ = procs.start("gateway", [binary("nagar-gateway")], gw_env)
        gw_pid = gateway_proc.pid
        base = f"http://127.0.0.1:{gw_port}"
        wait_http(base + "/healthz")
        results["healthz"] = wrk_measured(gw_pid, base + "/healthz", args.seconds,
                                          args.connections)
        # Only identity runs here, so /readyz (which wants every routed
        # service) stays 503: wait for the route under test instead.
        wait_http(f"{base}/api/v1/ulbs/{ULB}", timeout=30)
        wrk(f"{base}/api/v1/ulbs/{ULB}", 2, args.connections)       # warm-up
        results["ulb.get"] = wrk_measured(gw_pid, f"{base}/api/v1/ulbs/{ULB}", args.seconds,
                                          args.connections, latency=True)
        # An authenticated read: a STATE_ADMIN token minted with identity's key.
        token = admin_token(os.path.join(token_dir, "k1.key"), "k1")
        auth = (f"Authorization: Bearer {token}",)
        staff_url = f"{base}/api/v1/staff?pageSize=1"
        wrk(staff_url, 2, args.connections, headers=auth)          # warm-up
        results["staff.list"] = wrk_measured(gw_pid, staff_url, args.seconds, args.connections,
                                             latency=True, headers=auth)
    finally:
        procs.stop_all()
        if cluster:
            cluster.run_script("pg.sh", "stop", check=False)
        shutil.rmtree(tmp, ignore_errors=True)

    hello, healthz, ulb = results["hello"], results["healthz"], results["ulb.get"]
    ratio = healthz["rps"] / hello["rps"]
    print(f"bench-gateway: wrk -t2 -c{args.connections}, {args.seconds} s each, gateway mode "
          f"{args.mode}")
    print(f"  hello (bare MHD, select thread)   {hello['rps']:>10.0f} req/s")
    print(f"  gateway /healthz                  {healthz['rps']:>10.0f} req/s   "
          f"{ratio:.0%} of hello (target >= 80%) {'OK' if ratio >= 0.8 else 'BELOW TARGET'}"
          f"   gateway CPU {healthz['cpu_us']:.1f} us/req")
    print(f"  gateway GET /api/v1/ulbs/{ULB}    {ulb['rps']:>10.0f} req/s   "
          f"p50 {ulb.get('p50_ms', float('nan')):.2f} ms  p90 {ulb.get('p90_ms', float('nan')):.2f} ms"
          f"  p99 {ulb.get('p99_ms', float('nan')):.2f} ms   gateway CPU {ulb['cpu_us']:.1f} us/req")
    staff = results["staff.list"]
    print(f"  gateway GET /api/v1/staff (token) {staff['rps']:>10.0f} req/s   "
          f"p50 {staff.get('p50_ms', float('nan')):.2f} ms  p90 {staff.get('p90_ms', float('nan')):.2f} ms"
          f"  p99 {staff.get('p99_ms', float('nan')):.2f} ms   gateway CPU {staff['cpu_us']:.1f} us/req")
    # What a service pays to verify the caller's token itself (issue 12).
    if os.path.exists(os.path.join(BUILD, "tests", "bench_token")):
        token = json.loads(subprocess.run([binary("tests/bench_token")], capture_output=True,
                                          text=True, timeout=300, check=True).stdout)
        print(f"  token verification per request     first sight "
              f"{token['verify_ns'] / 1000:.1f} us (Ed25519), cached "
              f"{token['check_cached_ns'] / 1000:.2f} us (grant with scope "
              f"{token['check_grant_ns'] / 1000:.2f} us, cache miss "
              f"{token['check_new_ns'] / 1000:.1f} us)")
    for name, r in results.items():
        if r["non2xx"]:
            print(f"  warning: {name}: {r['non2xx']} responses were not 2xx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
