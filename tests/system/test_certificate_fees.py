"""Certificate fees collected, not only computed (issue 14 item 3).

A registration that owes a fee (a late birth or death, RBD Act s.13; a
marriage certificate, MP Compulsory Registration of Marriages Rules 2008) is
registered only once the fee is paid at a counter — with a receipt number
from a gap-free series — or waived by the ULB's commissioner with a reason.
The application, the certificate (and its PDF) and the ULB's day's
collection show which. Registering before is refused and uses up no
registration number.

Fixtures come from certificates_fixtures.py (cert_stack).
"""
import concurrent.futures
import re
import uuid

from test_certificates import (apply, birth_report, counts, error, marriage_report, ok, pdf_of,
                               pdf_text, register, today)


def fy_of(day):
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def pay(s, app_id, token, key=None, **body):
    body = {"amountPaise": "5000", "mode": "CASH", "counter": "C1", **body}
    # Money moves: the gateway requires an idempotency key (a new one unless given).
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return s.gateway.post(f"/api/v1/certificates/applications/{app_id}/fee/payment", body,
                          token=token, headers=headers)


def waive(s, app_id, token, reason):
    return s.gateway.post(f"/api/v1/certificates/applications/{app_id}/fee/waiver",
                          {"reason": reason}, token=token)


def collection(s, token, **params):
    return ok(s.gateway.get("/api/v1/certificates/fees/daily-collection", token=token,
                            params=params))


def late_birth(s, days=40):
    """A birth reported `days` late by a clerk, with the permission it needs."""
    body = {"birth": birth_report(days, childName="Meera Sharma")}
    if days > 30:
        body["permissionReference"] = "DR/AGAR/2026/0142"
    # With a key: the apply's idempotency record and the payment's share a
    # connection and their prepared statements.
    return ok(s.gateway.post("/api/v1/certificates/applications/birth", body, token=s.clerk_a,
                             headers={"Idempotency-Key": uuid.uuid4().hex}))


def test_a_late_registration_waits_for_its_fee_and_the_receipt_shows_everywhere(cert_stack,
                                                                                 tmp_path):
    s = cert_stack
    app = late_birth(s, 40)
    app_id = app["applicationId"]
    assert app["lateWindow"] == "LATE_TO_1_YEAR" and app["feePaise"] == "5000"
    assert app["feeStatus"] == "DUE" and "feeSettlement" not in app

    # Not registered while the fee is due, and no registration number is used up.
    before = counts(s)
    body = error(register(s, app_id, s.registrar_a), 422, "FAILED_PRECONDITION", "feeStatus")
    assert "Rs 50.00" in body["message"] and "RBD Act section 13" in body["message"], body
    assert counts(s) == before

    # Bad payments are refused naming the field and the rule; nothing changes.
    body = error(pay(s, app_id, s.clerk_a, amountPaise="4999"), 422, "INVALID_ARGUMENT",
                 "amountPaise")
    assert "5000 paise" in body["message"] and "s.13(2)" in body["message"], body
    error(pay(s, app_id, s.clerk_a, amountPaise="5001"), 422, "INVALID_ARGUMENT", "amountPaise")
    error(pay(s, app_id, s.clerk_a, mode="BITCOIN"), 422, "INVALID_ARGUMENT", "mode")
    error(pay(s, app_id, s.clerk_a, mode="CHEQUE", instrumentRef="  "), 422, "INVALID_ARGUMENT",
          "instrumentRef")
    error(pay(s, app_id, s.clerk_a, counter="c-1"), 422, "INVALID_ARGUMENT", "counter")
    # Who may take it: staff of the ULB at a counter (clerk, registrar); a
    # registrar of another ULB cannot even see the application.
    assert pay(s, app_id, s.citizen).status_code == 403
    assert pay(s, app_id, s.commissioner_a).status_code == 403
    error(pay(s, app_id, s.registrar_b), 404, "NOT_FOUND", "applicationId")
    assert s.db.sql(f"SELECT count(*) FROM certificates.fee_settlement "
                    f"WHERE application_id = '{app_id}'") == "0"

    r = s.gateway.post(f"/api/v1/certificates/applications/{app_id}/fee/payment",
                       {"amountPaise": "5000", "mode": "CASH", "counter": "C1"}, token=s.clerk_a)
    assert r.status_code == 400 and r.json()["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED", r.text

    day_before = collection(s, s.clerk_a)
    key = uuid.uuid4().hex
    receipt = ok(pay(s, app_id, s.clerk_a, key=key))
    fy = fy_of(today())
    assert re.fullmatch(rf"{s.ulb_a}/{fy}/CFC1/\d{{6,}}", receipt["receiptNo"]), receipt
    assert receipt["status"] == "PAID" and receipt["amountPaise"] == "5000"
    assert receipt["mode"] == "CASH" and receipt["counter"] == "C1"
    assert receipt["settledOn"] == today().isoformat() and receipt["applicationId"] == app_id
    assert "s.13(2)" in receipt["legalBasis"], receipt
    # The counter retries with the same key: the same receipt, marked a replay.
    again = pay(s, app_id, s.clerk_a, key=key)
    assert again.status_code == 200 and again.json()["receiptNo"] == receipt["receiptNo"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    # A second payment is refused, naming the receipt.
    body = error(pay(s, app_id, s.clerk_a), 422, "FAILED_PRECONDITION", "applicationId")
    assert receipt["receiptNo"] in body["message"]
    assert s.db.sql(f"SELECT count(*) FROM certificates.fee_settlement "
                    f"WHERE application_id = '{app_id}'") == "1"

    # The application shows it; registration now proceeds.
    got = ok(s.gateway.get(f"/api/v1/certificates/applications/{app_id}", token=s.registrar_a))
    assert got["feeStatus"] == "PAID"
    assert got["feeSettlement"]["receiptNo"] == receipt["receiptNo"]
    cert = ok(register(s, app_id, s.registrar_a))
    assert cert["feeStatus"] == "PAID"
    assert cert["feeSettlement"]["receiptNo"] == receipt["receiptNo"]
    text = pdf_text(pdf_of(s, cert["certificateId"], s.registrar_a, tmp_path))
    assert f"Rs 50.00 paid, receipt {receipt['receiptNo']} of {today().isoformat()}" in text, text
    assert "शुल्क" in text
    # Once registered, nothing more is taken.
    error(pay(s, app_id, s.clerk_a), 422, "FAILED_PRECONDITION", "applicationId")

    # The ULB's collection of the day holds the receipt.
    day = collection(s, s.clerk_a)
    assert day["ulb"] == s.ulb_a and day["onDate"] == today().isoformat()
    assert day["receipts"] == day_before["receipts"] + 1
    assert int(day["collectedPaise"]) == int(day_before["collectedPaise"]) + 5000
    assert receipt["receiptNo"] in [p["receiptNo"] for p in day["paid"]]
    assert sum(int(p["amountPaise"]) for p in day["paid"]) == int(day["collectedPaise"])
    cash = {m["mode"]: m for m in day["byMode"]}["CASH"]
    assert sum(int(m["amountPaise"]) for m in day["byMode"]) == int(day["collectedPaise"])
    assert cash["receipts"] >= 1
    # Another ULB's staff do not read it; the state admin names the ULB.
    error(s.gateway.get("/api/v1/certificates/fees/daily-collection", token=s.registrar_b,
                        params={"ulb": s.ulb_a}), 403, "PERMISSION_DENIED", "ulb")
    assert collection(s, s.admin, ulb=s.ulb_a)["receipts"] == day["receipts"]
    error(s.gateway.get("/api/v1/certificates/fees/daily-collection", token=s.clerk_a,
                        params={"onDate": "5 Dec"}), 422, "INVALID_ARGUMENT", "onDate")

    # Audited; only the rules write settlements, and they never change.
    assert s.db.sql(f"SELECT count(*) FROM certificates.audit WHERE subject = '{app_id}' "
                    f"AND action = 'application.fee_paid'") == "1"
    for statement in ("UPDATE certificates.fee_settlement SET amount_paise = 1",
                      "DELETE FROM certificates.fee_settlement",
                      "INSERT INTO certificates.fee_settlement (application_id, ulb, status, "
                      "amount_paise, settled_on, reason, recorded_by, recorded_role) "
                      f"VALUES ('{app_id}', '{s.ulb_a}', 'WAIVED', 1, now(), 'x', 'me', 'X')"):
        r = s.db.psql_as_app(statement)
        assert not r.ok and r.sqlstate == "42501", (statement, r)


def test_a_fee_waived_by_the_commissioner_with_a_reason(cert_stack, tmp_path):
    s = cert_stack
    app = ok(apply(s, "marriage", marriage_report(10), s.citizen, ulb=s.ulb_a))
    app_id = app["applicationId"]
    assert app["feePaise"] == "3000" and app["feeStatus"] == "DUE"
    body = error(register(s, app_id, s.registrar_a), 422, "FAILED_PRECONDITION", "feeStatus")
    assert "Rs 30.00" in body["message"] and "Marriages Rules, 2008" in body["message"], body

    # Only the commissioner of the ULB waives, and only with a reason.
    assert waive(s, app_id, s.registrar_a, "poor family").status_code == 403
    assert waive(s, app_id, s.clerk_a, "poor family").status_code == 403
    error(waive(s, app_id, s.commissioner_a, "   "), 422, "INVALID_ARGUMENT", "reason")
    day_before = collection(s, s.commissioner_a)
    reason = "  widow of a soldier; ULB order 12/2026  "
    waived = ok(waive(s, app_id, s.commissioner_a, reason))
    assert waived["status"] == "WAIVED" and waived["reason"] == reason.strip()
    assert waived["amountPaise"] == "3000" and waived["receiptNo"] == ""
    assert "Marriages Rules, 2008" in waived["legalBasis"]
    body = error(pay(s, app_id, s.clerk_a, amountPaise="3000"), 422, "FAILED_PRECONDITION",
                 "applicationId")
    assert "waived" in body["message"]

    cert = ok(register(s, app_id, s.registrar_a))
    assert cert["feeStatus"] == "WAIVED" and cert["feeSettlement"]["reason"] == reason.strip()
    text = pdf_text(pdf_of(s, cert["certificateId"], s.citizen, tmp_path))
    assert f"Rs 30.00 waived by the commissioner on {today().isoformat()}: " \
           f"{reason.strip()}" in text, text
    # A waiver is no money: the collection counts it apart.
    day = collection(s, s.commissioner_a)
    assert day["collectedPaise"] == day_before["collectedPaise"]
    assert day["receipts"] == day_before["receipts"]
    assert day["waivers"] == day_before["waivers"] + 1
    assert int(day["waivedPaise"]) == int(day_before["waivedPaise"]) + 3000
    assert app_id in [w["applicationId"] for w in day["waived"]]
    assert s.db.sql(f"SELECT count(*) FROM certificates.audit WHERE subject = '{app_id}' "
                    f"AND action = 'application.fee_waived'") == "1"


def test_a_registration_in_time_owes_nothing(cert_stack, tmp_path):
    s = cert_stack
    app = ok(apply(s, "birth", birth_report(3, childName="Asha Verma"), s.citizen, ulb=s.ulb_a))
    assert app["feeStatus"] == "NO_FEE" and app["feePaise"] == "0"
    body = error(pay(s, app["applicationId"], s.clerk_a, amountPaise="0"), 422,
                 "FAILED_PRECONDITION", "applicationId")
    assert "owes no fee" in body["message"]
    cert = ok(register(s, app["applicationId"], s.registrar_a))
    assert cert["feeStatus"] == "NO_FEE"
    assert "Nil" in pdf_text(pdf_of(s, cert["certificateId"], s.citizen, tmp_path))


def test_receipt_numbers_are_gap_free_at_a_counter_under_concurrency(cert_stack):
    s = cert_stack
    counter = "Q" + uuid.uuid4().hex[:8].upper()
    apps = [late_birth(s, 25)["applicationId"] for _ in range(5)]     # Rs 20 each (s.13(1))

    def go(app_id):
        return pay(s, app_id, s.clerk_a, amountPaise="2000", counter=counter)
    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
        receipts = [ok(r)["receiptNo"] for r in pool.map(go, apps)]
    numbers = sorted(int(r.rsplit("/", 1)[1]) for r in receipts)
    assert numbers == [1, 2, 3, 4, 5], receipts
    assert all(f"/CF{counter}/" in r for r in receipts)
