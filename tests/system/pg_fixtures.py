"""A private PostgreSQL 15 cluster for system tests.

`pg_cluster` (session scope) builds the cluster exactly as `make run` does —
deploy/pg.sh init/start and deploy/provision.sh — but with NAGAR_VAR in a
fresh temporary directory and NAGAR_PG_PORT on a free port, so it never
touches a developer's var/ or port 5544. It is stopped and removed at the
end of the session, also when tests fail. Works as root (the server then
runs as the `postgres` user) and as a normal user.

Load it in a test module with


so that every module shares the one session cluster.

Registered as a plugin in conftest.py: tests use the fixtures by name.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from nagar_proc import ROOT, bin_dir, free_port

SERVICES = ["identity", "certificates", "property_tax", "water_tax", "notifications"]
COMMAND_TIMEOUT = 90  # seconds; pg_ctl itself gives up after 30
SQLSTATE_RE = re.compile(r"(?:ERROR|FATAL):\s+([0-9A-Z]{5}):")


class PsqlResult:
    def __init__(self, completed):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr

    @property
    def ok(self):
        return self.returncode == 0

    @property
    def sqlstate(self):
        """SQLSTATE of the first error psql reported (VERBOSITY verbose)."""
        match = SQLSTATE_RE.search(self.stderr)
        return match.group(1) if match else None

    def __repr__(self):
        return f"PsqlResult(rc={self.returncode}, stdout={self.stdout!r}, stderr={self.stderr!r})"


class PgCluster:
    """What a test needs to reach the private cluster."""

    _databases = 0

    def __init__(self, var_dir, port, env):
        self.var_dir = var_dir
        self.port = port
        self.env = env
        layout = self._layout()
        self.socket_dir = layout["NAGAR_PG_SOCKET_DIR"]
        self.superuser = layout["NAGAR_PG_SUPERUSER"]
        self.data_dir = layout["NAGAR_PG_DATA"]
        self.log_path = layout["NAGAR_PG_LOG"]
        self.secrets_dir = os.path.join(var_dir, "secrets")

    def _layout(self):
        out = self.run_script("pg.sh", "env").stdout
        pairs = (line.split("=", 1) for line in out.splitlines() if "=" in line)
        return {k: v for k, v in pairs}

    def run_script(self, script, *args, check=True):
        completed = subprocess.run([os.path.join(ROOT, "deploy", script), *args], env=self.env,
                                   capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        if check and completed.returncode != 0:
            raise AssertionError(f"deploy/{script} {' '.join(args)} failed "
                                 f"({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
        return completed

    def pgpass(self, role):
        return os.path.join(self.secrets_dir, f"{role}.pgpass")

    def conninfo(self, role, dbname=None):
        """libpq conninfo for a service role over TCP; the password comes
        from the role's pgpass file (see role_env)."""
        if dbname is None:
            dbname = "nagar_" + role.rsplit("_", 1)[0]
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={role} connect_timeout=5"

    def role_env(self, role, dbname=None):
        """Environment for a Nagar process or psql acting as role."""
        env = dict(self.env)
        env["PGPASSFILE"] = self.pgpass(role)
        env["NAGAR_DB_CONNINFO"] = self.conninfo(role, dbname)
        for leak in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"):
            env.pop(leak, None)
        return env

    def _psql(self, argv, env, sql):
        completed = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
             *argv, "-c", sql],
            env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        return PsqlResult(completed)

    def sql(self, sql, dbname="postgres"):
        """Runs sql as the superuser over the socket; fails the test on error.
        Returns psql's unaligned, tuples-only output."""
        env = dict(self.env)
        env.update(PGHOST=self.socket_dir, PGPORT=str(self.port), PGUSER=self.superuser)
        result = self._psql(["-d", dbname], env, sql)
        if not result.ok:
            raise AssertionError(f"superuser SQL failed in {dbname}: {sql}\n{result.stderr}")
        return result.stdout.strip()

    def psql_as(self, role, sql, dbname=None):
        """Runs sql as a service role over TCP with its password file;
        returns a PsqlResult whether it worked or not."""
        return self._psql([self.conninfo(role, dbname)], self.role_env(role, dbname), sql)

    def create_database(self, owner, schema):
        """A fresh, empty database owned by owner with schema owned by owner
        (so owner's search_path works), for tests that must not share state
        with the service databases. Returns its name."""
        PgCluster._databases += 1
        dbname = f"nagar_test_{PgCluster._databases}"
        if not re.fullmatch(r"[a-z_]+", owner) or not re.fullmatch(r"[a-z_]+", schema):
            raise ValueError("owner and schema must match ^[a-z_]+$")
        self.sql(f'CREATE DATABASE "{dbname}" OWNER "{owner}" TEMPLATE template0')
        self.sql(f'REVOKE ALL ON DATABASE "{dbname}" FROM PUBLIC')
        self.sql(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{owner}"', dbname=dbname)
        return dbname

    def server_log(self):
        # As root the log belongs to postgres (0600); root can still read it.
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


@pytest.fixture(scope="session")
def pg_cluster():
    # Under /tmp (world-traversable) and opened up to 0755 so that, as root,
    # the postgres user can reach the cluster inside it.
    var_dir = tempfile.mkdtemp(prefix="nagar-pg-")
    os.chmod(var_dir, 0o755)
    port = free_port()
    env = dict(os.environ)
    env.update(NAGAR_VAR=var_dir, NAGAR_PG_PORT=str(port), BUILD=bin_dir())
    cluster = PgCluster(var_dir, port, env)
    try:
        cluster.run_script("pg.sh", "init")
        cluster.run_script("pg.sh", "start")
        cluster.run_script("provision.sh")
        yield cluster
    finally:
        cluster.run_script("pg.sh", "stop", check=False)
        # pg.sh moves the cluster to /var/tmp when postgres cannot reach var_dir.
        base = os.path.dirname(cluster.data_dir)
        if not base.startswith(var_dir) and os.path.basename(base).startswith("nagar-"):
            shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(var_dir, ignore_errors=True)
