"""The operations page (issue 15): GET /api/v1/operations for state and town
admins, composed by the gateway from its readiness prober and the witness's
latest checkpoint (checkpoint.summary).

  - Each routed service's worker as the gateway sees it, and whether it is
    quarantined (the brokers' mmi.quarantine: the fact, never the operator's
    reason); until every broker has said, the answer says it is not known.
  - The latest checkpoint: VERIFIED (with its time, age and what it pins),
    BAD_SIGNATURE, NONE, or UNAVAILABLE when the witness does not answer —
    the page still answers.
  - Only STATE_ADMIN and COMMISSIONER.
"""
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from nagar_proc import wait_until
from test_gateway import admin_call

OPS = "/api/v1/operations"


def signed_checkpoint(key, created_us, heads, forge=False):
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    body = f"nagar-checkpoint 1\ncreated_us {created_us}\nkey {public}\n"
    for chain, ulb, seq in heads:
        body += f"head {chain} {ulb} {seq} {'ab' * 32}\n"
    signature = key.sign(body.encode()).hex()
    if forge:
        body = body.replace(" 7 ", " 8 ")
    return body + f"signature {signature}\n"


def store(s, text, created_us):
    s.cluster.sql(f"INSERT INTO witness.checkpoint (created_us, signed_text) "
                  f"VALUES ({created_us}, '{text}')", dbname="nagar_witness")


def test_operations_page(property_tax_stack, nagar_bin, tmp_path, keys):
    s = property_tax_stack()
    key = Ed25519PrivateKey.generate()
    public_path = tmp_path / "checkpoint.pub"
    public_path.write_text(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
                           + "\n")
    env = s.cluster.role_env("witness_app")
    env.update(s.broker.client_env("witness"))
    env["NAGAR_CHECKPOINT_PUBLIC_KEY"] = str(public_path)
    # As under make run and in the cluster: the admin's token is verified by the witness too.
    env["NAGAR_TOKEN_PUBLIC_KEYS_DIR"] = str(s.broker.token_keys)
    assert s.cluster.sql("SELECT count(*) FROM witness.checkpoint", dbname="nagar_witness") == "0"
    witness = s.procs.start("witness", [nagar_bin("nagar-witness")], env=env)
    witness.wait_event("witness.ready", timeout=20)
    # It verifies tokens, so it must also know which are revoked (logged out, disabled staff).
    witness.wait_event("bus.worker_revocations_synced", timeout=20)
    commissioner = s.staff("COMMISSIONER", "250786")
    clerk = s.staff("CLERK", "250786")
    citizen = s.citizen("9812399001")

    def page(token):
        r = s.get(OPS, token=token)
        assert r.status_code == 200, r.text
        return r.json()

    def workers(p):
        return {x["name"]: x["worker"] for x in p["services"]}

    def quarantines(p):
        return {x["name"]: x["quarantine"] for x in p["services"]}

    # No checkpoint yet; the services as the prober sees them (property tax and identity run).
    def probed():
        p = page(s.admin.token)
        return p if workers(p)["property_tax"] == "OK" and p["quarantineKnown"] else None
    first = wait_until(probed, 20, interval=0.2, what="the prober to see property_tax")
    assert first["brokerReachable"] is True
    assert workers(first) == {"identity": "OK", "certificates": "NO_WORKER",
                              "property_tax": "OK", "water_tax": "NO_WORKER",
                              "notifications": "NO_WORKER"}
    assert set(quarantines(first).values()) == {"NONE"}, first
    assert first["quarantineNote"] == ""

    # An operator quarantines water tax: the page shows it (and only the fact:
    # the operator's reason stays with nagarctl status); released, it is gone.
    admin_call(s.broker, keys, "quarantine", "QuarantineRequest",
               {"service": "water_tax", "reason": "ops-page-secret-reason"})
    shown = wait_until(lambda: (lambda p: p if quarantines(p)["water_tax"] == "QUARANTINED"
                                else None)(page(commissioner.token)),
                       20, interval=0.2, what="the page to show water_tax quarantined")
    assert {k: v for k, v in quarantines(shown).items() if k != "water_tax"} == {
        "identity": "NONE", "certificates": "NONE", "property_tax": "NONE",
        "notifications": "NONE"}, shown
    assert "ops-page-secret-reason" not in str(shown)
    admin_call(s.broker, keys, "release", "ReleaseRequest", {"service": "water_tax"})
    wait_until(lambda: quarantines(page(s.admin.token))["water_tax"] == "NONE", 20,
               interval=0.2, what="the page to show water_tax released")
    assert first["checkpoint"]["status"] == "NONE", first["checkpoint"]["detail"]
    assert first["checkpoint"]["createdUs"] == "0"

    # A signed checkpoint: verified, with its time and what it pins.
    created_us = int(time.time() * 1e6) - 90 * 1000000
    store(s, signed_checkpoint(key, created_us, [("property_tax", "250786", 7),
                                                 ("property_tax.payment", "250786", 3),
                                                 ("property_tax.payment", "250858", 1)]),
          created_us)
    cp = page(commissioner.token)["checkpoint"]
    assert cp["status"] == "VERIFIED", cp
    assert int(cp["createdUs"]) == created_us
    assert (cp["heads"], cp["chains"]) == (3, 2)
    assert int(cp["ageSeconds"]) >= 90
    assert cp["createdAt"] == time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                            time.gmtime(created_us // 1000000))
    assert cp["storedAt"].endswith("Z")

    # A later one that does not verify with the published key is shown as such.
    forged_us = created_us + 1000000
    store(s, signed_checkpoint(key, forged_us, [("property_tax", "250786", 7)], forge=True),
          forged_us)
    cp = page(s.admin.token)["checkpoint"]
    assert (cp["status"], int(cp["createdUs"]), cp["heads"]) == ("BAD_SIGNATURE", forged_us, 0)

    # Read only, for state and town admins.
    assert s.get(OPS, token=clerk.token).status_code == 403
    assert s.get(OPS, token=citizen.token).status_code == 403
    assert s.get(OPS).status_code == 401

    # The witness gone: the page still answers, and says so.
    witness.stop()
    cp = page(s.admin.token)["checkpoint"]
    assert cp["status"] == "UNAVAILABLE" and "UNAVAILABLE" in cp["detail"], cp
