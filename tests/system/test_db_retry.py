"""common/db.c against a real PostgreSQL, through tests/support/db_retry_check.c:
the transaction helper retries a real serialization failure (40001) and a
real deadlock (40P01) made by a second connection and commits once; gives up
after its attempts; rolls back other errors without retrying; prepares named
statements once; applies statement_timeout; reconnects only outside a
transaction; with NAGAR_DB_RECONNECT_WAIT_MS, runs work whose connection was
lost before COMMIT again on the first host of a multi-host conninfo that
accepts writes."""
import json
import subprocess


EXPECTED_SCENARIOS = {
    "serialization_failure_retried",
    "deadlock_retried",
    "gives_up_after_max_attempts",
    "other_error_rolled_back_not_retried",
    "refusal_rolled_back",
    "prepared_lazily_once",
    "statement_timeout",
    "reconnect_when_idle",
    "no_silent_reconnect_in_transaction",
    "lost_connection_not_retried",
    "failover_lost_connection_retried",
}


def test_transaction_retry_and_connection_handling(nagar_bin, pg_cluster):
    env = pg_cluster.role_env("water_tax_owner")
    env.pop("NAGAR_DB_STATEMENT_TIMEOUT_MS", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    completed = subprocess.run([nagar_bin("db_retry_check")], env=env, capture_output=True,
                               text=True, timeout=60)
    lines = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    scenarios = {line["scenario"]: line for line in lines if "scenario" in line}
    failed = [line for line in scenarios.values() if not line["ok"]]
    assert not failed, f"{failed}\n{completed.stderr[-4000:]}"
    assert set(scenarios) == EXPECTED_SCENARIOS, completed.stdout
    assert completed.returncode == 0, completed.stderr[-4000:]
    # The retries were logged as such, with the SQLSTATE that caused them.
    retries = [json.loads(line) for line in completed.stderr.splitlines()
               if '"db.transaction_retry"' in line]
    assert any("40001" in r["msg"] for r in retries) and any("40P01" in r["msg"] for r in retries)
