"""Printed receipts add up, and name who recorded them (issue 14 items 2 and 5).

Before: a property-tax receipt of Rs 803.47 printed "Rebate 23.33" among the
heads paid, so its lines came to Rs 826.80; receipts printed "Recorded by
staff:<uuid>"; water charges had no printed receipt at all.

Now (common/receipt_print.h) the heads paid and the change of the advance
credit are the lines, their total is printed and is the amount, the rebate
is printed apart as the rebate granted, and the clerk is named by identity.
These tests read the PDFs back with pdftotext and add the lines up
themselves: the rupee amounts printed between the counter and the total.
"""
import base64
import re
import uuid

from test_property_tax import PT, create_property, n, pay, run_demand, set_rates
from test_property_tax_receipt import pdf_of, pdf_text, qr_of
from test_water_tax import WT, bill, billed_connection, run_bills

ULB_PT_RECEIPT = "250805"     # Beohari
ULB_WT_RECEIPT = "250897"     # Betma

RUPEES = re.compile(r"Rs (-?\d+)\.(\d\d)")


def paise(text):
    """Every 'Rs 123.45' of text, in paise."""
    return [int(r) * 100 + (int(p) if not r.startswith("-") else -int(p))
            for r, p in RUPEES.findall(text)]


def printed_lines(text):
    """The amounts printed as the receipt's lines: after the counter's field,
    up to the total of the lines."""
    start = text.index("Counter")
    end = text.index("Total of the lines above")
    return paise(text[start:end])


def printed_total(text):
    after = text[text.index("Total of the lines above"):]
    return paise(after)[0]


def check_adds_up(text, amount):
    lines = printed_lines(text)
    assert lines and sum(lines) == amount == printed_total(text), \
        f"lines {lines} (sum {sum(lines)}) and total {printed_total(text)} vs amount {amount}:\n{text}"
    return lines


def test_property_receipt_with_rebate_adds_up(property_tax_stack, tmp_path):
    # The issue's receipt: 480 sq ft at Rs 15.00 = ALV Rs 7,200; net ALV Rs 6,480
    # (above the Rs 6,000 threshold) -> property tax 6% = Rs 388.80; education
    # cess 3% of ALV Rs 216.00, UD cess 1% Rs 72.00, samekit Rs 150.00.
    # Paid in full on the rebate's last day: rebate 6% of 388.80 = 23.328 -> Rs 23.33,
    # so the owner pays 365.47 + 216.00 + 72.00 + 150.00 = Rs 803.47.
    s = property_tax_stack(business_date="2025-08-31")
    officer = s.staff("REVENUE_OFFICER", ULB_PT_RECEIPT)
    clerk = s.staff("CLERK", ULB_PT_RECEIPT)
    set_rates(s, officer, ULB_PT_RECEIPT, "2025-26", samekitPaise="15000")
    pid = create_property(s, clerk, ULB_PT_RECEIPT, 480)
    run_demand(s, officer, ULB_PT_RECEIPT, "2025-26")
    r = pay(s, clerk, pid, 80347)
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert ("2025-26", "REBATE", 2333) in [(a["fy"], a["head"], n(a, "amountPaise"))
                                            for a in receipt["allocations"]]
    # The payment's answer (made from what it wrote, pt_payment_insert) is the
    # receipt as receipt.get reads it back.
    assert receipt == s.get(f"{PT}/receipts", token=clerk.token,
                            params={"receiptNo": receipt["receiptNo"]}).json()

    path = tmp_path / "rebate.pdf"
    body = pdf_of(s, receipt["receiptNo"], clerk.token, path)
    text = pdf_text(path)
    lines = check_adds_up(text, 80347)
    assert sorted(lines) == sorted([36547, 21600, 7200, 15000]), text
    for expected in ("2025-26 Property tax Rs 365.47", "2025-26 Education cess Rs 216.00",
                     "Urban development cess Rs 72.00", "Rs 150.00",
                     "Total of the lines above (= amount) Rs 803.47", "Amount Rs 803.47"):
        assert expected in text, f"{expected!r} not in:\n{text}"
    # The rebate is printed apart, as the rebate granted, not as a head paid.
    rebate = text[text.index("Rebate granted"):]
    assert rebate.split("Rs ", 1)[1].startswith("23.33 (2025-26)"), text
    # (pdftotext may split a Devanagari word at a vowel sign: compare without spaces)
    assert "छूट" in text.replace(" ", "") and "not part of the amount" in text
    # Who recorded it, by name from identity; never the bare user id.
    assert "Recorded by Test CLERK" in text, text
    assert "staff:" not in text and clerk.user_id not in text
    assert qr_of(path, tmp_path) == body["qrPayload"]


def test_property_receipt_using_advance_adds_up(property_tax_stack, tmp_path):
    # 3000 sq ft rented owes 482,000 a year (README); 500,000 leaves 18,000 of
    # advance; the next year's 482,000 is then paid with 464,000 and the credit.
    s = property_tax_stack(business_date="2026-09-15")
    officer = s.staff("REVENUE_OFFICER", ULB_PT_RECEIPT)
    clerk = s.staff("CLERK", ULB_PT_RECEIPT)
    set_rates(s, officer, ULB_PT_RECEIPT, "2026-27")
    pid = create_property(s, clerk, ULB_PT_RECEIPT, 3000, ward=2)
    run_demand(s, officer, ULB_PT_RECEIPT, "2026-27")
    r = pay(s, clerk, pid, 500000)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first == s.get(f"{PT}/receipts", token=clerk.token,
                          params={"receiptNo": first["receiptNo"]}).json()
    pdf_of(s, first["receiptNo"], clerk.token, tmp_path / "first.pdf")
    text = pdf_text(tmp_path / "first.pdf")
    assert check_adds_up(text, 500000)[-1] == 18000
    assert "Credited to advance Rs 180.00" in text, text

    # A reversal of it prints the same lines negated, and they add up too.
    r = s.post(f"{PT}/payments/reversals", {"receiptNo": first["receiptNo"],
                                            "reason": "entered twice"},
               token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    reversal = r.json()
    pdf_of(s, reversal["receiptNo"], clerk.token, tmp_path / "reversal.pdf")
    text = pdf_text(tmp_path / "reversal.pdf")
    assert check_adds_up(text, -500000)[-1] == -18000
    assert "Recorded by Test REVENUE_OFFICER" in text, text


def test_water_receipts_add_up(water_tax_stack, tmp_path):
    s = water_tax_stack(business_date="2025-08-05")
    officer, clerk, cid = billed_connection(s, ULB_WT_RECEIPT)
    # June: 18,000 + 5,400 + 3,000 = 26,400; paying 36,400 leaves 10,000 of credit.
    r = s.post(f"{WT}/payments", {"connectionId": cid, "amountPaise": "36400", "mode": "CASH",
                                  "counter": "W1", "advance": True},
               token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    june = r.json()
    path = tmp_path / "june.pdf"
    r = s.get(f"{WT}/receipts/pdf", token=clerk.token, params={"receiptNo": june["receiptNo"]})
    assert r.status_code == 200, r.text
    path.write_bytes(base64.b64decode(r.json()["pdf"]))
    text = pdf_text(path)
    assert check_adds_up(text, 36400) == [18000, 5400, 3000, 10000]
    assert "जलएवंस्वच्छताप्रभाररसीद" in text.replace(" ", "")
    for expected in ("Water and Sanitation Charges Receipt",
                     "2025-06 Water charge Rs 180.00", "2025-06 Sewerage charge Rs 54.00",
                     "Credited to advance Rs 100.00", "Asha Verma", cid,
                     "Recorded by Test CLERK"):
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert "staff:" not in text
    payload = qr_of(path, tmp_path)
    assert payload == r.json()["qrPayload"]
    parts = payload.split("|")
    assert parts[:4] == ["NAGAR-WT-RECEIPT", "v1", june["receiptNo"], ULB_WT_RECEIPT]
    assert int(parts[4]) == 36400 and int(parts[5]) == n(june, "ledgerSeq")

    # July: the 10,000 of credit and 16,400 in cash pay the 26,400.
    run_bills(s, officer, ULB_WT_RECEIPT, "2025-07")
    assert n(bill(s, clerk.token, cid, "2025-07"), "totalPaise") == 16400
    r = s.post(f"{WT}/payments", {"connectionId": cid, "amountPaise": "16400", "mode": "CASH",
                                  "counter": "W1"}, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    july = r.json()
    r = s.get(f"{WT}/receipts/pdf", token=clerk.token, params={"receiptNo": july["receiptNo"]})
    assert r.status_code == 200, r.text
    path = tmp_path / "july.pdf"
    path.write_bytes(base64.b64decode(r.json()["pdf"]))
    text = pdf_text(path)
    assert check_adds_up(text, 16400) == [18000, 5400, 3000, -10000]
    assert "Advance credit used Rs -100.00" in text, text

    # Reach as receipt.get: another ULB's clerk may not print it — to them it
    # is 404 exactly like a missing receipt (issue 12), naming nothing else.
    other = s.staff("CLERK", "250827")
    r = s.get(f"{WT}/receipts/pdf", token=other.token, params={"receiptNo": july["receiptNo"]})
    assert r.status_code == 404, r.text
    assert r.json()["error"]["message"] == f"no receipt {july['receiptNo']}", r.text
