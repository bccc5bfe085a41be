#!/usr/bin/python3
"""bench_bus.py — `make bench-bus`: request/reply throughput through the
broker next to a raw ZeroMQ round trip measured in the same run.

Starts a private nagar-broker (CURVE on) on a free loopback port with fresh
keys and three pairs of test_worker echo workers: "echo" with libnagar's
defaults (credit 16, packed frames), "echo_plain" with credit 16 but
NAGAR_BUS_PACKED=0 (plain MDP frames), and "echo_mdp" with credit 1 and
NAGAR_BUS_PACKED=0 (exactly MDP/0.1: one request per worker at a time, RFC 7
frames). Then runs tests/bench_bus, all from this one process tree:

  bus          libnagar client -> broker -> 2 echo workers, 64 in flight,
               libnagar defaults: every MDP message one packed frame
               (mdp.h), so 1 + 1 + 1 + 1 CURVE messages per request
  bus-unpacked the same with NAGAR_BUS_PACKED=0 on client and workers
               (echo_plain): 4 + 7 + 6 + 4 CURVE messages per request
  bus-credit1  NAGAR_BUS_PACKED=0 client -> the credit-1 workers (pure RFC 7
               behaviour and frames)
  raw-curve    DEALER -> ROUTER echo in one process, CURVE on (the fair
               baseline: the bus has CURVE on; 1 + 1 frames of body, plus
               the empty delimiter: 2 + 2 CURVE messages per request)
  raw          the same without security (for reference)
  relay-curve  the ceiling of any plain-MDP broker here: a ROUTER-ROUTER
               relay and two echo workers, threads with their own ZeroMQ
               contexts, CURVE on, the bus's exact unpacked frames (4 + 7 +
               6 + 4 per request) and none of the broker's work
  relay-curve-packed the same relay with one packed frame per hop (unpacked
               and repacked at the relay and the workers): the ceiling of
               the packed bus
  relay        the plain-frame relay without CURVE

The machine is shared, so the modes run interleaved for --rounds rounds and
each figure is the median of its rounds (every round's figure is printed
too). Prints requests/s for each, the ratio bus / raw-curve (target >= 0.5),
and the broker's resident memory (VmRSS) when idle (target < 10 MB) and after
the load. Throughput on a shared machine swings with the neighbours' load,
so each mode also gets the CPU time it used per request (user + system, of
the bench process and, for the bus modes, of the broker and the two workers
serving it; start-up and the 500 warm-up requests included): a figure
other processes barely move, printed as a second ratio, raw / bus CPU per
request, next to (never instead of) the throughput ratio. A benchmark, not a test: it reports, and exits non-zero only when
a run could not complete.

  BUILD=build /usr/bin/python3 tests/bench/bench_bus.py [--seconds 3]
        [--rounds 3] [--in-flight 64] [--size 64]
"""
import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rules_bench_stack import BUILD, ROOT, binary, free_port, keygen  # noqa: E402

WORKERS = 2


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    sys.exit(f"bench_bus: timed out after {timeout}s waiting for {what}")


class Started:
    """Processes to stop on the way out, whatever happens."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def start(self, name, argv, env):
        log = open(os.path.join(self.workdir, f"{name}.log"), "wb")
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
        proc.log_path = log.name
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def cpu_seconds(pid):
    """User + system CPU seconds a running process has used (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_bench(mode, args, env, in_flight=None, service="echo", servers=()):
    """One bench_bus run; its JSON line plus cpu_us_per_request: the CPU of
    the bench process and of the server processes (pids) over the run."""
    argv = [binary("tests/bench_bus"), "--mode", mode, "--seconds", str(args.seconds),
            "--in-flight", str(in_flight or args.in_flight), "--size", str(args.size),
            "--service", service]
    servers_before = sum(cpu_seconds(pid) for pid in servers)
    client_before = children_cpu_seconds()
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=args.seconds * 4 + 60)
    cpu = children_cpu_seconds() - client_before
    cpu += sum(cpu_seconds(pid) for pid in servers) - servers_before
    if result.returncode != 0:
        print(f"bench_bus: mode {mode} failed ({result.returncode}): "
              f"{result.stderr.decode(errors='replace')[-2000:]}", file=sys.stderr)
        return None
    line = json.loads(result.stdout.decode().strip().splitlines()[-1])
    line["cpu_us_per_request"] = cpu / line["requests"] * 1e6 if line["requests"] else 0.0
    return line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="nagar-bench-bus-")
    started = Started(workdir)
    ok = True
    try:
        keys_dir = os.path.join(workdir, "keys")
        keygen(keys_dir, "broker")
        keygen(keys_dir, "echo", serve="echo,echo_plain,echo_mdp")
        keygen(keys_dir, "client", call="echo,echo_plain,echo_mdp")
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        base_env = dict(os.environ)
        broker_env = dict(base_env, NAGAR_BROKER_BIND=endpoint, NAGAR_BROKER_KEYS_DIR=keys_dir,
                          NAGAR_BROKER_STATE_DIR=os.path.join(workdir, "state"),
                          NAGAR_BROKER_INSECURE="0",
                          # The fair-share checks run on every request but
                          # must not cap the one principal the bench uses.
                          NAGAR_BROKER_PRINCIPAL_RATE="1000000000",
                          NAGAR_BROKER_PRINCIPAL_IN_FLIGHT="4096")
        broker = started.start("broker", [binary("nagar-broker")], broker_env)

        def broker_ready():
            if broker.poll() is not None:
                sys.exit(f"bench_bus: the broker exited ({broker.returncode}); see "
                         f"{broker.log_path}")
            with open(broker.log_path, "rb") as f:
                return b'"broker.ready"' in f.read()
        wait_for(broker_ready, 15, "the broker to log broker.ready")

        def peer_env(principal):
            return dict(base_env, NAGAR_BUS_ENDPOINT=endpoint, NAGAR_BUS_INSECURE="0",
                        NAGAR_BUS_CERT=os.path.join(keys_dir, "secret", f"{principal}.cert"),
                        NAGAR_BUS_BROKER_KEY=os.path.join(keys_dir, "broker.pub"),
                        NAGAR_LOG_LEVEL="warn")
        worker_env = {"echo": {},
                      "echo_plain": {"TEST_WORKER_SERVICE": "echo_plain",
                                     "NAGAR_BUS_PACKED": "0"},
                      "echo_mdp": {"TEST_WORKER_SERVICE": "echo_mdp",
                                   "NAGAR_BUS_WORKER_CREDIT": "1", "NAGAR_BUS_PACKED": "0"}}
        for name in ("NAGAR_BUS_WORKER_CREDIT", "NAGAR_BUS_PACKED"):
            if name in base_env:
                print(f"bench_bus: {name}={base_env[name]} from the environment applies to "
                      f"service echo and mode bus", file=sys.stderr)
        worker_pids = {}
        for service, extra in worker_env.items():
            for i in range(WORKERS):
                worker = started.start(f"{service}{i}", [binary("tests/test_worker")],
                                       dict(peer_env("echo"), **extra))
                worker_pids.setdefault(service, []).append(worker.pid)

        # All workers registered: WORKERS slow requests at once run on
        # WORKERS different workers.
        def all_serving(service):
            result = subprocess.run([binary("tests/bus_call"), "--service", service,
                                     "--count", str(WORKERS), "--in-flight", str(WORKERS),
                                     "--sleep-ms", "100", "--attempts", "1",
                                     "--timeout-ms", "3000"], env=peer_env("client"),
                                    capture_output=True, timeout=20)
            lines = [json.loads(l) for l in result.stdout.decode().splitlines() if l.strip()]
            return len({l.get("worker") for l in lines if l.get("code") == "OK"}) == WORKERS
        for service in worker_env:
            wait_for(lambda: all_serving(service), 20, f"both {service} workers to register")

        time.sleep(1.0)
        idle_rss_kb = vm_rss_kb(broker.pid)

        plain = dict(peer_env("client"), NAGAR_BUS_PACKED="0")
        modes = {
            "bus": dict(service="echo"),
            "bus-unpacked": dict(service="echo_plain", env=plain),
            "bus-credit1": dict(service="echo_mdp", env=plain),
            "raw-curve": {},
            "raw": {},
            "relay-curve": {},
            "relay-curve-packed": {},
            "relay": {},
            # With credit 1 at most WORKERS requests are being served at
            # any moment: the raw round trip at that concurrency.
            "raw-curve-workers": dict(in_flight=WORKERS),
        }
        rounds = {mode: [] for mode in modes}
        for _ in range(args.rounds):
            for mode, extra in modes.items():
                extra = dict(extra)
                env = extra.pop("env", peer_env("client"))
                if mode.startswith("bus"):
                    extra["servers"] = [broker.pid] + worker_pids[extra["service"]]
                result = run_bench("raw-curve" if mode == "raw-curve-workers" else
                                   "bus" if mode.startswith("bus") else mode,
                                   args, env, **extra)
                ok = ok and result is not None
                if result:
                    rounds[mode].append(result)
        loaded_rss_kb = vm_rss_kb(broker.pid)

        results = {}
        for mode, runs in rounds.items():
            results[mode] = (sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
                             if len(runs) == args.rounds else None)

        print(f"bench-bus: {args.in_flight} requests in flight, {args.seconds:g} s per run, "
              f"median of {args.rounds} interleaved rounds, echo text {args.size} bytes "
              f"({results['raw']['message_bytes'] if results['raw'] else '?'} B message), "
              f"{WORKERS} echo workers, build {os.path.relpath(BUILD, ROOT)}")
        for mode, label in (("bus", "bus, credit 16, packed (libnagar default), CURVE"),
                            ("bus-unpacked", "bus, credit 16, NAGAR_BUS_PACKED=0, CURVE"),
                            ("bus-credit1", "bus, credit 1, unpacked (pure MDP/0.1), CURVE"),
                            ("raw-curve", "raw ZeroMQ DEALER->ROUTER, CURVE"),
                            ("raw", "raw ZeroMQ DEALER->ROUTER, plain"),
                            ("relay-curve", "bare MDP-framed relay, CURVE (ceiling, plain)"),
                            ("relay-curve-packed", "bare relay, packed frames, CURVE (ceiling)"),
                            ("relay", "bare MDP-framed relay, plain"),
                            ("raw-curve-workers",
                             f"raw, CURVE, only {WORKERS} in flight")):
            r = results[mode]
            each = " ".join(f"{run['rps']:,.0f}" for run in rounds[mode])
            errors = sum(run["errors"] for run in rounds[mode])
            cpu = " ".join(f"{run['cpu_us_per_request']:.1f}" for run in rounds[mode])
            if r:
                print(f"  {label:48s} {r['rps']:>10,.0f} requests/s  (rounds: {each}; "
                      f"{errors} errors; CPU us/request: {cpu})")
            else:
                print(f"  {label:48s} failed")
        if results["bus"] and results["raw-curve"]:
            ratio = results["bus"]["rps"] / results["raw-curve"]["rps"]
            print(f"  ratio bus / raw (CURVE): {ratio:.2f}  (target >= 0.5: "
                  f"{'met' if ratio >= 0.5 else 'NOT met'})")
            # The same ratio within each round, where both ran back to back.
            paired = [b["rps"] / r["rps"] for b, r in zip(rounds["bus"], rounds["raw-curve"])]
            print(f"  ratio per round: {' '.join(f'{p:.2f}' for p in paired)}")
        if rounds["bus"] and rounds["raw-curve"]:
            paired = [r["cpu_us_per_request"] / b["cpu_us_per_request"]
                      for b, r in zip(rounds["bus"], rounds["raw-curve"])
                      if b["cpu_us_per_request"] > 0]
            print(f"  CPU per request, raw (CURVE) / bus, per round: "
                  f"{' '.join(f'{p:.2f}' for p in paired)}  (the throughput ratio a CPU-bound "
                  f"run tends to with the cores to itself; not the target's measure)")
        if results["bus-unpacked"] and results["raw-curve"]:
            paired = [b["rps"] / r["rps"]
                      for b, r in zip(rounds["bus-unpacked"], rounds["raw-curve"])]
            print(f"  ratio bus unpacked / raw (CURVE): "
                  f"{results['bus-unpacked']['rps'] / results['raw-curve']['rps']:.2f}  "
                  f"(per round: {' '.join(f'{p:.2f}' for p in paired)})")
        if results["bus"] and results["bus-unpacked"]:
            paired = [b["rps"] / u["rps"] for b, u in zip(rounds["bus"], rounds["bus-unpacked"])]
            print(f"  gain of packing, bus / bus unpacked: "
                  f"{results['bus']['rps'] / results['bus-unpacked']['rps']:.2f}  "
                  f"(per round: {' '.join(f'{p:.2f}' for p in paired)})")
        if results["bus-credit1"] and results["raw-curve"]:
            print(f"  ratio bus credit 1 / raw (CURVE): "
                  f"{results['bus-credit1']['rps'] / results['raw-curve']['rps']:.2f}")
        for relay, what in (("relay-curve", "plain MDP frames"),
                            ("relay-curve-packed", "packed frames")):
            if results[relay] and results["raw-curve"]:
                paired = [b["rps"] / r["rps"] for b, r in zip(rounds[relay], rounds["raw-curve"])]
                print(f"  ratio bare relay, {what} / raw (CURVE): "
                      f"{results[relay]['rps'] / results['raw-curve']['rps']:.2f}  (per round: "
                      f"{' '.join(f'{p:.2f}' for p in paired)}; the most a broker with these "
                      f"hops and frames reaches here)")
        if results["bus"] and results["relay-curve-packed"]:
            print(f"  ratio bus / bare packed relay (CURVE): "
                  f"{results['bus']['rps'] / results['relay-curve-packed']['rps']:.2f}")
        if results["bus-unpacked"] and results["relay-curve"]:
            print(f"  ratio bus unpacked / bare relay (CURVE): "
                  f"{results['bus-unpacked']['rps'] / results['relay-curve']['rps']:.2f}")
        if results["bus"] and results["raw"]:
            print(f"  ratio bus / raw (plain): {results['bus']['rps'] / results['raw']['rps']:.2f}")
        if results["bus-credit1"] and results["raw-curve-workers"]:
            print(f"  ratio bus credit 1 / raw (CURVE, {WORKERS} in flight): "
                  f"{results['bus-credit1']['rps'] / results['raw-curve-workers']['rps']:.2f}")
        print(f"  broker VmRSS idle: {idle_rss_kb / 1024:.1f} MB (target < 10 MB: "
              f"{'met' if 0 < idle_rss_kb < 10 * 1024 else 'NOT met'}); after load: "
              f"{loaded_rss_kb / 1024:.1f} MB")
    finally:
        started.stop_all()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"bench_bus: logs kept in {workdir}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
