"""nagar-migrate against a real PostgreSQL: each file applied once, in order,
recorded with its SHA-256; changed, badly named, failing or transaction-ending
files refused with an error that names the file; concurrent runners apply
each file exactly once.

Every test migrates a fresh database (owned by water_tax_owner, schema
water_tax) so it cannot collide with the service databases or other tests.
"""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from nagar_proc import repo_path


SAMPLE = repo_path("tests", "system", "migrations_sample")
SAMPLE_FILES = ["001_create_accounts.sql", "002_add_receipts.sql", "003_seed_accounts.sql"]
TIMEOUT = 60


@pytest.fixture
def migrations(tmp_path):
    """A private copy of the sample set that a test may change."""
    target = tmp_path / "migrations"
    shutil.copytree(SAMPLE, target)
    return target


@pytest.fixture
def database(pg_cluster):
    dbname = pg_cluster.create_database("water_tax_owner", "water_tax")
    # As provision.sh does for the service databases, so the bookkeeping
    # table's narrowing of the app role's grants can be checked.
    pg_cluster.sql("ALTER DEFAULT PRIVILEGES FOR ROLE water_tax_owner IN SCHEMA water_tax"
                   " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO water_tax_app",
                   dbname=dbname)
    return dbname


class Run:
    def __init__(self, completed):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.lines = []
        for line in completed.stderr.splitlines():
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                self.lines.append({"raw": line})

    def events(self, name):
        return [line for line in self.lines if line.get("event") == name]

    def __repr__(self):
        return f"Run(rc={self.returncode}, stderr={self.stderr[-3000:]!r})"


def migrate_env(pg_cluster, database):
    env = pg_cluster.role_env("water_tax_owner", dbname=database)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def migrate(nagar_bin, pg_cluster, database, directory):
    completed = subprocess.run([nagar_bin("nagar-migrate"), "--dir", str(directory)],
                               env=migrate_env(pg_cluster, database), capture_output=True,
                               text=True, timeout=TIMEOUT)
    return Run(completed)


def failure_of(run):
    """The message of a run that failed: exit 1 and its migrate.failed line."""
    assert run.returncode == 1, run
    return run.events("migrate.failed")[0]["msg"]


def recorded(pg_cluster, database):
    out = pg_cluster.sql("SELECT version, name, sha256 FROM water_tax.nagar_schema_migrations"
                         " ORDER BY version", dbname=database)
    return [tuple(row.split("|")) for row in out.splitlines()]


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_applies_in_order_once_and_records_checksums(nagar_bin, pg_cluster, database,
                                                     migrations):
    first = migrate(nagar_bin, pg_cluster, database, migrations)
    assert first.returncode == 0, first
    applied = first.events("migrate.applied")
    assert [line["name"] for line in applied] == SAMPLE_FILES
    assert [line["version"] for line in applied] == [1, 2, 3]
    for line in applied:
        assert line["sha256"] == sha256_of(migrations / line["name"])
    assert first.events("migrate.done")[0]["applied"] == 3

    expected = [(str(i + 1), name, sha256_of(migrations / name))
                for i, name in enumerate(SAMPLE_FILES)]
    assert recorded(pg_cluster, database) == expected
    assert pg_cluster.sql("SELECT count(*) FROM water_tax.accounts", dbname=database) == "2"

    second = migrate(nagar_bin, pg_cluster, database, migrations)
    assert second.returncode == 0, second
    assert second.events("migrate.applied") == []
    done = second.events("migrate.done")[0]
    assert (done["applied"], done["already_applied"]) == (0, 3)
    assert recorded(pg_cluster, database) == expected
    assert pg_cluster.sql("SELECT count(*) FROM water_tax.accounts", dbname=database) == "2"

    # The app role may read the history but not rewrite it.
    privileges = pg_cluster.sql(
        "SELECT has_table_privilege('water_tax_app', 'water_tax.nagar_schema_migrations', p)"
        " FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p",
        dbname=database).splitlines()
    assert privileges == ["t", "f", "f", "f", "f"]

    # The password came from the pgpass file and was never printed.
    with open(pg_cluster.pgpass("water_tax_owner")) as f:
        password = f.read().strip().rsplit(":", 1)[1]
    assert password not in first.stderr + first.stdout + second.stderr + second.stdout


def test_new_file_is_applied_on_next_run(nagar_bin, pg_cluster, database, migrations):
    assert migrate(nagar_bin, pg_cluster, database, migrations).returncode == 0
    (migrations / "004_add_phone.sql").write_text("ALTER TABLE accounts ADD COLUMN phone text;\n")
    (migrations / "005_placeholder.sql").write_text("-- nothing yet; comments only\n")
    run = migrate(nagar_bin, pg_cluster, database, migrations)
    assert run.returncode == 0, run
    assert [line["name"] for line in run.events("migrate.applied")] == ["004_add_phone.sql",
                                                                        "005_placeholder.sql"]


def test_refuses_a_changed_applied_file(nagar_bin, pg_cluster, database, migrations):
    assert migrate(nagar_bin, pg_cluster, database, migrations).returncode == 0
    before = recorded(pg_cluster, database)
    with open(migrations / "001_create_accounts.sql", "a") as f:
        f.write("ALTER TABLE accounts ADD COLUMN sneaky text;\n")
    (migrations / "004_later.sql").write_text("CREATE TABLE later (x int);\n")
    run = migrate(nagar_bin, pg_cluster, database, migrations)
    assert run.returncode == 1, run
    failed = run.events("migrate.failed")
    assert len(failed) == 1, run
    message = failed[0]["msg"]
    assert "001_create_accounts.sql" in message and "must never change" in message, message
    assert sha256_of(migrations / "001_create_accounts.sql") in message
    assert run.events("migrate.applied") == []
    assert recorded(pg_cluster, database) == before
    assert pg_cluster.sql("SELECT to_regclass('water_tax.later') IS NULL"
                          " AND NOT EXISTS (SELECT FROM pg_attribute WHERE attname = 'sneaky')",
                          dbname=database) == "t"


@pytest.mark.parametrize("bad_name", ["4_short.sql", "004_CamelCase.sql", "004-dash.sql",
                                      "004_.sql", "0004_four_digits.sql"])
def test_refuses_a_badly_named_file(nagar_bin, pg_cluster, database, migrations, bad_name):
    (migrations / bad_name).write_text("CREATE TABLE never (x int);\n")
    run = migrate(nagar_bin, pg_cluster, database, migrations)
    message = failure_of(run)
    assert bad_name in message and "^[0-9]{3}_[a-z0-9_]+\\.sql$" in message, message
    # Refused before anything ran: not even the bookkeeping table exists.
    assert pg_cluster.sql("SELECT to_regclass('water_tax.nagar_schema_migrations') IS NULL",
                          dbname=database) == "t"


def test_refuses_two_files_with_one_version(nagar_bin, pg_cluster, database, migrations):
    (migrations / "002_other.sql").write_text("SELECT 1;\n")
    run = migrate(nagar_bin, pg_cluster, database, migrations)
    message = failure_of(run)
    assert "002_add_receipts.sql" in message and "002_other.sql" in message, message


def test_failing_file_is_rolled_back_and_not_recorded(nagar_bin, pg_cluster, database,
                                                      migrations):
    broken = migrations / "004_broken.sql"
    broken.write_text("CREATE TABLE half_done (x int);\nSELECT * FROM no_such_table;\n")
    run = migrate(nagar_bin, pg_cluster, database, migrations)
    message = failure_of(run)
    assert "004_broken.sql" in message and "42P01" in message, message
    assert [line["name"] for line in run.events("migrate.applied")] == SAMPLE_FILES
    assert [r[0] for r in recorded(pg_cluster, database)] == ["1", "2", "3"]
    assert pg_cluster.sql("SELECT to_regclass('water_tax.half_done') IS NULL",
                          dbname=database) == "t"
    broken.write_text("CREATE TABLE half_done (x int);\n")
    fixed = migrate(nagar_bin, pg_cluster, database, migrations)
    assert fixed.returncode == 0, fixed
    assert [line["name"] for line in fixed.events("migrate.applied")] == ["004_broken.sql"]


def test_refuses_a_file_that_ends_the_transaction(nagar_bin, pg_cluster, database, migrations):
    (migrations / "004_commits.sql").write_text("CREATE TABLE committed_early (x int);\nCOMMIT;\n")
    run = migrate(nagar_bin, pg_cluster, database, migrations)
    message = failure_of(run)
    assert "004_commits.sql" in message and "ended the transaction" in message, message
    assert [r[0] for r in recorded(pg_cluster, database)] == ["1", "2", "3"]


def test_refuses_an_oversized_file(nagar_bin, pg_cluster, database, migrations):
    (migrations / "004_huge.sql").write_text("-- " + "x" * (1024 * 1024) + "\n")
    run = migrate(nagar_bin, pg_cluster, database, migrations)
    message = failure_of(run)
    assert "004_huge.sql" in message and "limit" in message, message


def test_concurrent_runners_apply_each_file_once(nagar_bin, pg_cluster, database, migrations):
    env = migrate_env(pg_cluster, database)
    runners = [subprocess.Popen([nagar_bin("nagar-migrate"), "--dir", str(migrations)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(4)]
    runs = []
    for runner in runners:
        try:
            stdout, stderr = runner.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for r in runners:
                r.kill()
            raise
        runs.append(Run(subprocess.CompletedProcess(runner.args, runner.returncode, stdout,
                                                    stderr)))
    for run in runs:
        assert run.returncode == 0, run
    applied = sorted(line["name"] for run in runs for line in run.events("migrate.applied"))
    assert applied == SAMPLE_FILES
    assert len(recorded(pg_cluster, database)) == 3
    assert pg_cluster.sql("SELECT count(*) FROM water_tax.accounts", dbname=database) == "2"


def test_missing_connection_settings_are_a_clear_error(nagar_bin, pg_cluster, database,
                                                       migrations):
    env = migrate_env(pg_cluster, database)
    del env["NAGAR_DB_CONNINFO"]
    env.pop("NAGAR_CONFIG", None)
    completed = subprocess.run([nagar_bin("nagar-migrate"), "--dir", str(migrations)], env=env,
                               capture_output=True, text=True, timeout=TIMEOUT)
    run = Run(completed)
    assert run.returncode == 1 and "NAGAR_DB_CONNINFO" in run.events("migrate.failed")[0]["msg"]

    env = migrate_env(pg_cluster, database)
    env["PGPASSFILE"] = os.devnull
    run = Run(subprocess.run([nagar_bin("nagar-migrate"), "--dir", str(migrations)], env=env,
                             capture_output=True, text=True, timeout=TIMEOUT))
    message = failure_of(run)
    assert "water_tax_owner" in message and database in message, message
