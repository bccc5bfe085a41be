"""nagar-certificates through the gateway: birth, death and marriage flows;
late-registration windows and their fees; validation (422 naming the field,
nothing changed); ULB scoping (403); corrections superseding; the bilingual
PDF and its QR code checked offline; the append-only register.

Fixtures come from certificates_fixtures.py (cert_stack) and friends.
"""
import base64
import concurrent.futures
import json
import shutil
import subprocess
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from api_checks import error_of as error, pdf_text  # noqa: F401 (also imported from here)

IST = timezone(timedelta(hours=5, minutes=30))
ULB_C = "250685"   # Akoda: its own fee schedule in test_fee_schedule_is_master_data


def today():
    return datetime.now(IST).date()


def days_ago(n):
    return (today() - timedelta(days=n)).isoformat()


def informant(mobile="9876543210"):
    return {"name": "Ramesh Verma", "relation": "father", "address": "12 Station Road, Agar",
            "mobile": mobile}


def birth_report(event_days_ago=3, **override):
    report = {"dateOfBirth": days_ago(event_days_ago), "sex": "FEMALE", "childName": "",
              "fatherName": "Ramesh Verma", "motherName": "Sunita Verma",
              "addressAtBirth": "12 Station Road, Agar",
              "permanentAddress": "12 Station Road, Agar, Agar Malwa, MP 465441",
              "placeKind": "HOSPITAL", "placeName": "District Hospital, Agar",
              "informant": informant()}
    report.update(override)
    return {k: v for k, v in report.items() if v is not None}


def death_report(event_days_ago=2, **override):
    born = today() - timedelta(days=event_days_ago + 365 * 70 + 20)
    report = {"dateOfDeath": days_ago(event_days_ago), "deceasedName": "Kamla Devi",
              "sex": "FEMALE", "ageYears": 70, "dateOfBirth": born.isoformat(),
              "placeKind": "HOUSE", "placeName": "4 Gandhi Chowk, Agar",
              "causeCategory": "NATURAL", "fatherOrSpouseName": "Shyam Lal",
              "permanentAddress": "4 Gandhi Chowk, Agar", "informant": informant()}
    report.update(override)
    return {k: v for k, v in report.items() if v is not None}


def years_before(day, years, extra_days=0):
    try:
        shifted = day.replace(year=day.year - years)
    except ValueError:             # 29 February
        shifted = day.replace(year=day.year - years, day=28)
    return (shifted - timedelta(days=extra_days)).isoformat()


def marriage_report(event_days_ago=10, **override):
    married = today() - timedelta(days=event_days_ago)
    report = {"groom": {"name": "Arjun Singh", "dateOfBirth": years_before(married, 25),
                        "fatherName": "Vikram Singh", "address": "7 MG Road, Agar"},
              "bride": {"name": "Priya Sharma", "dateOfBirth": years_before(married, 23),
                        "fatherName": "Mohan Sharma", "address": "9 Nehru Nagar, Agar"},
              "dateOfMarriage": married.isoformat(), "placeOfMarriage": "Arya Samaj Mandir, Agar",
              "witnesses": [{"name": "Suresh Jain", "address": "1 Jain Mandir Road, Agar"},
                            {"name": "Meena Gupta", "address": "3 Tilak Path, Agar"}]}
    report.update(override)
    return report


def ok(r, status=200):
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


def apply(s, kind, report, token, ulb=None, **extra):
    body = {kind: report, **extra}
    if ulb is not None:
        body["ulb"] = ulb
    return s.gateway.post(f"/api/v1/certificates/applications/{kind}", body, token=token)


def register(s, application_id, token, **extra):
    return s.gateway.post(f"/api/v1/certificates/applications/{application_id}/register", extra,
                          token=token)


def pay_fee(s, application_id, amount_paise, token=None):
    """The application's fee paid in cash at counter C1 by a clerk of ULB A."""
    return ok(s.gateway.post(f"/api/v1/certificates/applications/{application_id}/fee/payment",
                             {"amountPaise": amount_paise, "mode": "CASH", "counter": "C1"},
                             token=token or s.clerk_a,
                             headers={"Idempotency-Key": uuid.uuid4().hex}))


def pdf_of(s, certificate_id, token, tmp_path):
    body = ok(s.gateway.get(f"/api/v1/certificates/{certificate_id}/pdf", token=token))
    assert body["contentType"] == "application/pdf"
    data = base64.b64decode(body["pdf"])
    assert data.startswith(b"%PDF-")
    path = tmp_path / body["fileName"]
    path.write_bytes(data)
    return path


def counts(s):
    return s.db.sql("SELECT (SELECT count(*) FROM certificates.application) || ',' || "
                    "(SELECT count(*) FROM certificates.certificate) || ',' || "
                    "(SELECT count(*) FROM certificates.audit) || ',' || "
                    "(SELECT count(*) FROM certificates.outbox) || ',' || "
                    "(SELECT count(*) FROM certificates.correction)")


def verify_qr(s, payload):
    result = s.db.run_cli("verify-qr", "--public-key", s.certificates.public_key_path, payload)
    return result.returncode, (json.loads(result.stdout) if result.stdout.strip() else None)


def test_birth_flow_pdf_qr_and_offline_verification(cert_stack, tmp_path):
    s = cert_stack
    for tool in ("pdftotext", "pdftoppm", "zbarimg"):
        assert shutil.which(tool), f"{tool} is needed (poppler-utils, zbar-tools)"
    app = ok(apply(s, "birth", birth_report(3), s.citizen, ulb=s.ulb_a))
    assert app["state"] == "SUBMITTED" and app["kind"] == "BIRTH" and app["ulb"] == s.ulb_a
    assert app["lateWindow"] == "IN_TIME" and app.get("feePaise", "0") == "0"
    assert app["applicant"] == s.citizen_id and app["source"] == "CITIZEN"
    assert not app.get("permissionRequired", False)
    app_id = app["applicationId"]

    # The child's name, added before registration by the applicant.
    named = ok(s.gateway.post(f"/api/v1/certificates/applications/{app_id}/child-name",
                              {"childName": "Asha Verma"}, token=s.citizen))
    assert named["birth"]["childName"] == "Asha Verma" and named["subjectName"] == "Asha Verma"
    error(s.gateway.post(f"/api/v1/certificates/applications/{app_id}/child-name",
                         {"childName": "Other"}, token=s.citizen), 422, "FAILED_PRECONDITION",
          "childName")

    # A citizen cannot register; the registrar of the ULB does.
    assert s.gateway.post(f"/api/v1/certificates/applications/{app_id}/register", {},
                          token=s.citizen).status_code == 403
    cert = ok(register(s, app_id, s.registrar_a, remarks="verified with hospital record"))
    year = today().year
    prefix = f"{s.ulb_a}/B/{year}/"
    assert cert["registrationNumber"].startswith(prefix)
    assert cert["version"] == 1 and cert["subjectName"] == "Asha Verma"
    assert cert["keyId"] == "c1" and cert["qrPayload"].startswith("NC1.c1.")
    error(register(s, app_id, s.registrar_a), 422, "FAILED_PRECONDITION", "applicationId")

    app = ok(s.gateway.get(f"/api/v1/certificates/applications/{app_id}", token=s.citizen))
    assert app["state"] == "REGISTERED" and app["certificateId"] == cert["certificateId"]
    assert app["registrationNumber"] == cert["registrationNumber"]

    # The PDF: Hindi and English text, and a QR code holding the signed payload.
    path = pdf_of(s, cert["certificateId"], s.citizen, tmp_path)
    text = pdf_text(path)
    for expected in ("जन्म प्रमाण-पत्र", "Birth Certificate", "माता का नाम", "Name of the mother",
                     "Asha Verma", "Sunita Verma", cert["registrationNumber"],
                     "Registration of Births and Deaths Act, 1969", "अधिनियम",
                     # The ULB by name (identity's ulb.get), not only by its LGD code (issue 14).
                     f"रजिस्ट्रार, Agar (एलजीडी कोड {s.ulb_a})",
                     f"Registrar, Agar (LGD code {s.ulb_a})"):
        assert expected in text, f"{expected!r} not in the PDF text:\n{text}"
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(path),
                    str(tmp_path / "page")], check=True, timeout=60)
    scanned = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "page.png")],
                             capture_output=True, text=True, timeout=60)
    assert scanned.returncode == 0, scanned.stderr
    payload = scanned.stdout.strip()
    assert payload == cert["qrPayload"]

    # Offline: only the public key.
    rc, out = verify_qr(s, payload)
    assert rc == 0 and out["valid"] is True, out
    assert out["certificateId"] == cert["certificateId"] and out["kind"] == "BIRTH"
    assert out["registrationNumber"] == cert["registrationNumber"] and out["version"] == 1
    assert out["subjectName"] == "Asha Verma" and out["eventDate"] == days_ago(3)
    issued_on = out["issuedOn"]
    assert issued_on == today().isoformat()            # dates are India Standard Time
    body_start = len("NC1.c1.")
    for position in (0, 4, body_start + 3, len(payload) // 2, len(payload) - 2,
                     len(payload) - 1):
        original = payload[position]
        changed = payload[:position] + ("B" if original != "B" else "C") + payload[position + 1:]
        rc, out = verify_qr(s, changed)
        assert rc == 1 and out["valid"] is False, (position, out)
    other_keys = tmp_path / "other"
    assert s.db.run_cli("keygen", str(other_keys), "c1").returncode == 0
    result = s.db.run_cli("verify-qr", "--public-key", str(other_keys / "c1.pub"), payload)
    assert result.returncode == 1 and "signature" in json.loads(result.stdout)["reason"]
    assert s.db.run_cli("verify-qr", "--public-key", s.certificates.public_key_path, "-",
                        input_text=payload + "\n").returncode == 0

    # Online, without logging in.
    v = ok(s.gateway.get("/api/v1/certificates/verify", params={"payload": payload}))
    assert v["status"] == "VALID" and v["registrationNumber"] == cert["registrationNumber"]
    assert "subjectName" not in v and "birth" not in v      # minimal fields only
    assert v["issuedOn"] == issued_on
    v = ok(s.gateway.get("/api/v1/certificates/verify",
                         params={"certificateId": cert["certificateId"]}))
    assert v["status"] == "VALID"
    v = ok(s.gateway.get("/api/v1/certificates/verify", params={"certificateId": "CNOSUCHONE"}))
    assert v["status"] == "UNKNOWN"
    v = ok(s.gateway.get("/api/v1/certificates/verify", params={"payload": payload[:-1] + "A"
                                                                if payload[-1] != "A" else
                                                                payload[:-1] + "B"}))
    assert v["status"] == "UNKNOWN"

    # Audited and published.
    actions = s.db.sql(f"SELECT string_agg(action, ',' ORDER BY id) FROM certificates.audit "
                       f"WHERE subject IN ('{app_id}', '{cert['certificateId']}')")
    assert actions.split(",") == ["application.submitted", "application.child_name_entered",
                                  "application.registered", "certificate.issued"]
    events = s.db.sql("SELECT string_agg(event_type, ',' ORDER BY id) FROM certificates.outbox "
                      f"WHERE encode(payload, 'escape') LIKE '%{app_id}%' "
                      f"OR encode(payload, 'escape') LIKE '%{cert['certificateId']}%'")
    assert events.split(",") == ["certificate.application_received", "certificate.registered",
                                 "certificate.issued"]


def test_death_reported_by_clerk_and_marriage_applied_by_citizen(cert_stack, tmp_path):
    s = cert_stack
    # A clerk reports for the ULB (no ulb given: the clerk's own).
    app = ok(apply(s, "death", death_report(2), s.clerk_a))
    assert app["ulb"] == s.ulb_a and app["source"] == "CLERK" and app["lateWindow"] == "IN_TIME"
    cert = ok(register(s, app["applicationId"], s.registrar_a))
    assert cert["registrationNumber"].startswith(f"{s.ulb_a}/D/{today().year}/")
    assert cert["death"]["causeCategory"] == "NATURAL" and cert["subjectName"] == "Kamla Devi"
    text = pdf_text(pdf_of(s, cert["certificateId"], s.clerk_a, tmp_path))
    assert "मृत्यु प्रमाण-पत्र" in text and "Death Certificate" in text and "Kamla Devi" in text

    # Marriage: the per-certificate fee is master data (Rs 30 by default).
    app = ok(apply(s, "marriage", marriage_report(10), s.citizen, ulb=s.ulb_a))
    assert app["lateWindow"] == "NOT_APPLICABLE" and app["feePaise"] == "3000"
    assert app["subjectName"] == "Arjun Singh & Priya Sharma"
    # Registered once the fee is paid (test_certificate_fees.py has the rest).
    pay_fee(s, app["applicationId"], "3000")
    cert = ok(register(s, app["applicationId"], s.registrar_a))
    assert cert["feeStatus"] == "PAID"
    assert cert["registrationNumber"].startswith(f"{s.ulb_a}/M/{today().year}/")
    assert len(cert["marriage"]["witnesses"]) == 2
    text = pdf_text(pdf_of(s, cert["certificateId"], s.citizen, tmp_path))
    assert "विवाह प्रमाण-पत्र" in text and "Marriage Certificate" in text
    assert "Compulsory Registration of Marriages Rules" in text

    # Rejection needs a reason and is final.
    app = ok(apply(s, "birth", birth_report(1), s.citizen, ulb=s.ulb_a))
    path = f"/api/v1/certificates/applications/{app['applicationId']}/reject"
    error(s.gateway.post(path, {"reason": ""}, token=s.registrar_a), 422, "INVALID_ARGUMENT",
          "reason")
    rejected = ok(s.gateway.post(path, {"reason": "hospital has no record of this birth"},
                                 token=s.registrar_a))
    assert rejected["state"] == "REJECTED"
    assert rejected["rejectionReason"] == "hospital has no record of this birth"
    error(register(s, app["applicationId"], s.registrar_a), 422, "FAILED_PRECONDITION")
    assert s.db.sql("SELECT count(*) FROM certificates.outbox WHERE event_type = "
                    "'certificate.rejected' AND encode(payload, 'escape') LIKE "
                    f"'%{app['applicationId']}%'") == "1"


LATE_CASES = [
    (0, "IN_TIME", "0", False),
    (21, "IN_TIME", "0", False),
    (22, "LATE_TO_30_DAYS", "2000", False),
    (30, "LATE_TO_30_DAYS", "2000", False),
    (31, "LATE_TO_1_YEAR", "5000", True),
    (365, "LATE_TO_1_YEAR", "5000", True),
    (366, "LATE_OVER_1_YEAR", "10000", True),
    (3000, "LATE_OVER_1_YEAR", "10000", True),
]


def test_late_windows_and_fees(cert_stack):
    s = cert_stack
    for delay, window, fee, permission in LATE_CASES:
        app = ok(apply(s, "birth", birth_report(delay, childName="Late Child"), s.citizen,
                       ulb=s.ulb_a))
        assert app.get("delayDays", 0) == delay, app
        assert app["lateWindow"] == window and app.get("feePaise", "0") == fee, app
        assert app.get("permissionRequired", False) is permission, app
        if fee != "0":
            # Not before its fee is paid (issue 14 item 3).
            error(register(s, app["applicationId"], s.registrar_a,
                           permissionReference=f"DR/AGAR/{delay}/2026"), 422,
                  "FAILED_PRECONDITION", "feeStatus")
            pay_fee(s, app["applicationId"], fee)
        before = counts(s)
        if permission:
            # Without the District Registrar's permission / magistrate's order:
            # refused, and no registration number is used up.
            body = error(register(s, app["applicationId"], s.registrar_a), 422,
                         "FAILED_PRECONDITION", "permissionReference")
            assert ("District Registrar" if delay <= 365 else "magistrate") in body["message"]
            assert counts(s) == before
            cert = ok(register(s, app["applicationId"], s.registrar_a,
                               permissionReference=f"DR/AGAR/{delay}/2026"))
            again = ok(s.gateway.get(
                f"/api/v1/certificates/applications/{app['applicationId']}",
                token=s.registrar_a))
            assert again["permissionReference"] == f"DR/AGAR/{delay}/2026"
        else:
            cert = ok(register(s, app["applicationId"], s.registrar_a))
        assert cert["version"] == 1


def test_registration_numbers_are_gap_free_under_concurrency(cert_stack):
    s = cert_stack
    apps = [ok(apply(s, "death", death_report(1), s.clerk_a))["applicationId"]
            for _ in range(6)]
    # One refused attempt in the middle uses no number.
    late = ok(apply(s, "death", death_report(400), s.clerk_a))["applicationId"]
    error(register(s, late, s.registrar_a), 422, "FAILED_PRECONDITION", "permissionReference")

    def go(app_id):
        return register(s, app_id, s.registrar_a)
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(go, apps))
    numbers = sorted(int(ok(r)["registrationNumber"].rsplit("/", 1)[1]) for r in results)
    assert numbers == list(range(numbers[0], numbers[0] + 6)), numbers
    last = s.db.sql(f"SELECT last_number FROM certificates.registration_counter WHERE "
                    f"ulb = '{s.ulb_a}' AND kind = 2 AND year = {today().year}")
    assert int(last) == numbers[-1]


def test_fee_schedule_is_master_data(cert_stack):
    s = cert_stack
    default = ok(s.gateway.get("/api/v1/certificates/fees"))
    assert default["freeDays"] == 21 and default["lateDays"] == 30
    assert default["lateFeePaise"] == "2000" and default["permissionFeePaise"] == "5000"
    assert default["orderFeePaise"] == "10000" and default["marriageFeePaise"] == "3000"
    schedule = {"ulb": ULB_C, "effectiveFrom": days_ago(1), "freeDays": 10, "lateDays": 30,
                "lateFeePaise": "2500", "permissionDays": 365, "permissionFeePaise": "6000",
                "orderFeePaise": "12000", "marriageFeePaise": "5000", "childNameDays": 5475,
                "reason": "council resolution 14/2026: late fee raised"}
    # A commissioner of another ULB may not; a state admin may, saying why.
    error(s.gateway.put("/api/v1/certificates/fees", {"schedule": schedule},
                        token=s.commissioner_a), 403, "PERMISSION_DENIED")
    error(s.gateway.put("/api/v1/certificates/fees",
                        {"schedule": {**schedule, "freeDays": 40}}, token=s.admin),
          422, "INVALID_ARGUMENT", "schedule.freeDays")
    for reason in ("", "x" * 501, "tab\there"):
        error(s.gateway.put("/api/v1/certificates/fees",
                            {"schedule": {**schedule, "reason": reason}}, token=s.admin),
              422, "INVALID_ARGUMENT", "schedule.reason")
    saved = ok(s.gateway.put("/api/v1/certificates/fees", {"schedule": schedule},
                             token=s.admin, headers={"Idempotency-Key": uuid.uuid4().hex}))
    assert saved["version"] >= 1 and saved["freeDays"] == 10
    assert saved["reason"] == "council resolution 14/2026: late fee raised"
    got = ok(s.gateway.get("/api/v1/certificates/fees", params={"ulb": ULB_C}))
    assert got["version"] == saved["version"] and got["lateFeePaise"] == "2500"
    assert got["reason"] == saved["reason"]
    # Every version is kept with its reason, and can be read back.
    second = ok(s.gateway.put("/api/v1/certificates/fees",
                              {"schedule": {**schedule, "lateFeePaise": "3000",
                                            "reason": "corrected: the resolution says Rs 30"}},
                              token=s.admin, headers={"Idempotency-Key": uuid.uuid4().hex}))
    assert second["version"] == saved["version"] + 1
    first = ok(s.gateway.get("/api/v1/certificates/fees",
                             params={"ulb": ULB_C, "version": saved["version"]}))
    assert (first["lateFeePaise"], first["reason"]) == ("2500", saved["reason"])
    assert ok(s.gateway.get("/api/v1/certificates/fees",
                            params={"ulb": ULB_C}))["reason"] == "corrected: the resolution says Rs 30"
    error(s.gateway.get("/api/v1/certificates/fees",
                        params={"ulb": ULB_C, "version": second["version"] + 1}),
          404, "NOT_FOUND", "version")
    state_default = ok(s.gateway.get("/api/v1/certificates/fees", params={"version": 1}))
    assert state_default["ulb"] == "" and state_default["freeDays"] == 21
    app = ok(apply(s, "birth", birth_report(15), s.citizen, ulb=ULB_C))
    assert app["lateWindow"] == "LATE_TO_30_DAYS" and app["feePaise"] == "3000"
    app = ok(apply(s, "marriage", marriage_report(5), s.citizen, ulb=ULB_C))
    assert app["feePaise"] == "5000"
    # Other ULBs keep the state default.
    app = ok(apply(s, "birth", birth_report(15), s.citizen, ulb=s.ulb_a))
    assert app["lateWindow"] == "IN_TIME"
    # Schedules are history: the app role cannot rewrite one.
    r = s.db.psql_as_app("UPDATE certificates.fee_schedule SET late_fee_paise = 1")
    assert not r.ok and r.sqlstate == "42501", r


INVALID = [
    ("birth", lambda: birth_report(dateOfBirth=(today() + timedelta(days=1)).isoformat()),
     "birth.dateOfBirth"),
    ("birth", lambda: birth_report(dateOfBirth="2025-02-30"), "birth.dateOfBirth"),
    ("birth", lambda: birth_report(informant=None), "birth.informant"),
    ("birth", lambda: birth_report(informant={**informant(), "name": ""}),
     "birth.informant.name"),
    ("birth", lambda: birth_report(informant={**informant(), "mobile": "12345"}),
     "birth.informant.mobile"),
    ("birth", lambda: birth_report(sex=None), "birth.sex"),
    ("birth", lambda: birth_report(motherName="   "), "birth.motherName"),
    ("birth", lambda: birth_report(placeKind=None), "birth.placeKind"),
    ("birth", lambda: birth_report(permanentAddress=""), "birth.permanentAddress"),
    ("death", lambda: death_report(dateOfDeath=(today() + timedelta(days=2)).isoformat()),
     "death.dateOfDeath"),
    ("death", lambda: death_report(dateOfBirth=days_ago(1), dateOfDeath=days_ago(5), ageYears=0),
     "death.dateOfDeath"),
    ("death", lambda: death_report(ageYears=20), "death.ageYears"),
    ("death", lambda: death_report(informant=None), "death.informant"),
    ("death", lambda: death_report(causeCategory=None), "death.causeCategory"),
    ("death", lambda: death_report(deceasedName=""), "death.deceasedName"),
    ("marriage", lambda: marriage_report(groom={**marriage_report()["groom"],
                                               "dateOfBirth": years_before(
                                                   today() - timedelta(days=10), 21, -1)}),
     "marriage.groom.dateOfBirth"),
    ("marriage", lambda: marriage_report(bride={**marriage_report()["bride"],
                                               "dateOfBirth": years_before(
                                                   today() - timedelta(days=10), 17)}),
     "marriage.bride.dateOfBirth"),
    ("marriage", lambda: marriage_report(witnesses=[{"name": "Only One", "address": "Agar"}]),
     "marriage.witnesses"),
    ("marriage", lambda: marriage_report(witnesses=[{"name": "A B", "address": "Agar"},
                                                    {"name": "", "address": "Agar"}]),
     "marriage.witnesses[1].name"),
    ("marriage", lambda: marriage_report(dateOfMarriage=(today() + timedelta(days=1)).isoformat()),
     "marriage.dateOfMarriage"),
    ("marriage", lambda: marriage_report(placeOfMarriage=""), "marriage.placeOfMarriage"),
]


def test_every_validation_is_422_naming_the_field_and_changes_nothing(cert_stack):
    s = cert_stack
    before = counts(s)
    for kind, make, field in INVALID:
        r = apply(s, kind, make(), s.citizen, ulb=s.ulb_a)
        body = error(r, 422, "INVALID_ARGUMENT", field)
        assert body["message"], body
    # The ULB is required of a citizen; the report is required.
    error(apply(s, "birth", birth_report(), s.citizen), 422, "INVALID_ARGUMENT", "ulb")
    error(s.gateway.post("/api/v1/certificates/applications/birth", {"ulb": s.ulb_a},
                         token=s.citizen), 422, "INVALID_ARGUMENT", "birth")
    # A groom exactly 21 on the day and a bride exactly 18 are fine.
    married = today() - timedelta(days=10)
    edge = marriage_report(groom={**marriage_report()["groom"],
                                  "dateOfBirth": years_before(married, 21)},
                           bride={**marriage_report()["bride"],
                                  "dateOfBirth": years_before(married, 18)})
    assert counts(s) == before, "a refused request changed something"
    ok(apply(s, "marriage", edge, s.citizen, ulb=s.ulb_a))


def test_ulb_scope_other_registrar_gets_404(cert_stack):
    """Another ULB's application or certificate is, to its registrar and to
    another citizen, exactly like one that does not exist (issue 12: 404,
    naming nothing else); staff of the ULB who may see it but not act get 403."""
    s = cert_stack
    app = ok(apply(s, "birth", birth_report(2, childName="Scope Child"), s.clerk_a))
    app_id = app["applicationId"]
    before = counts(s)
    unseen = error(register(s, app_id, s.registrar_b), 404, "NOT_FOUND", "applicationId")
    assert unseen["message"] == f"no application has id {app_id}", unseen
    missing = error(register(s, app_id[:-3] + "999", s.registrar_b), 404, "NOT_FOUND",
                    "applicationId")
    assert missing["message"].replace(app_id[:-3] + "999", "X") == \
        unseen["message"].replace(app_id, "X")
    error(s.gateway.post(f"/api/v1/certificates/applications/{app_id}/reject",
                         {"reason": "not ours"}, token=s.registrar_b), 404, "NOT_FOUND")
    error(s.gateway.get(f"/api/v1/certificates/applications/{app_id}", token=s.registrar_b),
          404, "NOT_FOUND")
    # The clerk who reported it sees it, and may not decide it.
    err = error(register(s, app_id, s.clerk_a), 403, "PERMISSION_DENIED")
    assert s.ulb_a not in err["message"], err
    assert counts(s) == before
    assert ok(s.gateway.get(f"/api/v1/certificates/applications/{app_id}",
                            token=s.clerk_a))["state"] == "SUBMITTED"
    # Staff report for their own ULB only.
    error(apply(s, "birth", birth_report(), s.clerk_a, ulb=s.ulb_b), 403, "PERMISSION_DENIED",
          "ulb")
    cert = ok(register(s, app_id, s.registrar_a))
    error(s.gateway.get(f"/api/v1/certificates/{cert['certificateId']}/pdf",
                        token=s.registrar_b), 404, "NOT_FOUND")
    # Another citizen sees none of it.
    stranger = s.gateway.login_citizen("8" + str(uuid.uuid4().int)[:9])["accessToken"]
    err = error(s.gateway.get(f"/api/v1/certificates/{cert['certificateId']}", token=stranger),
                404, "NOT_FOUND")
    assert err["message"] == f"no certificate has id {cert['certificateId']}", err
    assert ok(s.gateway.get("/api/v1/certificates/search", token=stranger)).get(
        "certificates", []) == []
    assert ok(s.gateway.get("/api/v1/certificates/applications", token=stranger)).get(
        "applications", []) == []


def test_search_is_scoped_and_paginated(cert_stack):
    s = cert_stack
    tag = uuid.uuid4().hex[:6]
    ids = []
    for i in range(5):
        app = ok(apply(s, "birth", birth_report(4, childName=f"Search {tag} {i}",
                                                fatherName=f"Father {tag}"), s.citizen,
                       ulb=s.ulb_a))
        ids.append(ok(register(s, app["applicationId"], s.registrar_a))["certificateId"])
    seen, token = [], None
    while True:
        params = {"name": f"search {tag}", "pageSize": 2}
        if token:
            params["pageToken"] = token
        page = ok(s.gateway.get("/api/v1/certificates/search", params=params,
                                token=s.registrar_a))
        assert len(page.get("certificates", [])) <= 2
        seen += [c["certificateId"] for c in page.get("certificates", [])]
        token = page.get("nextPageToken")
        if not token:
            break
    assert sorted(seen) == sorted(ids)
    by_parent = ok(s.gateway.get("/api/v1/certificates/search",
                                 params={"parentName": f"father {tag}"}, token=s.clerk_a))
    assert len(by_parent["certificates"]) == 5
    one = ok(s.gateway.get("/api/v1/certificates/search",
                           params={"name": f"{tag} 3", "eventDate": days_ago(4)},
                           token=s.registrar_a))["certificates"]
    assert len(one) == 1 and one[0]["certificateId"] == ids[3]
    number = one[0]["registrationNumber"]
    assert ok(s.gateway.get("/api/v1/certificates/search", params={"registrationNumber": number},
                            token=s.registrar_a))["certificates"][0]["certificateId"] == ids[3]
    # Wildcards are text, not patterns.
    assert ok(s.gateway.get("/api/v1/certificates/search", params={"name": "%"},
                            token=s.registrar_a)).get("certificates", []) == []
    # Another ULB's registrar finds nothing of ours, and may not ask for our ULB.
    assert ok(s.gateway.get("/api/v1/certificates/search", params={"name": f"search {tag}"},
                            token=s.registrar_b)).get("certificates", []) == []
    error(s.gateway.get("/api/v1/certificates/search", params={"ulb": s.ulb_a},
                        token=s.registrar_b), 403, "PERMISSION_DENIED", "ulb")
    # The citizen sees their own.
    mine = ok(s.gateway.get("/api/v1/certificates/search", params={"name": f"search {tag}"},
                            token=s.citizen))["certificates"]
    assert len(mine) == 5
    error(s.gateway.get("/api/v1/certificates/search", params={"pageSize": 1000},
                        token=s.registrar_a), 422, "INVALID_ARGUMENT", "pageSize")


def test_audit_trail_is_read_whole_scoped_and_paged(cert_stack):
    """audit.list answers the trail's rows as they are stored (every column,
    newest first), a page at a time; a registrar or commissioner reads their
    own ULB's, a state admin any, a citizen none."""
    s = cert_stack
    app = ok(apply(s, "birth", birth_report(2, childName="Audit Child"), s.clerk_a))
    app_id = app["applicationId"]
    ok(register(s, app_id, s.registrar_a, remarks="checked"))
    stored = json.loads(s.db.sql(
        "SELECT json_agg(json_build_object('id', id::text, 'at', to_char(at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'actor', actor, 'actorRole', actor_role, "
        "'action', action, 'subject', subject, 'ulb', coalesce(ulb, ''), 'detail', detail::text) "
        f"ORDER BY id DESC) FROM certificates.audit WHERE subject = '{app_id}'"))
    assert [row["action"] for row in stored] == ["application.registered",
                                                 "application.submitted"], stored
    assert {row["actorRole"] for row in stored} == {"CLERK", "REGISTRAR"}, stored

    def read(token, **params):
        entries, page_token = [], None
        while True:
            query = dict(params, pageToken=page_token) if page_token else params
            page = ok(s.gateway.get("/api/v1/certificates/audit", params=query, token=token))
            entries += page.get("entries", [])
            page_token = page.get("nextPageToken")
            if not page_token:
                return entries

    fields = ("id", "at", "actor", "actorRole", "action", "subject", "ulb", "detail")
    for token in (s.registrar_a, s.commissioner_a, s.admin):
        entries = read(token, subject=app_id, pageSize=1)
        assert [{f: e.get(f, "") for f in fields} for e in entries] == stored
    assert json.loads(stored[0]["detail"]) == json.loads(
        read(s.admin, subject=app_id, ulb=s.ulb_a)[0]["detail"])
    # Another ULB's registrar sees none of it and may not ask for it; a citizen reads none.
    assert read(s.registrar_b, subject=app_id) == []
    error(s.gateway.get("/api/v1/certificates/audit", params={"ulb": s.ulb_a},
                        token=s.registrar_b), 403, "PERMISSION_DENIED", "ulb")
    assert s.gateway.get("/api/v1/certificates/audit", token=s.citizen).status_code == 403


def test_correction_supersedes_and_child_name_after_registration(cert_stack, tmp_path):
    s = cert_stack
    app = ok(apply(s, "birth", birth_report(6, motherName="Sunita Varma"), s.citizen,
                   ulb=s.ulb_a))
    v1 = ok(register(s, app["applicationId"], s.registrar_a))
    assert v1.get("subjectName", "") == ""

    # Section 14: once registered, the registrar enters the name: version 2.
    path = f"/api/v1/certificates/applications/{app['applicationId']}/child-name"
    error(s.gateway.post(path, {"childName": "Meera Verma"}, token=s.citizen), 403,
          "PERMISSION_DENIED")
    ok(s.gateway.post(path, {"childName": "Meera Verma"}, token=s.registrar_a))
    v2_id = ok(s.gateway.get(f"/api/v1/certificates/applications/{app['applicationId']}",
                             token=s.citizen))["certificateId"]
    v2 = ok(s.gateway.get(f"/api/v1/certificates/{v2_id}", token=s.citizen))
    assert v2["version"] == 2 and v2["supersedes"] == v1["certificateId"]
    assert v2["subjectName"] == "Meera Verma"
    assert v2["registrationNumber"] == v1["registrationNumber"]

    # The citizen asks for the mother's name to be corrected.
    corrected = birth_report(6, motherName="Sunita Verma", childName="Meera Verma")
    before = counts(s)
    error(s.gateway.post(f"/api/v1/certificates/{v2_id}/corrections",
                         {"reason": "wrong", "death": death_report()}, token=s.citizen),
          422, "INVALID_ARGUMENT", "death")
    error(s.gateway.post(f"/api/v1/certificates/{v2_id}/corrections",
                         {"reason": "x", "birth": {**corrected, "informant": None}},
                         token=s.citizen), 422, "INVALID_ARGUMENT", "birth.informant")
    error(s.gateway.post(f"/api/v1/certificates/{v1['certificateId']}/corrections",
                         {"reason": "x", "birth": corrected}, token=s.citizen),
          422, "FAILED_PRECONDITION", "certificateId")
    assert counts(s) == before
    correction = ok(s.gateway.post(f"/api/v1/certificates/{v2_id}/corrections",
                                   {"reason": "mother's surname misspelt", "birth": corrected},
                                   token=s.citizen))
    assert correction["state"] == "PENDING"
    error(s.gateway.post(f"/api/v1/certificates/{v2_id}/corrections",
                         {"reason": "again", "birth": corrected}, token=s.clerk_a),
          409, "CONFLICT")
    approve = f"/api/v1/certificates/corrections/{correction['correctionId']}/approve"
    error(s.gateway.post(approve, {}, token=s.registrar_b), 404, "NOT_FOUND")
    v3 = ok(s.gateway.post(approve, {}, token=s.registrar_a))
    assert v3["version"] == 3 and v3["supersedes"] == v2_id
    assert v3["birth"]["motherName"] == "Sunita Verma"
    assert v3["correctionReason"] == "mother's surname misspelt"
    error(s.gateway.post(approve, {}, token=s.registrar_a), 422, "FAILED_PRECONDITION")

    # Old versions still exist, unchanged, and verify as superseded.
    old = ok(s.gateway.get(f"/api/v1/certificates/{v2_id}", token=s.citizen))
    assert old["qrPayload"] == v2["qrPayload"] and old["supersededBy"] == v3["certificateId"]
    for earlier, newer in ((v1, v2_id), (v2, v3["certificateId"])):
        r = ok(s.gateway.get("/api/v1/certificates/verify",
                             params={"payload": earlier["qrPayload"]}))
        assert r["status"] == "SUPERSEDED" and r["supersededBy"] == newer
    r = ok(s.gateway.get("/api/v1/certificates/verify", params={"payload": v3["qrPayload"]}))
    assert r["status"] == "VALID" and r["version"] == 3
    # Offline, a superseded certificate is still genuine: only the register knows more.
    assert verify_qr(s, v2["qrPayload"])[0] == 0

    found = ok(s.gateway.get("/api/v1/certificates/search",
                             params={"registrationNumber": v3["registrationNumber"]},
                             token=s.registrar_a))["certificates"]
    assert [c["version"] for c in found] == [3]
    found = ok(s.gateway.get("/api/v1/certificates/search",
                             params={"registrationNumber": v3["registrationNumber"],
                                     "includeSuperseded": "true"},
                             token=s.registrar_a))["certificates"]
    assert sorted(c["version"] for c in found) == [1, 2, 3]
    assert [c.get("superseded", False) for c in sorted(found, key=lambda c: c["version"])] == \
        [True, True, False]

    # A declined correction needs a note and issues nothing.
    declined = ok(s.gateway.post(f"/api/v1/certificates/{v3['certificateId']}/corrections",
                                 {"reason": "change the date", "birth": corrected},
                                 token=s.clerk_a))
    reject = f"/api/v1/certificates/corrections/{declined['correctionId']}/reject"
    error(s.gateway.post(reject, {}, token=s.registrar_a), 422, "INVALID_ARGUMENT", "note")
    done = ok(s.gateway.post(reject, {"note": "no evidence given"}, token=s.registrar_a))
    assert done["state"] == "DECLINED" and done["newCertificateId"] == ""
    pdf = pdf_of(s, v3["certificateId"], s.citizen, tmp_path)
    text = pdf_text(pdf)
    assert v2_id in text and "Meera Verma" in text


def test_idempotent_apply(cert_stack):
    s = cert_stack
    key = uuid.uuid4().hex
    body = {"ulb": s.ulb_a, "birth": birth_report(2, childName="Idem Child")}
    first = s.gateway.post("/api/v1/certificates/applications/birth", body, token=s.citizen,
                           headers={"Idempotency-Key": key})
    before = counts(s)
    again = s.gateway.post("/api/v1/certificates/applications/birth", body, token=s.citizen,
                           headers={"Idempotency-Key": key})
    assert ok(first)["applicationId"] == ok(again)["applicationId"]
    assert counts(s) == before
    # The replay is marked, the first answer is not.
    assert "Idempotent-Replayed" not in first.headers and "replayed" not in first.json()
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["replayed"] is True
    other = {"ulb": s.ulb_a, "birth": birth_report(2, childName="Other Child")}
    error(s.gateway.post("/api/v1/certificates/applications/birth", other, token=s.citizen,
                         headers={"Idempotency-Key": key}), 409, "CONFLICT")


def test_app_role_cannot_update_or_delete_issued_certificates(cert_stack):
    s = cert_stack
    app = ok(apply(s, "birth", birth_report(2, childName="Ledger Child"), s.clerk_a))
    cert = ok(register(s, app["applicationId"], s.registrar_a))
    cid = cert["certificateId"]
    for sql in (f"UPDATE certificates.certificate SET subject_name = 'Forged' "
                f"WHERE certificate_id = '{cid}'",
                f"DELETE FROM certificates.certificate WHERE certificate_id = '{cid}'",
                "TRUNCATE certificates.certificate CASCADE",
                f"UPDATE certificates.audit SET actor = 'nobody' WHERE subject = '{cid}'",
                f"DELETE FROM certificates.audit WHERE subject = '{cid}'"):
        r = s.db.psql_as_app(sql)
        assert not r.ok and r.sqlstate == "42501", (sql, r)
    # Even the owner's session is stopped by the triggers.
    with pytest.raises(AssertionError, match="append-only"):
        s.db.sql(f"UPDATE certificates.certificate SET subject_name = 'Forged' "
                 f"WHERE certificate_id = '{cid}'")
    assert s.db.sql(f"SELECT subject_name FROM certificates.certificate "
                    f"WHERE certificate_id = '{cid}'") == "Ledger Child"
    # The app role may read and append (that is how certificates are issued).
    assert s.db.psql_as_app("SELECT count(*) FROM certificates.certificate").ok
    # The per-ULB chain links every certificate to the one before it.
    rows = s.db.sql(f"SELECT encode(prev_hash, 'hex') || ':' || encode(hash, 'hex') || ':' || "
                    f"encode(sha256(prev_hash || convert_to(qr_payload, 'UTF8')), 'hex') "
                    f"FROM certificates.certificate WHERE ulb = '{s.ulb_a}' ORDER BY seq")
    previous = "00" * 32
    for line in rows.splitlines():
        prev_hash, hash_, recomputed = line.split(":")
        assert prev_hash == previous and hash_ == recomputed
        previous = hash_
    head = s.db.sql(f"SELECT encode(head_hash, 'hex') FROM certificates.certificate_chain "
                    f"WHERE ulb = '{s.ulb_a}'")
    assert head == previous


def test_openapi_lists_certificate_routes(cert_stack):
    doc = ok(cert_stack.gateway.get("/api/v1/openapi.json"))
    assert "/api/v1/certificates/verify" in doc["paths"]
    assert "security" not in doc["paths"]["/api/v1/certificates/verify"]["get"] or \
        doc["paths"]["/api/v1/certificates/verify"]["get"]["security"] == []
    assert "/api/v1/certificates/{certificateId}/pdf" in doc["paths"]



def test_pdf_of_the_longest_report_still_fits_one_page(cert_stack, tmp_path):
    s = cert_stack
    long_name = ("अ" * 50) + ("Verma" * 10)             # 100 characters
    long_address = ("गली क्रमांक १२, " * 18)[:300]
    report = birth_report(2, childName=long_name, fatherName=long_name, motherName=long_name,
                          addressAtBirth=long_address, permanentAddress=long_address,
                          placeName=long_address[:200],
                          informant={"name": long_name, "relation": "r" * 60,
                                     "address": long_address, "mobile": "9876543210"})
    app = ok(apply(s, "birth", report, s.clerk_a))
    cert = ok(register(s, app["applicationId"], s.registrar_a))
    text = pdf_text(pdf_of(s, cert["certificateId"], s.clerk_a, tmp_path))
    assert cert["registrationNumber"] in text and "Birth Certificate" in text
    # The QR carries the name shortened on a character boundary, and verifies.
    rc, out = verify_qr(s, cert["qrPayload"])
    assert rc == 0 and long_name.startswith(out["subjectName"]) and out["subjectName"]
