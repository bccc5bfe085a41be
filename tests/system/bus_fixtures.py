"""Bus fixtures for system tests: a CURVE key store and a broker factory.


    def test_something(broker, keys):
        b = broker(NAGAR_BUS_HEARTBEAT_MS=100)     # CURVE on, keys from `keys`
        env = b.client_env("gateway")              # NAGAR_BUS_* for a libnagar peer
        ...
        i = broker(NAGAR_BROKER_INSECURE=1)        # RFC 7 interop, no CURVE

`keys` is a keys directory made with nagar-keygen for the standard set of
principals in PRINCIPALS (plus `intruder`, a key that is NOT in the store,
under keys.intruder_dir). It is a str (the directory) with helpers:
keys.secret(name), keys.public(name), keys.broker_pub, keys.intruder_secret.

`broker(**env)` starts nagar-broker on a free loopback port with the given
environment (values are str()-ed), waits for its "broker.ready" log event
and returns a RunningBroker: .endpoint, .proc (nagar_proc.Proc), .keys_dir,
.public_key_path, .state_dir, .insecure, .stop(), .client_env(principal),
.token_keys (gateway_fixtures.TokenKeys: the identity key pair every process
on this broker trusts; client_env points NAGAR_TOKEN_PUBLIC_KEYS_DIR at it, the
identity fixture signs with it, and tests mint tokens with .token_keys.mint).
Every broker a test starts shares one state directory (so a restart test
sees state.json) unless NAGAR_BROKER_STATE_DIR is passed; brokers are stopped
(SIGTERM, then SIGKILL) when the test ends.

Registered as a plugin in conftest.py: tests use the fixtures by name.
"""
import os
import subprocess

import pytest

from nagar_proc import free_port

# principal -> (serve csv, call csv). "*" in call = every service but nagar.admin.
PRINCIPALS = {
    "operator": ("", "nagar.admin"),
    "gateway": ("", "*"),
    "batch": ("", "*"),
    "client": ("", "echo"),
    "echo": ("echo", ""),
    "identity": ("identity", "notifications"),
    "certificates": ("certificates", "notifications,identity"),
    "property_tax": ("property_tax", "notifications,identity"),
    "water_tax": ("water_tax", "notifications,identity"),
    "notifications": ("notifications", "identity,certificates,property_tax,water_tax"),
    "witness": ("witness", "identity"),
}


# The principals that verify tokens (and so poll identity's revocations).
TOKEN_VERIFIERS = {"gateway", "identity", "certificates", "property_tax", "water_tax",
                   "notifications", "witness"}


class KeysDir(str):
    """The keys directory path, with helpers for the files inside it."""

    def secret(self, principal):
        return os.path.join(self, "secret", f"{principal}.cert")

    def public(self, principal):
        return os.path.join(self, "public", f"{principal}.cert")

    @property
    def broker_pub(self):
        return os.path.join(self, "broker.pub")

    @property
    def intruder_dir(self):
        return self.intruder_dir_path

    @property
    def intruder_secret(self):
        return os.path.join(self.intruder_dir_path, "secret", "intruder.cert")


def run_keygen(keygen_path, keys_dir, principal, serve="", call="", force=False):
    argv = [keygen_path, "--keys", keys_dir, "--principal", principal]
    if serve:
        argv += ["--serve", serve]
    if call:
        argv += ["--call", call]
    if force:
        argv.append("--force")
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    if result.returncode != 0:
        raise AssertionError(f"nagar-keygen {principal} failed ({result.returncode}): "
                             f"{result.stderr.decode(errors='replace')}")
    return result


@pytest.fixture
def keys(tmp_path, nagar_bin):
    keygen = nagar_bin("nagar-keygen")
    keys_dir = KeysDir(str(tmp_path / "keys"))
    run_keygen(keygen, keys_dir, "broker")
    for principal, (serve, call) in PRINCIPALS.items():
        run_keygen(keygen, keys_dir, principal, serve, call)
    keys_dir.intruder_dir_path = str(tmp_path / "intruder_keys")
    run_keygen(keygen, keys_dir.intruder_dir_path, "intruder", "echo", "*")
    return keys_dir


class RunningBroker:
    def __init__(self, proc, endpoint, keys_dir, state_dir, insecure, token_keys=None):
        self.token_keys = token_keys
        self.proc = proc
        self.endpoint = endpoint
        self.keys_dir = keys_dir
        self.public_key_path = os.path.join(keys_dir, "broker.pub")
        self.state_dir = state_dir
        self.insecure = insecure

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit code (0 on a clean stop)."""
        return self.proc.stop(timeout)

    def client_env(self, principal):
        """The NAGAR_BUS_* settings a libnagar peer of principal needs."""
        env = {"NAGAR_BUS_ENDPOINT": self.endpoint}
        if self.token_keys and principal in TOKEN_VERIFIERS:
            # Services verify the end user's token themselves (issue 12).
            env["NAGAR_TOKEN_PUBLIC_KEYS_DIR"] = str(self.token_keys)
        if self.insecure:
            env["NAGAR_BUS_INSECURE"] = "1"
        else:
            env["NAGAR_BUS_INSECURE"] = "0"
            env["NAGAR_BUS_CERT"] = os.path.join(self.keys_dir, "secret", f"{principal}.cert")
            env["NAGAR_BUS_BROKER_KEY"] = self.public_key_path
        return env


@pytest.fixture
def broker(procs, keys, nagar_bin, tmp_path):
    from gateway_fixtures import make_token_keys
    binary = nagar_bin("nagar-broker")
    default_state = str(tmp_path / "broker_state")
    count = [0]
    token_keys = make_token_keys(str(tmp_path / "identity_token_keys"))

    def start(**env):
        env = {k: str(v) for k, v in env.items()}
        env.setdefault("NAGAR_BROKER_BIND", f"tcp://127.0.0.1:{free_port()}")
        env.setdefault("NAGAR_BROKER_KEYS_DIR", str(keys))
        env.setdefault("NAGAR_BROKER_STATE_DIR", default_state)
        env.setdefault("NAGAR_BROKER_INSECURE", "0")
        count[0] += 1
        name = "broker" if count[0] == 1 else f"broker{count[0]}"
        proc = procs.start(name, [binary], env=env)
        ready = proc.wait_event("broker.ready", timeout=15)
        endpoint = ready[-1].get("endpoint", env["NAGAR_BROKER_BIND"])
        insecure = env["NAGAR_BROKER_INSECURE"].lower() in ("1", "true", "yes", "on")
        return RunningBroker(proc, endpoint, env["NAGAR_BROKER_KEYS_DIR"],
                             env["NAGAR_BROKER_STATE_DIR"], insecure, token_keys)

    return start


@pytest.fixture
def peers():
    """Tracks the raw MDP peers a test opens (peers(MdpClient(...))) and
    closes every one, a worker after saying DISCONNECT, even when it fails."""
    from mdp_peers import MdpWorker
    opened = []

    def track(peer):
        opened.append(peer)
        return peer

    yield track
    for peer in opened:
        if isinstance(peer, MdpWorker):
            peer.stop()
        peer.close()
