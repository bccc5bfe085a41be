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
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rules_bench_stack import (BUILD, ROOT, RulesBenchStack, binary, free_port,  # noqa: E402
                               wait_http)

PRINCIPALS = [("gateway", "", "identity"), ("identity", "identity", "notifications")]
ULB = "250946"


def hello_binary():
    source = os.path.join(ROOT, "tests", "bench", "hello_mhd.c")
    out = os.path.join(BUILD, "tests", "hello_mhd")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(source):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run(["cc", "-O2", "-std=c17", "-Wall", "-Wextra", "-Werror", source,
                        "-lmicrohttpd", "-o", out], check=True, timeout=120)
    return out


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--mode", default="epoll", choices=["epoll", "select"])
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_gateway: wrk is not installed: apt-get install wrk")
    stack = RulesBenchStack("nagar-bench-gw-")
    results = {}
    try:
        # 1. the bare MHD baseline
        port = free_port()
        stack.procs.start("hello", [hello_binary(), str(port), "select"], dict(os.environ))
        wait_http(f"http://127.0.0.1:{port}/")
        results["hello"] = wrk(f"http://127.0.0.1:{port}/", args.seconds, args.connections)

        # 2. broker, PostgreSQL, identity, gateway
        stack.start_core(PRINCIPALS, identity_env={
            "NAGAR_OTP_SINK_FILE": os.path.join(stack.tmp, "otp_sink.jsonl")})
        gw_pid = stack.start_gateway({"NAGAR_GATEWAY_MHD_MODE": args.mode}).pid
        base = stack.base
        results["healthz"] = wrk_measured(gw_pid, base + "/healthz", args.seconds,
                                          args.connections)
        # Only identity runs here, so /readyz (which wants every routed
        # service) stays 503: wait for the route under test instead.
        wait_http(f"{base}/api/v1/ulbs/{ULB}", timeout=30)
        wrk(f"{base}/api/v1/ulbs/{ULB}", 2, args.connections)       # warm-up
        results["ulb.get"] = wrk_measured(gw_pid, f"{base}/api/v1/ulbs/{ULB}", args.seconds,
                                          args.connections, latency=True)
        # An authenticated read: a STATE_ADMIN token minted with identity's key.
        token = admin_token(os.path.join(stack.token_dir, "k1.key"), "k1")
        auth = (f"Authorization: Bearer {token}",)
        staff_url = f"{base}/api/v1/staff?pageSize=1"
        wrk(staff_url, 2, args.connections, headers=auth)          # warm-up
        results["staff.list"] = wrk_measured(gw_pid, staff_url, args.seconds, args.connections,
                                             latency=True, headers=auth)
    finally:
        stack.stop()

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
