"""Identity fixtures for system tests: the identity database, a running
nagar-identity, and a bus client that speaks its protobuf messages.


    def test_something(broker, identity):
        b = broker()
        ident = identity(b)                     # nagar-identity serving on b
        ident.admin_username, ident.admin_password   # the bootstrapped STATE_ADMIN
        otp = ident.read_otp("9876543210")      # the newest code the dev sink got
        c = ident.client()                      # "gateway" principal over CURVE
        r = c.call("ulb.get", {"code": "802462"})
        r.ok, r.code, r.message, r.field, r.reply (a dict), r.replayed
        ident.verify_token(token)               # claims dict; raises if not genuine

`identity_db` (session scope) uses the session's pg_cluster (provision.sh has
applied services/identity/migrations), loads the LGD ULB list once with
`nagar-identity seed-ulbs` and creates the first state admin with
`nagar-identity bootstrap-admin admin`, keeping the printed password. It
returns an IdentityDb: .cluster, .env (identity_app's NAGAR_DB_CONNINFO and
PGPASSFILE), .admin_username, .admin_password, .seed_output,
.sql(text) (superuser, in nagar_identity), .run_cli(*args) (a
CompletedProcess of nagar-identity with the app role's environment).

`identity(running_broker, **env)` makes a token key pair (key id "k1") and an
OTP key under the test's tmp_path, starts nagar-identity with CURVE as the
"identity" principal, waits until it answers on the bus and returns a
RunningIdentity: .proc, .key_path, .key_id, .public_keys_dir, .sink_path,
.otp_key_path, .db, .admin_username, .admin_password, .endpoint,
.read_otp(mobile), .otps(mobile), .client(principal="gateway"),
.verify_token(token, public_keys_dir=None). Extra env overrides the defaults
(e.g. NAGAR_IDENTITY_OTP_RESEND_S=0; NAGAR_OTP_SINK_FILE="" turns delivery
off). Processes stop when the test ends (procs fixture).

Messages travel as protobuf built by the small wire codec below (no
generated code, no python3-protobuf): dicts keyed by the JSON
(lowerCamelCase) names of proto/identity.proto and proto/envelope.proto.

Registered as a plugin in conftest.py: tests use the fixtures by name.
"""
import base64
import json
import os

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import contract
from bus_service import BusService, ServiceClient
from nagar_proc import ROOT, wait_until
from service_db import ServiceDb

ULB_CSV = os.path.join(ROOT, "services", "identity", "data", "mp_ulbs_lgd_2022.csv")
ADMIN_USERNAME = "admin"

# ---- the contract (tests/system/contract.py) ---------------------------------

# method -> (request type, reply type)
METHODS = {
    "ulb.list": ("ListUlbsRequest", "ListUlbsReply"),
    "ulb.get": ("GetUlbRequest", "Ulb"),
    "ulb.create": ("CreateUlbRequest", "Ulb"),
    "otp.request": ("RequestOtpRequest", "RequestOtpReply"),
    "otp.verify": ("VerifyOtpRequest", "TokenPair"),
    "staff.login": ("StaffLoginRequest", "TokenPair"),
    "staff.create": ("CreateStaffRequest", "StaffAccount"),
    "staff.disable": ("DisableStaffRequest", "StaffAccount"),
    "staff.set_role": ("SetStaffRoleRequest", "StaffAccount"),
    "staff.list": ("ListStaffRequest", "ListStaffReply"),
    "audit.list": ("ListAuditRequest", "ListAuditReply"),
    "token.refresh": ("RefreshRequest", "TokenPair"),
    "token.logout": ("LogoutRequest", "LogoutReply"),
    "token.revocations": ("ListRevocationsRequest", "ListRevocationsReply"),
}
METHODS = {m: tuple("nagar.identity." + t for t in types) for m, types in METHODS.items()}


def status_name(code):
    return contract.enum_name("nagar.StatusCode", code)


# ---- bus client ---------------------------------------------------------------

class IdentityClient(ServiceClient):
    """Calls the identity service over the broker as one principal (bus_service.py)."""
    SERVICE = "identity"
    METHODS = METHODS


# ---- tokens ------------------------------------------------------------------

def _b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_token(token, public_keys_dir):
    """Checks a token exactly as common/token.h describes, with the public
    key file <kid>.pub; returns the claims dict or raises AssertionError."""
    parts = token.split(".")
    assert len(parts) == 4 and parts[0] == "v1", f"not a v1 token: {token[:40]}"
    _, kid, body, signature = parts
    with open(os.path.join(public_keys_dir, f"{kid}.pub")) as f:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(f.read().strip()))
    try:
        public.verify(_b64url(signature), token.rsplit(".", 1)[0].encode())
    except InvalidSignature:
        raise AssertionError("token signature does not verify") from None
    return contract.decode("nagar.TokenClaims", _b64url(body))


# ---- fixtures ------------------------------------------------------------------

class IdentityDb(ServiceDb):
    def __init__(self, cluster, binary):
        super().__init__(cluster, binary, "identity")
        self.admin_username = ADMIN_USERNAME
        self.admin_password = None
        self.seed_output = ""


@pytest.fixture(scope="session")
def identity_db(pg_cluster, nagar_bin):
    db = IdentityDb(pg_cluster, nagar_bin("nagar-identity"))
    db.assert_migrated(7)
    seeded = db.run_cli("seed-ulbs", ULB_CSV)
    assert seeded.returncode == 0, f"seed-ulbs failed:\n{seeded.stdout}\n{seeded.stderr}"
    db.seed_output = seeded.stdout
    boot = db.run_cli("bootstrap-admin", ADMIN_USERNAME)
    assert boot.returncode == 0, f"bootstrap-admin failed:\n{boot.stdout}\n{boot.stderr}"
    lines = boot.stdout.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) == 20, "bootstrap-admin printed no password line"
    db.admin_password = lines[0]
    # The one-time password must be replaced at the first login
    # (test_staff_password.py drives that); the other tests use it as the
    # admin's password, as if it had been replaced by itself.
    db.sql(f"UPDATE identity.staff SET must_change_password = false "
           f"WHERE username = '{ADMIN_USERNAME}'")
    return db


class RunningIdentity(BusService):
    def __init__(self, proc, db, broker, key_dir, key_id, sink_path, otp_key_path):
        super().__init__(broker, IdentityClient)
        self.proc = proc
        self.db = db
        self.endpoint = broker.endpoint
        self.key_id = key_id
        self.public_keys_dir = key_dir
        self.key_path = os.path.join(key_dir, f"{key_id}.key")
        self.sink_path = sink_path
        self.otp_key_path = otp_key_path
        self.admin_username = db.admin_username
        self.admin_password = db.admin_password

    def otps(self, mobile):
        """Every code the development sink received for mobile, oldest first."""
        if not self.sink_path or not os.path.exists(self.sink_path):
            return []
        with open(self.sink_path) as f:
            return [json.loads(line)["otp"] for line in f
                    if line.strip() and json.loads(line)["mobile"] == mobile]

    def read_otp(self, mobile, timeout=5.0):
        codes = wait_until(lambda: self.otps(mobile), timeout, what=f"an OTP for {mobile}")
        return codes[-1]

    def verify_token(self, token, public_keys_dir=None):
        return verify_token(token, public_keys_dir or self.public_keys_dir)



@pytest.fixture
def identity(procs, identity_db, tmp_path):
    started = []
    count = [0]

    def start(running_broker, **env):
        count[0] += 1
        suffix = "" if count[0] == 1 else str(count[0])
        # Identity signs with the key every process on this broker trusts.
        key_dir = str(getattr(running_broker, "token_keys", "") or "")
        if not key_dir:
            key_dir = str(tmp_path / f"identity_keys{suffix}")
            result = identity_db.run_cli("keygen", key_dir, "k1")
            assert result.returncode == 0, f"keygen failed: {result.stderr}"
        otp_key_path = str(tmp_path / f"identity_otp{suffix}.key")
        if not os.path.exists(otp_key_path):
            result = identity_db.run_cli("otp-keygen", otp_key_path)
            assert result.returncode == 0, f"otp-keygen failed: {result.stderr}"
        sink_path = str(tmp_path / f"otp_sink{suffix}.jsonl")
        full = dict(identity_db.env)
        full.update(running_broker.client_env("identity"))
        full.update({
            "NAGAR_IDENTITY_TOKEN_KEY": os.path.join(key_dir, "k1.key"),
            "NAGAR_TOKEN_PUBLIC_KEYS_DIR": key_dir,
            "NAGAR_IDENTITY_OTP_KEY_FILE": otp_key_path,
            "NAGAR_OTP_SINK_FILE": sink_path,
        })
        full.update({k: str(v) for k, v in env.items()})
        proc = procs.start(f"identity{suffix}", [identity_db.binary], env=full)
        proc.wait_event("identity.ready", timeout=20)
        running = RunningIdentity(proc, identity_db, running_broker, key_dir, "k1",
                                  full["NAGAR_OTP_SINK_FILE"], otp_key_path)
        started.append(running)
        # Serving once the broker routes to it: a public read answers OK.
        running.wait_answering("ulb.list", {"pageSize": 1}, "identity to answer on the bus")
        return running

    yield start
    for running in started:
        running.close()
