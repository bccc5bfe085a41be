"""The web portal (issue 15): the citizen and staff apps served by the gateway,
driven in Debian's Chromium by playwright-core (web/tests/*.mjs), against the
whole suite laid out as `make run` does (tests/drills/suite.py).

Artifacts (screenshots at 360 and 1280 px in Hindi and English, the receipt
PDF) go to $BUILD/web-artifacts."""
import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
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


def node_script(name, env, timeout=170, steps=None):
    """Runs web/tests/<name>.mjs; returns its RESULT json. A line "STEP x" from
    the script runs steps[x]() here, then the script goes on."""
    run_env = dict(os.environ, **env, NAGAR_WEB_ARTIFACTS=ARTIFACTS, NAGAR_WEB_CHROMIUM=CHROMIUM)
    proc = subprocess.Popen(["node", os.path.join(ROOT, "web", "tests", f"{name}.mjs")],
                            env=run_env, cwd=os.path.join(ROOT, "web"), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    stderr = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    reader.start()
    stdout, results = [], []
    try:
        for line in proc.stdout:
            stdout.append(line)
            if line.startswith("STEP "):
                (steps or {})[line[5:].strip()]()
                proc.stdin.write("GO\n")
                proc.stdin.flush()
            elif line.startswith("RESULT "):
                results.append(line[7:])
        code = proc.wait()
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    out, err = "".join(stdout), "".join(stderr)
    assert code == 0 and results, f"{name}.mjs exited {code}:\n{out[-4000:]}\n{err[-4000:]}"
    return json.loads(results[-1])


def assert_screens_accessible(result, expected):
    """The flow ran axe-core on each screen it reached, in Hindi and English
    (web/tests/lib.mjs screen()): every expected screen was checked, with no
    serious or critical finding."""
    assert set(expected) <= set(result.get("screens", [])), \
        f"screens not checked: {sorted(set(expected) - set(result.get('screens', [])))}"
    assert not result["axe"], "\n".join(
        f"{f['screen']} {f['lang']} {f['id']} ({f['impact']}): {f['help']} {f['nodes']}"
        for f in result["axe"])
    for name in expected:
        for lang in ("hi", "en"):
            assert os.path.getsize(os.path.join(ARTIFACTS, f"flow-{name}-{lang}.png")) > 1000


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
        # One merchant account per service, each with the service's own key.
        provider = FakePaymentProvider(suite.provider_keys())
        # The apps' settings: the payment provider's page. (The certificate
        # verification keys come from GET /api/v1/certificates/keys.)
        config = os.path.join(suite.var, "web-config.json")
        with open(config, "w") as f:
            json.dump({"paymentPageUrl": provider.url + "/pay"}, f)
        suite.svc_env["NAGAR_GATEWAY_WEB_DIR"] = os.path.join(build_dir(), "web")
        suite.svc_env["NAGAR_GATEWAY_WEB_CONFIG"] = config
        suite.svc_env["NAGAR_GATEWAY_TIMEOUT_MS"] = "10000"
        suite.svc_env["NAGAR_IDENTITY_OTP_RESEND_S"] = "0"
        # The tests log the same few mobiles in many times, all from
        # 127.0.0.1: more OTPs than production lets a number or an address ask for.
        suite.svc_env["NAGAR_IDENTITY_OTP_PER_NUMBER"] = "1000"
        suite.svc_env["NAGAR_IDENTITY_OTP_PER_IP"] = "1000"
        # Small demand chunks, so the staff app's progress bar has steps to show.
        suite.svc_env["NAGAR_PROPERTY_TAX_DEMAND_CHUNK"] = "20"
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
    def sink_lines():
        if not os.path.exists(suite.sink):
            return []
        with open(suite.sink) as f:
            return f.read().splitlines()
    seen = len(sink_lines())           # only an OTP sent after this request will do
    r = requests.post(f"{suite.url}/api/v1/auth/otp", json={"mobile": mobile},
                      headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=10)
    assert r.status_code == 200, r.text
    found = {}

    def arrived():
        for line in reversed(sink_lines()[seen:]):
            if mobile in line:
                # Only the OTP message: a demand SMS to the same mobile carries a six-digit ULB code.
                m = re.search(r"(?:OTP is|ओटीपी) (\d{6})\b", json.loads(line).get("body", line))
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
    # The stylesheets are inline, admitted by their hashes (no 'unsafe-inline').
    sources = directives["style-src"].split()
    assert sources[0] == "'self'" and all(re.fullmatch(r"'sha256-[A-Za-z0-9+/]{43}='", s)
                                          for s in sources[1:]), sources
    for text in (page.text, requests.get(portal.url + "/staff/", timeout=10).text):
        style = re.search(r"<style>(.*?)</style>", text, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in sources
    # The start page is in the HTML, painted before any script runs.
    assert "<h1>नगर की ऑनलाइन सेवाएँ</h1>" in page.text
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
    # Other routes get the app without the start page; the staff app has its
    # own page, its worker and manifest.
    route = requests.get(portal.url + "/property/250852-001-000001", timeout=10)
    with open(os.path.join(build_dir(), "web", "app.html"), encoding="utf-8") as f:
        assert route.text == f.read() and asset in route.text and "<h1>" not in route.text
    assert route.headers["Content-Security-Policy"] == csp
    # The pages a visit may start on are in their HTML (each paints after one
    # request), with the same CSP: /town, /login, /verify and the staff login.
    for path, h1 in (("/town", "नगर चुनें"), ("/login", "लॉग इन"),
                     ("/verify", "प्रमाणपत्र सत्यापन"), ("/staff/", "कर्मचारी लॉग इन")):
        r = requests.get(portal.url + path, timeout=10)
        assert r.status_code == 200 and r.headers["Content-Security-Policy"] == csp, path
        assert f"<h1>{h1}</h1>" in r.text and "<script>" not in r.text, (path, r.text[:3000])
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
    assert config["paymentPageUrl"].endswith("/pay")


def test_gateway_takes_only_well_formed_style_hashes_into_its_csp(portal, tmp_path):
    """csp-style-hashes.txt comes from the build: each 'sha256-<base64>' token
    joins style-src; a file saying anything else (or too much) stops the
    gateway at start rather than widening the CSP."""
    web = tmp_path / "web"
    shutil.copytree(os.path.join(build_dir(), "web"), web)
    hashes = web / "csp-style-hashes.txt"
    env = dict(portal.svc_env, NAGAR_GATEWAY_WEB_DIR=str(web),
               NAGAR_BUS_CERT=os.path.join(portal.keys, "secret", "gateway.cert"))
    token = "'sha256-" + base64.b64encode(hashlib.sha256(b"x").digest()).decode() + "'"
    for bad in ["'unsafe-inline'", "'sha256-abc='", token + "; script-src *",
                token[:-1] + " 'unsafe-eval'", token[:20] + "!" + token[21:], " ".join([token] * 9)]:
        hashes.write_text(bad + "\n")
        r = subprocess.run([os.path.join(build_dir(), "nagar-gateway")], env=env, timeout=60,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert r.returncode != 0 and "csp-style-hashes.txt" in r.stdout + r.stderr, (bad, r)
    # Well-formed: each token joins style-src, nothing else changes.
    good = [token, "'sha256-" + base64.b64encode(hashlib.sha256(b"y").digest()).decode() + "'"]
    hashes.write_text("\n".join(good))                    # no newline at the end either
    web_dir = portal.svc_env["NAGAR_GATEWAY_WEB_DIR"]
    portal.procs["gateway"][-1].stop()
    try:
        portal.svc_env["NAGAR_GATEWAY_WEB_DIR"] = str(web)
        portal.start_gateway()
        csp = requests.get(portal.url + "/", timeout=10).headers["Content-Security-Policy"]
        assert f"style-src 'self' {good[0]} {good[1]}; img-src" in csp, csp
    finally:
        portal.procs["gateway"][-1].stop()
        portal.svc_env["NAGAR_GATEWAY_WEB_DIR"] = web_dir
        portal.start_gateway()
        portal.wait_serving()


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


def make_property(portal, mobile, address="12 Gandhi Marg"):
    """A property of the town owned (100%) by the citizen with this mobile."""
    body = {"ulb": ULB, "ward": 1, "zone": "A", "address": address,
            "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": "RENTED",
            "owners": [{"name": "Asha Verma", "mobile": mobile, "shareBp": 10000,
                        "userId": citizen_user_id(portal, mobile)}],
            "floors": [{"floor": 0, "areaSqft": "1000"}]}
    r = portal.http("POST", "/api/v1/property-tax/properties", token=portal.token("CLERK", ULB),
                    key=uuid.uuid4().hex, json=body)
    assert r.status_code == 200, r.text
    return r.json()["propertyId"]


def make_property_with_demand(portal, mobile):
    pid = make_property(portal, mobile)
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
    assert_screens_accessible(result, ["citizen-login-otp-sent", "citizen-property-dues",
                                       "citizen-tax-paid", "citizen-my-messages"])
    # The receipt's SMS is listed among the citizen's own messages (their list, newest first).
    assert result["receiptNo"] in result["myMessage"], result["myMessage"]
    text = subprocess.run(["pdftotext", "-layout", result["pdf"], "-"], capture_output=True,
                          text=True, timeout=30).stdout
    assert result["receiptNo"] in text
    # The demand notice downloaded before paying: this property's, for this year.
    assert result["noticeFy"] == current_fy()
    notice = portal.http("GET", f"/api/v1/property-tax/properties/{pid}/demand-notices/{current_fy()}",
                         token=portal.token("CLERK", ULB))
    assert notice.status_code == 200, notice.text
    squeezed = pdf_text(result["notice"]).replace(" ", "")
    assert notice.json()["noticeNo"].replace(" ", "") in squeezed and pid in squeezed, squeezed
    assert f"{paise // 100}.{paise % 100:02d}" in text.replace(",", ""), text
    after = portal.http("GET", f"/api/v1/property-tax/properties/{pid}/dues",
                        token=portal.token("CLERK", ULB)).json()
    assert int(after.get("payablePaise", "0")) == 0      # zero values are left out today


def staff_account(portal, role, ulb):
    """A staff account made by a state admin, for logging in in the browser."""
    username = f"{role.lower()}.{uuid.uuid4().hex[:8]}"
    password = "a long staff password " + uuid.uuid4().hex[:6]
    r = portal.http("POST", "/api/v1/staff", token=portal.token("STATE_ADMIN"), key=uuid.uuid4().hex,
                    json={"username": username, "fullName": f"Test {role.title()}", "role": role,
                          "ulb": ulb, "password": password})
    assert r.status_code == 200, r.text
    return f"{username}:{password}"


def staff_api_login(portal, account):
    username, password = account.split(":", 1)
    return requests.post(f"{portal.url}/api/v1/auth/staff/login",
                         json={"username": username, "password": password},
                         headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=10)


def session_ended(portal, pair):
    """Both tokens of a session are refused: the access token (once the
    gateway has polled the revocation) and the refresh token."""
    def access_refused():
        r = portal.http("POST", "/api/v1/auth/logout", token=pair["accessToken"], key=uuid.uuid4().hex,
                        json={"refreshToken": pair["refreshToken"]})
        return r.status_code == 401 and "session has ended" in r.json()["error"]["message"]
    wait_until(access_refused, timeout=15, interval=0.2, what="the old access token to be refused")
    r = requests.post(f"{portal.url}/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]},
                      headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=10)
    assert r.status_code == 401, r.text


def test_commissioner_changes_a_role_and_disables_a_login_in_the_staff_app(portal):
    """Administration (cc66046): the changed role is what the account works
    with from then on, and a disabled account can no longer log in; both
    accounts' sessions (in the browser and through the API) end at once."""
    admin = staff_account(portal, "COMMISSIONER", ULB)
    moved, leaver = staff_account(portal, "CLERK", ULB), staff_account(portal, "CLERK", ULB)
    moved_user, leaver_user = moved.split(":")[0], leaver.split(":")[0]
    # Sessions through the API too, opened before the changes.
    old = {}
    for name, account in (("moved", moved), ("leaver", leaver)):
        r = staff_api_login(portal, account)
        assert r.status_code == 200 and r.json()["role"] == "CLERK", r.text
        old[name] = r.json()
    # As a clerk the account passes the counter's role check (the empty
    # payment is refused for its fields, not for the role).
    r = portal.http("POST", "/api/v1/property-tax/payments", token=old["moved"]["accessToken"],
                    key=uuid.uuid4().hex, json={})
    assert r.status_code not in (401, 403), r.text
    result = node_script("admin_staff", {"NAGAR_WEB_URL": portal.url, "NAGAR_WEB_ADMIN": admin,
                                         "NAGAR_WEB_MOVED": moved, "NAGAR_WEB_LEAVER": leaver})
    assert not result["consoleErrors"], result["consoleErrors"]
    assert result["adminWhoami"] == f"Commissioner — {ULB}"
    assert_screens_accessible(result, ["staff-admin-role-saved", "staff-admin-reason-error",
                                       "staff-admin-disabled", "staff-not-for-your-role",
                                       "staff-login-refused"])
    # Before: both clerks, with the counter in the menu.
    assert result["movedBefore"] == result["leaverBefore"] == f"Clerk — {ULB}"
    assert "Counter" in result["movedMenuBefore"] and "Master data" not in result["movedMenuBefore"]
    assert result["movedRowBefore"][:5] == [moved_user, "Test Clerk", "Clerk", ULB, "Active"]
    # The role changed on the Administration page ...
    assert result["roleSaved"] == f"{moved_user} is now Registrar."
    assert result["movedRowAfter"][:5] == [moved_user, "Test Clerk", "Registrar", ULB, "Active"]
    # ... the clerk's open page lost its session; logged in again, a registrar:
    # the registrar's menu, and the counter is no longer theirs.
    assert result["movedAfterReload"] == "Staff log in"
    assert result["movedAfter"] == f"Registrar — {ULB}"
    assert "Counter" not in result["movedMenuAfter"] and "Master data" in result["movedMenuAfter"]
    assert "This page is not for your role." in result["movedCounterPage"]
    # The services see the new role too: the old clerk session is over, a new
    # login is a registrar's, and the counter refuses it.
    session_ended(portal, old["moved"])
    r = staff_api_login(portal, moved)
    assert r.status_code == 200 and (r.json()["role"], r.json()["ulb"]) == ("REGISTRAR", ULB), r.text
    r = portal.http("POST", "/api/v1/property-tax/payments", token=r.json()["accessToken"],
                    key=uuid.uuid4().hex, json={})
    assert r.status_code == 403, r.text
    # Disabling asks for a reason, then the account is shown disabled, with
    # nothing left to change.
    assert result["reasonError"]
    assert result["leaverRowAfter"][:5] == [leaver_user, "Test Clerk", "Clerk", ULB, "Disabled"]
    assert result["leaverChangeButtons"] == 0
    # The disabled clerk's page lost its session and the password no longer logs in.
    assert result["leaverAfterReload"] == "Staff log in"
    assert result["leaverLoginError"] == "The username or password is not right, or the account is disabled."
    assert result["leaverWhoamiCount"] == 0
    session_ended(portal, old["leaver"])
    r = staff_api_login(portal, leaver)
    assert r.status_code == 401, r.text
    listed = portal.http("GET", "/api/v1/staff", token=portal.token("STATE_ADMIN"),
                         params={"ulb": ULB, "pageSize": 200}).json()["staff"]
    assert [s.get("disabled", False) for s in listed if s["username"] == leaver_user] == [True]


def town_name(portal, code):
    return requests.get(f"{portal.url}/api/v1/ulbs/{code}", timeout=10).json()["name"]


def test_birth_reported_40_days_late_registered_in_the_staff_app_certificate_verified_then_superseded(portal):
    from datetime import date, datetime, timedelta, timezone
    # The delay is counted in India Standard Time, as the service does.
    today_ist = datetime.now(timezone(timedelta(hours=5, minutes=30))).date()
    born = (today_ist - timedelta(days=40)).isoformat()
    result = node_script("birth_late", {
        "NAGAR_WEB_URL": portal.url, "NAGAR_WEB_MOBILE": "9876512346",
        "NAGAR_WEB_TOWN": town_name(portal, ULB), "NAGAR_WEB_OTP_SINK": portal.sink,
        "NAGAR_WEB_REGISTRAR": staff_account(portal, "REGISTRAR", ULB), "NAGAR_WEB_BORN": born})
    assert not result["consoleErrors"], result["consoleErrors"]
    assert result["fieldErrorShown"] == "true"                  # the rule shown at its field
    assert_screens_accessible(result, [
        "citizen-apply-birth-errors", "citizen-application-fee-due", "citizen-fee-paid",
        "staff-inbox-permission-error", "staff-inbox-registered", "citizen-application-registered",
        "citizen-verify-valid", "citizen-verify-offline", "citizen-verify-outside-validity",
        "citizen-correction-sent", "staff-correction-approved", "citizen-verify-superseded",
        "citizen-verify-corrected"])
    # 40 days after the birth: s.13(2) window, its fee from the master data (Rs 50).
    assert result["submittedState"] == "Waiting for the registrar"
    assert result["delay"].startswith("40 days") and "District Registrar" in result["delay"]
    assert result["fee"] == "₹50.00"
    assert result["whoami"] == f"Registrar — {ULB}"
    legal_end = date.fromisoformat(born) + timedelta(days=365)
    assert result["deadline"] == legal_end.strftime("%d/%m/%Y")
    number = result["registrationNumber"]
    assert re.fullmatch(rf"{ULB}/B/\d{{4}}/\d+", number) and result["registeredText"] == f"Registered: {number}"
    assert result["registeredState"] == "Registered"
    # The citizen paid the fee online before it was registered (issue 14 item
    # 3): through the provider's page and back, one callback, the receipt PDF
    # downloaded; the registrar's card and the citizen's page show the receipt.
    assert result["feeDueNote"].startswith("Registration waits for the fee: pay it online here")
    paid = re.fullmatch(rf"Paid ₹50\.00\. Receipt number ({ULB}/\d{{4}}-\d{{2}}/CFONLINE/\d+)",
                        result["feeDone"])
    assert paid, result["feeDone"]
    receipt_no = paid.group(1)
    assert result["feePaidNote"] == result["feeNote"] == f"Fee paid, receipt {receipt_no}"
    assert result["feeReceipt"] == f"Fee paid, receipt {receipt_no}" and result["cashButtons"] == 0
    fee_pdf = pdf_text(result["feePdf"])
    assert receipt_no.replace(" ", "") in fee_pdf.replace(" ", "") and "50.00" in fee_pdf, fee_pdf[:2000]
    callbacks = [c for c, _ in portal.provider.callbacks if c["amountPaise"] == "5000"
                 and c["orderId"].startswith("cf")]
    assert len(callbacks) == 1 and callbacks[0]["status"] == "SUCCESS", portal.provider.callbacks
    # The PDF is the registered certificate and its QR is the payload verified.
    text = subprocess.run(["pdftotext", "-layout", result["pdf"], "-"], capture_output=True,
                          text=True, timeout=30).stdout
    assert number in text and "Meera Sharma" in text, text[:2000]
    png = os.path.join(ARTIFACTS, "birth-certificate-v1")
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", result["pdf"], png], check=True,
                   timeout=60)
    qr = subprocess.run(["zbarimg", "-q", "--raw", png + ".png"], capture_output=True, text=True,
                        timeout=60).stdout.strip()
    assert qr == result["payload1"]
    assert (result["version1"], result["verify1"]) == ("1", "VALID")
    assert result["verifyOffline"][0] == "VALID", result["verifyOffline"]     # offline, by the seal
    # ... with the keys the page fetched from the public keys route and kept
    # on the device; a seal dated outside its key's validity does not verify.
    published = requests.get(f"{portal.url}/api/v1/certificates/keys", timeout=10).json()["keys"]
    kept = {k["keyId"]: k["publicKey"] for k in result["keptKeys"]["keys"]}
    assert kept == {k["keyId"]: k["publicKey"] for k in published} and kept, result["keptKeys"]
    assert "With the published keys kept on this device on" in result["verifyOffline"][1]
    assert result["verifyOutsideValidity"] == "INVALID"
    # The verify page opened with the browser offline, from its service
    # worker; another page did not (the browser really was offline).
    assert result["offlineControlled"] is True
    assert "ERR_INTERNET_DISCONNECTED" in result["townOffline"], result["townOffline"]
    # After the correction the old certificate says superseded; the new one is valid.
    assert (result["version2"], result["verifyOld"], result["verifyNew"]) == ("2", "SUPERSEDED", "VALID")
    r = requests.get(f"{portal.url}/api/v1/certificates/verify", params={"payload": result["payload1"]},
                     timeout=10).json()
    assert r["status"] == "SUPERSEDED" and r["version"] == 1


def test_counter_offline_drill_slips_replayed_once_and_dues_right(portal):
    pid = make_property_with_demand(portal, "9876512347")
    clerk = portal.token("CLERK", ULB)
    before = portal.http("GET", f"/api/v1/property-tax/properties/{pid}/dues", token=clerk).json()

    def stop_gateway():
        portal.procs["gateway"][-1].stop()

    def start_gateway():
        portal.start_gateway()
        portal.wait_serving()

    try:
        result = node_script("counter_offline", {
            "NAGAR_WEB_URL": portal.url, "NAGAR_WEB_PROPERTY": pid,
            "NAGAR_WEB_CLERK": staff_account(portal, "CLERK", ULB)},
            steps={"stop-gateway": stop_gateway, "start-gateway": start_gateway})
    finally:
        if not portal.alive("gateway"):
            start_gateway()
    assert not result["consoleErrors"], result["consoleErrors"]
    assert result["controlled"], f"the service worker does not control the staff app: {result.get('registrations')}"
    assert_screens_accessible(result, ["staff-counter-offline-slips", "staff-counter-slips-replayed",
                                       "staff-counter-slips-replayed-again"])
    assert result["offlineBanner"].startswith("No connection to the server")
    # Three numbered slips, <ulb>-<counter>-<yyyymmdd>-<nnnn>, all waiting while offline.
    keys = [re.search(r"Offline slip (\S+):", s).group(1) for s in result["slips"]]
    assert [k.rsplit("-", 1)[1] for k in keys] == ["0001", "0002", "0003"], keys
    assert all(re.fullmatch(rf"{ULB}-C1-\d{{8}}-\d{{4}}", k) for k in keys), keys
    assert [r[4] for r in result["pending"]] == ["Waiting to be sent"] * 3
    # Back online: each slip recorded once with its own receipt ...
    replayed = {r[0]: r for r in result["replayed"]}
    assert all(replayed[k][4] == "Recorded — receipt issued" for k in keys), result["replayed"]
    receipts = [replayed[k][5] for k in keys]
    assert len(set(receipts)) == 3 and all(receipts), receipts
    # ... and replaying them all again records nothing: the same receipts.
    again = {r[0]: r for r in result["replayedAgain"]}
    assert all(again[k][4] == "Already recorded; nothing changed" for k in keys), result["replayedAgain"]
    assert [again[k][5] for k in keys] == receipts
    paid = 0
    for receipt_no, p in zip(receipts, result["payments"]):
        r = portal.http("GET", "/api/v1/property-tax/receipts", token=clerk,
                        params={"receiptNo": receipt_no}).json()
        amount = int(round(float(p["amount"]) * 100))
        assert (r["propertyId"], int(r["amountPaise"]), r["mode"]) == (pid, amount, p["mode"]), r
        paid += amount
    after = portal.http("GET", f"/api/v1/property-tax/properties/{pid}/dues", token=clerk).json()
    assert int(before["outstandingPaise"]) - int(after["outstandingPaise"]) == paid
    shown = lambda paise: "₹" + f"{paise // 100:,}".replace(",", "") + f".{paise % 100:02d}"   # noqa: E731
    assert result["payableAfter"].replace(",", "") == shown(int(after.get("payablePaise", "0")))
    # The ledger holds exactly these three payments for the property.
    count = portal.sql("nagar_property_tax",
                       f"SELECT count(*) FROM property_tax.payment WHERE property_id = '{pid}'")
    assert count == "3", count


def current_fy():
    today = time.localtime()
    start = today.tm_year if today.tm_mon >= 4 else today.tm_year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def test_officer_sets_rates_with_versions_and_runs_the_annual_demand_from_the_staff_app(portal):
    ulb, count = "250858", 200                  # Agar: a town no other test touches
    header = "ward,zone,address,usage,construction,occupancy,exemption,owner_name,owner_mobile,area_sqft"
    for chunk in range(0, count, 40):          # the gateway takes strings of up to 4096 characters
        rows = [f"{1 + i % 5},A,{i} Station Rd,RESIDENTIAL,RCC,RENTED,EXEMPTION_NONE,Owner {i},,{500 + i}"
                for i in range(chunk, chunk + 40)]
        r = portal.http("POST", "/api/v1/property-tax/properties/import",
                        token=portal.token("CLERK", ulb), key=uuid.uuid4().hex,
                        json={"ulb": ulb, "csv": "\n".join([header] + rows) + "\n"})
        assert r.status_code == 200 and r.json()["imported"] == 40, r.text
    fy = current_fy()
    result = node_script("officer_demand", {
        "NAGAR_WEB_URL": portal.url, "NAGAR_WEB_FY": fy,
        "NAGAR_WEB_OFFICER": staff_account(portal, "REVENUE_OFFICER", ulb)})
    assert not result["consoleErrors"], result["consoleErrors"]
    assert_screens_accessible(result, ["staff-masterdata-rates-errors", "staff-masterdata-rates-saved",
                                       "staff-masterdata-rates-version1", "staff-job-done"])
    # Master data: the defaults shown as percentages, two versions saved with their reasons.
    assert result["defaultRebate"] == "6.00"
    assert result["percentError"].startswith("Write a percentage")
    assert [v[0] for v in result["versions"]] == ["2", "1"]
    assert [v[3] for v in result["versions"]] == ["Council resolution 15/2026: rebate 4.5%",
                                                   "Council resolution 14/2026"]
    assert result["version1Rebate"] == "5.00"
    officer = portal.token("REVENUE_OFFICER", ulb)
    v2 = portal.http("GET", f"/api/v1/property-tax/rates/{ulb}/{fy}", token=officer).json()
    assert (v2["version"], v2["rebateBp"], v2["reason"]) == (2, 450, "Council resolution 15/2026: rebate 4.5%")
    assert v2["alvRates"] == [{"zone": "A", "construction": "RCC", "usage": "RESIDENTIAL",
                               "ratePaisePerSqft": "1500"}]
    v1 = portal.http("GET", f"/api/v1/property-tax/rates/{ulb}/{fy}", token=officer,
                     params={"version": 1}).json()
    assert (v1["rebateBp"], v1["maintenanceBp"]) == (500, 1000)
    # The demand: the progress bar ends full, with the count of bills the job made.
    job_id = re.fullmatch(r"Job (\d+)", result["jobTitle"]).group(1)
    job = portal.http("GET", f"/api/v1/property-tax/demand-jobs/{job_id}", token=officer).json()
    assert job["status"] == "DONE" and int(job["billsCreated"]) == count, job
    assert result["done"] == f"Done: {count} bills made, 0 skipped"
    assert result["progressLabel"] == f"{count} of {count} done"
    assert result["progress"][-1] == [count, count]
    # Each step of the bar is a real count of the job's, never going back.
    values = [p[0] for p in result["progress"]]
    assert values == sorted(values), result["progress"]


def test_owner_applies_for_a_mutation_and_an_officer_approves_it_accepts_one_return_and_reassesses_another(portal):
    """The citizen's mutation application and the returns listings (portalapi's
    routes): the form's rules at their fields, the application waiting on the
    property's page, the officer's inbox approving it (the register's owners
    change) and accepting a return; a second return opened from the inbox,
    re-assessed (its rules at their fields first), the result shown and
    recorded, the inbox no longer listing either; each screen checked with
    axe-core in both languages."""
    mobile = "9876512349"
    pid = make_property_with_demand(portal, mobile)
    pid2 = make_property(portal, mobile, address="14 Gandhi Marg")
    citizen = portal.token("CITIZEN", "", user_id=citizen_user_id(portal, mobile))

    def file_return(property_id):
        r = portal.http("POST", "/api/v1/property-tax/assessments", token=citizen, key=uuid.uuid4().hex,
                        json={"propertyId": property_id, "fy": current_fy(), "zone": "A", "usage": "RESIDENTIAL",
                              "construction": "RCC", "occupancy": "SELF_OCCUPIED",
                              "floors": [{"floor": 0, "areaSqft": "900"}]})
        assert r.status_code == 200, r.text
        return r.json()["assessmentId"]
    return_id, return_id2 = file_return(pid), file_return(pid2)
    officer_account = staff_account(portal, "REVENUE_OFFICER", ULB)
    result = node_script("mutation_returns", {
        "NAGAR_WEB_URL": portal.url, "NAGAR_WEB_MOBILE": mobile, "NAGAR_WEB_OTP_SINK": portal.sink,
        "NAGAR_WEB_PROPERTY": pid, "NAGAR_WEB_RETURN": str(return_id),
        "NAGAR_WEB_PROPERTY2": pid2, "NAGAR_WEB_RETURN2": str(return_id2),
        "NAGAR_WEB_OFFICER": officer_account}, timeout=240)
    assert not result["consoleErrors"], result["consoleErrors"]
    assert_screens_accessible(result, [
        "citizen-property-mutation-none", "citizen-mutation-errors", "citizen-mutation-share-error",
        "citizen-mutation-sent", "citizen-property-mutation-pending", "citizen-returns",
        "staff-inbox-property", "staff-mutation-reason-error", "staff-mutation-approved",
        "staff-return-filed", "staff-return-reassess-errors", "staff-return-reassessed",
        "staff-return-reassessed-360", "staff-inbox-after-decisions",
        "citizen-property-mutation-approved", "citizen-return-reassessed"])
    # The form's own rules first, at their fields: name, share, deed, document.
    assert set(result["emptyErrors"]) >= {"Name", "Share (%)", "Deed number", "Document's reference"}, \
        result["emptyErrors"]
    assert result["shareError"] == "The shares must add up to 100%; they add up to 60%."
    sent = re.fullmatch(r"Mutation application (\d+) sent; it waits for an officer of the town\.",
                        result["sent"])
    assert sent, result["sent"]
    application_id = sent.group(1)
    assert result["pendingStatus"] == "Waiting for an officer"
    assert result["applyLinksWhilePending"] == 0          # one waiting application per property
    # The return filed through the API is listed on the property's returns.
    assert any(f"Return number {return_id}" in line and "Filed" in line
               for line in result["returnsBefore"]), result["returnsBefore"]
    # The officer's inbox: the new owners with their shares; approved, then
    # the return accepted.
    assert result["cardNewOwners"] == "Ravi Verma (60%), Sita Verma (40%)"
    assert result["approved"].startswith(f"Application {application_id} approved: the new owners of property {pid}")
    assert result["accepted"] == f"Return {return_id} (property {pid}) accepted."
    assert result["approvedStatus"].startswith("Approved")
    assert result["noLongerOwner"].startswith("After the mutation you are no longer an owner")
    assert result["applyLinksAfter"] == 0
    # The second return opened from the inbox: what was filed, its ALV at the
    # year's rates (zone A, RCC, residential: Rs 15.00 a sq ft x 900 sq ft).
    assert result["returnStatusBefore"] == "FILED"
    filed = dict(result["filed"])
    assert (filed["Zone"], filed["Total built-up area"], filed["Annual letting value"]) == \
        ("A", "900 sq ft", "₹13,500.00"), filed
    # Re-assessing: each rule at its field, the focus on the first of them.
    assert result["reassessErrors"] == ["The zone is 1–8 letters or digits, e.g. A.",
                                        "The area is a whole number of square feet.",
                                        "A reason is required."], result["reassessErrors"]
    assert result["reassessInvalid"] == ["Zone", "Row 1: area (sq ft)", "Reason for re-assessing"], \
        result["reassessInvalid"]
    assert result["focusedAfterErrors"] == "Zone"
    # The result: REASSESSED, what was filed next to what was decided
    # (zone B: Rs 15.37 a sq ft x 1300 sq ft), the reason recorded.
    assert result["returnStatusAfter"] == "REASSESSED"
    assert result["reassessed"] == (f"Return {return_id2} (property {pid2}) re-assessed: annual letting value "
                                    "₹13,500.00 as filed, ₹19,981.00 now.")
    reason = "Inspection of 03/12/2026: a first floor is built; zone B by the ward map."
    assert result["returnReason"] == reason
    assert [c.strip() for c in result["decidedColumns"]][1:] == ["As filed by the owner", "As re-assessed"]
    assert dict(result["decidedFiled"]) == filed
    decided_view = dict(result["decided"])
    assert (decided_view["Zone"], decided_view["Total built-up area"], decided_view["Annual letting value"]) == \
        ("B", "1300 sq ft", "₹19,981.00"), decided_view
    assert decided_view["Floors and built-up area"] == "floor 0: 900 sq ft; floor 1: 400 sq ft"
    # The inbox lists neither return any more; the owner sees the re-assessment.
    listed = " ".join(result["inboxReturnsAfter"])
    assert f"Return {return_id}:" not in listed and f"Return {return_id2}:" not in listed, listed
    assert result["citizenSees"] == {"status": "Re-assessed", "alv": "₹19,981.00"}
    # Through the API: the application approved, the register's owners and
    # shares changed, the first return accepted, the second re-assessed with
    # the officer's particulars and reason, applied to the register; neither
    # waits in the FILED listing.
    clerk = portal.token("CLERK", ULB)
    app = portal.http("GET", f"/api/v1/property-tax/mutation-applications/{application_id}", token=clerk).json()
    assert app["status"] == "APPROVED" and app["deedRef"] == "MP/BPL/2026/004217", app
    assert [(d["kind"], d["ref"]) for d in app["documents"]] == [("SALE_DEED", "REG-77/2026")]
    prop = portal.http("GET", f"/api/v1/property-tax/properties/{pid}", token=clerk).json()
    assert sorted((o["name"], o["shareBp"]) for o in prop["owners"]) == [("Ravi Verma", 6000), ("Sita Verma", 4000)]
    decided = portal.http("GET", f"/api/v1/property-tax/assessments/{return_id}", token=clerk).json()
    assert decided["status"] == "ACCEPTED", decided
    officer_id = staff_api_login(portal, officer_account).json()["userId"]
    reassessed = portal.http("GET", f"/api/v1/property-tax/assessments/{return_id2}", token=clerk).json()
    assert (reassessed["status"], reassessed["zone"], reassessed["reason"], reassessed["decidedBy"]) == \
        ("REASSESSED", "B", reason, officer_id), reassessed
    assert [(f.get("floor", 0), f["areaSqft"]) for f in reassessed["floors"]] == [(0, "900"), (1, "400")], reassessed
    assert reassessed["alvPaise"] == "1998100", reassessed
    prop2 = portal.http("GET", f"/api/v1/property-tax/properties/{pid2}", token=clerk).json()
    assert prop2["zone"] == "B" and prop2["occupancy"] == "SELF_OCCUPIED", prop2
    assert sorted((f.get("floor", 0), f["areaSqft"]) for f in prop2["floors"]) == [(0, "900"), (1, "400")], prop2
    waiting = portal.http("GET", "/api/v1/property-tax/assessments", token=portal.token("REVENUE_OFFICER", ULB),
                          params={"status": "FILED", "pageSize": 100}).json()["assessments"]
    assert not {return_id, return_id2} & {a["assessmentId"] for a in waiting}, waiting


@pytest.fixture(scope="module")
def page_data(portal):
    """Data for every page to show something: a citizen with a property and its
    dues, a filed return, a pending online order, a water connection, a
    registered birth (with a correction waiting) and an application waiting
    for the registrar; staff accounts of each role."""
    mobile = "9876512348"
    uid = citizen_user_id(portal, mobile)
    citizen = portal.token("CITIZEN", "", user_id=uid)
    registrar = portal.token("REGISTRAR", ULB)
    pid = make_property_with_demand(portal, mobile)

    def post(path, body, token=citizen):
        r = portal.http("POST", path, token=token, key=uuid.uuid4().hex, json=body)
        assert r.status_code == 200, f"{path}: {r.text}"
        return r.json()
    assessment = post("/api/v1/property-tax/assessments", {
        "propertyId": pid, "fy": current_fy(), "zone": "A", "usage": "RESIDENTIAL",
        "construction": "RCC", "occupancy": "SELF_OCCUPIED", "floors": [{"floor": 0, "areaSqft": "1000"}]})
    order = post("/api/v1/property-tax/online-payments", {"propertyId": pid, "amountPaise": "100"})
    connection = post("/api/v1/water-tax/connections", {
        "ulb": ULB, "ward": 1, "propertyId": pid, "consumerName": "Asha Verma", "mobile": mobile,
        "address": "12 Gandhi Marg", "category": "DOMESTIC", "pipeSizeMm": 15, "metered": False})
    from test_water_tax import tariff_body
    officer = portal.token("REVENUE_OFFICER", ULB)
    r = portal.http("PUT", f"/api/v1/water-tax/tariffs/{ULB}/{current_fy()}", token=officer,
                    key=f"tariff-{current_fy()}", json=tariff_body())
    assert r.status_code == 200, r.text
    post(f"/api/v1/water-tax/connections/{connection['connectionId']}/decision",   # its fee is due
         {"approve": True}, token=officer)
    certificate = portal.issue_birth_certificate(ULB, citizen, registrar, days_ago=25)
    birth = dict(certificate["birth"], childName="Asha Kumari Verma")
    post(f"/api/v1/certificates/{certificate['certificateId']}/corrections",
         {"reason": "spelling of the name", "birth": birth})
    waiting = dict(certificate["birth"], childName="Ravi Verma")
    waiting = post("/api/v1/certificates/applications/birth", {"ulb": ULB, "birth": waiting})
    ulb = requests.get(f"{portal.url}/api/v1/ulbs/{ULB}", timeout=10).json()
    return {
        "mobile": mobile, "propertyId": pid, "assessmentId": assessment["assessmentId"],
        "orderId": order["orderId"], "connectionId": connection["connectionId"],
        "applicationId": certificate["applicationId"], "payload": certificate["qrPayload"],
        "waitingApplicationId": waiting["applicationId"],
        "town": {"code": ULB, "name": ulb["name"], "district": ulb.get("districtName", "")},
        "registrar": staff_account(portal, "REGISTRAR", ULB), "clerk": staff_account(portal, "CLERK", ULB),
        "officer": staff_account(portal, "REVENUE_OFFICER", ULB),
        "commissioner": staff_account(portal, "COMMISSIONER", ULB),
    }


def every_page(portal, page_data, app, lang):
    result = node_script("every_page", {"NAGAR_WEB_URL": portal.url, "NAGAR_WEB_APP": app,
                                        "NAGAR_WEB_LANGS": lang, "NAGAR_WEB_OTP_SINK": portal.sink,
                                        "NAGAR_WEB_DATA": json.dumps(page_data)})
    assert not result["findings"], "\n".join(
        f"{f['page']} {f['lang']} {f.get('width', 360)}px {f['id']} ({f['impact']}): "
        f"{f.get('help', '')} {f.get('nodes', f.get('overflow', ''))}" for f in result["findings"])
    assert not result["consoleErrors"], result["consoleErrors"]
    for name in result["pages"]:
        for width in (360, 1280):
            shot = os.path.join(ARTIFACTS, f"{app}-{name}-{lang}-{width}.png")
            assert os.path.getsize(shot) > 1000, shot
    return result


def pdf_text(path):
    return subprocess.run(["pdftotext", "-layout", path, "-"], capture_output=True, text=True,
                          timeout=30).stdout


# One run per language (Hindi first), so that neither comes near a test's time limit.
@pytest.mark.parametrize("lang", ["hi", "en"])
def test_every_citizen_page_in_both_languages_has_no_serious_axe_finding_and_screenshots(portal, page_data, lang):
    pages = every_page(portal, page_data, "citizen", lang)["pages"]
    assert {"home", "property", "assessment-form", "water", "apply-birth", "apply-death",
            "apply-marriage", "application", "application-fee", "verify", "settings", "mutation-form",
            "mutation-form-errors"} <= set(pages)


@pytest.mark.parametrize("lang", ["hi", "en"])
def test_every_staff_page_in_both_languages_has_no_serious_axe_finding_and_screenshots(portal, page_data, lang):
    result = every_page(portal, page_data, "staff", lang)
    pages = result["pages"]
    assert {"login", "inbox", "inbox-officer", "return", "return-errors", "counter", "counter-water", "reports", "jobs", "masterdata-rates",
            "masterdata-tariff", "masterdata-fees", "admin", "operations"} <= set(pages)
    # The operations page: the routed services' workers and quarantine, the latest checkpoint.
    ops = result["ops"]
    assert ops["checkpoint"] in ("VERIFIED", "NONE", "BAD_SIGNATURE", "UNAVAILABLE"), ops
    assert ["property_tax", "OK", "NONE"] in ops["services"], ops
    # The certificate fees saved with a reason, listed with their version.
    assert any(f"Council resolution 21/2026 ({lang})" in row for row in result["feeVersions"]), result["feeVersions"]
    # The waiting application's fee taken in cash on its inbox card: a counter receipt.
    assert re.search(rf"{ULB}/\d{{4}}-\d{{2}}/CFC1/\d+$", result["inboxFeeReceipt"]), result["inboxFeeReceipt"]
    # The water payment taken at the counter: its receipt PDF, downloaded there.
    water = result["waterReceipt"]
    receipt = portal.http("GET", "/api/v1/water-tax/receipts", params={"receiptNo": water["receiptNo"]},
                          token=portal.token("CLERK", ULB))
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["connectionId"] == page_data["connectionId"]
    assert int(receipt.json()["amountPaise"]) == 50000
    text = pdf_text(water["pdf"])
    assert water["receiptNo"] in text and "500.00" in text.replace(",", ""), text
