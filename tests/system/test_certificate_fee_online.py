"""A certificate fee paid online, and the fee receipt (issue 14 item 3).

The applicant pays the fee the service computed through the payment
provider's page and back, by the flow property tax and water charges use:
the service answers an order signed for the provider's checkout (the request
names no amount), the provider posts a signed callback, and the application
is fee-paid exactly once — a replayed callback answers the same receipt, a
forged one is refused naming `signature` and changes nothing, one signed for
another amount is refused naming `amountPaise`. A payment that arrives after
the fee was settled otherwise is not taken twice: its order is REFUND_DUE.

The fee receipt (paid at a counter or online) is a bilingual PDF: receipt
number, the fee's head and legal basis, the amount in rupees, the town by
name, and a QR code naming the settlement's entry on the hash-chained
history. The applicant or staff of the town download it; to anyone else the
application does not exist (404, not 403).

Fixtures come from certificates_fixtures.py (cert_stack, with s.provider).
"""
import base64
import concurrent.futures
import re
import subprocess
import uuid

import requests

from nagar_proc import wait_until
from test_certificate_fees import fy_of, late_birth, pay
from test_certificates import (apply, error, marriage_report, ok, pdf_text, register, today)

APPS = "/api/v1/certificates/applications"
CALLBACK = "/api/v1/certificates/fee-payments/callback"


def initiate(s, app_id, token, body=None, key=None):
    return s.gateway.post(f"{APPS}/{app_id}/fee/online-payments", body or {}, token=token,
                          headers={"Idempotency-Key": key or uuid.uuid4().hex})


def callback(s, body):
    return requests.post(s.gateway.url + CALLBACK, json=body, timeout=20)


def checkout(s, order, outcome="SUCCESS"):
    """The citizen's browser at the provider: it takes the money and calls back."""
    r = requests.post(s.provider.url + "/checkout",
                      json={"orderId": order["orderId"], "amountPaise": order["amountPaise"],
                            "merchantSignature": order["merchantSignature"],
                            "callbackUrl": s.gateway.url + CALLBACK, "outcome": outcome},
                      timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def signed(s, order_id, amount, ref="FPX1", status="SUCCESS"):
    return {"orderId": order_id, "providerRef": ref, "amountPaise": str(amount), "status": status,
            "signature": s.provider.sign_callback(order_id, ref, amount, status)}


def settlements(s, app_id):
    return s.db.sql(f"SELECT count(*) FROM certificates.fee_settlement "
                    f"WHERE application_id = '{app_id}'")


def receipt_pdf(s, app_id, token):
    return s.gateway.get(f"{APPS}/{app_id}/fee/receipt/pdf", token=token)


def receipt_text(s, app_id, token, tmp_path):
    body = ok(receipt_pdf(s, app_id, token))
    assert body["contentType"] == "application/pdf"
    data = base64.b64decode(body["pdf"])
    assert data.startswith(b"%PDF-")
    path = tmp_path / body["fileName"]
    path.write_bytes(data)
    return body, path, pdf_text(path)


def history_entry(s, receipt_no, ulb):
    """The settlement's entry on the hash-chained history: seq|hash."""
    return s.db.sql("SELECT seq || '|' || encode(hash, 'hex') FROM certificates.history "
                    f"WHERE tbl = 'fee_settlement' AND ulb = '{ulb}' AND op = "
                    f"'INSERT' AND new_rows::jsonb @> '[{{\"receipt_no\": \"{receipt_no}\"}}]'")


def test_a_citizen_pays_the_fee_online_once_and_downloads_its_receipt(cert_stack, tmp_path):
    s = cert_stack
    app = ok(apply(s, "marriage", marriage_report(10), s.citizen, ulb=s.ulb_a))
    app_id = app["applicationId"]
    assert app["feeStatus"] == "DUE" and app["feePaise"] == "3000"
    stranger = s.gateway.login_citizen("9" + str(uuid.uuid4().int)[:9])["accessToken"]

    # Only the applicant starts it: another citizen does not see the
    # application (404, as elsewhere); staff take fees at a counter (403).
    error(initiate(s, app_id, stranger), 404, "NOT_FOUND", "applicationId")
    assert initiate(s, app_id, s.clerk_a).status_code == 403
    assert initiate(s, app_id, s.registrar_b).status_code == 403
    # The citizen cannot choose the amount: the request has no such field.
    assert initiate(s, app_id, s.citizen, {"amountPaise": "1"}).status_code == 400
    error(initiate(s, "no-such-application", s.citizen), 404, "NOT_FOUND", "applicationId")

    key = uuid.uuid4().hex
    order = ok(initiate(s, app_id, s.citizen, key=key))
    assert re.fullmatch(r"cf[0-9a-f]{32}", order["orderId"]), order
    assert (order["status"], order["applicationId"], order["amountPaise"], order["ulb"]) == \
        ("CREATED", app_id, "3000", s.ulb_a)
    assert re.fullmatch(r"[0-9a-f]{64}", order["merchantSignature"]), order
    assert "Marriages Rules, 2008" in order["legalBasis"], order
    assert order["receiptNo"] == ""
    # The same key again: the same order, marked a replay.
    again = initiate(s, app_id, s.citizen, key=key)
    assert again.status_code == 200 and again.json()["orderId"] == order["orderId"]
    assert again.headers.get("Idempotent-Replayed") == "true"

    # Forged or tampered callbacks are refused naming the signature; nothing changes.
    forged = dict(signed(s, order["orderId"], 3000), signature="0" * 64)
    body = error(callback(s, forged), 403, "PERMISSION_DENIED", "signature")
    assert "nothing was recorded" in body["message"], body
    tampered = dict(signed(s, order["orderId"], 1), amountPaise="3000")
    error(callback(s, tampered), 403, "PERMISSION_DENIED", "signature")
    wait_until(lambda: len([e for e in s.certificates.proc.events("certificates.callback_forged")
                            if e.get("order_id") == order["orderId"]]) == 2, 10, interval=0.05,
               what="certificates.callback_forged twice in the service's log")
    # Signed by the provider, but for another amount than the fee: refused on amountPaise.
    body = error(callback(s, signed(s, order["orderId"], 1)), 422, "INVALID_ARGUMENT",
                 "amountPaise")
    assert "3000 paise" in body["message"] and app_id in body["message"], body
    error(callback(s, signed(s, "cf" + "0" * 32, 3000)), 404, "NOT_FOUND", "orderId")
    assert settlements(s, app_id) == "0"
    got = ok(s.gateway.get(f"/api/v1/certificates/fee-payments/{order['orderId']}",
                           token=s.citizen))
    assert got["status"] == "CREATED" and got["receiptNo"] == ""
    assert ok(s.gateway.get(f"{APPS}/{app_id}", token=s.citizen))["feeStatus"] == "DUE"

    # The provider takes the money and calls back: the fee is paid, with a receipt.
    result = checkout(s, order)
    assert result["callbackStatus"] == 200, result
    paid = result["callbackBody"]
    fy = fy_of(today())
    assert paid["status"] == "PAID", paid
    assert re.fullmatch(rf"{s.ulb_a}/{fy}/CFONLINE/\d{{6,}}", paid["receiptNo"]), paid
    receipt_no = paid["receiptNo"]
    assert paid["providerRef"] == result["callback"]["providerRef"]
    app = ok(s.gateway.get(f"{APPS}/{app_id}", token=s.citizen))
    assert app["feeStatus"] == "PAID", app
    settlement = app["feeSettlement"]
    assert (settlement["receiptNo"], settlement["mode"], settlement["counter"],
            settlement["amountPaise"], settlement["instrumentRef"], settlement["recordedBy"]) == \
        (receipt_no, "ONLINE", "ONLINE", "3000", result["callback"]["providerRef"], "provider")

    # The provider repeats the callback, five times at once: the same answer, nothing new.
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda _: callback(s, result["callback"]), range(5)))
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    assert {(r.json()["status"], r.json()["receiptNo"]) for r in replies} == \
        {("PAID", receipt_no)}
    assert settlements(s, app_id) == "1"
    assert s.db.sql(f"SELECT count(*) FROM certificates.audit WHERE subject = '{app_id}' "
                    "AND action = 'application.fee_paid'") == "1"
    # Paid once: neither a second order nor the counter takes it again.
    body = error(initiate(s, app_id, s.citizen), 422, "FAILED_PRECONDITION", "applicationId")
    assert receipt_no in body["message"], body
    body = error(pay(s, app_id, s.clerk_a, amountPaise="3000"), 422, "FAILED_PRECONDITION",
                 "applicationId")
    assert receipt_no in body["message"], body

    # The order: the applicant and staff of the town read it; others do not see it.
    path = f"/api/v1/certificates/fee-payments/{order['orderId']}"
    assert ok(s.gateway.get(path, token=s.citizen))["receiptNo"] == receipt_no
    assert ok(s.gateway.get(path, token=s.clerk_a))["status"] == "PAID"
    error(s.gateway.get(path, token=stranger), 404, "NOT_FOUND", "orderId")
    error(s.gateway.get(path, token=s.registrar_b), 404, "NOT_FOUND", "orderId")

    # The receipt PDF: amount in rupees, the head, its legal basis, the town by name.
    body, pdf, text = receipt_text(s, app_id, s.citizen, tmp_path)
    assert body["receiptNo"] == receipt_no
    for expected in ("प्रमाण-पत्र शुल्क रसीद", "Certificate Fee Receipt", receipt_no,
                     f"Agar (एलजीडी कोड / LGD code {s.ulb_a})", "Application id", app_id,
                     "Marriage certificate fee", "Rs 30.00", "Total of the lines above",
                     "Marriages Rules, 2008", "Online", "The payment provider (online)",
                     order["orderId"], "Arjun Singh", today().isoformat(),
                     "Entry on the fee history"):
        assert expected in text, f"{expected!r} not in the receipt:\n{text}"
    assert "Advance credit" not in text and "Ledger entry" not in text
    # Its QR code names the settlement's entry on the hash-chained history.
    seq, digest = history_entry(s, receipt_no, s.ulb_a).split("|")
    assert body["qrPayload"] == \
        f"NAGAR-CERT-FEE-RECEIPT|v1|{receipt_no}|{s.ulb_a}|3000|{seq}|{digest}", body
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(pdf),
                    str(tmp_path / "receipt")], check=True, timeout=60)
    scanned = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "receipt.png")],
                             capture_output=True, text=True, timeout=60)
    assert scanned.returncode == 0 and scanned.stdout.strip() == body["qrPayload"], scanned
    # Staff of the town download it too; another citizen, another town's staff: 404.
    assert ok(receipt_pdf(s, app_id, s.registrar_a))["receiptNo"] == receipt_no
    error(receipt_pdf(s, app_id, stranger), 404, "NOT_FOUND", "applicationId")
    error(receipt_pdf(s, app_id, s.registrar_b), 404, "NOT_FOUND", "applicationId")

    # Registration proceeds, and the certificate shows the online receipt.
    cert = ok(register(s, app_id, s.registrar_a))
    assert cert["feeStatus"] == "PAID" and cert["feeSettlement"]["receiptNo"] == receipt_no


def test_a_late_payment_is_not_taken_twice_and_a_failed_one_takes_nothing(cert_stack):
    s = cert_stack
    app = ok(apply(s, "marriage", marriage_report(12), s.citizen, ulb=s.ulb_a))
    app_id = app["applicationId"]

    # The provider reports FAILURE: the order is FAILED, nothing is settled.
    failing = ok(initiate(s, app_id, s.citizen))
    result = checkout(s, failing, outcome="FAILURE")
    assert result["callbackStatus"] == 200 and result["callbackBody"]["status"] == "FAILED"
    assert result["callbackBody"]["receiptNo"] == ""
    assert settlements(s, app_id) == "0"
    # A signed SUCCESS for the failed order afterwards changes nothing either.
    r = callback(s, signed(s, failing["orderId"], 3000, ref="FPLATE"))
    assert r.status_code == 200 and r.json()["status"] == "FAILED", r.text
    assert settlements(s, app_id) == "0"

    # The citizen starts again, then pays at the counter before the provider calls back.
    order = ok(initiate(s, app_id, s.citizen))
    counter = ok(pay(s, app_id, s.clerk_a, amountPaise="3000"))
    result = checkout(s, order)
    assert result["callbackStatus"] == 200, result
    late = result["callbackBody"]
    assert late["status"] == "REFUND_DUE" and late["receiptNo"] == "", late
    assert counter["receiptNo"] in late["note"] and "refunded" in late["note"], late
    # Paid once, at the counter; the online money is recorded as to be refunded.
    assert settlements(s, app_id) == "1"
    got = ok(s.gateway.get(f"{APPS}/{app_id}", token=s.citizen))
    assert got["feeSettlement"]["receiptNo"] == counter["receiptNo"]
    assert got["feeSettlement"]["mode"] == "CASH"
    assert s.db.sql(f"SELECT count(*) FROM certificates.audit WHERE subject = '{app_id}' "
                    "AND action = 'application.fee_refund_due'") == "1"
    # Only the rules write orders.
    r = s.db.psql_as_app(f"UPDATE certificates.fee_order SET status = 'PAID' "
                         f"WHERE order_id = '{order['orderId']}'")
    assert not r.ok and r.sqlstate == "42501", r


def test_the_receipt_of_a_fee_paid_at_the_counter(cert_stack, tmp_path):
    s = cert_stack
    app_id = late_birth(s, 40)["applicationId"]          # Rs 50, s.13(2)
    # No receipt while the fee is due.
    body = error(receipt_pdf(s, app_id, s.clerk_a), 422, "FAILED_PRECONDITION", "applicationId")
    assert "still due" in body["message"], body
    receipt = ok(pay(s, app_id, s.clerk_a, mode="CHEQUE", instrumentRef="CHQ-004512"))
    body, _, text = receipt_text(s, app_id, s.clerk_a, tmp_path)
    assert body["receiptNo"] == receipt["receiptNo"]
    assert body["fileName"] == f"certificate-fee-receipt-{receipt['receiptNo'].replace('/', '-')}.pdf"
    for expected in (receipt["receiptNo"], "Late registration fee (after 30 days, within one year)",
                     "विलंब शुल्क", "Rs 50.00", "s.13(2)", "Cheque", "CHQ-004512", "C1",
                     "40 days", "Ramesh Verma", "Test Clerk",
                     f"Agar (एलजीडी कोड / LGD code {s.ulb_a})"):
        assert expected in text, f"{expected!r} not in the receipt:\n{text}"
    # The counter ONLINE is the online series', not a counter's.
    other = late_birth(s, 25)["applicationId"]
    error(pay(s, other, s.clerk_a, amountPaise="2000", counter="ONLINE"), 422,
          "INVALID_ARGUMENT", "counter")
    # A waived fee has no receipt: a waiver is no payment.
    ok(s.gateway.post(f"{APPS}/{other}/fee/waiver", {"reason": "flood relief order 3/2026"},
                      token=s.commissioner_a))
    body = error(receipt_pdf(s, other, s.commissioner_a), 422, "FAILED_PRECONDITION",
                 "applicationId")
    assert "waived" in body["message"], body
