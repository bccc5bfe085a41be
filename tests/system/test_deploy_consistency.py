"""The deployment files agree with each other and with the code: the
services that docker-compose.yml runs, the systemd units, the principals of
deploy/principals.conf, the databases of deploy/services.list, the service
directories and the built binaries all name the same services, each with
its own key, database role and sandbox. (Docker cannot run here; this is
what can be checked without it.)"""
import configparser
import os
import re

import yaml

from nagar_proc import ROOT, bin_dir

SYSTEMD = os.path.join(ROOT, "deploy", "systemd")
SANDBOX = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
           "ProtectHome": "yes", "PrivateDevices": "yes", "RestrictSUIDSGID": "yes",
           "CapabilityBoundingSet": "", "SystemCallArchitectures": "native"}


def principals():
    out = {}
    with open(os.path.join(ROOT, "deploy", "principals.conf")) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            name, serves, calls = line.split()
            out[name] = (serves, calls)
    return out


def serving():
    return {n for n, (serves, _) in principals().items() if serves != "-"}


def service_dirs():
    base = os.path.join(ROOT, "services")
    return {d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)) and d != "broker"}


def compose():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        return yaml.safe_load(f)


def unit(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       empty_lines_in_values=False)
    parser.optionxform = str
    # systemd repeats keys (SystemCallFilter=, LoadCredential=): keep them all.
    values = {}
    section = None
    with open(os.path.join(SYSTEMD, name)) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            values.setdefault((section, key), []).append(value)
    return values


def test_every_serving_principal_is_a_database_service_and_back():
    with open(os.path.join(ROOT, "deploy", "services.list")) as f:
        listed = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    assert listed == serving()
    # Every service directory is a principal that serves its own name.
    for svc in service_dirs():
        assert svc in serving(), f"services/{svc} has no principal in deploy/principals.conf"
        assert principals()[svc][0] == svc
    assert "gateway" in principals() and "operator" in principals() and "batch" in principals()
    assert "nagar.admin" in principals()["operator"][1]
    assert all("nagar.admin" not in calls for name, (_, calls) in principals().items()
               if name != "operator")


def test_compose_runs_each_process_kind_with_its_own_key_and_role():
    """The cluster (docker-compose.yml): every service once (scaled with
    --scale), two or more brokers and gateways, three PostgreSQL nodes and
    three etcd members; each Nagar process with its own key and role."""
    c = compose()
    services = c["services"]
    runs = {}
    for name, spec in services.items():
        command = spec.get("command") or []
        if command and str(command[0]).startswith("nagar-"):
            runs[name] = command[0]
    brokers = sorted(n for n, b in runs.items() if b == "nagar-broker")
    gateways = sorted(n for n, b in runs.items() if b == "nagar-gateway")
    assert len(brokers) >= 2 and len(gateways) >= 2, (brokers, gateways)
    assert set(runs) - set(brokers) - set(gateways) == serving()
    for name, binary in runs.items():
        if name not in brokers + gateways:
            assert binary == f"nagar-{name}", f"compose service {name} runs {binary}"
        spec = services[name]
        assert "ports" not in spec, f"{name} has fixed host ports: --scale would collide"
        assert spec.get("read_only") is True and spec.get("cap_drop") == ["ALL"]
        if name in brokers:
            continue
        env = spec["environment"]
        # Every bus peer knows every broker, at its fixed address on the bus
        # network (ZeroMQ would resolve a name in its I/O thread).
        addresses = [services[b]["networks"]["bus"]["ipv4_address"] for b in brokers]
        assert len(set(addresses)) == len(brokers)
        assert env["NAGAR_BUS_ENDPOINT"] == ",".join(f"tcp://{a}:5555" for a in addresses)
        principal = "gateway" if name in gateways else name
        secrets = {s["target"]: s["source"] for s in spec["secrets"] if isinstance(s, dict)}
        assert secrets.get("bus_cert") == f"{principal}_cert"
        assert c["secrets"][f"{principal}_cert"]["file"].endswith(
            f"/keys/secret/{principal}.cert")
        if name in serving():
            assert secrets.get("db_pgpass") == f"{name}_pgpass"
            assert c["secrets"][f"{name}_pgpass"]["file"].endswith(
                f"/secrets/{name}_app.pgpass")
            conninfo = env["NAGAR_DB_CONNINFO"]
            assert f"dbname=nagar_{name} " in conninfo and f"user={name}_app " in conninfo
            # libpq finds the primary among every PostgreSQL node.
            assert "target_session_attrs=read-write" in conninfo
            assert "host=pg1,pg2,pg3 " in conninfo
    # PostgreSQL under Patroni on three nodes, three etcd members, the backup
    # repository on a volume of its own, HAProxy in front of the gateways.
    pg_nodes = [n for n, spec in services.items()
                if spec.get("entrypoint") == ["/usr/share/nagar/deploy/cluster/pg-node.sh"]]
    assert sorted(pg_nodes) == ["pg1", "pg2", "pg3"]
    for node in pg_nodes:
        assert services[node]["user"] == "postgres"
        assert any(v.startswith(f"pgdata{node[-1]}:") for v in services[node]["volumes"])
    assert sorted(n for n in services if n.startswith("etcd")) == ["etcd1", "etcd2", "etcd3"]
    assert services["backup-repo"]["user"] == "nagar-backup"
    assert any(v.startswith("backup-repo:") for v in services["backup-repo"]["volumes"])
    assert services["haproxy"]["ports"] and services["haproxy"]["user"] == "haproxy"
    with open(os.path.join(ROOT, "deploy", "cluster", "haproxy.cfg")) as f:
        haproxy = f.read()
    for gateway in gateways:
        assert f"server {gateway} {gateway}:8080 check" in haproxy
    assert "option httpchk GET /readyz" in haproxy and " ssl crt " in haproxy
    with open(os.path.join(ROOT, "deploy", "cluster", "pg-node.sh")) as f:
        patroni = f.read()
    assert "synchronous_mode: true" in patroni and "synchronous_mode_strict: true" in patroni
    assert "archive-push" in patroni
    # Every secret a service names exists.
    for name, spec in services.items():
        for s in spec.get("secrets", []):
            source = s["source"] if isinstance(s, dict) else s
            assert source in c["secrets"], f"{name} names an undefined secret {source}"


def test_systemd_units_one_per_process_kind_sandboxed():
    names = {re.match(r"nagar-(.+?)@?\.service$", f).group(1) for f in os.listdir(SYSTEMD)
             if f.endswith(".service")}
    processes = serving() | {"broker", "gateway"}
    assert processes <= names
    assert names - processes <= {"backup-server", "pgbackrest-agent", "backup", "checkpoint"}
    for name in processes:
        filename = f"nagar-{name}.service" if name == "broker" else f"nagar-{name}@.service"
        u = unit(filename)
        svc = lambda key: u.get(("Service", key), [])  # noqa: E731
        assert svc("ExecStart") == [f"/usr/local/bin/nagar-{name}"]
        assert svc("User") == [f"nagar-{name}"], f"{filename}: a dedicated user"
        for key, value in SANDBOX.items():
            assert value in svc(key), f"{filename}: {key}={value} missing"
        assert "@system-service" in svc("SystemCallFilter")
        assert "" in svc("AmbientCapabilities")
        if name in serving():
            creds = svc("LoadCredential")
            assert f"bus.cert:/etc/nagar/keys/secret/{name}.cert" in creds
            assert f"db.pgpass:/etc/nagar/secrets/{name}_app.pgpass" in creds
            env = " ".join(svc("Environment"))
            assert f"dbname=nagar_{name} user={name}_app" in env
        if name == "gateway":
            assert "bus.cert:/etc/nagar/keys/secret/gateway.cert" in svc("LoadCredential")
    # The backup repository runs as its own user, never as postgres.
    assert unit("nagar-backup-server.service")[("Service", "User")] == ["nagar-backup"]
    assert unit("nagar-pgbackrest-agent.service")[("Service", "User")] == ["postgres"]


def test_built_binaries_match():
    build = bin_dir()
    for svc in service_dirs() | {"broker", "gateway"}:
        if svc == "gateway" and not os.path.isdir(os.path.join(ROOT, "gateway")):
            continue
        assert os.path.exists(os.path.join(build, f"nagar-{svc}")), \
            f"{svc} exists in the source but {build}/nagar-{svc} is not built"
    for tool in ("keygen", "migrate"):
        assert os.path.exists(os.path.join(build, f"nagar-{tool}"))
    assert any(os.path.exists(os.path.join(build, n)) for n in ("nagarctl", "nagar-ctl"))
    with open(os.path.join(ROOT, "deploy", "Dockerfile")) as f:
        dockerfile = f.read()
    assert "build/nagar-*" in dockerfile and "AS runtime" in dockerfile
    for package in ("pgbackrest", "patroni", "etcd-server", "haproxy", "postgresql-15"):
        assert package in dockerfile
