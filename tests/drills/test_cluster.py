"""Host-loss drills against the running compose cluster (docker-compose.yml,
brought up once by deploy/cluster.sh under a project of its own): payment
load through HAProxy while a container is killed (a lost host), cut off the
network (a partition) or restarted in an orderly way; then what was
acknowledged is compared with what the primary holds and the ledger chains
are verified. Each drill prints one line of figures:

    DRILL <name>: time to recover, requests and failed requests, acknowledged
    and present payments (missing, doubled), chains verified

The drills run in the order written (each leaves the cluster whole again).
"""
import http.client
import json
import os
import shutil
import ssl
import tempfile
import time
import uuid

import pytest

from cluster import PG_NODES, Cluster, Load

# The first drill also waits for the cluster to come up (on a fresh machine:
# the base image, the image, then the cluster; about 6 minutes).
pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="the cluster drills run as root"),
              pytest.mark.timeout(1800)]

FIGURES = []


def report(name, load, since, extra=""):
    figures = dict(load.report(since), **load.reconcile())
    FIGURES.append((name, figures))
    line = (f"DRILL {name}: recovered in {figures['recover_s']} s; requests {figures['requests']}, "
            f"failed {figures['failed']} {figures['failed_kinds'] or ''}; payments acknowledged "
            f"{figures['acknowledged']}, present {figures['present']} (missing "
            f"{figures['missing']}, doubled {figures['doubled']}, different "
            f"{figures['different']}){extra}")
    print("\n" + line)
    return figures


def assert_each_payment_once(figures):
    """Every acknowledged payment is in the ledger once, as acknowledged."""
    assert figures["missing"] == 0 and figures["doubled"] == 0 and figures["different"] == 0, \
        figures


def kill_under_load(c, load, container):
    """Six clerks paying while container is killed, 50 more payments
    acknowledged without it, then it is started again: (load, killed_at)."""
    lo = load(clerks=6)
    killed_at = time.monotonic()
    c.kill(container)
    lo.wait_acknowledged(50, timeout=60)
    time.sleep(2)
    c.start(container)
    return lo, killed_at


def verify_chains(c):
    """nagarctl verify, said in the drill's line; assert_verified after it."""
    c.last_verify = c.ctl("verify", timeout=300)
    if c.last_verify.returncode == 0:
        return "chains verify"
    return f"chains DO NOT verify (nagarctl verify exit {c.last_verify.returncode})"


def assert_verified(c):
    r = c.last_verify
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(scale={"property_tax": 2})
    try:
        if not c.reused:
            # A machine where no container can start at all (no podman
            # support in its kernel or sandbox) skips these drills, saying
            # why; anything after that (image, cluster, drills) must work.
            r = c.cluster_sh("probe", timeout=1200, check=False)
            if r.returncode == 3:
                pytest.skip(r.stderr.strip()[-500:])
            assert r.returncode == 0, f"cluster.sh probe: {r.stderr[-3000:]}"
        c.up()
        print(f"\nDRILL cluster-up: deploy/cluster.sh up took {c.up_seconds:.0f} s")
        c.wait_healthy()
        yield c
    finally:
        c.down()


@pytest.fixture
def load(cluster):
    loads = []

    def start(**kwargs):
        wait_all_ready(cluster)
        lo = Load(cluster, **kwargs).start()
        loads.append(lo)
        lo.wait_acknowledged(10)
        return lo

    yield start
    for lo in loads:
        lo.stop_event.set()


def wait_all_ready(c, timeout=120):
    deadline = time.monotonic() + timeout
    while not c.ready():
        assert time.monotonic() < deadline, "the cluster did not become ready again"
        time.sleep(0.5)


def test_scale_adds_workers_that_take_load(cluster, load):
    c = cluster
    c.compose("up", "-d", "--no-build", "--no-recreate", "--scale", "property_tax=3",
              "property_tax")
    c.ensure_dns()
    deadline = time.monotonic() + 60
    while True:
        states = [c.service_state("property_tax", b) for b in ("broker1", "broker2")]
        if all(s.split()[1:2] == ["3"] for s in states if s) and all(states):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.5)
    lo = load(clerks=6)
    time.sleep(8)
    lo.stop()
    served = {name: len(c.events("property_tax", "property_tax.payment_recorded", n=n))
              for n, name in enumerate(c.containers("property_tax"), start=1)}
    print(f"\nDRILL scale: --scale property_tax=3 — workers at each broker 3; payments "
          f"recorded per container {served}")
    assert len(served) == 3 and all(v > 0 for v in served.values()), served
    # Back to two for the rest of the drills.
    c.compose("up", "-d", "--no-build", "--no-recreate", "--scale", "property_tax=2",
              "property_tax")


def test_kill_postgres_primary_under_payment_load(cluster, load):
    c = cluster
    old = c.wait_healthy()
    lo = load(clerks=6)
    killed_at = time.monotonic()
    c.kill(old)
    new = c.primary(timeout=60, exclude=(old,))
    promoted_s = time.monotonic() - killed_at
    lo.wait_acknowledged(20, timeout=90)
    first_after = min((a[1] for a in lo.attempts if a[0] >= killed_at + promoted_s and a[2]),
                      default=None)
    time.sleep(3)
    lo.stop()
    c.start(old)
    c.wait_healthy()
    figures = report("pg-primary-killed", lo, killed_at,
                     f"; new primary {new} in {promoted_s:.1f} s, payments served again "
                     f"{(first_after or 0) - killed_at:.1f} s after the kill; "
                     f"{verify_chains(c)}")
    assert promoted_s < 30
    assert_each_payment_once(figures)
    assert_verified(c)


def test_partition_postgres_primary_no_split_brain(cluster, load):
    c = cluster
    old = c.wait_healthy()
    c.sql("postgres", "CREATE TABLE IF NOT EXISTS drill_probe (id text PRIMARY KEY)")
    lo = load(clerks=6)
    writable_at_once = 0
    cut_at = time.monotonic()
    c.disconnect(old, ["control", "data"])
    new = None
    probe_acknowledged = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            writable = [n for n in PG_NODES if c.writable(n)]
            writable_at_once = max(writable_at_once, len(writable))
            others = [n for n in writable if n != old]
            if others:
                new = others[0]
                break
            time.sleep(0.2)
        assert new, "no new primary within 60 s of the partition"
        promoted_s = time.monotonic() - cut_at
        # The cut-off node, asked directly: a commit there must not be
        # acknowledged (it cannot reach a synchronous standby, and it has
        # demoted itself by now).
        r = c.podman("exec", c.name(old), "timeout", "8", "psql", "-h", "/tmp", "-U", "postgres",
                     "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c",
                     "INSERT INTO drill_probe VALUES ('written-on-the-cut-off-node')",
                     check=False, timeout=30)
        probe_acknowledged = r.returncode == 0
        for _ in range(10):
            writable_at_once = max(writable_at_once, sum(c.writable(n) for n in PG_NODES))
            time.sleep(0.2)
        lo.wait_acknowledged(20, timeout=90)
    finally:
        c.connect(old, ["control", "data"])
    c.wait_healthy(timeout=240)
    time.sleep(2)
    lo.stop()
    probe_rows = {n: c.sql("postgres", "SELECT count(*) FROM drill_probe", node=n)
                  for n in PG_NODES}
    figures = report("pg-primary-partitioned", lo, cut_at,
                     f"; new primary {new} in {promoted_s:.1f} s; nodes writable at once at most "
                     f"{writable_at_once}; commit on the cut-off node acknowledged "
                     f"{probe_acknowledged}, rows of it after healing {probe_rows}; "
                     f"{verify_chains(c)}")
    assert writable_at_once <= 1
    assert probe_acknowledged is False
    assert set(probe_rows.values()) == {"0"}
    assert_each_payment_once(figures)
    assert_verified(c)


def test_kill_broker_under_load(cluster, load):
    c = cluster
    lo, killed_at = kill_under_load(c, load, "broker1")
    time.sleep(4)
    lo.stop()
    figures = report("broker-killed", lo, killed_at, f"; {verify_chains(c)}")
    assert_each_payment_once(figures)
    assert_verified(c)


def test_kill_gateway_haproxy_routes_around(cluster, load):
    c = cluster
    lo, killed_at = kill_under_load(c, load, "gateway1")
    wait_all_ready(c)
    time.sleep(2)
    lo.stop()
    figures = report("gateway-killed", lo, killed_at)
    assert_each_payment_once(figures)


def test_rolling_restart_of_everything_under_load_fails_nothing(cluster, load):
    c = cluster
    lo = load(clerks=6)
    started = time.monotonic()
    order = ([(s, 1) for s in ("identity", "certificates", "notifications", "water_tax")]
             + [("property_tax", n) for n in range(1, len(c.containers("property_tax")) + 1)]
             + [("broker1", 1), ("broker2", 1), ("gateway1", 1), ("gateway2", 1)])
    steps = []
    for service, n in order:
        began = time.monotonic()
        c.stop(service, n)
        stopped = time.monotonic()
        c.start(service, n)
        # The next one only when this one serves again, as an operator would.
        c.wait_serving_again(service)
        lo.wait_acknowledged(5, timeout=60)
        failed = len(lo.failed_since(began))
        steps.append(f"{service}{'' if n == 1 else n} stopped in {stopped - began:.1f} s, "
                     f"back in {time.monotonic() - stopped:.1f} s, failed {failed}")
    lo.stop()
    figures = report("rolling-restart", lo, started,
                     f"; {len(order)} containers restarted one at a time ("
                     + "; ".join(steps) + f"); {verify_chains(c)}")
    assert figures["failed"] == 0, figures
    assert_each_payment_once(figures)
    assert_verified(c)


def edge_request(c, target, headers=None):
    """One request through HAProxy with target sent byte for byte (no
    client-side normalisation): (status, headers, body)."""
    context = ssl.create_default_context(cafile=c.ca)
    conn = http.client.HTTPSConnection("localhost", c.port, context=context, timeout=20)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def gateway_saw(c, request_id, timeout=15):
    """The request target a gateway logged for request_id (its
    gateway.request line: "METHOD TARGET -> STATUS")."""
    deadline = time.monotonic() + timeout
    while True:
        for gateway in ("gateway1", "gateway2"):
            for line in c.events(gateway, "gateway.request"):
                if line.get("request_id") == request_id:
                    return line["msg"].split(" ")[1]
        assert time.monotonic() < deadline, f"no gateway logged request {request_id}"
        time.sleep(0.5)


def test_haproxy_normalises_what_reaches_the_gateways(cluster):
    """Paths that mean the same resource reach a gateway in one form: slashes
    merged, dot segments (also percent-encoded ones) removed, unreserved
    characters decoded, escapes upper-cased. Encoded slashes and backslashes,
    malformed escapes and oversized headers are refused at the edge and reach
    no gateway. Asked directly, a gateway answers the raw forms differently,
    so each check fails if HAProxy stops normalising."""
    c = cluster
    wait_all_ready(c)
    clerk = c.token("CLERK")
    pid = c.create_property(clerk)
    canonical = f"/api/v1/property-tax/properties/{pid}"
    auth = {"Authorization": f"Bearer {clerk}"}
    variants = [
        f"//api/v1//property-tax///properties/{pid}",
        f"/api/v1/./property-tax/./properties/{pid}",
        f"/api/v1/water-tax/../property-tax/properties/{pid}",
        f"/../../api/v1/property-tax/properties/{pid}",
        f"/api/v1/%70roperty%2Dtax/properties/{pid}",
        f"/api/v1/water-tax/%2e%2E/property-tax/properties/{pid}",
        f"/api/v1/water-tax/%2E%2E/%2e/property-tax//properties/{pid}",
    ]
    seen = {}
    for target in variants:
        status, headers, body = edge_request(c, target, auth)
        assert status == 200 and json.loads(body)["propertyId"] == pid, (target, status, body)
        seen[target] = gateway_saw(c, headers["x-request-id"])
    assert set(seen.values()) == {canonical}, seen

    # Refused at the edge: never reaches a gateway (no X-Request-Id).
    refused = {}
    for target in (f"/api/v1/property-tax/properties%2F{pid}",
                   f"/api/v1/property-tax/properties/{pid}%5C..%5Cdues",
                   f"/api/v1/property-tax/properties/{pid}%zz",
                   "/api/v1/property-tax/properties/%00"):
        status, headers, _ = edge_request(c, target, auth)
        refused[target] = status
        assert status == 400 and "x-request-id" not in headers, (target, status, headers)
    big = dict(auth, **{"X-Padding": "a" * 9000})
    status, headers, body = edge_request(c, canonical, big)
    assert status == 431 and "x-request-id" not in headers, (status, headers, body[:300])

    # The gateway itself takes the raw forms as they are: without the edge
    # none of the variants would have reached the resource (one of them
    # would have been answered with the web app's page).
    def direct(target, *extra):
        r = c.podman("exec", c.name("haproxy"), "curl", "-s", "--path-as-is", "--max-time", "10",
                     "-w", "\n%{http_code}", "-H", f"Authorization: Bearer {clerk}", *extra,
                     f"http://gateway1:8080{target}", check=False, timeout=30)
        body, _, code = r.stdout.rpartition("\n")
        return code, '"propertyId"' in body
    answers = {target: direct(target) for target in variants + [canonical]}
    answers["9000-byte header"] = direct(canonical, "-H", "X-Padding: " + "a" * 9000)
    print(f"\nDRILL edge normalisation: {len(variants)} spellings of one path reached the "
          f"gateways as {canonical}; refused at the edge {refused}, a 9000-byte header "
          f"{status}; asked directly, gateway1 answered (status, the property) {answers}")
    assert answers[canonical] == ("200", True), answers
    assert answers["9000-byte header"] == ("200", True), answers
    assert not any(answers[t][1] for t in variants), answers


def utc_now_iso(c):
    """The database's clock, in the form of the logs' "ts" (one host, one clock)."""
    return c.sql("postgres", "SELECT to_char(now() AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")


def log_time(c, service, event, after):
    """The "ts" of the first line of event a container logged after after."""
    for line in c.events(service, event):
        if line.get("ts", "") > after:
            return line["ts"]
    raise AssertionError(f"{service} logged no {event} after {after}")


def seconds_between(a, b):
    from datetime import datetime
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    return (datetime.strptime(b, fmt) - datetime.strptime(a, fmt)).total_seconds()


def test_quarantine_on_one_broker_reaches_every_broker_within_a_second(cluster):
    c = cluster
    # Both brokers answer the operator first (earlier drills restarted them;
    # this host's ARP entry for a restarted container can lag): what is
    # measured below is the quarantine's spread, not a broker's reachability.
    deadline = time.monotonic() + 120
    while not all(c.service_state("water_tax", b) for b in ("broker1", "broker2")):
        assert time.monotonic() < deadline, "a broker does not answer nagarctl status"
        time.sleep(0.5)
    assert "QUARANTINED" not in c.service_state("water_tax", "broker2")
    since = utc_now_iso(c)
    r = c.ctl("quarantine", "water_tax", "drill: suspected compromise", brokers=("broker1",))
    assert r.returncode == 0, (r.stdout + r.stderr + "\nbroker1's log since the call:\n"
                               + c.logs("broker1", since=since)[-4000:])
    quarantined_at = time.monotonic()
    deadline = quarantined_at + 10
    while "QUARANTINED" not in c.service_state("water_tax", "broker2"):
        assert time.monotonic() < deadline, "broker2 never quarantined water_tax"
        time.sleep(0.05)
    observed_s = time.monotonic() - quarantined_at
    # Precisely: broker1's record of the action, broker2's taking it from etcd.
    reached_s = seconds_between(log_time(c, "broker1", "admin.quarantine", since),
                                log_time(c, "broker2", "broker.shared_quarantine", since))
    # Through HAProxy, whichever gateway and broker: its routes refused.
    clerk = c.token("CLERK")
    refused = c.http("GET", "/api/v1/water-tax/connections?ulb=250852", token=clerk)
    # A restart does not forget it (etcd, not the broker's memory).
    c.stop("broker2")
    c.start("broker2")
    # Until it answers nagarctl again (this host's own ARP entry for its
    # address may still name the old container's MAC for a while).
    deadline = time.monotonic() + 120
    while not (state := c.service_state("water_tax", "broker2")):
        assert time.monotonic() < deadline, "broker2 does not answer nagarctl after its restart"
        time.sleep(0.5)
    survived = "QUARANTINED" in state
    since = utc_now_iso(c)
    r = c.ctl("release", "water_tax", brokers=("broker2",))
    assert r.returncode == 0, r.stdout + r.stderr
    released_at = time.monotonic()
    while "QUARANTINED" in c.service_state("water_tax", "broker1"):
        assert time.monotonic() < released_at + 10, "broker1 never released water_tax"
        time.sleep(0.05)
    released_s = seconds_between(log_time(c, "broker2", "admin.release", since),
                                 log_time(c, "broker1", "broker.shared_release", since))
    print(f"\nDRILL quarantine: recorded at broker1, in force at broker2 {reached_s:.2f} s "
          f"later by their logs ({observed_s:.2f} s as seen through nagarctl status); a "
          f"water-tax route through HAProxy answered {refused.status_code}; still quarantined "
          f"after broker2 restarted: {survived}; released at broker2, free at broker1 "
          f"{released_s:.2f} s later")
    assert reached_s < 1.0, reached_s
    assert refused.status_code == 503, refused.text
    assert survived
    assert released_s < 1.0


# A restore of the latest backup, replayed from the archive up to a named
# restore point, then opened (promoted) and served on the data network so
# that nagarctl can verify it. It runs in the foreground: the container lives
# as long as that PostgreSQL does.
RESTORE_SCRIPT = r"""
set -eu
conf=/usr/share/nagar/deploy/cluster/pgbackrest-pg.conf
mkdir -p /tmp/restore /tmp/pgbackrest
pgbackrest --config=$conf --stanza=nagar --pg1-path=/tmp/restore --type=name \
    --target="$TARGET" --target-action=promote --log-level-console=warn restore
exec /usr/lib/postgresql/15/bin/postgres -D /tmp/restore -p 5432 -k /tmp \
    -c listen_addresses='*' -c archive_mode=off -c synchronous_standby_names='' \
    -c primary_conninfo='' -c hba_file=/tmp/restore/pg_hba.conf \
    -c ident_file=/tmp/restore/pg_ident.conf
"""

PAYMENT_KEYS = ("SELECT 'key=' || idempotency_key FROM property_tax.ledger "
                "WHERE kind = 'PAYMENT'")


def payment_keys(output):
    """The load's keys (the ledger's key is the caller's, prefixed)."""
    return {line[4:].rsplit(":", 1)[-1] for line in output.split() if line.startswith("key=")}


def test_backup_from_a_standby_and_restore_to_a_named_point(cluster, load):
    """An incremental backup read from a standby; then, under payment load, a
    restore point named in a transaction that holds the ledger still (SHARE
    lock: writers in flight finish first, new ones wait an instant), with the
    exact set of payments the ledger holds at that point; more payments after
    it. The restore to that name holds exactly that set (every one before
    present, every one after absent), and nagarctl verifies its chains
    against the checkpoints its own witness store held then."""
    c = cluster
    primary = c.wait_healthy()
    started = time.monotonic()
    r = c.podman("exec", c.name("backup-repo"), "pgbackrest",
                 "--config=/usr/share/nagar/deploy/cluster/pgbackrest-repo.conf", "--stanza=nagar",
                 "--log-level-console=info", "backup", "--type=incr", timeout=600)
    backup_s = time.monotonic() - started
    standby_used = "standby" in r.stdout
    assert standby_used, r.stdout[-3000:]

    lo = load(clerks=4)
    lo.wait_acknowledged(20)
    name = f"drill-{uuid.uuid4().hex[:12]}"
    # Acknowledged before the lock is asked for: committed before it is granted.
    with lo.lock:
        acknowledged_before = set(lo.acknowledged)
    held_at = time.monotonic()
    r = c.podman("exec", c.name(primary), "psql", "-h", "/tmp", "-U", "postgres",
                 "-d", "nagar_property_tax", "-v", "ON_ERROR_STOP=1", "-qAt",
                 "-c", "BEGIN", "-c", "LOCK TABLE property_tax.ledger IN SHARE MODE",
                 "-c", PAYMENT_KEYS,
                 "-c", f"SELECT 'lsn=' || pg_create_restore_point('{name}')",
                 "-c", "COMMIT", timeout=120)
    held_s = time.monotonic() - held_at
    at_point = payment_keys(r.stdout)
    point_lsn = next(line[4:] for line in r.stdout.split() if line.startswith("lsn="))
    lo.wait_acknowledged(20)
    lo.stop()
    after = set(lo.acknowledged) - at_point
    # Every payment acknowledged before the point was in the ledger then.
    assert acknowledged_before <= at_point, acknowledged_before - at_point
    assert after, "no payment acknowledged after the restore point"

    # The segment holding the point, closed and archived.
    segment = c.sql("postgres", f"SELECT pg_walfile_name('{point_lsn}')", node=primary)
    c.sql("postgres", "SELECT pg_switch_wal()", node=primary)
    deadline = time.monotonic() + 120
    while (c.sql("postgres", "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
                 node=primary)[8:24] < segment[8:24]):
        assert time.monotonic() < deadline, f"{segment} not archived within 120 s"
        time.sleep(0.5)

    started = time.monotonic()
    tls = os.path.join(c.dir, "tls")
    restore = c.name("pitr")
    c.podman("rm", "-f", "--ignore", restore)
    c.podman("run", "-d", "--name", restore, "--label",
             f"com.docker.compose.project={c.project}", "--network", f"{c.project}_data",
             "--user", "postgres", "--tmpfs", "/tmp", "-e", f"TARGET={name}",
             "-v", f"{tls}/ca.crt:/run/secrets/cluster_ca:ro",
             "-v", f"{tls}/pg-client.crt:/run/secrets/pg_client_crt:ro",
             "-v", f"{tls}/pg-client.key:/run/secrets/pg_client_key:ro",
             "--entrypoint", "/bin/sh", "localhost/nagar:latest", "-c", RESTORE_SCRIPT)
    empty = tempfile.mkdtemp(prefix="nagar-pitr-checkpoints-", dir=c.dir)
    try:
        deadline = time.monotonic() + 600
        while True:
            r = c.podman("exec", restore, "psql", "-h", "/tmp", "-U", "postgres", "-Atc",
                         "SELECT pg_is_in_recovery()", check=False, timeout=30)
            if r.stdout.strip() == "f":
                break
            state = c.podman("inspect", restore, "--format", "{{.State.Status}}").stdout.strip()
            assert state == "running" and time.monotonic() < deadline, \
                f"the restore did not open ({state}): " + c.podman(
                    "logs", restore, check=False).stderr[-3000:]
            time.sleep(1)
        restore_s = time.monotonic() - started
        r = c.podman("exec", restore, "psql", "-h", "/tmp", "-U", "postgres",
                     "-d", "nagar_property_tax", "-v", "ON_ERROR_STOP=1", "-Atc", PAYMENT_KEYS)
        restored = payment_keys(r.stdout)
        # The restore's chains, against the checkpoints witnessed in it (none
        # from files: those on the host may be newer than the point).
        verified = c.ctl("verify", timeout=300, db_hosts=(c.ip("pitr", "data"),),
                         checkpoint_dir=empty)
    finally:
        c.podman("rm", "-f", "--ignore", restore, timeout=120, check=False)
        shutil.rmtree(empty, ignore_errors=True)
    missing = at_point - restored
    extra = restored - at_point
    print(f"\nDRILL backup and PITR: incremental backup from a standby in {backup_s:.1f} s; "
          f"restore point {name} taken under load (ledger held {held_s:.2f} s); restore to it "
          f"in {restore_s:.1f} s; payments at the point {len(at_point)}, in the restore "
          f"{len(restored)} (missing {len(missing)}, not at the point {len(extra)}); "
          f"acknowledged after the point {len(after)}, in the restore "
          f"{len(after & restored)}; nagarctl verify on the restore exit "
          f"{verified.returncode}")
    assert restored == at_point, (sorted(missing)[:5], sorted(extra)[:5])
    assert not (after & restored)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]
