"""test_keygen.py — the bus keys an installation holds (nagar-keygen,
deploy/keys.sh): a key is never overwritten by accident, and a change to
deploy/principals.conf reaches an installation made before it without
changing anyone's key (the witness was given the right to call identity
after installations existed; its old certificate kept "call = -").
"""
import os
import re
import subprocess

from test_deploy_consistency import principals

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cert_fields(path):
    """The metadata and public key of a zcert file, as a dict."""
    with open(path) as f:
        return dict(re.findall(r'^\s+([a-z-]+) = "(.*)"$', f.read(), re.M))


def run(argv, env=None):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, env=env)


def test_keys_sh_brings_existing_keys_to_the_rights_of_principals_conf(tmp_path, nagar_bin):
    keygen = nagar_bin("nagar-keygen")
    env = dict(os.environ, NAGAR_VAR=str(tmp_path))
    keys = tmp_path / "keys"
    made = run([os.path.join(ROOT, "deploy", "keys.sh"), os.path.dirname(keygen)], env)
    assert made.returncode == 0, made.stderr
    conf = principals()
    for name, (serves, calls) in conf.items():
        fields = cert_fields(keys / "public" / f"{name}.cert")
        assert fields["serve"] == ("" if serves == "-" else serves), name
        assert fields["call"] == ("" if calls == "-" else calls), name
    before = {name: cert_fields(keys / "public" / f"{name}.cert")["public-key"] for name in conf}
    assert cert_fields(keys / "public" / "witness.cert")["call"] == "identity"

    # An installation from before the witness could call identity.
    old = run([keygen, "--keys", str(keys), "--principal", "witness", "--serve", "witness",
               "--rights"])
    assert old.returncode == 0, old.stderr
    assert cert_fields(keys / "public" / "witness.cert")["call"] == ""

    upgraded = run([os.path.join(ROOT, "deploy", "keys.sh"), os.path.dirname(keygen)], env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == \
        'witness rights: serve "witness" -> "witness", call "" -> "identity"'
    assert cert_fields(keys / "public" / "witness.cert")["call"] == "identity"
    secret = cert_fields(keys / "secret" / "witness.cert")
    assert secret["call"] == "identity" and "secret-key" in secret
    assert os.stat(keys / "secret" / "witness.cert").st_mode & 0o777 == 0o600
    # Nobody's key changed, and a second run has nothing to do.
    assert {name: cert_fields(keys / "public" / f"{name}.cert")["public-key"]
            for name in conf} == before
    again = run([os.path.join(ROOT, "deploy", "keys.sh"), os.path.dirname(keygen)], env)
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr


def test_keygen_never_overwrites_a_key_unless_told(tmp_path, nagar_bin):
    keygen = nagar_bin("nagar-keygen")
    keys = str(tmp_path / "keys")
    first = run([keygen, "--keys", keys, "--principal", "echo", "--serve", "echo"])
    assert first.returncode == 0, first.stderr
    key = cert_fields(os.path.join(keys, "public", "echo.cert"))["public-key"]

    again = run([keygen, "--keys", keys, "--principal", "echo", "--serve", "echo"])
    assert again.returncode == 1
    assert 'a key for "echo" already exists' in again.stderr
    assert cert_fields(os.path.join(keys, "public", "echo.cert"))["public-key"] == key

    both = run([keygen, "--keys", keys, "--principal", "echo", "--force", "--rights"])
    assert both.returncode == 2 and "usage:" in both.stderr

    missing = run([keygen, "--keys", keys, "--principal", "other", "--call", "echo",
                   "--rights"])
    assert missing.returncode == 1
    assert 'no key for "other"' in missing.stderr
    assert not os.path.exists(os.path.join(keys, "public", "other.cert"))

    bad = run([keygen, "--keys", keys, "--principal", "echo", "--call", "Echo", "--rights"])
    assert bad.returncode == 2 and '--call: "Echo" is not a valid service name' in bad.stderr

    replaced = run([keygen, "--keys", keys, "--principal", "echo", "--serve", "echo", "--force"])
    assert replaced.returncode == 0, replaced.stderr
    assert cert_fields(os.path.join(keys, "public", "echo.cert"))["public-key"] != key
