"""`make run` as a newcomer uses it: deploy/run.sh brings up PostgreSQL (embedded
under NAGAR_VAR), provisions databases and roles, creates keys, starts the
broker and every service that exists and the checkpointer, and stops
everything on Ctrl-C."""
import os
import re
import signal
import subprocess
import time

import requests

from nagar_proc import ROOT, bin_dir, free_port, wait_until
from test_readme import readme_section


def test_run_brings_the_suite_up_and_ctrl_c_stops_it(tmp_path):
    var = tmp_path / "var"
    pg_port, broker_port, http_port = free_port(), free_port(), free_port()
    env = dict(os.environ, BUILD=bin_dir(), NAGAR_VAR=str(var), NAGAR_PG_PORT=str(pg_port),
               NAGAR_BROKER_PORT=str(broker_port),
               NAGAR_GATEWAY_LISTEN=f"127.0.0.1:{http_port}", NAGAR_CHECKPOINT_INTERVAL_S="2")
    for key in ("NAGAR_DB_HOST", "NAGAR_BUS_ENDPOINT"):
        env.pop(key, None)
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        run = subprocess.Popen([os.path.join(ROOT, "deploy", "run.sh")], env=env, cwd=ROOT,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        def text():
            return log_path.read_text(errors="replace")

        def up():
            assert run.poll() is None, f"run.sh exited early:\n{text()[-5000:]}"
            return "nagar: up" in text() and '"event":"broker.ready"' in text()
        wait_until(up, timeout=120, interval=0.2, what="make run to bring the suite up")

        # The embedded database has one database per service, with checksums on.
        out = subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "psql", "-At", "-c",
                              "select datname from pg_database where datname like 'nagar_%' order by 1"],
                             env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["nagar_certificates", "nagar_identity", "nagar_notifications",
                                      "nagar_property_tax", "nagar_water_tax", "nagar_witness"]
        out = subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "psql", "-At", "-c",
                              "show data_checksums"], env=env, capture_output=True, text=True,
                             timeout=30)
        assert out.stdout.strip() == "on"
        assert (var / "keys" / "broker.pub").exists()
        assert oct((var / "keys" / "secret" / "gateway.cert").stat().st_mode & 0o777) == "0o600"

        # No default account: the first state admin's one-time password is shown once.
        assert "first state admin 'admin', one-time password:" in text()

        # Every service that exists was started.
        for svc in sorted(os.listdir(os.path.join(ROOT, "services"))):
            if os.path.isdir(os.path.join(ROOT, "services", svc)) and svc != "broker":
                assert f"started {svc}" in text(), f"{svc} was not started:\n{text()[-3000:]}"
        check_secrets_handed_out(var, text())

        # End to end through the suite as started: a citizen asks for an OTP at
        # the gateway; identity sends it through notifications, whose
        # development channel writes it to var/notify_sink.jsonl.
        base = f"http://127.0.0.1:{http_port}"
        def ready():
            try:   # "nagar: up" means started, not yet listening
                return requests.get(f"{base}/readyz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        wait_until(ready, timeout=60, interval=0.3, what="the gateway to be ready")
        r = requests.post(f"{base}/api/v1/auth/otp", json={"mobile": "9876501234"}, timeout=10)
        assert r.status_code == 200, r.text
        sink = var / "notify_sink.jsonl"
        wait_until(lambda: sink.exists() and "9876501234" in sink.read_text(), timeout=30,
                   what="the OTP SMS to reach the development sink")
        r = requests.get(f"{base}/api/v1/ulbs/250858", timeout=10)   # Agar
        assert r.status_code == 200 and r.json()["name"] == "Agar", r.text

        # The checkpointer signs every chain's head (every 2 s here, 60 s by
        # default) into the witness store, published read-only to anyone.
        def checkpointed():
            r = requests.get(f"{base}/api/v1/checkpoints/latest", timeout=10)
            return r.status_code == 200 and r.json().get("signatureOk") is True
        wait_until(checkpointed, timeout=60, interval=0.5,
                   what="a signed checkpoint on the public route (see var/checkpoint.log)")

        # The README's first ten minutes, as a newcomer types them.
        admin_password = re.search(r"one-time password: (\S+)", text()).group(1)
        run_readme_walkthrough(http_port, sink, admin_password, tmp_path)

        os.killpg(run.pid, signal.SIGINT)   # what Ctrl-C on the terminal does
        run.wait(timeout=60)
        assert run.returncode is not None
        status = subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "status"], env=env,
                                capture_output=True, text=True, timeout=30)
        assert status.returncode != 0, "PostgreSQL still running after Ctrl-C"
        assert "nagar: stopping" in text()
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
        subprocess.run([os.path.join(ROOT, "deploy", "pg.sh"), "stop"], env=env,
                       capture_output=True, timeout=60)


# Secret settings and the one process run.sh hands each to.
SECRET_SETTINGS = {"NAGAR_IDENTITY_TOKEN_KEY": {"identity"},
                   "NAGAR_IDENTITY_OTP_KEY_FILE": {"identity"},
                   "NAGAR_CERTIFICATES_SEAL_KEY": {"certificates"},
                   "NAGAR_NOTIFY_SEAL_KEY_FILE": {"notifications"},
                   "NAGAR_PAYMENT_PROVIDER_KEY_FILE": {"property_tax", "water_tax",
                                                       "certificates"}}


def check_secrets_handed_out(var, log):
    """Each process run.sh started has only its own secrets in its
    environment; each service that takes online payments its own provider
    key, a file of its own with a key no other service has."""
    provider_keys = {}
    for name, pid in re.findall(r"nagar: started (\S+) \(pid (\d+)\)", log):
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(item.split("=", 1) for item in f.read().decode().split("\0") if "=" in item)
        for setting, holders in SECRET_SETTINGS.items():
            assert (setting in env) == (name in holders), (name, setting, env.get(setting))
        if name in SECRET_SETTINGS["NAGAR_PAYMENT_PROVIDER_KEY_FILE"]:
            path = env["NAGAR_PAYMENT_PROVIDER_KEY_FILE"]
            assert path == str(var / "secrets" / "payment_provider" / f"{name}.key"), path
            with open(path) as f:
                provider_keys[name] = f.read().strip()
    assert set(provider_keys) == SECRET_SETTINGS["NAGAR_PAYMENT_PROVIDER_KEY_FILE"]
    assert len(set(provider_keys.values())) == 3, "two services share a payment provider key"


def readme_walkthrough():
    """The shell blocks of README.md's '## The first ten minutes', in order."""
    body = readme_section("The first ten minutes")
    blocks = re.findall(r"^```sh\n(.*?)^```$", body, re.M | re.S)
    assert len(blocks) >= 4, blocks
    return "\n".join(blocks)


def run_readme_walkthrough(http_port, sink, admin_password, tmp_path):
    """Runs the walk-through against the suite make run brought up. Only what a
    person does by hand is stood in for: reading the OTP off the SMS and pasting
    the admin's one-time password; the port and var/ are this test's own."""
    script = readme_walkthrough()
    stand_ins = [
        (r"^N=http://127\.0\.0\.1:8080$", f"N=http://127.0.0.1:{http_port}"),
        (r"^OTP=123456\b.*$", "OTP=$(otp_for 9812345678)"),
        (r"^ADMIN_PASSWORD=.*$", f"ADMIN_PASSWORD='{admin_password}'"),
        (r"var/notify_sink\.jsonl", str(sink)),
    ]
    for pattern, replacement in stand_ins:
        script, count = re.subn(pattern, replacement, script, flags=re.M)
        assert count >= 1, f"the walk-through no longer has {pattern!r}: update this test"
    # The SMS is written a moment after the request is answered.
    helpers = f"""
otp_for() {{
  local deadline=$((SECONDS + 30)) otp=
  while [ -z "$otp" ] && [ $SECONDS -lt $deadline ]; do
    otp=$(jq -r --arg to "$1" 'select(.to == $to) | .body' {sink} 2>/dev/null \\
          | grep -oE '\\b[0-9]{{6}}\\b' | tail -n 1 || true)
    [ -n "$otp" ] || sleep 0.2
  done
  echo "$otp"
}}
"""
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", helpers + script], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 0, f"exit {result.returncode}\n{out}\n{result.stderr}"
    assert '"status":"ready"' in out, out
    assert re.search(r'"total":\d{3}', out), out
    application = re.search(r"^application (\S+)$", out, re.M)
    assert application and application.group(1) != "null", out
    # The one-time password only set the admin's own (bootstrap password, issue 14 item 5).
    assert '{"username":"admin","sessionsRevoked":true}' in out, out
    assert '"role":"REGISTRAR","ulb":"250858"' in out, out
    assert f'"applicationId":"{application.group(1)}","subjectName":"Asha"' in out, out
    certificate = re.search(r"^certificate (\S+)$", out, re.M)
    assert certificate and certificate.group(1) != "null", out
    assert (tmp_path / "birth-certificate.pdf").read_bytes().startswith(b"%PDF-")
    assert "Asha" in out and "250858/B/" in out, out
    assert re.search(r'\{"status":"VALID","registrationNumber":"250858/B/\d{4}/\d+"\}', out), out
