#!/usr/bin/python3
"""bench_demand_instructions.py — `make bench-demand-instructions`: the annual
demand's cost in instructions, this tree's next to an older build's, counted
by callgrind in the PostgreSQL backend that runs it: a figure the machine's
load does not move (issue 13 item 7: demand/s within 10% of the old build's;
bench_compare.py measures the same in wall-clock time, on a shared machine
with rounds that differ by a third).

For each build, with its own binaries, migrations and deploy scripts: a stack
of its own (RulesBenchStack), bench_property_tax.py's synthetic properties and
rates set through its gateway, one demand job per ULB started, everything
stopped. Then a single-user backend (postgres --single) acting as the
service's app role runs every chunk of every job, as the workers do (one
pt_demand_run_chunk call a transaction), under callgrind, which counts the
instructions of the statements and commits (PortalRun,
CommitTransactionCommand), not the backend's start. Both builds' backends
run at once. Instructions in native code the host runs faster than
valgrind's emulation says (SHA-256 with SHA-NI) are counted at the emulated
rate: the history's hashing weighs more here than in time.

  BUILD=build /usr/bin/python3 tests/bench/bench_demand_instructions.py [--old 7b3248d]
        [--properties 40000] [--ulbs 4] [--chunk 5000]

Needs valgrind. A benchmark, not a test: it reports, and exits non-zero only
when a run could not complete.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
POSTGRES = "/usr/lib/postgresql/15/bin/postgres"
TODAY = "2026-06-15"
COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.M)


def prepare(out_dir, properties, ulbs):
    """In the tree this copy of the script sits in: out_dir/data, a stopped
    cluster holding the properties, the rates and a running demand job per
    ULB whose chunks no worker has taken."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_property_tax as pt
    from rules_bench_stack import RulesBenchStack, http

    codes = pt.ULBS[:max(1, min(ulbs, len(pt.ULBS)))]
    stack = RulesBenchStack("nagar-bench-di-")
    try:
        stack.start("property_tax", 1, {"NAGAR_PROPERTY_TAX_BUSINESS_DATE": TODAY})
        cluster = stack.cluster
        pt.synthesize(cluster, codes, properties // len(codes))
        for ulb in codes:
            http("PUT", f"{stack.base}/api/v1/property-tax/rates/{ulb}/{pt.FY}", stack.admin,
                 pt.rates(pt.FY), key=f"rates-{ulb}")
        stack.procs.stop_all()          # no worker takes a chunk from here on
        actor = json.dumps({"userId": "staff:bench-admin", "role": "STATE_ADMIN"})
        for ulb in codes:
            request = json.dumps({"ulb": ulb, "fy": pt.FY})
            cluster.sql(f"SET search_path = property_tax; SELECT pt_demand_generate("
                        f"'{actor}'::jsonb, '{request}'::jsonb, '{TODAY}')",
                        dbname="nagar_property_tax")
        cluster.sql("VACUUM ANALYZE", dbname="nagar_property_tax")
        cluster.run_script("pg.sh", "stop")
        # cp -a: the files keep their owner (the postgres user under root).
        subprocess.run(["cp", "-a", cluster.data_dir, os.path.join(out_dir, "data")], check=True)
    finally:
        stack.stop()


def as_data_owner(argv):
    return ["runuser", "-u", "postgres", "--"] + argv if os.geteuid() == 0 else argv


def start_count(run_dir, calls, chunk):
    """callgrind over a single-user backend running `calls` chunks in
    run_dir/data; the last call answers whether any job still waited."""
    script = ["SET pgaudit.log = 'ddl, role';",         # the app role's, not the superuser's
              "SET SESSION AUTHORIZATION property_tax_app;",
              "SET search_path = property_tax, public;"]
    for _ in range(calls):
        script += ["BEGIN;", f"SELECT pt_demand_run_chunk({chunk}) IS NULL;", "COMMIT;"]
    script.append(f"SELECT pt_demand_run_chunk({chunk}) IS NULL AS all_done;")
    with open(os.path.join(run_dir, "chunks.sql"), "w") as f:
        f.write("\n".join(script) + "\n")
    argv = as_data_owner(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                          "--toggle-collect=PortalRun",
                          "--toggle-collect=CommitTransactionCommand",
                          f"--callgrind-out-file={os.path.join(run_dir, 'callgrind.out')}",
                          POSTGRES, "--single", "-j", "-D", os.path.join(run_dir, "data"),
                          "nagar_property_tax"])
    with open(os.path.join(run_dir, "chunks.sql")) as stdin, \
            open(os.path.join(run_dir, "backend.log"), "w") as log:
        return subprocess.Popen(argv, stdin=stdin, stdout=log, stderr=subprocess.STDOUT,
                                cwd="/")


def counted(run_dir, label):
    with open(os.path.join(run_dir, "backend.log"), errors="replace") as f:
        log = f.read()
    total = COLLECTED.search(log)
    if not total or 'all_done = "t"' not in log:
        sys.exit(f"bench_demand_instructions: the {label} build's run did not complete "
                 f"(a job still waits, or callgrind counted nothing):\n{log[-3000:]}")
    return int(total.group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", default="7b3248d")
    parser.add_argument("--properties", type=int, default=40000)
    parser.add_argument("--ulbs", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--prepare", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.properties <= 1_000_000 or not 1 <= args.chunk <= 100_000:
        sys.exit("bench_demand_instructions: --properties is 1 to 1000000, --chunk 1 to 100000")
    if args.prepare:
        prepare(args.prepare, args.properties, args.ulbs)
        return 0
    if not shutil.which("valgrind"):
        sys.exit("bench_demand_instructions: valgrind is not installed: apt-get install valgrind")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_compare import old_tree

    ulbs = max(1, min(args.ulbs, 8))
    per_ulb = args.properties // ulbs
    # A job's chunks, and the empty one that finds it done when the last was full.
    calls = ulbs * (per_ulb // args.chunk + 1)
    trees = {"old": old_tree(args.old), "new": ROOT}
    work = tempfile.mkdtemp(prefix="nagar-bench-di-")
    os.chmod(work, 0o755)
    try:
        for label, tree in trees.items():
            run_dir = os.path.join(work, label)
            os.makedirs(run_dir)
            os.chmod(run_dir, 0o777)        # the backend writes callgrind's file here
            print(f"bench-demand-instructions: {label}: {ulbs * per_ulb} properties in {ulbs} "
                  f"ULBs ...", flush=True)
            done = subprocess.run(
                [sys.executable, "tests/bench/bench_demand_instructions.py", "--prepare",
                 run_dir, "--properties", str(ulbs * per_ulb), "--ulbs", str(ulbs)],
                cwd=tree, env=dict(os.environ, BUILD="build" if tree != ROOT else BUILD),
                capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                sys.exit(f"bench_demand_instructions: preparing the {label} build failed:\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        print(f"bench-demand-instructions: both builds' {calls} chunk calls under callgrind "
              f"...", flush=True)
        runs = {label: start_count(os.path.join(work, label), calls, args.chunk)
                for label in trees}
        for run in runs.values():
            run.wait(timeout=7200)
        totals = {label: counted(os.path.join(work, label), label) for label in trees}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    properties = ulbs * per_ulb
    print(f"bench-demand-instructions: the annual demand of {properties} properties in {ulbs} "
          f"ULBs, chunks of {args.chunk}, one single-user backend each")
    for label in trees:
        name = args.old if label == "old" else "this tree"
        print(f"  {label} ({name}){'':<{14 - len(name)}}{totals[label] / 1e9:>8.2f} G instructions"
              f"  {totals[label] / properties / 1e3:>7.0f} k a property")
    share = totals["old"] / totals["new"]
    print(f"  demand/s in instructions, new/old: {share:.1%} (old's instructions over new's; "
          f"target >= 90%) {'OK' if share >= 0.9 else 'BELOW TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
