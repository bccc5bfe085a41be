"""The public route of certificate verification keys, as an offline verifier
uses it: fetch GET /api/v1/certificates/keys once, without logging in, then
check a certificate's QR payload with nothing but what it returned — here
with an Ed25519 implementation of its own (python3-cryptography) and a
protobuf reader of its own, so the route's contract is checked, not
libnagar against itself. A rotation to a new key keeps the old key listed,
closed on the day of its last certificate.

Fixtures come from certificates_fixtures.py (cert_stack).
"""
import base64
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nagar_proc import wait_until
from test_certificates import apply, birth_report, ok, register, today


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def read_seal(data):
    """nagar.certificates.Seal (proto/certificates.proto) from its wire bytes:
    varints and length-delimited fields are all it holds."""
    names = {1: "certificateId", 2: "kind", 3: "ulb", 4: "registrationNumber", 5: "version",
             6: "subjectName", 7: "eventDate", 8: "issuedOn"}
    seal, i = {}, 0

    def varint():
        nonlocal i
        value, shift = 0, 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value
    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            seal[names.get(number, number)] = varint()
        elif wire == 2:
            length = varint()
            seal[names.get(number, number)] = data[i:i + length].decode()
            i += length
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return seal


def verify_offline(keys, payload):
    """What a phone app does with the keys it fetched once: (True, seal) or
    (False, why)."""
    parts = payload.split(".")
    if len(parts) != 4 or parts[0] != "NC1":
        return False, "not an NC1 payload"
    key = next((k for k in keys if k["keyId"] == parts[1]), None)
    if key is None:
        return False, "unknown key"
    signed, signature = payload.rsplit(".", 1)
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["publicKey"])).verify(
            b64url(signature), signed.encode())
    except (InvalidSignature, ValueError):
        return False, "bad signature"
    seal = read_seal(b64url(parts[2]))
    until = key.get("validUntil", "")             # "" (left out until zero values show): open
    if seal["issuedOn"] < key["validFrom"] or (until and seal["issuedOn"] > until):
        return False, "issued outside the key's validity"
    return True, seal


def fetch_keys(s):
    body = ok(s.gateway.get("/api/v1/certificates/keys"))          # no token: public
    assert body["payloadFormat"].startswith("NC1.<keyId>.")
    return body["keys"]


def test_keys_route_serves_what_an_offline_verifier_needs_across_a_rotation(cert_stack, procs):
    s = cert_stack
    app = ok(apply(s, "birth", birth_report(3, childName="Asha Verma"), s.citizen, ulb=s.ulb_a))
    first = ok(register(s, app["applicationId"], s.registrar_a))
    assert first["keyId"] == "c1"

    keys = fetch_keys(s)
    assert [k["keyId"] for k in keys] == ["c1"]
    c1 = keys[0]
    with open(s.certificates.public_key_path) as f:
        assert c1["publicKey"] == f.read().strip()
    assert c1["algorithm"] == "Ed25519" and c1["signing"] is True
    assert c1["validFrom"] == today().isoformat() and c1.get("validUntil", "") == ""

    valid, seal = verify_offline(keys, first["qrPayload"])
    assert valid, seal
    assert seal["certificateId"] == first["certificateId"]
    assert seal["registrationNumber"] == first["registrationNumber"]
    assert seal["subjectName"] == "Asha Verma" and seal["issuedOn"] == today().isoformat()
    payload = first["qrPayload"]
    forged = payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB")
    assert verify_offline(keys, forged) == (False, "bad signature")
    # The key's validity is part of the check: a key closed before the day of
    # issue does not vouch for the certificate.
    closed = [dict(c1, validUntil="2001-01-01")]
    assert verify_offline(closed, payload) == (False, "issued outside the key's validity")

    # Rotation: a new key c2 next to c1.pub; the service restarts on it.
    made = s.db.run_cli("keygen", s.certificates.key_dir, "c2")
    assert made.returncode == 0, made.stderr
    s.certificates.proc.stop()
    env = dict(s.db.env)
    env.update(s.broker.client_env("certificates"))
    env["NAGAR_CERTIFICATES_SEAL_KEY"] = os.path.join(s.certificates.key_dir, "c2.key")
    proc = procs.start("certificates-c2", [s.db.binary], env=env)
    proc.wait_event("certificates.ready", timeout=20)

    def rotated():
        r = s.gateway.get("/api/v1/certificates/keys")
        return r.status_code == 200 and any(k["keyId"] == "c2" and k["signing"]
                                            for k in r.json()["keys"])
    wait_until(rotated, 20, interval=0.1, what="the service to sign with c2")
    app = ok(apply(s, "birth", birth_report(2, childName="Ravi Verma"), s.citizen, ulb=s.ulb_a))
    second = ok(register(s, app["applicationId"], s.registrar_a))
    assert second["keyId"] == "c2"

    keys = {k["keyId"]: k for k in fetch_keys(s)}
    assert set(keys) == {"c1", "c2"}
    assert keys["c1"].get("signing", False) is False and keys["c2"]["signing"] is True
    assert keys["c1"]["validFrom"] == keys["c1"]["validUntil"] == today().isoformat()
    assert keys["c2"]["validFrom"] == today().isoformat() and keys["c2"].get("validUntil",
                                                                              "") == ""
    for cert in (first, second):
        valid, seal = verify_offline(list(keys.values()), cert["qrPayload"])
        assert valid and seal["certificateId"] == cert["certificateId"], seal
        # And online, where the register also says it is current.
        v = ok(s.gateway.get("/api/v1/certificates/verify", params={"payload": cert["qrPayload"]}))
        assert v["status"] == "VALID"
