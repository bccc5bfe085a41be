"""System test of receipt.pdf: a property-tax receipt as a bilingual PDF whose
QR code names the receipt's row in the hash-chained ledger.

Through the gateway, as the counter and the owner would use it: the PDF's text
(pdftotext) carries the Hindi and English labels and the amount; its QR code
(pdftoppm + zbarimg) decodes to the receipt number, ULB, amount, ledger
sequence and hash, and that hash is recomputed here from the ledger rows in
the database (SHA-256 over the previous hash and the canonical row, as
common/ledger.h defines it), so the test does not trust the service's own
arithmetic. A reversal's PDF says which receipt it reverses. Reach is that
of receipt.get: to another ULB's clerk and a stranger the receipt is 404
exactly like an unknown one, naming nothing else (issue 12: the 403 used to
name the property the receipt belongs to).
"""
import base64
import hashlib
import json
import shutil
import subprocess
import uuid

from api_checks import pdf_text  # noqa: F401 (also imported from here)
from test_property_tax import PT, create_property, n, pay, run_demand, set_rates

ULB_RECEIPT = "250964"        # Bhainsdehi
ULB_RECEIPT_OTHER = "250704"  # Bhander


def pdf_of(s, receipt_no, token, path):
    r = s.get(f"{PT}/receipts/pdf", token=token, params={"receiptNo": receipt_no})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["receiptNo"] == receipt_no and body["contentType"] == "application/pdf"
    pdf = base64.b64decode(body["pdf"])
    assert pdf.startswith(b"%PDF-")
    path.write_bytes(pdf)
    return body


def qr_of(path, tmp_path):
    stem = tmp_path / (path.stem + "-page")
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(path), str(stem)],
                   check=True, timeout=60)
    scanned = subprocess.run(["zbarimg", "-q", "--raw", str(stem) + ".png"],
                             capture_output=True, text=True, timeout=60)
    assert scanned.returncode == 0, f"no QR code found: {scanned.stderr}"
    return scanned.stdout.strip()


def canonical(row):
    """common/ledger.h: each field as "<byte length>:<bytes>;", in this order."""
    out = b""
    for key in ("ulb", "seq", "idempotency_key", "kind", "account", "reference",
                "amount_paise", "detail", "recorded_us"):
        value = str(row[key]).encode()
        out += str(len(value)).encode() + b":" + value + b";"
    return out


def ledger_row(s, ulb, seq):
    text = s.sql(
        "SELECT json_build_object('ulb', ulb, 'seq', seq, 'idempotency_key', idempotency_key, "
        "'kind', kind, 'account', account, 'reference', reference, "
        "'amount_paise', amount_paise, 'detail', detail, 'recorded_us', recorded_us, "
        "'hash', encode(hash, 'hex'))::text "
        f"FROM ledger WHERE ulb = '{ulb}' AND seq = {int(seq)}")
    return json.loads(text)


def recomputed_hash(s, ulb, seq):
    """The row's hash from its predecessor's and its own canonical bytes."""
    previous = bytes(32) if seq == 1 else bytes.fromhex(ledger_row(s, ulb, seq - 1)["hash"])
    return hashlib.sha256(previous + canonical(ledger_row(s, ulb, seq))).hexdigest()


def check_qr(s, payload, receipt):
    parts = payload.split("|")
    assert parts[:2] == ["NAGAR-PT-RECEIPT", "v1"] and len(parts) == 7, payload
    receipt_no, ulb, amount, seq, hash_hex = parts[2:]
    assert receipt_no == receipt["receiptNo"] and ulb == receipt["ulb"]
    assert int(amount) == n(receipt, "amountPaise") and int(seq) == n(receipt, "ledgerSeq")
    row = ledger_row(s, ulb, int(seq))
    assert row["reference"] == receipt_no and row["amount_paise"] == int(amount)
    assert hash_hex == row["hash"] == recomputed_hash(s, ulb, int(seq))
    return hash_hex


def test_receipt_pdf_with_ledger_qr(property_tax_stack, tmp_path):
    for tool in ("pdftotext", "pdftoppm", "zbarimg"):
        assert shutil.which(tool), f"{tool} is needed (poppler-utils, zbar-tools)"
    s = property_tax_stack(business_date="2026-06-15")
    officer = s.staff("REVENUE_OFFICER", ULB_RECEIPT)
    clerk = s.staff("CLERK", ULB_RECEIPT)
    other_clerk = s.staff("CLERK", ULB_RECEIPT_OTHER)
    owner = s.citizen("9812377001")
    stranger = s.citizen("9812377002")
    set_rates(s, officer, ULB_RECEIPT, "2026-27")
    pid = create_property(s, clerk, ULB_RECEIPT, 3000, owners=[
        {"name": "Kamla Devi Sharma", "mobile": "9812377001", "userId": owner.user_id,
         "shareBp": 10000}])
    run_demand(s, officer, ULB_RECEIPT, "2026-27")

    r = pay(s, clerk, pid, 250075, mode="CHEQUE", ref="004711", counter="C7")
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt.get("allocations")
    assert receipt == s.get(f"{PT}/receipts", token=clerk.token,
                            params={"receiptNo": receipt["receiptNo"]}).json()

    # The counter's copy: Hindi and English, the amount in rupees, the allocations.
    path = tmp_path / "receipt.pdf"
    body = pdf_of(s, receipt["receiptNo"], clerk.token, path)
    text = pdf_text(path)
    for expected in ("संपत्ति कर रसीद", "Property Tax Receipt", "रसीद क्रमांक", "Receipt no.",
                     "राशि", "Amount", "Rs 2500.75", receipt["receiptNo"], pid,
                     "Kamla Devi Sharma", "चेक / Cheque", "004711", "C7", "2026-27",
                     "Property tax", "2026-06-15", ULB_RECEIPT):
        assert expected in text, f"{expected!r} not in the PDF text:\n{text}"

    # The QR code: what the reply says, and the ledger row's true hash.
    payload = qr_of(path, tmp_path)
    assert payload == body["qrPayload"]
    hash_hex = check_qr(s, payload, receipt)
    assert f"Ledgerhash(SHA-256):{hash_hex}" in text.replace(" ", "")   # may wrap anywhere
    verify = s.get(f"{PT}/ledger/verify", token=officer.token, params={"ulb": ULB_RECEIPT})
    assert verify.status_code == 200 and verify.json()["ok"] is True, verify.text

    # Reach: the owner may print it; another ULB's clerk and a stranger may not.
    assert pdf_of(s, receipt["receiptNo"], owner.token, tmp_path / "owner.pdf")["qrPayload"] \
        == payload
    for token in (other_clerk.token, stranger.token):
        r = s.get(f"{PT}/receipts/pdf", token=token, params={"receiptNo": receipt["receiptNo"]})
        assert r.status_code == 404, r.text
        assert "pdf" not in r.json()
        assert r.json()["error"]["message"] == f"no receipt {receipt['receiptNo']}", r.text
        assert pid not in r.text
    r = s.get(f"{PT}/receipts/pdf", token=clerk.token,
              params={"receiptNo": f"{ULB_RECEIPT}/2026-27/C7/999999"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", r.text
    r = s.get(f"{PT}/receipts/pdf", token=clerk.token)
    assert r.status_code == 422 and r.json()["error"]["field"] == "receiptNo", r.text

    # A reversal's PDF says what it reverses; its QR names its own (negative) ledger row.
    r = s.post(f"{PT}/payments/reversals", {"receiptNo": receipt["receiptNo"],
                                            "reason": "cheque 004711 bounced"},
               token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    reversal = r.json()
    path = tmp_path / "reversal.pdf"
    body = pdf_of(s, reversal["receiptNo"], clerk.token, path)
    text = pdf_text(path)
    for expected in ("Property Tax Receipt — Reversal", "निरस्त", "Reverses receipt",
                     receipt["receiptNo"], reversal["receiptNo"], "Rs -2500.75",
                     "cheque 004711 bounced"):
        assert expected in text, f"{expected!r} not in the PDF text:\n{text}"
    payload = qr_of(path, tmp_path)
    assert payload == body["qrPayload"]
    check_qr(s, payload, reversal)
    assert n(reversal, "amountPaise") == -250075
    # The original, printed again, now says it was reversed.
    pdf_of(s, receipt["receiptNo"], clerk.token, tmp_path / "again.pdf")
    again = pdf_text(tmp_path / "again.pdf").replace(" ", "")     # long numbers wrap at '/'
    assert f"Reversedbyreceipt{reversal['receiptNo']}" in again

    # pt_receipt_json reads a receipt in one statement (payment.sql); it must
    # answer what the shared accounts_receipt_json (common/sql/accounts 003,
    # water tax's) answers, for a payment, one reversed and its reversal.
    rows = s.sql(
        "SELECT count(*), count(*) FILTER (WHERE pt_receipt_json(p.id) = "
        "accounts_receipt_json(pt_account_kind(), p.id, "
        "(SELECT jsonb_agg(jsonb_build_object('fy', rule_fy_text(a.fy), "
        "'head', CASE WHEN a.kind = 'REBATE' THEN 'REBATE' ELSE a.head END, "
        "'amountPaise', a.amount_paise) ORDER BY a.id) FROM allocation a "
        "WHERE a.payment_id = p.id))), "
        "count(*) FILTER (WHERE p.reverses_payment_id IS NOT NULL) FROM payment p")
    total, same, reversals = (int(x) for x in rows.split("|"))
    assert total >= 2 and reversals >= 1 and same == total, rows
