#!/usr/bin/python3
"""Runs every Nagar test and ends with one summary line: "N passed, N failed".

  unit tests    each $BUILD/tests/test_* (cmocka), with a deadline each
  system tests  pytest over tests/system (real processes, loopback only)

Usage: BUILD=build/asan tests/run.py [--unit-only] [--valgrind] [pytest args...]
Exit status 0 only when nothing failed and something ran.
"""
import glob
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("BUILD", "build/asan")
UNIT_DEADLINE_S = 120
SYSTEM_DEADLINE_S = 1500


def run_unit(valgrind):
    passed = failed = 0
    sources = sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "test_*.c")))
    binaries = [os.path.join(ROOT, BUILD, "tests", os.path.basename(s)[:-2]) for s in sources]
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="STDOUT")
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            print(f"unit  {os.path.basename(binary)}: not built")
            failed += 1
            continue
        argv = [binary]
        if valgrind:
            argv = ["valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                    "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99"] + argv
        name = os.path.basename(binary)
        try:
            result = subprocess.run(argv, env=env, capture_output=True, text=True,
                                    timeout=UNIT_DEADLINE_S * (5 if valgrind else 1))
            output = result.stdout + result.stderr
            code = result.returncode
        except subprocess.TimeoutExpired as e:
            output = f"{name}: timed out after {e.timeout}s"
            code = -1
        ok = len(re.findall(r"^\[       OK \]", output, re.M))
        bad = len(re.findall(r"^\[  FAILED  \] (?!\d+ test)", output, re.M))
        if code != 0 and bad == 0:
            bad = 1   # crashed, leaked (valgrind) or timed out: count the binary as a failure
        passed += ok
        failed += bad
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"unit  {name}: {ok} passed, {bad} failed  {status}")
        if code != 0:
            print(output[-6000:])
    return passed, failed


def run_system(extra):
    junit = os.path.join(ROOT, BUILD, "pytest-junit.xml")
    if os.path.exists(junit):
        os.unlink(junit)
    argv = ["/usr/bin/python3", "-m", "pytest", os.path.join(ROOT, "tests", "system"),
            "-q", "-p", "no:cacheprovider", "--timeout=180", f"--junitxml={junit}", "-rfE"] + extra
    env = dict(os.environ, BUILD=BUILD, PYTHONDONTWRITEBYTECODE="1")
    try:
        code = subprocess.run(argv, env=env, cwd=ROOT, timeout=SYSTEM_DEADLINE_S).returncode
    except subprocess.TimeoutExpired:
        print(f"system tests: timed out after {SYSTEM_DEADLINE_S}s")
        return 0, 1
    if not os.path.exists(junit):
        return 0, 1
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failures = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    passed = tests - failures - skipped
    if code not in (0, 1) and failures == 0:
        failures = 1   # pytest itself failed (collection error, internal error)
    return passed, failures


def main():
    args = sys.argv[1:]
    unit_only = "--unit-only" in args
    valgrind = "--valgrind" in args
    extra = [a for a in args if a not in ("--unit-only", "--valgrind")]
    passed, failed = run_unit(valgrind)
    if not unit_only:
        p, f = run_system(extra)
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
