#!/usr/bin/python3
"""bench_payment_instructions.py — `make bench-payment-instructions`: what a
counter payment costs the PostgreSQL backend that records it, in
instructions, this tree's next to an older build's: a figure the machine's
load does not move (issue 13 item 7: payments/s within 10% of the old
build's; bench_compare.py measures payments/s in wall-clock time, where
rounds on a shared machine differ by a fifth).

For each build, with its own binaries, migrations and deploy scripts: a stack
of its own (RulesBenchStack), bench_property_tax.py's synthetic properties,
rates and annual demand made through its gateway; then a copy of the stopped
cluster is kept, and --payments counter payments are made through the
gateway, one at a time, with every statement of the service's app role
logged (log_statement = all); twenty times as many were made before the copy (eight at a time),
then ANALYZE, as bench_property_tax.py measures after a warm-up. Each payment's transaction, as the service
sent it (BEGIN to COMMIT, its parameters written in), is replayed on the
copy by a single-user backend (postgres --single) acting as the app role
with the role's own settings (its pgAudit classes among them), under
callgrind, which counts the statements and commits (PortalRun,
CommitTransactionCommand). The first --warm payments fill the backend's
caches: the figure is the difference between a run of all payments and a
run of the warm ones only, per payment. The service's own CPU and the
round trips are not in it (bench_compare.py has those).

  BUILD=build /usr/bin/python3 tests/bench/bench_payment_instructions.py [--old 7b3248d]
        [--payments 120] [--warm 20]

Needs valgrind. A benchmark, not a test: it reports, and exits non-zero only
when a run could not complete.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_demand_instructions import COLLECTED, POSTGRES, as_data_owner  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
TODAY_MMDD = "-06-15"
# log_line_prefix = '%m [%p] %q%u@%d %e ' (deploy/pg.sh, old and new)
LOG_LINE = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (\S+)@(\S+) \S+ (LOG|DETAIL):  (.*)$")
STATEMENT = re.compile(r"^(?:execute [^:]+|statement): (.*)$", re.S)
PARAMETER = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")
APP = "property_tax_app"
DB = "nagar_property_tax"


def captured_transactions(log_text):
    """The app role's transactions that recorded a payment, in order, each a
    list of statements with their parameters written in as literals."""
    statements = {}                     # pid -> [sql]
    last = {}                           # pid -> index of the statement a DETAIL belongs to
    current = None
    for line in log_text.split("\n"):
        m = LOG_LINE.match(line)
        if not m:
            if current is not None:     # a statement's or a parameter list's next line
                pid, kind = current
                if kind == "LOG":
                    statements[pid][-1] += "\n" + line
                else:
                    statements[pid][last[pid]] = bind(statements[pid][last[pid]], line, more=True)
            continue
        pid, user, db, kind, text = m.groups()
        current = None
        if user != APP or db != DB:
            continue
        if kind == "LOG":
            s = STATEMENT.match(text)
            if s:
                statements.setdefault(pid, []).append(s.group(1))
                last[pid] = len(statements[pid]) - 1
                current = (pid, "LOG")
        elif kind == "DETAIL" and text.startswith("parameters: ") and pid in last:
            statements[pid][last[pid]] = bind(statements[pid][last[pid]],
                                              text[len("parameters: "):])
            current = (pid, "DETAIL")
    transactions = []
    for pid, sqls in statements.items():
        open_tx = None
        for sql in sqls:
            if sql.upper().startswith("BEGIN"):
                open_tx = [sql]
            elif open_tx is not None:
                open_tx.append(sql)
                if sql.upper() in ("COMMIT", "ROLLBACK"):
                    if sql.upper() == "COMMIT" and any("payment_record(" in s for s in open_tx):
                        transactions.append(open_tx)
                    open_tx = None
    return transactions


def bind(sql, parameters, more=False):
    """sql with its $n written as the logged literals (longest number first)."""
    if more:
        raise ValueError("a parameter list on several lines is not replayed")
    values = dict((int(n), v) for n, v in PARAMETER.findall(parameters))
    for n in sorted(values, reverse=True):
        sql = re.sub(r"\$%d(?!\d)" % n, lambda _m, v=values[n]: v, sql)
    return sql


def pay(base, clerks, codes, per_ulb, numbers, key):
    """Counter payments through the gateway, one at a time, payment n on a
    property of ULB n mod len(codes); how many were acknowledged."""
    from rules_bench_stack import http
    made = 0
    for n in numbers:
        ulb = codes[n % len(codes)]
        body = {"propertyId": f"{ulb}-001-{n // len(codes) % per_ulb + 1:06d}",
                "amountPaise": "10000", "mode": "CASH", "counter": f"C{n % 8 + 1}"}
        for _ in range(50):             # the service reconnects after a restart
            try:
                http("POST", f"{base}/api/v1/property-tax/payments", clerks[ulb], body,
                     key=f"{key}-{n}")
                made += 1
                break
            except Exception:           # noqa: BLE001 — counted by the caller
                time.sleep(0.2)
    return made


def prepare(out_dir, properties, ulbs, payments):
    """In the tree this copy of the script sits in: out_dir/data, a stopped
    cluster holding the properties and their demand, and out_dir/payments.json,
    the transactions of `payments` counter payments made after that copy."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_property_tax as pt
    from rules_bench_stack import RulesBenchStack, http, wait_jobs

    codes = pt.ULBS[:max(1, min(ulbs, len(pt.ULBS)))]
    per_ulb = properties // len(codes)
    stack = RulesBenchStack("nagar-bench-pi-")
    try:
        stack.start("property_tax", 1,
                    {"NAGAR_PROPERTY_TAX_BUSINESS_DATE": pt.FY[:4] + TODAY_MMDD})
        cluster, base, admin = stack.cluster, stack.base, stack.admin
        pt.synthesize(cluster, codes, per_ulb)
        for ulb in codes:
            http("PUT", f"{base}/api/v1/property-tax/rates/{ulb}/{pt.FY}", admin,
                 pt.rates(pt.FY), key=f"rates-{ulb}")
        jobs = [http("POST", f"{base}/api/v1/property-tax/demand-jobs", admin,
                     {"ulb": ulb, "fy": pt.FY}, key=f"demand-{ulb}")["jobId"] for ulb in codes]
        deadline = time.monotonic() + 1800
        if not (wait_jobs(base, admin, "/api/v1/property-tax/demand-jobs", jobs, deadline) and
                wait_jobs(base, admin, "/api/v1/property-tax/demand-jobs", jobs, deadline,
                          field="messagesStatus", absent="DONE")):
            sys.exit("bench_payment_instructions: the demand jobs did not finish")
        # Payments made before the copy, then ANALYZE, as bench_property_tax.py
        # measures after a warm-up: the payment tables' plans are those of
        # tables with rows (on empty ones the planner reads them whole).
        clerks = {u: stack.minter.mint(user_id=f"staff:bench-clerk-{u}", role="CLERK", ulb=u,
                                       session_id=f"bench-{u}", ttl_ms=3_000_000) for u in codes}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda part: pay(base, clerks, codes, per_ulb,
                                           range(payments + part, 21 * payments, 8),
                                           "bench-pi-before"), range(8)))
        before = int(cluster.sql("SELECT count(*) FROM property_tax.payment", dbname=DB))
        cluster.sql("VACUUM ANALYZE", dbname=DB)
        cluster.run_script("pg.sh", "stop")
        # cp -a: the files keep their owner (the postgres user under root).
        subprocess.run(["cp", "-a", cluster.data_dir, os.path.join(out_dir, "data")], check=True)
        cluster.run_script("pg.sh", "start")
        log_from = os.path.getsize(cluster.log_path)
        cluster.sql("ALTER SYSTEM SET log_statement = 'all'")
        cluster.sql("SELECT pg_reload_conf()")
        made = pay(base, clerks, codes, per_ulb, range(payments), "bench-pi")
        cluster.sql("ALTER SYSTEM RESET log_statement")
        cluster.sql("SELECT pg_reload_conf()")
        time.sleep(0.5)
        with open(cluster.log_path, encoding="utf-8", errors="replace") as f:
            f.seek(log_from)
            transactions = captured_transactions(f.read())
        if made != payments or len(transactions) != payments:
            sys.exit(f"bench_payment_instructions: {made} of {payments} payments made, "
                     f"{len(transactions)} captured")
        settings = cluster.sql(
            "SELECT string_agg(quote_ident(split_part(c, '=', 1)) || ' = ' || "
            "quote_literal(substr(c, strpos(c, '=') + 1)), '; ') FROM pg_db_role_setting s "
            f"JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) c "
            f"WHERE r.rolname = '{APP}' AND s.setdatabase IN (0, (SELECT oid FROM pg_database "
            f"WHERE datname = '{DB}'))").strip()
        with open(os.path.join(out_dir, "payments.json"), "w") as f:
            json.dump({"settings": settings, "transactions": transactions,
                       "before": before}, f)
    finally:
        stack.stop()


def start_count(run_dir, name, settings, transactions):
    """callgrind over a single-user backend replaying `transactions` as the
    app role on a copy of run_dir/data."""
    data = os.path.join(run_dir, f"data-{name}")
    subprocess.run(["cp", "-a", os.path.join(run_dir, "data"), data], check=True)
    # Settings the app role's sessions have (pgAudit's classes, search_path):
    # the superuser's own are not the app's.
    script = [f"SET {settings.replace('; ', '; SET ')}" if settings else "SELECT 1",
              f"SET SESSION AUTHORIZATION {APP}"]
    for tx in transactions:
        script += tx
    script.append("SELECT count(*) AS replayed FROM property_tax.payment")
    with open(os.path.join(run_dir, f"{name}.sql"), "w") as f:
        f.write(";\n\n".join(script) + ";\n\n")
    argv = as_data_owner(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                          "--toggle-collect=PortalRun",
                          "--toggle-collect=CommitTransactionCommand",
                          f"--callgrind-out-file={os.path.join(run_dir, name + '.callgrind')}",
                          POSTGRES, "--single", "-j", "-D", data, DB])
    with open(os.path.join(run_dir, f"{name}.sql")) as stdin, \
            open(os.path.join(run_dir, f"{name}.log"), "w") as log:
        return subprocess.Popen(argv, stdin=stdin, stdout=log, stderr=subprocess.STDOUT,
                                cwd="/")


def counted(run_dir, name, expect):
    with open(os.path.join(run_dir, f"{name}.log"), errors="replace") as f:
        log = f.read()
    total = COLLECTED.search(log)
    errors = [line for line in log.split("\n") if "ERROR:" in line]
    if not total or f'replayed = "{expect}"' not in log or errors:
        sys.exit(f"bench_payment_instructions: the {name} replay did not complete "
                 f"({len(errors)} errors; {expect} payments expected):\n{log[-3000:]}")
    return int(total.group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", default="7b3248d")
    parser.add_argument("--payments", type=int, default=120)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--properties", type=int, default=8000)
    parser.add_argument("--ulbs", type=int, default=4)
    parser.add_argument("--prepare", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.warm < args.payments <= min(10_000, args.properties) or \
            not 1 <= args.properties <= 1_000_000:
        sys.exit("bench_payment_instructions: 1 <= --warm < --payments <= 10000 and "
                 "<= --properties <= 1000000")
    if args.prepare:
        prepare(args.prepare, args.properties, args.ulbs, args.payments)
        return 0
    if not shutil.which("valgrind"):
        sys.exit("bench_payment_instructions: valgrind is not installed: apt-get install valgrind")
    from bench_compare import old_tree

    trees = {"old": old_tree(args.old), "new": ROOT}
    work = tempfile.mkdtemp(prefix="nagar-bench-pi-")
    os.chmod(work, 0o755)
    try:
        captured = {}
        for label, tree in trees.items():
            run_dir = os.path.join(work, label)
            os.makedirs(run_dir)
            os.chmod(run_dir, 0o777)        # the backend writes callgrind's file here
            print(f"bench-payment-instructions: {label}: {args.payments} payments made and "
                  f"captured ...", flush=True)
            done = subprocess.run(
                [sys.executable, "tests/bench/bench_payment_instructions.py", "--prepare",
                 run_dir, "--payments", str(args.payments), "--warm", str(args.warm),
                 "--properties", str(args.properties), "--ulbs", str(args.ulbs)],
                cwd=tree, env=dict(os.environ, BUILD="build" if tree != ROOT else BUILD),
                capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                sys.exit(f"bench_payment_instructions: preparing the {label} build failed:\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
            with open(os.path.join(run_dir, "payments.json")) as f:
                captured[label] = json.load(f)
        print("bench-payment-instructions: both builds' replays under callgrind ...", flush=True)
        totals = {}
        for label in trees:
            run_dir = os.path.join(work, label)
            c = captured[label]
            runs = {"warm": start_count(run_dir, "warm", c["settings"],
                                        c["transactions"][:args.warm]),
                    "all": start_count(run_dir, "all", c["settings"], c["transactions"])}
            for run in runs.values():
                run.wait(timeout=3600)
            before = c["before"]
            totals[label] = ((counted(run_dir, "all", before + args.payments) -
                              counted(run_dir, "warm", before + args.warm)) /
                             (args.payments - args.warm))
            totals[label + "_statements"] = len(c["transactions"][-1])
    finally:
        if args.keep:
            print(f"bench-payment-instructions: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"bench-payment-instructions: a counter payment's backend instructions, the last "
          f"{args.payments - args.warm} of {args.payments} replayed, one single-user backend each")
    for label in trees:
        name = args.old if label == "old" else "this tree"
        print(f"  {label} ({name}){'':<{14 - len(name)}}{totals[label] / 1e6:>8.2f} M a payment"
              f"  ({totals[label + '_statements']} statements from BEGIN to COMMIT)")
    share = totals["old"] / totals["new"]
    print(f"  payments/s in backend instructions, new/old: {share:.1%} (old's instructions over "
          f"new's; the target, >= 90%, is for payments/s end to end: bench_compare.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
