"""The web portal (issue 15): the citizen and staff apps served by the gateway,
driven in Debian's Chromium by playwright-core (web/tests/*.mjs), against the
whole suite laid out as `make run` does (tests/drills/suite.py).

Artifacts (screenshots at 360 and 1280 px in Hindi and English, the receipt
PDF) go to $BUILD/web-artifacts."""
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "drills"))

from fake_payment_provider import FakePaymentProvider  # noqa: E402
from nagar_proc import wait_until  # noqa: E402
from suite import Suite, build_dir, make_base_dir  # noqa: E402

ULB = "250852"          # a town of the seeded LGD list
CITIZEN_MOBILE = "9876512345"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(build_dir(), "web-artifacts")


def node_script(name, env, timeout=240):
    """Runs web/tests/<name>.mjs; returns its RESULT json."""
    run_env = dict(os.environ, **env, NAGAR_WEB_ARTIFACTS=ARTIFACTS, NAGAR_WEB_CHROMIUM=CHROMIUM)
    r = subprocess.run(["node", os.path.join(ROOT, "web", "tests", f"{name}.mjs")], env=run_env,
                       cwd=os.path.join(ROOT, "web"), capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    results = [line[7:] for line in r.stdout.splitlines() if line.startswith("RESULT ")]
    assert r.returncode == 0 and results, (f"{name}.mjs exited {r.returncode}:\n{r.stdout[-4000:]}\n"
                                           f"{r.stderr[-4000:]}")
    return json.loads(results[-1])


@pytest.fixture(scope="module")
def portal():
    if not os.path.exists(os.path.join(build_dir(), "web", "index.html")):
        pytest.fail(f"the web apps are not built in {build_dir()}/web (make BUILD=... all)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("Debian's chromium is needed for the browser tests (deploy/deps.sh installs it)")
    os.makedirs(ARTIFACTS, exist_ok=True)
    suite = Suite(make_base_dir())
    provider = None
    try:
        with open(os.path.join(suite.var, "secrets", "payment_provider.key")) as f:
            provider = FakePaymentProvider(f.read().strip())
        keys = {}
        keys_dir = os.path.join(suite.var, "certificate_keys")
        for name in os.listdir(keys_dir):
            if name.endswith(".pub"):
                with open(os.path.join(keys_dir, name)) as f:
                    keys[name[:-4]] = f.read().strip()
        config = os.path.join(suite.var, "web-config.json")
        with open(config, "w") as f:
            json.dump({"paymentPageUrl": provider.url + "/pay", "certificateKeys": keys}, f)
        suite.svc_env["NAGAR_GATEWAY_WEB_DIR"] = os.path.join(build_dir(), "web")
        suite.svc_env["NAGAR_GATEWAY_WEB_CONFIG"] = config
        suite.svc_env["NAGAR_GATEWAY_TIMEOUT_MS"] = "10000"
        suite.svc_env["NAGAR_IDENTITY_OTP_RESEND_S"] = "0"
        suite.start_all()
        suite.url = f"http://127.0.0.1:{suite.http_port}"
        suite.provider = provider
        suite.sink = os.path.join(suite.var, "notify_sink.jsonl")
        yield suite
    finally:
        if provider:
            provider.stop()
        suite.stop()


def otp_for(suite, mobile):
    r = requests.post(f"{suite.url}/api/v1/auth/otp", json={"mobile": mobile},
                      headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=10)
    assert r.status_code == 200, r.text
    found = {}

    def arrived():
        if not os.path.exists(suite.sink):
            return False
        for line in reversed(open(suite.sink).read().splitlines()):
            if mobile in line:
                m = re.search(r"\b(\d{6})\b", json.loads(line).get("text", line))
                if m:
                    found["otp"] = m.group(1)
                    return True
        return False
    wait_until(arrived, timeout=30, interval=0.2, what="the OTP to reach the SMS sink")
    return found["otp"]


def test_gateway_serves_the_apps_with_strict_headers_caching_and_precompression(portal):
    page = requests.get(portal.url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"          # no inline script, no eval
    assert "unsafe" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-cache"
    assert "<script>" not in page.text and 'type="module" src="/assets/' in page.text
    # The page names content-hashed bundles, served immutable and precompressed.
    asset = re.search(r'src="(/assets/citizen-[A-Z0-9]+\.js)"', page.text).group(1)
    for encoding in ("br", "gzip"):
        r = requests.get(portal.url + asset, headers={"Accept-Encoding": encoding}, timeout=10,
                         stream=True)
        assert r.status_code == 200
        assert r.headers["Content-Encoding"] == encoding
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert r.headers["Vary"] == "Accept-Encoding"
        body = r.raw.read()
        with open(os.path.join(build_dir(), "web", asset.lstrip("/") + (".br" if encoding == "br" else ".gz")), "rb") as f:
            assert body == f.read()
    plain = requests.get(portal.url + asset, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert "Content-Encoding" not in plain.headers
    assert gzip.decompress(requests.get(portal.url + asset, headers={"Accept-Encoding": "gzip"},
                                        stream=True, timeout=10).raw.read()) == plain.content
    # Revalidation with the ETag.
    again = requests.get(portal.url + "/", headers={"If-None-Match": page.headers["ETag"]},
                         timeout=10)
    assert again.status_code == 304
    # App routes get their app's page; the staff app has its own, its worker and manifest.
    assert requests.get(portal.url + "/property/250852-001-000001", timeout=10).text == page.text
    staff = requests.get(portal.url + "/staff/counter", timeout=10)
    assert staff.status_code == 200 and "/assets/staff-" in staff.text and staff.text != page.text
    sw = requests.get(portal.url + "/staff/sw.js", timeout=10)
    assert sw.status_code == 200 and sw.headers["Cache-Control"] == "no-cache"
    assert requests.get(portal.url + "/staff/manifest.webmanifest", timeout=10).json()["scope"] == "/staff/"
    # Nothing outside the tree, no hidden files, unknown files 404, the API untouched.
    import http.client
    for path in ("/../deploy/run.sh", "/assets/../../README.md", "/assets/%2e%2e/README.md",
                 "/.hidden", "/assets/nope.js", "/staff/.x/index.html"):
        conn = http.client.HTTPConnection("127.0.0.1", portal.http_port, timeout=10)
        conn.request("GET", path)         # sent as is, not normalised by the client
        assert conn.getresponse().status == 404, path
        conn.close()
    api = requests.get(portal.url + "/api/v1/ulbs/" + ULB, timeout=10)
    assert api.status_code == 200 and api.headers["Content-Security-Policy"] == \
        "default-src 'none'; frame-ancestors 'none'"
    assert requests.post(portal.url + "/", timeout=10).status_code in (404, 405)
    # The deployment's settings for the apps.
    config = requests.get(portal.url + "/config.json", timeout=10).json()
    assert config["paymentPageUrl"].endswith("/pay") and config["certificateKeys"]


def test_refresh_token_is_an_httponly_strict_cookie_with_csrf_on_refresh_and_logout_revokes(portal):
    otp = otp_for(portal, "9876500077")
    r = requests.post(f"{portal.url}/api/v1/auth/otp/verify", json={"mobile": "9876500077", "otp": otp},
                      headers={"X-Nagar-Session": "cookie", "Idempotency-Key": uuid.uuid4().hex},
                      timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accessToken"] and "refreshToken" not in body       # never readable by script
    cookies = r.headers.get("Set-Cookie", "")
    refresh_cookie = re.search(r"nagar_refresh=([^;]+); Path=/api/v1/auth; Max-Age=(\d+); HttpOnly; SameSite=Strict", cookies)
    csrf_cookie = re.search(r"nagar_csrf=([0-9a-f]{64}); Path=/; Max-Age=\d+; SameSite=Strict", cookies)
    assert refresh_cookie and csrf_cookie, cookies
    assert "Secure" not in cookies           # plain HTTP here; Secure under TLS (next test)
    jar = {"nagar_refresh": refresh_cookie.group(1), "nagar_csrf": csrf_cookie.group(1)}
    refresh = f"{portal.url}/api/v1/auth/refresh"
    # Without the CSRF header, with a wrong one, or from another site: refused.
    for headers in ({}, {"X-CSRF-Token": "0" * 64},
                    {"X-CSRF-Token": jar["nagar_csrf"], "Origin": "https://evil.example"},
                    {"X-CSRF-Token": jar["nagar_csrf"], "Sec-Fetch-Site": "cross-site"}):
        headers["Idempotency-Key"] = uuid.uuid4().hex
        r = requests.post(refresh, json={}, cookies=jar, headers=headers, timeout=10)
        assert r.status_code == 403 and r.json()["error"]["code"] == "CSRF_CHECK_FAILED", r.text
    # The app's own refresh: a new access token, both cookies rotated.
    r = requests.post(refresh, json={}, cookies=jar, timeout=10,
                      headers={"X-CSRF-Token": jar["nagar_csrf"], "Origin": portal.url,
                               "Sec-Fetch-Site": "same-origin", "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 200, r.text
    assert r.json()["accessToken"] and "refreshToken" not in r.json()
    new_refresh = re.search(r"nagar_refresh=([^;]+);", r.headers["Set-Cookie"]).group(1)
    new_csrf = re.search(r"nagar_csrf=([0-9a-f]{64});", r.headers["Set-Cookie"]).group(1)
    assert new_refresh != jar["nagar_refresh"] and new_csrf != jar["nagar_csrf"]
    access = r.json()["accessToken"]
    jar = {"nagar_refresh": new_refresh, "nagar_csrf": new_csrf}
    # Logout revokes the session and clears both cookies.
    r = requests.post(f"{portal.url}/api/v1/auth/logout", json={}, cookies=jar, timeout=10,
                      headers={"Authorization": f"Bearer {access}", "X-CSRF-Token": jar["nagar_csrf"],
                               "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 200, r.text
    cleared = r.headers["Set-Cookie"]
    assert "nagar_refresh=; Path=/api/v1/auth; Max-Age=0; HttpOnly; SameSite=Strict" in cleared
    assert "nagar_csrf=; Path=/; Max-Age=0; SameSite=Strict" in cleared
    r = requests.post(refresh, json={}, cookies=jar, timeout=10,
                      headers={"X-CSRF-Token": jar["nagar_csrf"], "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 401, r.text
    # API clients that keep their refresh token themselves are unaffected.
    otp = otp_for(portal, "9876500078")
    r = requests.post(f"{portal.url}/api/v1/auth/otp/verify", json={"mobile": "9876500078", "otp": otp},
                      headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=10)
    assert r.status_code == 200 and r.json()["refreshToken"] and "Set-Cookie" not in r.headers


def test_cookies_are_secure_under_tls(portal):
    """Behind a trusted TLS proxy (or with HSTS on) the cookies carry Secure."""
    gw = portal.procs["gateway"][-1]
    gw.stop()
    portal.svc_env["NAGAR_GATEWAY_HSTS_SECONDS"] = "31536000"
    try:
        portal.start_gateway()
        otp = otp_for(portal, "9876500079")
        r = requests.post(f"{portal.url}/api/v1/auth/otp/verify",
                          json={"mobile": "9876500079", "otp": otp}, timeout=10,
                          headers={"X-Nagar-Session": "cookie", "Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 200, r.text
        for cookie in r.headers["Set-Cookie"].split(", nagar_"):
            assert cookie.endswith("; Secure"), r.headers["Set-Cookie"]
        assert "Strict-Transport-Security" in requests.get(portal.url + "/", timeout=10).headers
    finally:
        portal.procs["gateway"][-1].stop()
        portal.svc_env.pop("NAGAR_GATEWAY_HSTS_SECONDS")
        portal.start_gateway()
        portal.wait_serving()


def citizen_user_id(portal, mobile):
    otp = otp_for(portal, mobile)
    r = requests.post(f"{portal.url}/api/v1/auth/otp/verify", json={"mobile": mobile, "otp": otp},
                      headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["userId"]


def make_property_with_demand(portal, mobile):
    clerk = portal.token("CLERK", ULB)
    body = {"ulb": ULB, "ward": 1, "zone": "A", "address": "12 Gandhi Marg",
            "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": "RENTED",
            "owners": [{"name": "Asha Verma", "mobile": mobile, "shareBp": 10000,
                        "userId": citizen_user_id(portal, mobile)}],
            "floors": [{"floor": 0, "areaSqft": "1000"}]}
    r = portal.http("POST", "/api/v1/property-tax/properties", token=clerk, key=uuid.uuid4().hex,
                    json=body)
    assert r.status_code == 200, r.text
    pid = r.json()["propertyId"]
    officer = portal.token("REVENUE_OFFICER", ULB)
    today = time.localtime()
    start = today.tm_year if today.tm_mon >= 4 else today.tm_year - 1
    fy = f"{start}-{(start + 1) % 100:02d}"
    sys.path.insert(0, HERE)
    from test_property_tax import rates_body
    r = portal.http("PUT", f"/api/v1/property-tax/rates/{ULB}/{fy}", token=officer,
                    key=f"rates-{fy}", json=rates_body(fy))
    assert r.status_code == 200, r.text
    r = portal.http("POST", "/api/v1/property-tax/demand-jobs", token=officer,
                    key=f"demand-{pid}", json={"ulb": ULB, "fy": fy})
    assert r.status_code == 200, r.text
    job = r.json()["jobId"]
    wait_until(lambda: portal.http("GET", f"/api/v1/property-tax/demand-jobs/{job}",
                                   token=officer).json()["status"] == "DONE",
               timeout=60, interval=0.3, what="the annual demand")
    return pid


def test_citizen_logs_in_with_otp_finds_the_property_pays_online_and_downloads_the_receipt(portal):
    pid = make_property_with_demand(portal, CITIZEN_MOBILE)
    dues = portal.http("GET", f"/api/v1/property-tax/properties/{pid}/dues",
                       token=portal.token("CLERK", ULB)).json()
    result = node_script("citizen_pay", {"NAGAR_WEB_URL": portal.url,
                                         "NAGAR_WEB_MOBILE": CITIZEN_MOBILE,
                                         "NAGAR_WEB_PROPERTY": pid,
                                         "NAGAR_WEB_OTP_SINK": portal.sink})
    paise = int(dues["payablePaise"])
    shown = f"{paise // 100:,}".replace(",", "")       # digits only, grouping checked below
    assert result["payable"].replace(",", "").replace("₹", "") == f"{shown}.{paise % 100:02d}"
    assert not result["consoleErrors"], result["consoleErrors"]
    text = subprocess.run(["pdftotext", "-layout", result["pdf"], "-"], capture_output=True,
                          text=True, timeout=30).stdout
    assert result["receiptNo"] in text
    assert f"{paise // 100}.{paise % 100:02d}" in text.replace(",", ""), text
    after = portal.http("GET", f"/api/v1/property-tax/properties/{pid}/dues",
                        token=portal.token("CLERK", ULB)).json()
    assert int(after.get("payablePaise", "0")) == 0      # zero values are left out today
