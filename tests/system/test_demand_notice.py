"""The demand notice of a property and year (issue 14 item 1): the API
resource, the bilingual PDF read back with pdftotext (Hindi and English,
every figure of the computation) and its QR code decoded with zbarimg, and
a ward's notices printed a page of properties at a time.

The worked example is services/property_tax/README.md's "Demand notice":
3000 sq ft (ground 2000 + first floor 1000), self-occupied, zone A at
Rs 15.00/sq ft, the default schedule; 2025-26 left unpaid; the notice for
2026-27 on 15 June 2026.
"""
import base64
import subprocess
import uuid

from test_property_tax import PT, create_property, dues, n, run_demand, set_rates
from test_property_tax_receipt import pdf_text, qr_of

ULB_NOTICE = "250827"       # Bhanpura
ULB_NOTICE_OTHER = "250865"  # Bhaurasa
PORTAL = "https://nagar.example.in"


def notice(s, token, pid, fy, **params):
    return s.get(f"{PT}/properties/{pid}/demand-notices/{fy}", token=token, params=params or None)


def notice_pdf(s, token, pid, fy, path):
    r = s.get(f"{PT}/properties/{pid}/demand-notices/{fy}/pdf", token=token)
    assert r.status_code == 200, r.text
    body = r.json()
    path.write_bytes(base64.b64decode(body["pdf"]))
    return body


def pages_of(path):
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, timeout=60,
                          check=True).stdout
    return int([line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")][0])


def test_demand_notice_worked_example(property_tax_stack, tmp_path):
    s = property_tax_stack(business_date="2026-06-15", NAGAR_PORTAL_URL=PORTAL + "/")
    officer = s.staff("REVENUE_OFFICER", ULB_NOTICE)
    clerk = s.staff("CLERK", ULB_NOTICE)
    other_clerk = s.staff("CLERK", ULB_NOTICE_OTHER)
    owner = s.citizen("9812300451")
    stranger = s.citizen("9812300452")
    for fy in ("2025-26", "2026-27"):
        set_rates(s, officer, ULB_NOTICE, fy)
    body = {"ulb": ULB_NOTICE, "ward": 4, "zone": "A", "address": "7 Nehru Nagar",
            "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": "SELF_OCCUPIED",
            "owners": [{"name": "Sunita Rathore", "mobile": "9812300451",
                        "userId": owner.user_id, "shareBp": 6000},
                       {"name": "Ramesh Rathore", "mobile": "", "shareBp": 4000}],
            "floors": [{"floor": 0, "areaSqft": "2000"}, {"floor": 1, "areaSqft": "1000"}]}
    r = s.post(f"{PT}/properties", body, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    pid = r.json()["propertyId"]
    assert pid == f"{ULB_NOTICE}-004-000001"       # the README's example
    zone_b = create_property(s, clerk, ULB_NOTICE, 1050, ward=4, zone="B")
    worship = create_property(s, clerk, ULB_NOTICE, 800, ward=4, exemption="WORSHIP")
    big = create_property(s, clerk, ULB_NOTICE, 10000, ward=4, owners=[
        {"name": f"Owner Number {i} Of A Long Family Name", "mobile": "", "shareBp": 2500}
        for i in range(4)])                        # three slabs, four owners
    run_demand(s, officer, ULB_NOTICE, "2025-26")
    run_demand(s, officer, ULB_NOTICE, "2026-27")

    # ---- the resource: every figure, head by head ----
    r = notice(s, clerk.token, pid, "2026-27")
    assert r.status_code == 200, r.text
    nt = r.json()
    assert (nt["noticeNo"], nt["fy"], nt["asOf"], nt["dueDate"]) == \
        (f"{pid}/2026-27", "2026-27", "2026-06-15", "2027-03-31")
    assert [(o["name"], o["shareBp"]) for o in nt["owners"]] == \
        [("Sunita Rathore", 6000), ("Ramesh Rathore", 4000)]
    assert [(f.get("floor", 0), n(f, "areaSqft")) for f in nt["floors"]] == [(0, 2000), (1, 1000)]
    figures = {k: n(nt, k) for k in (
        "areaSqft", "alvRatePaisePerSqft", "alvPaise", "maintenanceDeductionPaise", "netAlvPaise",
        "slabTaxPaise", "selfOccupiedRebatePaise", "propertyTaxPaise", "educationCessPaise",
        "urbanDevelopmentCessPaise", "samekitPaise", "yearDemandPaise", "yearSettledPaise",
        "arrearPaise", "surchargePaise", "advancePaise", "payablePaise", "rebatePaise",
        "payableWithRebatePaise")}
    assert figures == {
        "areaSqft": 3000, "alvRatePaisePerSqft": 1500,
        "alvPaise": 4500000,                          # 3000 x 1500
        "maintenanceDeductionPaise": 450000,          # 10%
        "netAlvPaise": 4050000,
        "slabTaxPaise": 252000,                       # 6% x 3,600,000 + 8% x 450,000
        "selfOccupiedRebatePaise": 25200,             # 10%
        "propertyTaxPaise": 226800,
        "educationCessPaise": 135000,                 # 3% of ALV
        "urbanDevelopmentCessPaise": 45000,           # 1% of ALV
        "samekitPaise": 50000,
        "yearDemandPaise": 456800, "yearSettledPaise": 0,
        "arrearPaise": 456800,                        # 2025-26 unpaid
        "surchargePaise": 13704,                      # 456,800 x 1.5% x 2 whole months
        "advancePaise": 0,
        "payablePaise": 927304,                       # 456,800 + 456,800 + 13,704
        "rebatePaise": 13608,                         # 6% of 226,800
        "payableWithRebatePaise": 913696}
    assert nt["slabMode"] == "MARGINAL" and nt["rebateLastDay"] == "2026-08-31"
    assert [(n(x, "abovePaise"), n(x, "uptoPaise"), x["rateBp"], n(x, "taxablePaise"),
             x["taxExactPaise"]) for x in nt["slabs"]] == \
        [(0, 3600000, 600, 3600000, "216000"), (3600000, 6000000, 800, 450000, "36000")]
    assert nt["paymentUrl"] == f"{PORTAL}/property/{pid}"
    # The notice and dues.get agree on the day.
    d = dues(s, clerk.token, pid)
    assert (n(d, "outstandingPaise"), n(d, "rebatePaise"), n(d, "payablePaise")) == \
        (927304, 13608, 913696)

    # ---- the PDF: Hindi and English, every figure; the QR opens the payment page ----
    path = tmp_path / "notice.pdf"
    body = notice_pdf(s, clerk.token, pid, "2026-27", path)
    text = pdf_text(path)
    squeezed = text.replace(" ", "")      # pdftotext may split Devanagari at a vowel sign
    for hindi in ("संपत्तिकरमांगपत्र", "वित्तीयवर्ष2026-27", "शिक्षाउपकर", "नगरीयविकासउपकर",
                  "समेकितकर", "संपत्तिकर", "कुलदेय", "देयतिथि", "स्लैब"):
        assert hindi in squeezed, f"{hindi!r} not in the PDF text:\n{text}"
    for english in (
            "Property Tax Demand Notice", "Financial year 2026-27", f"Notice {pid}/2026-27, 2026-06-15", "amounts as on 2026-06-15",
            "2026-06-15", "Sunita Rathore (60.00%), Ramesh Rathore (40.00%)", "7 Nehru Nagar",
            f"Property {pid}: 7 Nehru Nagar", "ward 4", "zone A",
            "residential, RCC roof, self-occupied", "area by floor (sq ft):", "ground 2000; 1: 1000",
            "ALV = area × rate a year (rates version 1) 3000 sq ft × Rs 15.00 = Rs 45000.00",
            "deduction for maintenance (10% of ALV) Rs 4500.00", "Net ALV Rs 40500.00",
            "Slab mode सीमांत / Marginal", "Marginal: each part of net ALV at its slab's rate",
            "6% × Rs 36000.00 = Rs 2160.00", "8% × Rs 4500.00 = Rs 360.00",
            "Tax on the slabs (rounded to the paisa) Rs 2520.00",
            "self-occupied rebate (10%) Rs 252.00", "Property tax Rs 2268.00",
            "Education cess (3% of ALV) Rs 1350.00",
            "Urban development cess (1% of ALV) Rs 450.00",
            "Consolidated charge (samekit) Rs 500.00", "Demand for 2026-27 Rs 4568.00",
            "paid for the year so far Rs 0.00", "Arrears of earlier years Rs 4568.00",
            "Surcharge (1.5% a month on arrears) Rs 137.04", "advance credit Rs 0.00",
            "Total payable (on 2026-06-15) Rs 9273.04",
            "Rebate: 6% of property tax Rs 136.08 (by 2026-08-31)",
            "Payable with the rebate, by 2026-08-31 Rs 9136.96",
            "Due date (then 1.5% a month surcharge) 2027-03-31", "How to pay",
            f"{PORTAL}/property/{pid}"):
        assert english in text, f"{english!r} not in the PDF text:\n{text}"
    assert ULB_NOTICE in text
    payload = qr_of(path, tmp_path)
    assert payload == body["qrPayload"] == f"{PORTAL}/property/{pid}"

    # Rounding shown, not hidden: zone B, 1050 sq ft at Rs 15.37, rented:
    # net ALV 1,452,465 -> 6% = 87,147.9 paise, rounded once to 87,148.
    zb = notice(s, clerk.token, zone_b, "2026-27").json()
    assert [x["taxExactPaise"] for x in zb["slabs"]] == ["87147.9"]
    assert (n(zb, "slabTaxPaise"), n(zb, "propertyTaxPaise"), n(zb, "educationCessPaise")) == \
        (87148, 87148, 48416)
    notice_pdf(s, clerk.token, zone_b, "2026-27", tmp_path / "zone_b.pdf")
    text = pdf_text(tmp_path / "zone_b.pdf")
    assert "6% × Rs 14524.65 = Rs 871.479" in text and "Rs 871.48" in text, text
    # An exempt category owes nothing, and the notice says why.
    ex = notice(s, clerk.token, worship, "2026-27").json()
    assert ex["exempt"] is True and n(ex, "yearDemandPaise") == 0 and ex.get("slabs", []) == []

    # ---- who may see it ----
    assert notice(s, owner.token, pid, "2026-27").status_code == 200
    # A property the caller may not see is 404 exactly like a missing one (issue 12).
    for token in (stranger.token, other_clerk.token):
        r = notice(s, token, pid, "2026-27")
        assert r.status_code == 404, r.text
        assert r.json()["error"]["field"] == "propertyId" and pid in r.json()["error"]["message"]
        r = s.get(f"{PT}/properties/{pid}/demand-notices/2026-27/pdf", token=token)
        assert r.status_code == 404 and "pdf" not in r.json(), r.text
    r = notice(s, clerk.token, pid, "2027-28")
    assert r.status_code == 404 and r.json()["error"]["field"] == "fy", r.text
    r = notice(s, clerk.token, pid, "2026")
    assert r.status_code == 422 and r.json()["error"]["field"] == "fy", r.text

    # ---- a ward's notices: a PDF per page of properties, one notice per page ----
    ward = {"ulb": ULB_NOTICE, "ward": 4, "fy": "2026-27", "pageSize": 2}
    r = s.get(f"{PT}/demand-notices/pdf", token=clerk.token, params=ward)
    assert r.status_code == 200, r.text
    first = r.json()
    everyone = sorted([pid, zone_b, worship, big])
    assert first["propertyIds"] == everyone[:2] and first["nextPageToken"]
    (tmp_path / "ward1.pdf").write_bytes(base64.b64decode(first["pdf"]))
    assert pages_of(tmp_path / "ward1.pdf") == 2
    r = s.get(f"{PT}/demand-notices/pdf", token=clerk.token,
              params=dict(ward, pageToken=first["nextPageToken"]))
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["propertyIds"] == everyone[2:]
    assert second.get("nextPageToken", "") == ""
    (tmp_path / "ward2.pdf").write_bytes(base64.b64decode(second["pdf"]))
    assert pages_of(tmp_path / "ward2.pdf") == 2
    text = pdf_text(tmp_path / "ward1.pdf") + pdf_text(tmp_path / "ward2.pdf")
    assert text.count("Property Tax Demand Notice") == 4
    # The three slabs of the 10000 sq ft property (README): net ALV 13,500,000.
    for slab in ("6% × Rs 36000.00 = Rs 2160.00", "8% × Rs 24000.00 = Rs 1920.00",
                 "10% × Rs 75000.00 = Rs 7500.00", "Property tax Rs 11580.00"):
        assert slab in text, f"{slab!r} not in:\n{text}"
    # Citizens and other ULBs' staff cannot print a ward; an empty ward is 404.
    assert s.get(f"{PT}/demand-notices/pdf", token=owner.token, params=ward).status_code == 403
    assert s.get(f"{PT}/demand-notices/pdf", token=other_clerk.token,
                 params=ward).status_code == 403
    r = s.get(f"{PT}/demand-notices/pdf", token=clerk.token, params=dict(ward, ward=9))
    assert r.status_code == 404 and r.json()["error"]["field"] == "ward", r.text
