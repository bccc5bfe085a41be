#!/usr/bin/python3
"""bench_compare.py — `make bench-compare`: property tax's payments/s and
annual demand/s for this tree and for an older build, side by side in one run
on the same machine (issue 13 item 7: within 10% of the old build's).

The old build is `git archive OLD` unpacked under build/bench-old/OLD and
built there once (release build, the binaries only); then each round runs
this tree's tests/bench/bench_property_tax.py against the old build (its
binaries, migrations and deploy scripts) and against this one, in turns
(old first in odd rounds, new first in even ones, so neither always runs on
a warmer machine), each against a PostgreSQL of its own, and the figures
are printed per round and as medians, with the new build's as a share of
the old's.

  BUILD=build /usr/bin/python3 tests/bench/bench_compare.py [--old 9f5dd2a]
        [--rounds 3] [bench_property_tax.py's options, e.g. --seconds 20]

OLD defaults to 7b3248d, main before issue 13's SQL modules, rules-only
writes, history, verification and checkpoints (9f5dd2a is main after the
modules only). The figures are printed per round, as medians, as new/old
ratios paired by round (the two runs of a round are back to back), and
over each run's own baseline (bare insert, pgbench): on a shared machine
the paired and baseline ratios are the ones to read. A
benchmark, not a test: it reports, and exits non-zero only when a run could
not complete.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")

FIGURES = {
    "demand": re.compile(r"annual demand through the queue\s+([\d.]+) properties/s"),
    "payments": re.compile(r"payments through the gateway\s+([\d.]+) payments/s"),
    "bare": re.compile(r"bare INSERT \.\.\. SELECT, same rows\s+([\d.]+) properties/s"),
    "pgbench": re.compile(r"pgbench TPC-B-like\s+([\d.]+) transactions/s"),
}


def old_tree(rev):
    """The old build's sources and binaries, made once per revision."""
    full = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", rev + "^{commit}"],
                          capture_output=True, text=True)
    if full.returncode != 0:
        sys.exit(f"bench_compare: {rev} is not a commit of this repository")
    tree = os.path.join(ROOT, BUILD, "bench-old", full.stdout.strip()[:12])
    if not os.path.exists(os.path.join(tree, "Makefile")):
        os.makedirs(tree, exist_ok=True)
        archive = subprocess.Popen(["git", "-C", ROOT, "archive", rev], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", tree], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            sys.exit(f"bench_compare: git archive {rev} failed")
    # Both builds are measured by this tree's benchmarks (the same procedure;
    # an older tree's may not speak to its own services any more).
    for name in ("bench_property_tax.py", "rules_bench_stack.py", "bench_demand_instructions.py",
                 "bench_payment_instructions.py"):
        shutil.copyfile(os.path.join(ROOT, "tests", "bench", name),
                        os.path.join(tree, "tests", "bench", name))
    # Every program (services, gateway, tools) but not the web bundle: the
    # benchmark does not load it, and building it needs npm.
    services = os.path.join(tree, "services")
    names = [f"nagar-{n}" for n in sorted(os.listdir(services))
             if os.path.isdir(os.path.join(services, n))]
    names += [f"nagar-{n[:-2]}" for n in sorted(os.listdir(os.path.join(tree, "deploy", "tools")))
              if n.endswith(".c")]
    names.append("nagar-gateway")
    targets = [f"build/{n}" for n in names]
    # A tree whose test fixtures read the contract's descriptors (newer than
    # 7b3248d) builds them too.
    with open(os.path.join(tree, "Makefile")) as f:
        if re.search(r"^GEN_DESC :?= \$\(BUILD\)/gen/contract\.desc$", f.read(), re.M):
            targets.append("build/gen/contract.desc")
    print(f"bench-compare: building {rev} in {os.path.relpath(tree, ROOT)} ...", flush=True)
    subprocess.run(["make", "-s", "-j2", "BUILD=build"] + targets, cwd=tree, check=True,
                   stdout=subprocess.DEVNULL)
    return tree


def run_bench(tree, label, bench_args):
    print(f"bench-compare: {label} ...", flush=True)
    out = subprocess.run([sys.executable, "tests/bench/bench_property_tax.py"] + bench_args,
                         cwd=tree, env=dict(os.environ, BUILD="build" if tree != ROOT else BUILD),
                         capture_output=True, text=True, timeout=7200)
    figures = {}
    for name, pattern in FIGURES.items():
        m = pattern.search(out.stdout)
        if m:
            figures[name] = float(m.group(1))
    if out.returncode != 0 or len(figures) != len(FIGURES):
        sys.exit(f"bench_compare: the {label} run did not complete (exit {out.returncode}):\n"
                 f"{out.stdout}\n{out.stderr}")
    for line in out.stdout.splitlines():
        if line.startswith("  "):
            print(f"    {label}: {line.strip()}")
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", default="7b3248d")
    parser.add_argument("--rounds", type=int, default=3)
    args, bench_args = parser.parse_known_args()   # the rest goes to bench_property_tax.py
    tree = old_tree(args.old)
    runs = {"old": [], "new": []}
    for r in range(args.rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        for which in order:
            label = f"round {r + 1} {which}"
            runs[which].append(run_bench(tree if which == "old" else ROOT, label,
                                         bench_args))

    print(f"\nbench-compare: property tax, old = {args.old}, new = this tree; "
          f"{args.rounds} rounds, alternating")
    print(f"  {'round':<7}{'build':<6}{'demand/s':>12}{'payments/s':>12}"
          f"{'bare insert/s':>15}{'pgbench tps':>13}")
    for r in range(args.rounds):
        for which in ("old", "new"):
            f = runs[which][r]
            print(f"  {r + 1:<7}{which:<6}{f['demand']:>12.0f}{f['payments']:>12.0f}"
                  f"{f['bare']:>15.0f}{f['pgbench']:>13.0f}")
    # Old and new of one round ran back to back: their ratio is the figure
    # least moved by what else the shared machine was doing. Each run's own
    # baseline (the bare insert for the demand, pgbench for the payments,
    # measured in the same run on the same cluster) gives a second ratio
    # that takes out the load of the minutes each ran in.
    print("  new/old by round (paired), and of the figures over their own run's baseline:")
    for name, unit, base in (("demand", "properties/s", "bare"),
                             ("payments", "payments/s", "pgbench")):
        old = statistics.median(f[name] for f in runs["old"])
        new = statistics.median(f[name] for f in runs["new"])
        paired = [n[name] / o[name] for o, n in zip(runs["old"], runs["new"])]
        normal = [(n[name] / n[base]) / (o[name] / o[base])
                  for o, n in zip(runs["old"], runs["new"])]
        share = statistics.median(paired)
        print(f"    {name:<9} old {old:>9.0f}  new {new:>9.0f} {unit:<13} "
              f"new/old {share:.0%} (rounds {', '.join(f'{x:.0%}' for x in paired)}); "
              f"over {base}: {statistics.median(normal):.0%} "
              f"(rounds {', '.join(f'{x:.0%}' for x in normal)}) "
              f"(target >= 90%) {'OK' if share >= 0.9 else 'BELOW TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
