"""Database isolation between services (issue 2, acceptance: "<svc>_app cannot
read another service's database, cannot create objects, cannot drop or
truncate").

Every refusal is checked by its SQLSTATE, not just by a non-zero exit, and
every refusal has a control that shows the same role and password do work
where they should — so a broken password file cannot pass these tests.
"""
import re

import pytest


SERVICES = ["identity", "certificates", "property_tax", "water_tax", "notifications", "witness"]
INSUFFICIENT_PRIVILEGE = "42501"


def assert_refused(result, sqlstate=INSUFFICIENT_PRIVILEGE):
    assert not result.ok, f"expected a refusal, got success: {result}"
    assert result.sqlstate == sqlstate, f"expected SQLSTATE {sqlstate}: {result}"


def assert_ok(result):
    assert result.ok, f"expected success: {result}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def certificates_table(pg_cluster):
    """A table in nagar_certificates created the way a migration would."""
    assert_ok(pg_cluster.psql_as(
        "certificates_owner",
        "CREATE TABLE isolation_issued (id int PRIMARY KEY, holder text NOT NULL);"
        "INSERT INTO isolation_issued VALUES (1, 'a citizen');"))
    yield "certificates.isolation_issued"
    pg_cluster.psql_as("certificates_owner", "DROP TABLE isolation_issued")


@pytest.fixture(scope="module")
def water_table(pg_cluster):
    """A table water tax's C code writes itself (as it does its outbox): since
    the rules-only layout (common/sql/rules, rules_lockdown) a new table of a
    locked-down service grants the app role nothing by default, so its
    migration grants what it needs."""
    assert_ok(pg_cluster.psql_as(
        "water_tax_owner",
        "CREATE TABLE isolation_meter_readings ("
        " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, reading int NOT NULL);"
        "GRANT INSERT, UPDATE, DELETE ON isolation_meter_readings TO water_tax_app;"))
    yield "water_tax.isolation_meter_readings"
    pg_cluster.psql_as("water_tax_owner", "DROP TABLE isolation_meter_readings")


def test_app_role_works_in_its_own_database(pg_cluster):
    # The control for everything below: the password file and role are right.
    assert assert_ok(pg_cluster.psql_as("water_tax_app", "SELECT current_user")) == "water_tax_app"
    assert assert_ok(pg_cluster.psql_as("water_tax_app", "SHOW search_path")) == "water_tax"


def test_app_cannot_connect_to_another_service_database(pg_cluster):
    for dbname in ("nagar_certificates", "nagar_identity", "postgres", "template1"):
        result = pg_cluster.psql_as("water_tax_app", "SELECT 1", dbname=dbname)
        assert not result.ok
        assert f'permission denied for database "{dbname}"' in result.stderr, result
        # psql prints no SQLSTATE for a refused connection; the server logs it.
        pattern = rf"water_tax_app@{dbname} {INSUFFICIENT_PRIVILEGE} FATAL:\s+permission denied"
        assert re.search(pattern, pg_cluster.server_log()), f"no {pattern!r} in the server log"


def test_app_cannot_read_another_service_tables_even_if_connected(pg_cluster,
                                                                  certificates_table):
    assert assert_ok(pg_cluster.psql_as(
        "certificates_app", f"SELECT holder FROM {certificates_table}")) == "a citizen"
    # Suppose CONNECT leaked (a mistaken GRANT): the schema still keeps it out.
    pg_cluster.sql("GRANT CONNECT ON DATABASE nagar_certificates TO water_tax_app")
    try:
        for sql in (f"SELECT * FROM {certificates_table}",
                    f"INSERT INTO {certificates_table} VALUES (2, 'forged')",
                    f"DELETE FROM {certificates_table}"):
            assert_refused(pg_cluster.psql_as("water_tax_app", sql, dbname="nagar_certificates"))
        assert_refused(pg_cluster.psql_as("water_tax_app", "CREATE TABLE public.planted (x int)",
                                          dbname="nagar_certificates"))
    finally:
        pg_cluster.sql("REVOKE CONNECT ON DATABASE nagar_certificates FROM water_tax_app")
    assert pg_cluster.sql("SELECT count(*) FROM certificates.isolation_issued",
                          dbname="nagar_certificates") == "1"


@pytest.mark.parametrize("sql", [
    "CREATE TABLE planted (x int)",
    "CREATE TABLE water_tax.planted (x int)",
    "CREATE TABLE public.planted (x int)",
    "CREATE TEMP TABLE planted (x int)",
    "CREATE VIEW planted AS SELECT 1 AS x",
    "CREATE FUNCTION planted() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE SCHEMA planted",
    "CREATE SEQUENCE planted",
])
def test_app_cannot_create_objects_in_its_own_database(pg_cluster, sql):
    assert_refused(pg_cluster.psql_as("water_tax_app", sql))


def test_app_can_use_but_not_drop_or_truncate_owner_tables(pg_cluster, water_table):
    app = lambda sql: pg_cluster.psql_as("water_tax_app", sql)  # noqa: E731
    assert_ok(app(f"INSERT INTO {water_table} (reading) VALUES (10), (20)"))
    assert assert_ok(app(f"SELECT sum(reading) FROM {water_table}")) == "30"
    assert_ok(app(f"UPDATE {water_table} SET reading = reading + 1"))
    assert_ok(app(f"DELETE FROM {water_table} WHERE reading = 21"))
    assert_refused(app(f"DROP TABLE {water_table}"))
    assert_refused(app(f"TRUNCATE {water_table}"))
    assert_refused(app(f"ALTER TABLE {water_table} ADD COLUMN planted int"))
    assert_refused(app(f"CREATE INDEX planted_idx ON {water_table} (reading)"))
    # A GRANT by a non-owner is not an error in PostgreSQL: it grants
    # nothing and warns (01007). Check both.
    granted = app(f"GRANT SELECT ON {water_table} TO certificates_app")
    assert "01007" in granted.stderr, granted
    assert pg_cluster.sql(
        f"SELECT has_table_privilege('certificates_app', '{water_table}', 'SELECT')",
        dbname="nagar_water_tax") == "f"
    owner = pg_cluster.sql("SELECT tableowner FROM pg_tables WHERE schemaname = 'water_tax'"
                           " AND tablename = 'isolation_meter_readings'", dbname="nagar_water_tax")
    assert owner == "water_tax_owner"
    assert assert_ok(app(f"SELECT count(*) FROM {water_table}")) == "1"


def test_no_service_role_is_privileged(pg_cluster):
    roles = [f"{svc}_{kind}" for svc in SERVICES for kind in ("owner", "app")]
    roles.append("witness_writer")
    rows = pg_cluster.sql(
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
        " rolcanlogin FROM pg_roles WHERE (rolname LIKE '%\\_owner' OR rolname LIKE '%\\_app')"
        " AND rolname NOT LIKE 'pg\\_%' OR rolname = 'witness_writer' ORDER BY rolname").splitlines()
    seen = {}
    for row in rows:
        name, *flags = row.split("|")
        seen[name] = flags
    assert sorted(seen) == sorted(roles)
    for name, flags in seen.items():
        assert flags == ["f", "f", "f", "f", "f", "t"], f"{name} has attributes {flags}"
    memberships = pg_cluster.sql(
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
        " WHERE (r.rolname LIKE '%\\_owner' OR r.rolname LIKE '%\\_app')"
        " AND r.rolname NOT LIKE 'pg\\_%'")
    assert memberships == "0"
    owned = pg_cluster.sql("SELECT count(*) FROM pg_tables WHERE tableowner LIKE '%\\_app'",
                           dbname="nagar_water_tax")
    assert owned == "0"
    for role in ("water_tax_app", "water_tax_owner"):
        assert_refused(pg_cluster.psql_as(role, "CREATE ROLE planted LOGIN"))
        assert_refused(pg_cluster.psql_as(role, "CREATE DATABASE planted"))
        assert_refused(pg_cluster.psql_as(role, "ALTER ROLE current_user CREATEROLE"))


def test_public_has_no_privileges(pg_cluster):
    # A NULL ACL means the built-in default, which grants PUBLIC CONNECT and
    # TEMP, so compare against acldefault() rather than the raw column.
    public_on_databases = pg_cluster.sql(
        "SELECT string_agg(d.datname || ':' || a.privilege_type, ',') FROM pg_database d,"
        " aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a"
        " WHERE a.grantee = 0 AND d.datname <> 'template0'")
    assert public_on_databases == "", public_on_databases
    for svc in SERVICES:
        dbname = f"nagar_{svc}"
        public_on_schemas = pg_cluster.sql(
            "SELECT string_agg(n.nspname || ':' || a.privilege_type, ',') FROM pg_namespace n,"
            " aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a"
            " WHERE a.grantee = 0 AND n.nspname NOT LIKE 'pg\\_%'"
            " AND n.nspname <> 'information_schema'", dbname=dbname)
        assert public_on_schemas == "", f"{dbname}: {public_on_schemas}"
        public_on_tables = pg_cluster.sql(
            "SELECT string_agg(c.relname, ',') FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace,"
            " aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a"
            " WHERE a.grantee = 0 AND n.nspname = $$" + svc + "$$", dbname=dbname)
        assert public_on_tables == "", f"{dbname}: {public_on_tables}"
    # And the other service's app role, which holds no grant, sees nothing.
    pg_cluster.sql("GRANT CONNECT ON DATABASE nagar_water_tax TO identity_app")
    try:
        assert_refused(pg_cluster.psql_as("identity_app", "SELECT * FROM water_tax.nagar_nothing",
                                          dbname="nagar_water_tax"))
        assert_refused(pg_cluster.psql_as("identity_app", "CREATE TABLE public.planted (x int)",
                                          dbname="nagar_water_tax"))
    finally:
        pg_cluster.sql("REVOKE CONNECT ON DATABASE nagar_water_tax FROM identity_app")


@pytest.mark.parametrize("svc", ["certificates", "property_tax", "water_tax"])
def test_reader_role_reads_every_table_and_can_change_nothing(pg_cluster, svc):
    """nagarctl verify and the checkpoint job read the chains as <svc>_reader:
    its password, on the checkpoint host, must not be able to change a record."""
    reader = f"{svc}_reader"
    db = f"nagar_{svc}"
    assert assert_ok(pg_cluster.psql_as(reader, "SELECT count(*) >= 0 FROM history")) == "t"
    for sql in ("INSERT INTO history DEFAULT VALUES", "UPDATE history SET seq = seq",
                "DELETE FROM history", "TRUNCATE history", "CREATE TABLE planted (x int)",
                "CREATE TEMP TABLE planted (x int)"):
        assert_refused(pg_cluster.psql_as(reader, sql))
    # Every table readable, nothing else granted: no write on any table, no
    # sequence, no function (so no rule function and no ledger primitive).
    counts = pg_cluster.sql(
        f"SELECT count(*) FILTER (WHERE NOT has_table_privilege('{reader}', c.oid, 'SELECT')),"
        f"       count(*) FILTER (WHERE has_table_privilege('{reader}', c.oid,"
        f"                        'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')),"
        f"       count(*)"
        f"  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE n.nspname = '{svc}' AND c.relkind IN ('r', 'p', 'v')", dbname=db)
    unreadable, writable, tables = counts.split("|")
    assert (unreadable, writable) == ("0", "0") and int(tables) > 10, counts
    assert pg_cluster.sql(
        f"SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        f" WHERE n.nspname = '{svc}' AND has_function_privilege('{reader}', p.oid, 'EXECUTE')",
        dbname=db) == "0"
    assert pg_cluster.sql(
        f"SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE n.nspname = '{svc}'"
        f"   AND CASE WHEN c.relkind = 'S'"
        f"            THEN has_sequence_privilege('{reader}', c.oid, 'USAGE, UPDATE') END",
        dbname=db) == "0"
    other = "nagar_identity"
    result = pg_cluster.psql_as(reader, "SELECT 1", dbname=other)
    assert not result.ok and f'permission denied for database "{other}"' in result.stderr


def test_lock_cuts_a_taken_service_off_the_database(pg_cluster):
    """provision.sh lock SVC (OPERATIONS.md, quarantine): the taken host's
    passwords stop working and the sessions it holds end at once — a new
    password alone ends no session. The other services keep their logins;
    provision.sh lets the service in again."""
    import subprocess
    import time
    svc = "water_tax"
    held = subprocess.Popen(
        ["psql", "-X", "-q", "-A", "-t", pg_cluster.conninfo(f"{svc}_app"),
         "-c", "SELECT pg_sleep(120)"],
        env=pg_cluster.role_env(f"{svc}_app"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        deadline = time.monotonic() + 30
        while pg_cluster.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = "
                             f"'{svc}_app' AND query LIKE '%pg_sleep(120)%'") != "1":
            assert time.monotonic() < deadline and held.poll() is None, held.communicate()
            time.sleep(0.1)
        out = pg_cluster.run_script("provision.sh", "lock", svc).stdout
        assert f"{svc}_app and {svc}_owner may not log in; 1 of their sessions ended" in out, out
        _, stderr = held.communicate(timeout=30)
        assert held.returncode != 0 and "terminating connection" in stderr, stderr
        for role in (f"{svc}_app", f"{svc}_owner"):
            refused = pg_cluster.psql_as(role, "SELECT 1")
            assert not refused.ok and "not permitted to log in" in refused.stderr, refused
        assert_ok(pg_cluster.psql_as("property_tax_app", "SELECT 1"))
        assert_ok(pg_cluster.psql_as(f"{svc}_reader", "SELECT 1"))
    finally:
        if held.poll() is None:
            held.kill()
            held.communicate()
        pg_cluster.run_script("provision.sh")
    assert assert_ok(pg_cluster.psql_as(f"{svc}_app", "SELECT 1")) == "1"
    assert assert_ok(pg_cluster.psql_as(f"{svc}_owner", "SELECT 1")) == "1"
