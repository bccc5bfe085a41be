"""One payment provider key per service (issue 12 follow-up): property tax,
water tax and certificates each sign and verify the provider's callbacks
with a key of their own, as a merchant account has its own webhook secret.
Whoever holds one service's host (its files, its key) cannot sign a
"paid" callback for another service's order.

  - provision.sh makes one key per service (0600, directory 0700); an
    install with the one shared payment_provider.key of before is split once
    (online payments go on working, said once), a key deleted later is made
    anew, and while two services share a key every run warns;
  - docker-compose.yml and the systemd units give each service its own key
    file and no other service's; no secret a service holds is mounted into
    another service's container unless listed below, with the reason;
  - the suite laid out as `make run` does (tests/drills/suite.py): with
    certificates' key a SUCCESS callback for a property-tax order and a
    water-tax order is refused (403 on `signature`, logged as
    <service>.callback_forged), the order stays unpaid; the same for every
    other pair; each service's own key pays its order."""
import os
import stat
import subprocess
import sys

import pytest
import yaml

from nagar_proc import ROOT, bin_dir, wait_until
from test_deploy_consistency import unit

sys.path.insert(0, os.path.join(ROOT, "tests", "drills"))
from suite import PROVIDER_SERVICES, Suite, make_base_dir  # noqa: E402

ULB = "250786"


def provider_keys_step(var):
    """deploy/provision.sh provider-keys on NAGAR_VAR=var: (stdout+stderr)."""
    env = dict(os.environ, NAGAR_VAR=str(var), BUILD=bin_dir())
    r = subprocess.run([os.path.join(ROOT, "deploy", "provision.sh"), "provider-keys"], env=env,
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def read_keys(var):
    out = {}
    for svc in PROVIDER_SERVICES:
        path = var / "secrets" / "payment_provider" / f"{svc}.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        out[svc] = path.read_text().strip()
        assert len(out[svc]) == 64 and int(out[svc], 16) >= 0
    return out


def test_provision_makes_one_key_per_service_and_splits_an_old_shared_one(tmp_path):
    var = tmp_path / "var"
    said = provider_keys_step(var)
    assert "payment provider keys made for property_tax water_tax certificates" in said, said
    keys = read_keys(var)
    assert len(set(keys.values())) == 3, keys
    assert stat.S_IMODE((var / "secrets" / "payment_provider").stat().st_mode) == 0o700
    # Again: nothing changes, nothing is said but that.
    assert provider_keys_step(var) == ""
    assert read_keys(var) == keys

    # An install from before: one payment_provider.key, which the provider
    # signs every service's callbacks with. The upgrade copies it to each
    # service (online payments keep working), says so once, and warns while
    # the services share it.
    old = tmp_path / "old"
    (old / "secrets").mkdir(parents=True)
    shared = keys["property_tax"]
    (old / "secrets" / "payment_provider.key").write_text(shared + "\n")
    said = provider_keys_step(old)
    assert said.count("upgrade: the one payment provider key") == 1, said
    assert "{property_tax,water_tax,certificates}" in said and "OPERATIONS.md" in said, said
    assert "property_tax=water_tax property_tax=certificates water_tax=certificates" in said
    assert read_keys(old) == {svc: shared for svc in PROVIDER_SERVICES}
    said = provider_keys_step(old)
    assert "upgrade:" not in said and "same payment provider key" in said, said
    # A key deleted to be replaced is made anew, never copied from the old one again.
    (old / "secrets" / "payment_provider" / "certificates.key").unlink()
    said = provider_keys_step(old)
    assert "made for certificates" in said and "upgrade:" not in said, said
    now = read_keys(old)
    assert now["certificates"] != shared and now["property_tax"] == now["water_tax"] == shared
    assert "(property_tax=water_tax)" in said
    (old / "secrets" / "payment_provider" / "water_tax.key").unlink()
    said = provider_keys_step(old)
    assert "same payment provider key" not in said, said
    assert len(set(read_keys(old).values())) == 3


# Secrets that more than one compose service mounts, and why that is no
# finding. Anything else mounted twice fails this test.
SHARED_SECRETS = {
    "broker_pub": "the brokers' public key",
    "cluster_ca": "the development CA's certificate (public)",
    # One role on several nodes (the same process kind, not another service).
    "pg_superuser": "pg1..3", "pg_replication": "pg1..3", "pg_rewind": "pg1..3",
    "pg_server_crt": "pg1..3", "pg_server_key": "pg1..3", "pg_client_crt": "pg1..3",
    "pg_client_key": "pg1..3", "gateway_cert": "gateway1..2",
    # nagarctl (the operator's) and the checkpointer: verify reads every
    # chain as each service's read-only _reader role, never its _app role.
    "witness_writer_pgpass": "nagarctl, checkpointer",
    **{f"{svc}_reader_pgpass": "nagarctl and the checkpointer verify its chains"
       for svc in ("certificates", "property_tax", "water_tax")},
}


def test_compose_and_systemd_give_each_service_its_own_provider_key():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    mounted = {}
    for name, spec in compose["services"].items():
        for s in spec.get("secrets", []):
            source = s["source"] if isinstance(s, dict) else s
            mounted.setdefault(source, set()).add(name)
    for svc in PROVIDER_SERVICES:
        spec = compose["services"][svc]
        assert spec["environment"]["NAGAR_PAYMENT_PROVIDER_KEY_FILE"] == \
            "/run/secrets/payment_provider_key"
        sources = [s["source"] for s in spec["secrets"]
                   if isinstance(s, dict) and s["target"] == "payment_provider_key"]
        assert sources == [f"{svc}_provider_key"], (svc, spec["secrets"])
        assert compose["secrets"][sources[0]]["file"].endswith(
            f"/secrets/payment_provider/{svc}.key")
        assert mounted[sources[0]] == {svc}
    files = [compose["secrets"][f"{svc}_provider_key"]["file"] for svc in PROVIDER_SERVICES]
    assert len(set(files)) == 3
    assert not any(secret["file"].endswith("/payment_provider.key")
                   for secret in compose["secrets"].values())
    # No secret is mounted into two containers unless listed above; no
    # container mounts the whole secrets directory.
    shared = {source: sorted(names) for source, names in mounted.items() if len(names) > 1}
    assert set(shared) <= set(SHARED_SECRETS), shared
    # The operator's and the batch key (the admin service, jobs) are the
    # operator's container's alone: the checkpointer needs no bus.
    assert mounted["operator_cert"] == {"nagarctl"} and mounted["batch_cert"] == {"nagarctl"}
    assert "checkpoint_key" in [s if isinstance(s, str) else s["source"]
                                for s in compose["services"]["checkpointer"]["secrets"]]
    for name, spec in compose["services"].items():
        if name == "setup":
            continue    # the one-shot job that makes the secrets
        for volume in spec.get("volumes", []):
            assert "/secrets:" not in volume and not volume.split(":")[0].endswith("/secrets"), \
                (name, volume)
    # systemd: a credential of its own per service, named in the setting.
    paths = set()
    for svc in PROVIDER_SERVICES:
        u = unit(f"nagar-{svc}@.service")
        creds = u.get(("Service", "LoadCredential"), [])
        path = f"/etc/nagar/secrets/payment_provider/{svc}.key"
        assert f"payment_provider.key:{path}" in creds, creds
        assert "NAGAR_PAYMENT_PROVIDER_KEY_FILE=%d/payment_provider.key" in \
            u.get(("Service", "Environment"), [])
        paths.add(path)
    for other in ("identity", "notifications", "witness", "gateway"):
        u = unit(f"nagar-{other}@.service")
        assert not any("payment_provider" in c for c in u.get(("Service", "LoadCredential"), []))
    assert len(paths) == 3
    # The checkpoint job is handed the files it reads, not the secrets directory.
    u = unit("nagar-checkpoint.service")
    assert "NAGAR_CTL_SECRETS_DIR=%d" in u[("Service", "Environment")]
    assert sorted(c.split(":")[0] for c in u[("Service", "LoadCredential")]) == sorted(
        ["checkpoint.key", "witness_writer.pgpass"] +
        [f"{svc}_reader.pgpass" for svc in ("certificates", "property_tax", "water_tax")])
    # The _app passwords (which write through the rules) are each service's alone.
    for svc in ("identity", "certificates", "property_tax", "water_tax", "notifications"):
        assert mounted[f"{svc}_pgpass"] == {svc}, (svc, mounted[f"{svc}_pgpass"])


@pytest.fixture(scope="module")
def suite():
    s = Suite(make_base_dir())
    try:
        s.start_all()
        yield s
    finally:
        s.stop()


def forged_events(s, svc, order_id):
    return [e for p in s.procs.get(svc, []) for e in p.events(f"{svc}.callback_forged")
            if e.get("order_id") == order_id]


def test_one_services_key_cannot_pay_another_services_order(suite):
    s = suite
    keys = s.provider_keys()
    assert len(set(keys.values())) == 3, "provision.sh gave two services the same provider key"
    for svc in PROVIDER_SERVICES:
        env = s.service_env(svc)
        assert env["NAGAR_PAYMENT_PROVIDER_KEY_FILE"] == s.provider_key_path(svc)
    for other in ("identity", "notifications", "witness"):
        assert "NAGAR_PAYMENT_PROVIDER_KEY_FILE" not in s.service_env(other)

    orders = s.online_orders(ULB)
    for svc, (order, citizen) in orders.items():
        for key_of in PROVIDER_SERVICES:
            if key_of == svc:
                continue
            # What the key_of host can do: sign a SUCCESS callback for svc's order.
            r = s.provider_callback(svc, order, key_of)
            assert r.status_code == 403, (svc, key_of, r.status_code, r.text)
            assert r.json()["error"]["field"] == "signature", r.text
            assert "nothing was recorded" in r.json()["error"]["message"], r.text
        wait_until(lambda: len(forged_events(s, svc, order["orderId"])) == 2, 10, 0.05,
                   f"{svc}.callback_forged twice for {order['orderId']}")
        assert s.order_status(svc, order, citizen) == "CREATED", svc
    # The provider, with each service's own key: every order is paid, once.
    for svc, (order, citizen) in orders.items():
        r = s.provider_callback(svc, order, svc)
        assert r.status_code == 200, (svc, r.text)
        assert r.json()["status"] == "PAID" and "ONLINE/" in r.json()["receiptNo"], r.text
        assert s.order_status(svc, order, citizen) == "PAID"
