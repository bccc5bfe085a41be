"""Gateway fixtures for system tests: token keys, minted tokens, and a
gateway factory.


    def test_something(broker, gateway):
        b = broker()
        g = gateway(b)                       # nagar-gateway on a free port
        r = g.get("/healthz")
        g = gateway(b, identity=ident)       # token keys and login helpers from identity
        tokens = g.login_staff("admin", password)

`token_keys` is a directory holding one Ed25519 key pair in the format of
common/token.h (k1.key: 64-byte libsodium secret key in hex, k1.pub: 32-byte
public key in hex) with .mint(...) to sign TokenClaims exactly as identity
does, and .forge(...) to sign with a key the gateway does not know. It lets
tests make expired, wrong-type, forged and over-long-lived tokens that
identity would never issue.

`gateway(broker, identity=None, token_keys_dir=None, **env)` starts
nagar-gateway on a free loopback port with CURVE as the "gateway" principal,
waits for /healthz, and returns a RunningGateway: .url, .port, .proc,
.request/.get/.post/.put (requests, 10 s timeout, loopback only),
.login_staff(username, password), .login_citizen(mobile) (needs identity),
.wait_ready(), .trickle_headers(lines, interval) (a slow client). Processes stop when the test ends (procs fixture).

Registered as a plugin in conftest.py: tests use the fixtures by name.
"""
import base64
import os
import socket
import time

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat,
                                                          PublicFormat)

import contract
from nagar_proc import free_port, wait_until

ACCESS, REFRESH, GRANT = 1, 2, 3
AUDIENCE = {ACCESS: ("api",), REFRESH: ("identity",), GRANT: ()}


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_token(private_key, key_id, user_id="citizen:0001", role="CITIZEN", ulb="",
               session_id="session-0001", token_type=ACCESS, issued_at_ms=None,
               ttl_ms=600_000, not_before_ms=None, audience=None, job="", fy="",
               on_behalf_of=""):
    """A token in the text form of common/token.h (audience: identity's for
    the type unless given)."""
    now = int(time.time() * 1000)
    issued = now if issued_at_ms is None else issued_at_ms
    claims = contract.encode("nagar.TokenClaims", {
        "type": token_type, "userId": user_id, "role": role, "ulb": ulb,
        "sessionId": session_id, "issuedAtMs": issued, "expiresAtMs": issued + ttl_ms,
        "notBeforeMs": not_before_ms or 0,
        "audience": list(AUDIENCE.get(token_type, ()) if audience is None else audience),
        "job": job, "fy": fy, "onBehalfOf": on_behalf_of})
    signed = f"v1.{key_id}.{_b64url(claims)}"
    signature = private_key.sign(signed.encode())
    return f"{signed}.{_b64url(signature)}"


class TokenKeys(str):
    """A public keys directory (str) plus the secret key to mint tokens."""

    def mint(self, **claims):
        return sign_token(self.private_key, self.key_id, **claims)

    def forge(self, **claims):
        """Signed by a key that is not in the directory, under a known key id."""
        return sign_token(self.forger_key, self.key_id, **claims)


def make_token_keys(directory, key_id="k1"):
    os.makedirs(directory, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    seed = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with open(os.path.join(directory, f"{key_id}.pub"), "w") as f:
        f.write(public.hex() + "\n")
    secret_path = os.path.join(directory, f"{key_id}.key")
    with open(secret_path, "w") as f:
        f.write((seed + public).hex() + "\n")
    os.chmod(secret_path, 0o600)
    keys = TokenKeys(directory)
    keys.key_id = key_id
    keys.private_key = private_key
    keys.forger_key = Ed25519PrivateKey.generate()
    return keys


@pytest.fixture
def token_keys(tmp_path):
    return make_token_keys(str(tmp_path / "token_keys"))


class RunningGateway:
    def __init__(self, proc, port, identity=None):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.identity = identity
        self.session = requests.Session()

    def request(self, method, path, token=None, headers=None, timeout=10, **kwargs):
        headers = dict(headers or {})
        if kwargs.get("data") is not None and not any(k.lower() == "content-type"
                                                      for k in headers):
            headers["Content-Type"] = "application/json"   # a raw body is JSON unless told
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.url + path, headers=headers, timeout=timeout,
                                    allow_redirects=False, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        if body is not None and "data" not in kwargs:
            kwargs["json"] = body
        return self.request("POST", path, **kwargs)

    def put(self, path, body=None, **kwargs):
        if body is not None and "data" not in kwargs:
            kwargs["json"] = body
        return self.request("PUT", path, **kwargs)

    def wait_ready(self, timeout=15, services=None):
        """Waits for /readyz: 200, or when services is given, ready as far as
        those services go (a test that starts only some of the routed
        services still gets a gateway that is ready for them)."""
        def ready():
            r = self.get("/readyz")
            if services is None:
                return r.status_code == 200
            body = r.json()
            return (body["broker"] == "reachable" and body["revocationsSynced"]
                    and not set(services) & set(body["missing"]))
        wait_until(ready, timeout, interval=0.05, what=f"gateway /readyz for {services or 'all'}")

    def trickle_headers(self, lines, interval):
        """A slow client: starts GET /healthz on a raw connection, then sends
        each of lines (bytes; b"" sends nothing that round) interval seconds
        apart until the gateway closes the connection. Returns whether it
        did before the lines ran out."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            closed = False
            try:
                for line in lines:
                    time.sleep(interval)
                    s.sendall(line)
                    s.settimeout(0.01)
                    try:
                        if s.recv(1024) == b"":
                            closed = True
                            break
                    except socket.timeout:
                        pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        return closed

    def login_staff(self, username, password):
        r = self.post("/api/v1/auth/staff/login", {"username": username, "password": password})
        assert r.status_code == 200, f"staff login of {username} failed: {r.status_code} {r.text}"
        return r.json()

    def login_citizen(self, mobile):
        assert self.identity is not None, "login_citizen needs the identity fixture"
        r = self.post("/api/v1/auth/otp", {"mobile": mobile})
        assert r.status_code == 200, f"OTP request failed: {r.status_code} {r.text}"
        otp = self.identity.read_otp(mobile)
        r = self.post("/api/v1/auth/otp/verify", {"mobile": mobile, "otp": otp})
        assert r.status_code == 200, f"OTP verify failed: {r.status_code} {r.text}"
        return r.json()


@pytest.fixture
def gateway(procs, nagar_bin, token_keys):
    binary = nagar_bin("nagar-gateway")
    count = [0]

    def start(running_broker, identity=None, token_keys_dir=None, **env):
        port = int(env.pop("port", 0)) or free_port()
        if token_keys_dir is None:
            token_keys_dir = getattr(identity, "public_keys_dir", None) or str(token_keys)
        full = running_broker.client_env("gateway")
        full.update({
            "NAGAR_GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "NAGAR_TOKEN_PUBLIC_KEYS_DIR": token_keys_dir,
            "NAGAR_GATEWAY_REVOCATION_POLL_MS": "200",
            "NAGAR_GATEWAY_READY_INTERVAL_MS": "200",
        })
        full.update({k: str(v) for k, v in env.items()})
        count[0] += 1
        name = "gateway" if count[0] == 1 else f"gateway{count[0]}"
        proc = procs.start(name, [binary], env=full)
        proc.wait_event("gateway.ready", timeout=15)
        running = RunningGateway(proc, port, identity)

        def healthy():
            try:
                return running.get("/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False
        wait_until(healthy, 10, what="gateway /healthz")
        return running

    return start
