"""Upgrade in place: every service database as an older main made it is
brought to this tree's SQL by nagar-migrate, and then

  - is indistinguishable from a database made fresh by this tree: the same
    columns, constraints, indexes, triggers, functions (by definition), types
    and privileges, and the same record of migrations and modules;
  - still verifies: its ledgers and issued certificates match the checkpoint
    the older main signed before the upgrade, and nagarctl verify finds every
    record in agreement (payments with the ledger, certificates with their
    registrations and seals, the rows with the history started for them);
  - serves: the new rule functions work on the older rows (dues, a counter
    payment that continues the receipt numbers and the ledger chain);
  - is left alone by a second run.

The older databases are tests/system/legacy/main-7b3248d/<service>.sql.gz,
pg_dumps that tests/system/legacy/make_legacy_fixture.py made from commit
7b3248d (the last main before the shared SQL became modules) by running the
suite through its money, ownership and registration paths.
"""
import gzip
import json
import os
import shutil
import subprocess

import pytest

from nagar_proc import ROOT, json_events

LEGACY = os.path.join(ROOT, "tests", "system", "legacy", "main-7b3248d")
SERVICES = ["identity", "certificates", "property_tax", "water_tax", "notifications"]
TODAY = "2025-07-01"

# A catalog fingerprint of one schema, order-free (a column added by ALTER
# TABLE sits elsewhere in the table than one created with it; nothing else
# may differ).
FINGERPRINT = """
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = '{schema}')
SELECT x FROM (
  SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
         || ' ' || coalesce(column_default, '') AS x
    FROM information_schema.columns WHERE table_schema = '{schema}'
  UNION ALL SELECT 'constraint ' || c.conrelid::regclass || ' ' || c.conname || ' '
         || pg_get_constraintdef(c.oid)
    FROM pg_constraint c, ns WHERE c.connamespace = ns.oid
  UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = '{schema}'
  UNION ALL SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid, ns
   WHERE NOT t.tgisinternal AND c.relnamespace = ns.oid
  UNION ALL SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid))
         || ' ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text)
                             FROM unnest(p.proacl) a), '')
    FROM pg_proc p, ns WHERE p.pronamespace = ns.oid
  UNION ALL SELECT 'type ' || t.typname || ' ' || coalesce((SELECT string_agg(a.attname || ':'
         || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attname)
         FROM pg_attribute a WHERE a.attrelid = t.typrelid), '')
    FROM pg_type t, ns WHERE t.typnamespace = ns.oid AND t.typtype = 'c'
     AND EXISTS (SELECT FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')
  UNION ALL SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' '
         || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text)
                      FROM unnest(c.relacl) a), '')
    FROM pg_class c, ns WHERE c.relnamespace = ns.oid
) f ORDER BY 1
"""

BOOKKEEPING = """
SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
  SELECT 'migration ' || version || ' ' || name || ' ' || sha256 AS x FROM nagar_schema_migrations
  UNION ALL SELECT 'module ' || module || ' ' || version || ' ' || name || ' ' || sha256
    FROM nagar_schema_modules
  UNION ALL SELECT 'rules ' || name || ' ' || sha256 FROM nagar_schema_rules) b
"""


def superuser_psql(cluster, dbname, stdin):
    env = dict(cluster.env, PGHOST=cluster.socket_dir, PGPORT=str(cluster.port),
               PGUSER=cluster.superuser)
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname],
                          input=stdin, env=env, capture_output=True, timeout=300)


def migrate(cluster, nagar_bin, svc, dbname):
    return subprocess.run(
        [nagar_bin("nagar-migrate"), "--service", os.path.join(ROOT, "services", svc),
         "--modules", os.path.join(ROOT, "common", "sql")],
        env=cluster.role_env(f"{svc}_owner", dbname), capture_output=True, text=True,
        timeout=300)



@pytest.fixture(scope="module")
def upgraded(pg_cluster, nagar_bin):
    """{service: (upgraded db, fresh db, the upgrade's log)}."""
    out = {}
    for svc in SERVICES:
        old, fresh = f"nagar_upgrade_{svc}", f"nagar_fresh_{svc}"
        for dbname in (old, fresh):
            pg_cluster.run_script("provision.sh", "database", svc, dbname)
        # The dump brings its own schema, with its default privileges.
        pg_cluster.sql(f"DROP SCHEMA {svc}", dbname=old)
        with gzip.open(os.path.join(LEGACY, f"{svc}.sql.gz"), "rb") as f:
            restored = superuser_psql(pg_cluster, old, f.read())
        assert restored.returncode == 0, restored.stderr.decode()[-2000:]
        result = migrate(pg_cluster, nagar_bin, svc, old)
        assert result.returncode == 0, f"upgrading {svc} failed:\n{result.stderr}"
        made = migrate(pg_cluster, nagar_bin, svc, fresh)
        assert made.returncode == 0, f"migrating a fresh {svc} failed:\n{made.stderr}"
        out[svc] = (old, fresh, result.stderr)
    return out


def test_an_older_database_becomes_the_fresh_layout(pg_cluster, upgraded):
    for svc, (old, fresh, log) in upgraded.items():
        before = pg_cluster.sql(FINGERPRINT.format(schema=svc), dbname=fresh)
        after = pg_cluster.sql(FINGERPRINT.format(schema=svc), dbname=old)
        assert before.count("\n") > 50, f"{svc}: the fingerprint is nearly empty:\n{before}"
        assert after == before, (
            f"{svc}: the upgraded schema differs from a fresh one:\n"
            + "\n".join(sorted(set(after.splitlines()) ^ set(before.splitlines()))))
        bookkeeping = [pg_cluster.sql(f"SET search_path = {svc}; " + BOOKKEEPING, dbname=db)
                       for db in (old, fresh)]
        assert bookkeeping[0] == bookkeeping[1], f"{svc}: {bookkeeping}"
        # The older first migration is recorded as its new text, not run again.
        assert len(json_events(log, "migrate.replaced")) == 1, log
    retired = json_events(upgraded["property_tax"][2], "migrate.retired")
    assert sorted(e["msg"].split()[1] for e in retired) == [
        "002_rules.sql", "010_defaulters_paging.sql", "011_payment_one_call.sql",
        "012_reverse_recheck.sql"]


def test_a_second_run_changes_nothing(pg_cluster, nagar_bin, upgraded):
    for svc, (old, _, _) in upgraded.items():
        result = migrate(pg_cluster, nagar_bin, svc, old)
        assert result.returncode == 0, result.stderr
        [done] = json_events(result.stderr, "migrate.done")
        assert done["applied"] == 0, result.stderr


def test_the_upgraded_chains_match_the_older_checkpoint(pg_cluster, nagar_bin, upgraded,
                                                        tmp_path):
    with open(os.path.join(LEGACY, "checkpoint.txt")) as f:
        text = f.read()
    created = next(line.split()[1] for line in text.splitlines() if line.startswith("created_us"))
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    shutil.copyfile(os.path.join(LEGACY, "checkpoint.txt"),
                    checkpoints / f"checkpoint-{int(created):020d}.txt")
    env = dict(pg_cluster.env, NAGAR_CHECKPOINT_DIR=str(checkpoints),
               NAGAR_CHECKPOINT_PUBLIC_KEY=os.path.join(LEGACY, "checkpoint.pub"),
               NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR=os.path.join(LEGACY, "certificate_keys"),
               NAGAR_VAR=str(tmp_path), NAGAR_LOG_LEVEL="warn")
    for svc in ("property_tax", "water_tax", "certificates"):
        old = upgraded[svc][0]
        env[f"NAGAR_CTL_CONNINFO_{svc.upper()}"] = (
            pg_cluster.conninfo(f"{svc}_app", old) + f" passfile={pg_cluster.pgpass(svc + '_app')}")
    result = subprocess.run([nagar_bin("nagar-ctl"), "verify"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed verification, 0 records disagree" in result.stdout, result.stdout
    pinned = [line for line in text.splitlines() if line.startswith("head ")]
    assert len(pinned) >= 4
    for line in pinned:
        _, ledger, ulb, seq, _ = line.split()
        assert any(row.split()[:2] == [ledger, ulb] and row.split()[3] == seq
                   and row.endswith(" ok") for row in result.stdout.splitlines()), (
            f"{ledger} {ulb} not verified at its pinned row {seq}:\n{result.stdout}")


def pay_after_upgrade(pg_cluster, svc, dbname, clerk, account, counter, today):
    """A counter payment of 1,000 paise on account, made by clerk (the actor
    JSON) through the service's rules function as its app role in the
    upgraded database: the function's answer."""
    function = {"property_tax": "pt_payment_record", "water_tax": "wt_payment_record"}[svc]
    body = json.dumps(dict(account, amountPaise="1000", mode="CASH", counter=counter))
    paid = pg_cluster.psql_as(
        f"{svc}_app", f"SELECT {function}('{clerk}', '{body}', '{today}', "
        f"'payment:staff:upgrade-clerk:after-upgrade')", dbname=dbname)
    assert paid.ok, paid.stderr
    return paid.stdout


def service_verify(nagar_bin, pg_cluster, svc, dbname):
    """nagar-<svc> verify on the upgraded database, which must pass: its report."""
    verify = subprocess.run([nagar_bin(f"nagar-{svc}"), "verify"],
                            env=pg_cluster.role_env(f"{svc}_app", dbname),
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return verify.stdout


def test_the_new_rules_serve_the_older_rows(pg_cluster, nagar_bin, upgraded):
    old = upgraded["property_tax"][0]
    clerk = '{"userId": "staff:upgrade-clerk", "role": "CLERK", "ulb": "250786"}'
    dues = pg_cluster.psql_as(
        "property_tax_app",
        f"SELECT pt_dues('{clerk}', '{{\"propertyId\": \"250786-001-000003\"}}', '{TODAY}')",
        dbname=old)
    assert dues.ok, dues.stderr
    assert json.loads(dues.stdout)["propertyId"] == "250786-001-000003"
    paid = pay_after_upgrade(pg_cluster, "property_tax", old, clerk,
                             {"propertyId": "250786-001-000003"}, "C1", TODAY)
    receipt = json.loads(paid)["receipt"]
    # The older main's last receipt at counter C1 of 250786 was number 6.
    assert receipt["receiptNo"] == "250786/2025-26/C1/000007", receipt
    assert "ulb 250786: ok" in service_verify(nagar_bin, pg_cluster, "property_tax", old)

    old = upgraded["water_tax"][0]
    clerk = '{"userId": "staff:upgrade-clerk", "role": "CLERK", "ulb": "250708"}'
    connection = pg_cluster.sql("SELECT min(connection_id) FROM water_tax.connection",
                                dbname=old)
    pay_after_upgrade(pg_cluster, "water_tax", old, clerk, {"connectionId": connection}, "W1",
                      "2025-07-10")
    service_verify(nagar_bin, pg_cluster, "water_tax", old)
