"""service_db.py — a service's database in the session's PostgreSQL cluster
(pg_fixtures.pg_cluster) as the service's tests reach it; identity_fixtures,
certificates_fixtures and notifications_fixtures build on it. (Not a plugin:
the fixture modules import it.)

    db = ServiceDb(pg_cluster, nagar_bin("nagar-notifications"), "notifications")
    db.assert_migrated(8)          # provision.sh applied its migrations
    db.sql("SELECT ...")           # the superuser, in nagar_notifications
    db.run_cli("keygen", ...)      # the binary as a command, as notifications_app
"""
import subprocess

CLI_TIMEOUT = 60


class ServiceDb:
    """A service's database in the session cluster, as its tests reach it:
    .env (the service's app role, as the service runs), .sql(text) (the
    superuser, in nagar_<service>) and .run_cli(*args) (the service's
    binary as a command, with the app role's environment)."""

    def __init__(self, cluster, binary, service):
        self.cluster = cluster
        self.binary = binary
        self.service = service
        self.env = cluster.role_env(f"{service}_app")

    def sql(self, text):
        return self.cluster.sql(text, dbname=f"nagar_{self.service}")

    def run_cli(self, *args, env=None, input_text=None):
        full = dict(self.env)
        full.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        if env:
            full.update(env)
        return subprocess.run([self.binary, *args], env=full, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT, input=input_text,
                              stdin=None if input_text is not None else subprocess.DEVNULL)

    def assert_migrated(self, tables):
        """At least `tables` tables in the service's schema: provision.sh
        applied its migrations."""
        count = self.sql(f"SELECT count(*) FROM pg_tables WHERE schemaname = '{self.service}'")
        assert int(count) >= tables, \
            f"the {self.service} migrations were not applied by provision.sh"
