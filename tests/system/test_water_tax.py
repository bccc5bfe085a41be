"""System tests of nagar-water-tax through the gateway (and, for the
fences between services, psql as the service's own role and raw MDP peers
with its bus key).

Every charge has a worked example with the expected paise; the arithmetic
is spelled out next to each expectation and in services/water_tax/README.md.
Tests keep their data apart by ULB (the database is the session's): each
test owns one LGD code below (different from property tax's tests').
"""
import concurrent.futures
import time
import uuid

import requests

from mdp_packed import NagarClient
from mdp_peers import DISCONNECT, MdpWorker
from nagar_proc import wait_until
from rules_stack import job_through_a_killed_worker
from test_broker import PERMISSION_DENIED, make_request, parse_reply

WT = "/api/v1/water-tax"

# One ULB per test: LGD codes from services/identity/data.
ULB_BILLS = "250708"
ULB_OTHER = "250692"
ULB_READ = "250806"
ULB_TWICE = "250838"
ULB_KILL = "250741"
ULB_PAY = "250684"
ULB_ARREAR = "250755"
ULB_REVERSE = "250882"    # Alirajpur
ULB_ONLINE = "250839"     # Alot
ULB_REVERSE_RACE = "250753"   # Amarkantak
ULB_CHUNKS = "250884"     # Badnawar

NO_FEE = [{"category": "DOMESTIC", "pipeSizeMm": 15, "feePaise": "0"}]
TODAY = "2025-07-10"      # the business date: June 2025 has ended and can be billed


def n(obj, key):
    """An integer field of a reply; proto3 JSON leaves out zeros."""
    return int(obj.get(key, 0))


def tariff_body(**overrides):
    """The README's example tariff (the built-in defaults, spelled out)."""
    body = {
        "flatRates": [{"category": "DOMESTIC", "pipeSizeMm": 15, "monthlyPaise": "18000"},
                      {"category": "DOMESTIC", "pipeSizeMm": 20, "monthlyPaise": "21000"},
                      {"category": "COMMERCIAL", "pipeSizeMm": 20, "monthlyPaise": "60000"}],
        "meteredSlabs": [{"category": "DOMESTIC", "uptoKl": "10", "ratePaisePerKl": "500"},
                         {"category": "DOMESTIC", "uptoKl": "20", "ratePaisePerKl": "1000"},
                         {"category": "DOMESTIC", "uptoKl": "0", "ratePaisePerKl": "1500"},
                         {"category": "COMMERCIAL", "uptoKl": "0", "ratePaisePerKl": "2500"}],
        "meteredMinimum": [{"category": "DOMESTIC", "paise": "5000"},
                           {"category": "COMMERCIAL", "paise": "20000"}],
        "sewerageBp": 3000,
        "solidWaste": [{"category": "DOMESTIC", "paise": "3000"},
                       {"category": "COMMERCIAL", "paise": "10000"}],
        "surchargeBp": 200, "advanceRebateBp": 500, "dueDays": 15, "maxMonthlyKl": "100",
        "estimateDefaultKl": "15",
        "connectionFees": [{"category": "DOMESTIC", "pipeSizeMm": 15, "feePaise": "200000"},
                           {"category": "DOMESTIC", "pipeSizeMm": 20, "feePaise": "300000"},
                           {"category": "COMMERCIAL", "pipeSizeMm": 20, "feePaise": "750000"}],
        "disconnectionFeePaise": "20000", "reconnectionFeePaise": "50000",
        "reason": "test tariff",
    }
    body.update(overrides)
    return body


def set_tariff(s, officer, ulb, fy="2025-26", **overrides):
    r = s.put(f"{WT}/tariffs/{ulb}/{fy}", tariff_body(**overrides), token=officer.token,
              key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    return r.json()


def connect(s, clerk, officer, ulb, category="DOMESTIC", pipe=15, metered=False, units=1,
            initial=0, active_from="2025-05-01", ward=1, mobile="9876500001"):
    """An active connection: applied for by clerk (a clerk or the citizen
    applying for their own connection), approved by officer."""
    body = {"ulb": ulb, "ward": ward, "propertyId": f"{ulb}-001-000001",
            "consumerName": "Asha Verma", "mobile": mobile, "address": "12 Gandhi Marg",
            "category": category, "pipeSizeMm": pipe, "metered": metered, "units": units}
    if metered:
        body["meterNo"] = "M-" + uuid.uuid4().hex[:8]
    r = s.post(f"{WT}/connections", body, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    cid = r.json()["connectionId"]
    assert r.json()["status"] == "APPLIED"
    r = s.post(f"{WT}/connections/{cid}/decision",
               {"approve": True, "reason": "site inspected", "initialReadingLitres": str(initial),
                "activeFrom": active_from},
               token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ACTIVE"
    return cid


def read(s, clerk, cid, date, litres):
    return s.post(f"{WT}/connections/{cid}/readings",
                  {"readingDate": date, "readingLitres": str(litres)}, token=clerk.token,
                  key=uuid.uuid4().hex)


def run_bills(s, officer, ulb, period, timeout=90):
    return s.run_job(f"{WT}/bill-jobs", {"ulb": ulb, "period": period}, officer.token, timeout)


def billed_connection(s, ulb):
    """(officer, clerk, connection): a DOMESTIC 15 mm unmetered connection of
    ulb under the test tariff without its connection fee, active from May 2025
    and billed for June 2025 (18,000 + 5,400 + 3,000 = 26,400 paise)."""
    officer = s.staff("REVENUE_OFFICER", ulb)
    clerk = s.staff("CLERK", ulb)
    set_tariff(s, officer, ulb, connectionFees=NO_FEE)
    cid = connect(s, clerk, officer, ulb)
    run_bills(s, officer, ulb, "2025-06")
    return officer, clerk, cid


def bill(s, token, cid, period):
    r = s.get(f"{WT}/connections/{cid}/bills/{period}", token=token)
    assert r.status_code == 200, r.text
    return r.json()


def lines(b):
    return {l["head"]: n(l, "amountPaise") for l in b.get("lines", [])}


def bills_snapshot(s, ulb):
    return s.sql("SELECT string_agg(concat_ws(':', connection_id, period, consumption_litres, "
                 "estimated, water_paise, sewerage_paise, solid_waste_paise, surcharge_paise, "
                 "rebate_paise, arrear_paise, advance_paise, due_date), ',' ORDER BY "
                 f"connection_id, period) FROM bill WHERE ulb = '{ulb}'")


def pay(s, clerk, cid, amount, key=None, mode="CASH", counter="W1", advance=True):
    """A counter payment; what exceeds the dues stays as credit unless advance=False
    (then it is refused, 422)."""
    return s.post(f"{WT}/payments", {"connectionId": cid, "amountPaise": str(amount),
                                     "mode": mode, "counter": counter, "advance": advance},
                  token=clerk.token, key=key or uuid.uuid4().hex)


def insert_connections(s, ulb, count):
    """count unmetered DOMESTIC 15 mm connections, active since 1 May 2025,
    straight into the table (a bulk register, as a migration would load)."""
    s.sql(f"""INSERT INTO connection (connection_id, ulb, ward, number, property_id, consumer_name,
                  address, category, pipe_size_mm, metered, units, status, applied_on, active_from,
                  created_by)
              SELECT '{ulb}-W' || lpad((1 + i % 9)::text, 3, '0') || '-' || lpad(i::text, 6, '0'),
                     '{ulb}', 1 + i % 9, i, '{ulb}-001-' || lpad(i::text, 6, '0'), 'Consumer ' || i,
                     'Street ' || i, 'DOMESTIC', 15, false, 1, 'ACTIVE', '2025-05-01',
                     '2025-05-01', 'test'
              FROM generate_series(1, {count}) i""")


# ---- bills: flat, metered, mixed --------------------------------------------------------

def test_flat_metered_and_mixed_bills(water_tax_stack):
    s = water_tax_stack(business_date=TODAY)
    officer = s.staff("REVENUE_OFFICER", ULB_BILLS)
    clerk = s.staff("CLERK", ULB_BILLS)
    saved = set_tariff(s, officer, ULB_BILLS)
    assert saved["version"] == 1

    flat15 = connect(s, clerk, officer, ULB_BILLS, pipe=15)
    flat20 = connect(s, clerk, officer, ULB_BILLS, pipe=20, units=2)
    slab3 = connect(s, clerk, officer, ULB_BILLS, metered=True, initial=1000)
    half = connect(s, clerk, officer, ULB_BILLS, metered=True, initial=1000)
    minimum = connect(s, clerk, officer, ULB_BILLS, metered=True, initial=1000)
    estimated = connect(s, clerk, officer, ULB_BILLS, category="COMMERCIAL", pipe=20,
                        metered=True, initial=0)
    for cid, litres in ((slab3, 26500), (half, 13345), (minimum, 5000)):
        r = read(s, clerk, cid, "2025-06-30", litres)
        assert r.status_code == 200, r.text

    job = run_bills(s, officer, ULB_BILLS, "2025-06")
    assert (n(job, "total"), n(job, "billsCreated"), n(job, "skipped"), n(job, "estimated")) == \
        (6, 6, 0, 1)

    # Flat, 15 mm, one household: 18,000 + 30% sewerage 5,400 + solid waste 3,000.
    b = bill(s, clerk.token, flat15, "2025-06")
    assert lines(b) == {"WATER": 18000, "SEWERAGE": 5400, "SOLID_WASTE": 3000}
    assert (n(b, "currentPaise"), n(b, "totalPaise"), b.get("metered", False)) == \
        (26400, 26400, False)
    assert (b["billDate"], b["dueDate"]) == ("2025-07-01", "2025-07-16")
    # Flat, 20 mm, two households: 21,000 + 6,300 + 2 x 3,000.
    assert lines(bill(s, clerk.token, flat20, "2025-06")) == \
        {"WATER": 21000, "SEWERAGE": 6300, "SOLID_WASTE": 6000}
    # Metered, 25,500 litres: 10 kl x Rs 5 + 10 kl x Rs 10 + 5.5 kl x Rs 15 = 232.50.
    b = bill(s, clerk.token, slab3, "2025-06")
    assert (n(b, "consumptionLitres"), b.get("estimated", False)) == (25500, False)
    assert lines(b) == {"WATER": 23250, "SEWERAGE": 6975, "SOLID_WASTE": 3000}
    # Metered, 12,345 litres: 5,000 + 2,345 x 1,000 / 1,000 = 7,345; sewerage
    # 30% = 2,203.5, rounded half away from zero to 2,204.
    assert lines(bill(s, clerk.token, half, "2025-06")) == \
        {"WATER": 7345, "SEWERAGE": 2204, "SOLID_WASTE": 3000}
    # Metered, 4,000 litres: 2,000 at the slab rate, raised to the 5,000 minimum.
    assert lines(bill(s, clerk.token, minimum, "2025-06")) == \
        {"WATER": 5000, "SEWERAGE": 1500, "SOLID_WASTE": 3000}
    # Commercial meter with no reading and no history: the 15 kl default
    # estimate x Rs 25 = 37,500, flagged, and an ESTIMATED reading recorded.
    b = bill(s, clerk.token, estimated, "2025-06")
    assert (n(b, "consumptionLitres"), b.get("estimated", False)) == (15000, True)
    assert lines(b) == {"WATER": 37500, "SEWERAGE": 11250, "SOLID_WASTE": 10000}
    readings = s.get(f"{WT}/connections/{estimated}/readings", token=clerk.token).json()
    assert [(r["kind"], n(r, "consumptionLitres")) for r in readings["readings"]] == \
        [("INITIAL", 0), ("ESTIMATED", 15000)]

    # The bill PDF carries the amounts and a QR code with the bill number.
    r = s.get(f"{WT}/connections/{slab3}/bills/2025-06/pdf", token=clerk.token)
    assert r.status_code == 200, r.text
    pdf = r.json()
    assert pdf["qrPayload"] == f"NAGAR-WATER-BILL|v1|{slab3}/2025-06|{slab3}|2025-06|33225|2025-07-16"
    import base64
    assert base64.b64decode(pdf["pdf"]).startswith(b"%PDF")

    # The connection fee was charged on approval: dues = fee + the bill.
    d = s.get(f"{WT}/connections/{flat15}/dues", token=clerk.token).json()
    assert n(d, "outstandingPaise") == 200000 + 26400
    # The ULB's job put one "demand.raised" event in the outbox.
    assert s.sql("SELECT count(*) FROM outbox WHERE event_type = 'demand.raised' "
                 f"AND ulb = '{ULB_BILLS}'") == "1"


def test_arrears_surcharge_and_advance_rebate(water_tax_stack):
    s = water_tax_stack(business_date="2025-08-05")
    officer = s.staff("REVENUE_OFFICER", ULB_ARREAR)
    clerk = s.staff("CLERK", ULB_ARREAR)
    set_tariff(s, officer, ULB_ARREAR, connectionFees=NO_FEE)
    late = connect(s, clerk, officer, ULB_ARREAR)
    early = connect(s, clerk, officer, ULB_ARREAR)
    run_bills(s, officer, ULB_ARREAR, "2025-06")
    # The early payer pays June's 26,400 and 40,000 ahead.
    r = pay(s, clerk, early, 66400)
    assert r.status_code == 200, r.text
    assert n(r.json(), "advancePaise") == 40000
    run_bills(s, officer, ULB_ARREAR, "2025-07")
    # Late: June's 26,400 unpaid -> surcharge 2% = 528 on July's bill.
    b = bill(s, clerk.token, late, "2025-07")
    assert lines(b) == {"WATER": 18000, "SEWERAGE": 5400, "SOLID_WASTE": 3000, "SURCHARGE": 528}
    assert (n(b, "arrearPaise"), n(b, "totalPaise")) == (26400, 26400 + 26928)
    # Early: 40,000 of credit pays July in full, so the advance rebate of
    # 5% of the water charge (900) comes off: 26,400 - 900 = 25,500.
    b = bill(s, clerk.token, early, "2025-07")
    assert lines(b) == {"WATER": 18000, "SEWERAGE": 5400, "SOLID_WASTE": 3000,
                        "ADVANCE_REBATE": -900}
    assert (n(b, "currentPaise"), n(b, "advancePaise"), n(b, "totalPaise")) == (25500, 40000, 0)
    # Defaulters: the late connection, June past its due date (16 July).
    rep = s.get(f"{WT}/reports/defaulters", token=clerk.token,
                params={"ulb": ULB_ARREAR}).json()
    assert [(d["connectionId"], n(d, "outstandingPaise")) for d in rep["defaulters"]] == \
        [(late, 26400)]
    r = s.post(f"{WT}/disconnection-notices", {"ulb": ULB_ARREAR}, token=officer.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    assert r.json()["connectionIds"] == [late] and r.json()["payBy"] == "2025-08-20"
    assert s.sql("SELECT count(*) FROM outbox WHERE event_type = 'water.disconnection_notice' "
                 f"AND ulb = '{ULB_ARREAR}'") == "1"
    # DCB 2025-26: demand 26,400 x 2 + 26,928 + 25,500; collected 26,400 (June, early).
    dcb = s.get(f"{WT}/reports/dcb", token=clerk.token,
                params={"ulb": ULB_ARREAR, "fy": "2025-26"}).json()
    total = [row for row in dcb["rows"] if n(row, "ward") == 0][0]
    assert (n(total, "currentDemandPaise"), n(total, "currentCollectionPaise")) == \
        (26400 * 2 + 26928 + 25500, 26400)


def test_bill_chunk_reads_its_own_connections_readings_arrears_and_advance(water_tax_stack):
    """A chunk reads the readings, earlier bills and payments of its own connections,
    whatever the chunk boundaries: each bill carries its own connection's consumption
    (read, or estimated from its history), arrear, surcharge and advance credit."""
    s = water_tax_stack(business_date="2025-08-05", NAGAR_WATER_TAX_BILL_CHUNK=2)
    officer = s.staff("REVENUE_OFFICER", ULB_CHUNKS)
    clerk = s.staff("CLERK", ULB_CHUNKS)
    set_tariff(s, officer, ULB_CHUNKS, connectionFees=NO_FEE)
    # Chunks of two: (0 1) (2 3) (4); 3 is unmetered.
    cids = [connect(s, clerk, officer, ULB_CHUNKS, metered=i != 3) for i in range(5)]
    assert cids == sorted(cids)
    june = {0: 8000, 1: 12000, 2: 16000, 4: 20000}
    for i, litres in june.items():
        r = read(s, clerk, cids[i], "2025-06-30", litres)
        assert r.status_code == 200, r.text
    job = run_bills(s, officer, ULB_CHUNKS, "2025-06")
    assert (n(job, "billsCreated"), n(job, "estimated"), n(job, "chunks")) == (5, 0, 3)

    def billed(period):
        out = {}
        for line in s.sql("SELECT connection_id, consumption_litres, estimated, surcharge_paise, "
                          "arrear_paise, advance_paise, water_paise + sewerage_paise "
                          "+ solid_waste_paise + surcharge_paise - rebate_paise FROM bill "
                          f"WHERE ulb = '{ULB_CHUNKS}' AND period = '{period}-01'").splitlines():
            cid, litres, estimated, surcharge, arrear, advance, current = line.split("|")
            out[cid] = (int(litres), estimated == "t", int(surcharge), int(arrear), int(advance),
                        int(current))
        return out
    bills = billed("2025-06")
    assert {cid: b[:5] for cid, b in bills.items()} == \
        {cid: (june.get(i, 0), False, 0, 0, 0) for i, cid in enumerate(cids)}

    # 1 and 2, either side of a boundary, pay June and leave credit; the rest pay nothing.
    credit = {1: 50000, 2: 30000}
    for i, extra in credit.items():
        r = pay(s, clerk, cids[i], bills[cids[i]][5] + extra)
        assert r.status_code == 200, r.text
        assert n(r.json(), "advancePaise") == extra, r.text
    # July: 0 and 1 read; 2 and 4 are estimated from June's reading, their only history.
    july = {0: 5000, 1: 7000}
    for i, litres in july.items():
        r = read(s, clerk, cids[i], "2025-07-31", june[i] + litres)
        assert r.status_code == 200, r.text
    job = run_bills(s, officer, ULB_CHUNKS, "2025-07")
    assert (n(job, "billsCreated"), n(job, "estimated"), n(job, "chunks")) == (5, 2, 3)

    expected = {}
    for i, cid in enumerate(cids):
        arrear = 0 if i in credit else bills[cid][5]
        surcharge = (arrear * 200 + 5000) // 10000        # 2%, half up
        expected[cid] = (july.get(i, june.get(i, 0)), i in (2, 4), surcharge, arrear,
                         credit.get(i, 0))
    assert {cid: b[:5] for cid, b in billed("2025-07").items()} == expected
    assert all(expected[cids[i]][2] > 0 for i in (0, 3, 4))
    # The estimated readings continue each meter's own last reading.
    assert s.sql("SELECT string_agg(connection_id || ':' || reading_litres, ',' ORDER BY "
                 "connection_id) FROM meter_reading WHERE kind = 'ESTIMATED' "
                 f"AND ulb = '{ULB_CHUNKS}'") == \
        f"{cids[2]}:{2 * june[2]},{cids[4]}:{2 * june[4]}"


# ---- meter readings ---------------------------------------------------------------------

def test_meter_readings_rules(water_tax_stack):
    s = water_tax_stack(business_date=TODAY)
    officer = s.staff("REVENUE_OFFICER", ULB_READ)
    clerk = s.staff("CLERK", ULB_READ)
    set_tariff(s, officer, ULB_READ)
    cid = connect(s, clerk, officer, ULB_READ, metered=True, initial=50000)
    # Lower than the last reading (the initial 50,000) without a replacement: 422.
    r = read(s, clerk, cid, "2025-05-31", 49999)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == "readingLitres" and "lower than the last reading" in err["message"]
    # Implausibly high: 100 kl a month is the tariff's limit.
    r = read(s, clerk, cid, "2025-05-31", 50000 + 100001)
    assert r.status_code == 422 and r.json()["error"]["field"] == "readingLitres", r.text
    assert s.sql(f"SELECT count(*) FROM meter_reading WHERE connection_id = '{cid}'") == "1"
    r = read(s, clerk, cid, "2025-05-31", 62000)
    assert r.status_code == 200 and n(r.json(), "consumptionLitres") == 12000, r.text
    # One reading a month.
    r = read(s, clerk, cid, "2025-05-31", 63000)
    assert r.status_code == 409 and r.json()["error"]["field"] == "readingDate", r.text
    # After a recorded replacement, the new meter starts lower.
    r = s.post(f"{WT}/connections/{cid}/meter-replacements",
               {"replacedOn": "2025-06-15", "oldMeterFinalLitres": "65000", "newMeterNo": "NEW-1",
                "newMeterInitialLitres": "10", "reason": "meter stuck"},
               token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    assert r.json()["meterNo"] == "NEW-1"
    r = read(s, clerk, cid, "2025-06-30", 2010)
    assert r.status_code == 200 and n(r.json(), "consumptionLitres") == 2000, r.text
    # Bulk import: rows taken or refused one by one, with their line.
    other = connect(s, clerk, officer, ULB_READ, metered=True, initial=0)
    csv = ("connection_id,reading_date,reading_litres\n"
           f"{other},2025-05-31,7000\n{other},2025-06-30,3000\nNOPE,2025-06-30,1\n")
    r = s.post(f"{WT}/readings/import", {"ulb": ULB_READ, "csv": csv}, token=clerk.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert n(rep, "accepted") == 1
    assert [(x["line"], x["field"]) for x in rep["rejected"]] == \
        [(3, "readingLitres"), (4, "connectionId")]
    # June bill: 3 kl (old meter, 62,000 -> 65,000) + 2 kl (new meter) = 5,000 litres.
    run_bills(s, officer, ULB_READ, "2025-06")
    assert n(bill(s, clerk.token, cid, "2025-06"), "consumptionLitres") == 5000


# ---- the batch: twice, killed half-way --------------------------------------------------

def test_bill_run_twice_is_identical(water_tax_stack):
    s = water_tax_stack(business_date=TODAY, NAGAR_WATER_TAX_BILL_CHUNK=70)
    officer = s.staff("REVENUE_OFFICER", ULB_TWICE)
    set_tariff(s, officer, ULB_TWICE)
    insert_connections(s, ULB_TWICE, 500)
    first = run_bills(s, officer, ULB_TWICE, "2025-06")
    assert (n(first, "total"), n(first, "billsCreated")) == (500, 500)
    snapshot = bills_snapshot(s, ULB_TWICE)
    second = run_bills(s, officer, ULB_TWICE, "2025-06")
    assert second["jobId"] != first["jobId"]
    assert (n(second, "processed"), n(second, "billsCreated")) == (500, 0)
    assert bills_snapshot(s, ULB_TWICE) == snapshot
    s.check_job_reach(f"{WT}/bill-jobs", first["jobId"], "bill job", ULB_OTHER, ULB_TWICE)


def test_bill_run_killed_half_way_finishes_after_restart(water_tax_stack):
    s = water_tax_stack(business_date=TODAY, NAGAR_WATER_TAX_BILL_CHUNK=100,
                        NAGAR_WATER_TAX_BILL_TICK_MS=60)
    officer = s.staff("REVENUE_OFFICER", ULB_KILL)
    set_tariff(s, officer, ULB_KILL)
    insert_connections(s, ULB_KILL, 3000)
    job_through_a_killed_worker(s, officer.token, f"{WT}/bill-jobs",
                                {"ulb": ULB_KILL, "period": "2025-06"}, "bill_job", "bill", 3000)
    assert s.sql(f"SELECT count(*), count(DISTINCT connection_id) FROM bill "
                 f"WHERE ulb = '{ULB_KILL}'") == "3000|3000"
    # Every bill is what one uninterrupted run gives: 26,400 each, and a re-run adds nothing.
    assert s.sql(f"SELECT DISTINCT water_paise + sewerage_paise + solid_waste_paise FROM bill "
                 f"WHERE ulb = '{ULB_KILL}'") == "26400"
    snapshot = bills_snapshot(s, ULB_KILL)
    run_bills(s, officer, ULB_KILL, "2025-06")
    assert bills_snapshot(s, ULB_KILL) == snapshot


# ---- payments ------------------------------------------------------------------------------

def test_payment_retried_concurrently_gives_one_receipt(water_tax_stack):
    s = water_tax_stack(business_date=TODAY, processes=2)
    officer, clerk, cid = billed_connection(s, ULB_PAY)
    key = uuid.uuid4().hex
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda _: pay(s, clerk, cid, 10000, key=key), range(5)))
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    assert len({r.json()["receiptNo"] for r in replies}) == 1
    receipt = replies[0].json()
    assert receipt["receiptNo"] == f"{ULB_PAY}/2025-26/W1/000001"
    # Partial: 10,000 settles WATER (18,000 outstanding) first.
    assert [(a["ref"], a["head"], n(a, "amountPaise")) for a in receipt["allocations"]] == \
        [("2025-06", "WATER", 10000)]
    assert s.sql(f"SELECT count(*) FROM payment WHERE connection_id = '{cid}'") == "1"
    assert s.sql(f"SELECT count(*) FROM ledger WHERE ulb = '{ULB_PAY}'") == "1"
    # The same key with another amount is a conflict.
    r = pay(s, clerk, cid, 10001, key=key)
    assert r.status_code == 409 and r.json()["error"]["field"] == "idempotencyKey", r.text
    # Advance: 20,000 clears the remaining 16,400 and leaves 3,600 of credit.
    r = pay(s, clerk, cid, 20000)
    assert r.status_code == 200, r.text
    assert [(a["head"], n(a, "amountPaise")) for a in r.json()["allocations"]] == \
        [("WATER", 8000), ("SEWERAGE", 5400), ("SOLID_WASTE", 3000), ("ADVANCE", 3600)]
    assert r.json()["receiptNo"].endswith("/000002")
    # Reversal of the first receipt brings its 10,000 back.
    r = s.post(f"{WT}/payments/reversals", {"receiptNo": receipt["receiptNo"],
                                             "reason": "cheque bounced"},
               token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    d = s.get(f"{WT}/connections/{cid}/dues", token=clerk.token).json()
    assert (n(d, "outstandingPaise"), n(d, "advancePaise")) == (10000, 3600)
    verify = s.get(f"{WT}/ledger/verify", token=officer.token, params={"ulb": ULB_PAY}).json()
    assert verify["ok"] is True
    assert s.sql("SELECT count(*) FROM outbox WHERE event_type = 'payment.received' "
                 f"AND ulb = '{ULB_PAY}'") == "2"


def test_other_ulb_clerk_gets_403(water_tax_stack):
    s = water_tax_stack(business_date=TODAY)
    officer = s.staff("REVENUE_OFFICER", ULB_OTHER)
    clerk = s.staff("CLERK", ULB_OTHER)
    stranger = s.staff("CLERK", ULB_BILLS)
    set_tariff(s, officer, ULB_OTHER)
    cid = connect(s, clerk, officer, ULB_OTHER)
    # Another ULB's connection is 404 like a missing one (issue 12), naming nothing.
    r = s.get(f"{WT}/connections/{cid}", token=stranger.token)
    assert r.status_code == 404 and r.json()["error"]["message"] == \
        f"no water connection {cid}", r.text
    r = pay(s, stranger, cid, 100)
    assert r.status_code == 404, r.text
    r = read(s, stranger, cid, "2025-06-30", 1)
    assert r.status_code == 404, r.text
    assert s.get(f"{WT}/reports/defaulters", token=stranger.token,
                 params={"ulb": ULB_OTHER}).status_code == 403
    # The connection keeps its audited history.
    history = s.get(f"{WT}/connections/{cid}", token=clerk.token).json()["history"]
    assert [h["action"] for h in history] == ["apply", "approve"]
    assert s.sql(f"SELECT count(*) FROM payment WHERE connection_id = '{cid}'") == "0"


# ---- isolation: database role and bus key -------------------------------------------------

def test_water_tax_cannot_reach_property_tax_or_certificates(water_tax_stack, keys):
    s = water_tax_stack(business_date=TODAY)
    # Database: water_tax_app may not even connect to the other services' databases.
    # (A refused connection is SQLSTATE 42501, insufficient_privilege; libpq
    # reports it without the code, so the message and the catalog say it.)
    for dbname in ("nagar_property_tax", "nagar_certificates"):
        result = s.cluster.psql_as("water_tax_app", "SELECT count(*) FROM ledger", dbname=dbname)
        assert not result.ok, (dbname, result)
        assert f'permission denied for database "{dbname}"' in result.stderr, (dbname, result)
        result = s.app_sql(f"SELECT has_database_privilege('{dbname}', 'CONNECT')")
        assert result.ok and result.stdout.strip() == "f", (dbname, result)
        # Even with a leaked CONNECT, the other schema keeps it out: SQLSTATE 42501.
        s.cluster.sql(f"GRANT CONNECT ON DATABASE {dbname} TO water_tax_app")
        try:
            schema = dbname[len("nagar_"):]
            result = s.cluster.psql_as("water_tax_app", f"SELECT count(*) FROM {schema}.ledger"
                                       if schema == "property_tax" else
                                       f"SELECT count(*) FROM {schema}.certificate", dbname=dbname)
            assert not result.ok and result.sqlstate == "42501", (dbname, result)
        finally:
            s.cluster.sql(f"REVOKE CONNECT ON DATABASE {dbname} FROM water_tax_app")
    # ... nor read their tables from its own (no foreign data, no dblink).
    result = s.app_sql("SELECT count(*) FROM property_tax.property")
    assert not result.ok and result.sqlstate in ("42501", "3F000", "42P01"), result
    result = s.app_sql("CREATE EXTENSION dblink")
    assert not result.ok, result
    # Its own database works.
    assert s.app_sql("SELECT count(*) FROM connection").ok

    # Bus: the water_tax key may not serve another service ...
    curve = (keys.secret("water_tax"), keys.broker_pub)
    for service in ("property_tax", "certificates"):
        worker = MdpWorker(s.broker.endpoint, service, curve=curve)
        try:
            worker.connect()
            got = worker.recv(3000)
            assert got is not None and got[0] == DISCONNECT, f"{service}: {got!r}"
        finally:
            worker.close()
        denied = wait_until(lambda: [e for e in s.broker.proc.events("acl.serve_denied")
                                     if e.get("service") == service], 10, interval=0.05,
                            what=f"acl.serve_denied for {service}")
        assert denied[0]["principal"] == "water_tax"
    # ... nor call property tax, certificates or the broker's admin service.
    client = NagarClient(s.broker.endpoint, curve=curve)
    try:
        for service, method in (("property_tax", "property.get"),
                                ("certificates", "certificate.get"), ("nagar.admin", "stats")):
            client.send(service, make_request(method, request_id=f"steal-{service}"))
            got = client.recv(5000)
            assert got is not None, f"no answer calling {service}"
            reply = parse_reply(got[1][0])
            assert reply["code"] == PERMISSION_DENIED, (service, reply)
            denied = wait_until(lambda: [e for e in s.broker.proc.events("acl.call_denied")
                                         if e.get("service") == service], 10, interval=0.05,
                                what=f"acl.call_denied for {service}")
            assert denied[0]["principal"] == "water_tax"
    finally:
        client.close()
    # The service itself still serves.
    assert s.get(f"{WT}/tariffs/{ULB_OTHER}/2025-26", token=s.admin.token).status_code == 200


# ---- reversals -------------------------------------------------------------------------------

def reverse(s, officer, receipt_no, reason="cheque bounced", key=None):
    return s.post(f"{WT}/payments/reversals", {"receiptNo": receipt_no, "reason": reason},
                  token=officer.token, key=key or uuid.uuid4().hex)


def receipt_of(s, token, receipt_no):
    r = s.get(f"{WT}/receipts", token=token, params={"receiptNo": receipt_no})
    assert r.status_code == 200, r.text
    return r.json()


def dues_of(s, token, cid):
    r = s.get(f"{WT}/connections/{cid}/dues", token=token)
    assert r.status_code == 200, r.text
    return r.json()


def allocations(receipt):
    return [(a["ref"], a["head"], n(a, "amountPaise")) for a in receipt.get("allocations", [])]


def ledger_of(s, ulb):
    """The ULB's ledger rows as kind|account|reference|amount|key, in order."""
    out = s.sql("SELECT kind, account, reference, amount_paise, idempotency_key FROM ledger "
                f"WHERE ulb = '{ulb}' ORDER BY seq")
    return out.splitlines() if out else []


def test_reversal_restores_dues_exactly(water_tax_stack):
    s = water_tax_stack(business_date="2025-08-05")
    officer, clerk, cid = billed_connection(s, ULB_REVERSE)
    # June's 26,400 paid with 30,000: 3,600 of advance credit.
    r = pay(s, clerk, cid, 30000)
    assert r.status_code == 200, r.text
    assert r.json()["receiptNo"] == f"{ULB_REVERSE}/2025-26/W1/000001"
    assert n(r.json(), "advancePaise") == 3600
    # July: 26,400 (June paid: no surcharge; 3,600 does not pay the whole bill: no rebate).
    run_bills(s, officer, ULB_REVERSE, "2025-07")
    before = dues_of(s, clerk.token, cid)
    assert (n(before, "outstandingPaise"), n(before, "advancePaise"),
            n(before, "payablePaise")) == (26400, 3600, 22800)

    # The payment to reverse: 10,000 + the 3,600 credit settle 13,600 of
    # July's WATER, and the credit is used up (ADVANCE -3,600).
    r = pay(s, clerk, cid, 10000)
    assert r.status_code == 200, r.text
    paid = r.json()
    assert paid["receiptNo"] == f"{ULB_REVERSE}/2025-26/W1/000002"
    assert allocations(paid) == [("2025-07", "WATER", 13600), ("ADVANCE", "ADVANCE", -3600)]
    assert n(paid, "advancePaise") == 0
    middle = dues_of(s, clerk.token, cid)
    assert (n(middle, "outstandingPaise"), n(middle, "advancePaise")) == (26400 - 13600, 0)

    # Only a REVENUE_OFFICER of the ULB reverses: a clerk gets 403; to another
    # ULB's officer the receipt is 404 like a missing one (issue 12).
    r = reverse(s, clerk, paid["receiptNo"])
    assert r.status_code == 403, r.text
    stranger = s.staff("REVENUE_OFFICER", ULB_ONLINE)
    r = reverse(s, stranger, paid["receiptNo"])
    assert r.status_code == 404 and r.json()["error"]["message"] == \
        f"no receipt {paid['receiptNo']}", r.text
    assert s.sql(f"SELECT count(*) FROM payment WHERE connection_id = '{cid}'") == "2"
    assert len(ledger_of(s, ULB_REVERSE)) == 2

    # The reversal: a negative receipt of its own at the original's counter,
    # negating every allocation (the credit comes back too).
    key = uuid.uuid4().hex
    r = reverse(s, officer, paid["receiptNo"], reason="cheque bounced", key=key)
    assert r.status_code == 200, r.text
    rev = r.json()
    assert rev["receiptNo"] == f"{ULB_REVERSE}/2025-26/W1/000003"
    assert (rev["reversesReceiptNo"], rev["connectionId"], n(rev, "amountPaise"), rev["counter"],
            rev["mode"], rev["reason"], rev["recordedBy"]) == \
        (paid["receiptNo"], cid, -10000, "W1", "CASH", "cheque bounced", officer.user_id)
    assert allocations(rev) == [("2025-07", "WATER", -13600), ("ADVANCE", "ADVANCE", 3600)]
    assert (n(rev, "advancePaise"), n(rev, "ledgerSeq")) == (3600, 3)
    # A re-read of the original names its reversal and is otherwise unchanged.
    original = receipt_of(s, clerk.token, paid["receiptNo"])
    assert original["reversedByReceiptNo"] == rev["receiptNo"]
    assert original.get("reversesReceiptNo", "") == ""
    assert (n(original, "amountPaise"), allocations(original)) == \
        (10000, allocations(paid))
    assert receipt_of(s, clerk.token, rev["receiptNo"]) == rev
    # The dues are exactly what they were before the payment, advance included.
    assert dues_of(s, clerk.token, cid) == before

    # The ledger: PAYMENT 30,000, PAYMENT 10,000, REVERSAL -10,000 keyed on the original.
    rows = ledger_of(s, ULB_REVERSE)
    assert [row.split("|")[0] for row in rows] == ["PAYMENT", "PAYMENT", "REVERSAL"]
    assert rows[2] == f"REVERSAL|{cid}|{rev['receiptNo']}|-10000|reversal:{paid['receiptNo']}"
    cli = s.cli("verify", ULB_REVERSE)
    assert cli.returncode == 0 and f"ulb {ULB_REVERSE}: ok, 3 rows" in cli.stdout, cli
    verify = s.get(f"{WT}/ledger/verify", token=officer.token, params={"ulb": ULB_REVERSE})
    assert verify.status_code == 200 and verify.json()["ok"] is True, verify.text
    assert s.sql("SELECT count(*) FROM outbox WHERE event_type = 'payment.reversed' "
                 f"AND ulb = '{ULB_REVERSE}'") == "1"

    # The same Idempotency-Key again answers the same reversal and records nothing.
    r = reverse(s, officer, paid["receiptNo"], reason="cheque bounced", key=key)
    assert r.status_code == 200, r.text
    assert r.json() == dict(rev, replayed=True) and r.headers["Idempotent-Replayed"] == "true"
    # The key with another request is a conflict.
    r = reverse(s, officer, paid["receiptNo"], reason="another reason", key=key)
    assert r.status_code == 409 and r.json()["error"]["field"] == "idempotencyKey", r.text
    # A second reversal of the receipt (a new key) is refused, naming receiptNo ...
    r = reverse(s, officer, paid["receiptNo"])
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == "receiptNo" and "already been reversed" in err["message"], err
    # ... and so is reversing the reversal.
    r = reverse(s, officer, rev["receiptNo"])
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == "receiptNo" and "itself a reversal" in err["message"], err
    # Nothing of that moved money.
    assert s.sql(f"SELECT count(*) FROM payment WHERE connection_id = '{cid}'") == "3"
    assert len(ledger_of(s, ULB_REVERSE)) == 3
    assert dues_of(s, clerk.token, cid) == before
    assert s.sql("SELECT count(*) FROM outbox WHERE event_type = 'payment.reversed' "
                 f"AND ulb = '{ULB_REVERSE}'") == "1"


def test_concurrent_reversals_of_one_receipt_give_one(water_tax_stack):
    s = water_tax_stack(business_date=TODAY, processes=2)
    officer, clerk, cid = billed_connection(s, ULB_REVERSE_RACE)
    before = dues_of(s, clerk.token, cid)
    r = pay(s, clerk, cid, 12345)
    assert r.status_code == 200, r.text
    receipt_no = r.json()["receiptNo"]
    # Six officers' retries with six different keys race: one reversal, the
    # others refused as "already reversed", on receiptNo.
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: reverse(s, officer, receipt_no), range(6)))
    codes = sorted(r.status_code for r in replies)
    assert codes == [200] + [422] * 5, [(r.status_code, r.text) for r in replies]
    for r in replies:
        if r.status_code == 422:
            err = r.json()["error"]
            assert err["field"] == "receiptNo" and "already been reversed" in err["message"], err
    assert s.sql(f"SELECT count(*) FROM payment WHERE connection_id = '{cid}'") == "2"
    assert [row.split("|")[0] for row in ledger_of(s, ULB_REVERSE_RACE)] == \
        ["PAYMENT", "REVERSAL"]
    assert dues_of(s, clerk.token, cid) == before
    # No receipt number was used up by a refused reversal: the next is 000003.
    r = pay(s, clerk, cid, 100)
    assert r.status_code == 200 and r.json()["receiptNo"].endswith("/W1/000003"), r.text


# ---- online payments -------------------------------------------------------------------------

def checkout(s, order, callback_url, outcome="SUCCESS"):
    r = requests.post(s.provider.url + "/checkout",
                      json={"orderId": order["orderId"], "amountPaise": order["amountPaise"],
                            "merchantSignature": order["merchantSignature"],
                            "callbackUrl": callback_url, "outcome": outcome}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_online_payment_through_provider(water_tax_stack):
    s = water_tax_stack(business_date=TODAY, processes=2)
    officer = s.staff("REVENUE_OFFICER", ULB_ONLINE)
    clerk = s.staff("CLERK", ULB_ONLINE)
    holder = s.citizen("9812388001")
    other_citizen = s.citizen("9812388002")
    set_tariff(s, officer, ULB_ONLINE, connectionFees=NO_FEE)
    # The citizen applies, so the connection is theirs; the officer approves.
    r = s.post(f"{WT}/connections",
               {"ulb": ULB_ONLINE, "ward": 2, "propertyId": f"{ULB_ONLINE}-002-000001",
                "consumerName": "Meena Patel", "mobile": "9812388001",
                "address": "4 Station Road", "category": "DOMESTIC", "pipeSizeMm": 15,
                "metered": False, "units": 1},
               token=holder.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    cid = r.json()["connectionId"]
    r = s.post(f"{WT}/connections/{cid}/decision",
               {"approve": True, "reason": "site inspected", "activeFrom": "2025-05-01"},
               token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200 and r.json()["status"] == "ACTIVE", r.text
    run_bills(s, officer, ULB_ONLINE, "2025-06")
    start = dues_of(s, holder.token, cid)
    assert (n(start, "outstandingPaise"), n(start, "advancePaise")) == (26400, 0)

    # Another citizen may not pay for it online: to them it does not exist.
    r = s.post(f"{WT}/online-payments", {"connectionId": cid, "amountPaise": "20000", "advance": True},
               token=other_citizen.token, key=uuid.uuid4().hex)
    assert r.status_code == 404, r.text
    r = s.post(f"{WT}/online-payments", {"connectionId": cid, "amountPaise": "20000", "advance": True},
               token=holder.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    order = r.json()
    assert (order["status"], order["connectionId"], n(order, "amountPaise")) == \
        ("CREATED", cid, 20000)
    assert len(order["merchantSignature"]) == 64 and order.get("receiptNo", "") == ""
    callback_url = s.gateway.url + f"{WT}/online-payments/callback"

    # A forged callback, or one signed for another amount, is 403 on
    # `signature`, logged, and changes nothing.
    forged = {"orderId": order["orderId"], "providerRef": "FPX1", "amountPaise": "20000",
              "status": "SUCCESS", "signature": "0" * 64}
    r = requests.post(callback_url, json=forged, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["field"] == "signature", r.text
    tampered = dict(forged, signature=s.provider.sign_callback(order["orderId"], "FPX1", 100,
                                                               "SUCCESS"))
    r = requests.post(callback_url, json=tampered, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["field"] == "signature", r.text
    wait_until(lambda: len([e for proc in s.services
                            for e in proc.events("water_tax.callback_forged")
                            if e.get("order_id") == order["orderId"]]) == 2, 10, interval=0.05,
               what="water_tax.callback_forged twice in the services' logs")
    # Signed, but for another amount than the order's: 422 on amountPaise.
    wrong = dict(forged, amountPaise="100",
                 signature=s.provider.sign_callback(order["orderId"], "FPX1", 100, "SUCCESS"))
    r = requests.post(callback_url, json=wrong, timeout=10)
    assert r.status_code == 422 and r.json()["error"]["field"] == "amountPaise", r.text
    got = s.get(f"{WT}/online-payments/{order['orderId']}", token=holder.token).json()
    assert got["status"] == "CREATED" and got.get("receiptNo", "") == ""
    assert s.sql(f"SELECT count(*) FROM payment WHERE connection_id = '{cid}'") == "0"
    assert ledger_of(s, ULB_ONLINE) == []
    assert dues_of(s, holder.token, cid) == start

    # The provider takes the money and calls back, signed: PAID with a receipt at counter ONLINE.
    result = checkout(s, order, callback_url)
    assert result["callbackStatus"] == 200, result
    paid = result["callbackBody"]
    receipt_no = f"{ULB_ONLINE}/2025-26/ONLINE/000001"
    assert (paid["status"], paid["receiptNo"]) == ("PAID", receipt_no), paid
    got = s.get(f"{WT}/online-payments/{order['orderId']}", token=holder.token)
    assert got.status_code == 200, got.text
    assert (got.json()["status"], got.json()["receiptNo"], got.json()["providerRef"]) == \
        ("PAID", receipt_no, result["callback"]["providerRef"])
    receipt = receipt_of(s, holder.token, receipt_no)
    assert (receipt["mode"], receipt["counter"], n(receipt, "amountPaise"),
            receipt["connectionId"]) == ("ONLINE", "ONLINE", 20000, cid)
    # 20,000 settles June oldest head first: WATER 18,000, SEWERAGE 2,000.
    assert allocations(receipt) == [("2025-06", "WATER", 18000), ("2025-06", "SEWERAGE", 2000)]
    paid_dues = dues_of(s, holder.token, cid)
    assert (n(paid_dues, "outstandingPaise"), n(paid_dues, "advancePaise")) == (26400 - 20000, 0)
    assert ledger_of(s, ULB_ONLINE) == \
        [f"PAYMENT|{cid}|{receipt_no}|20000|online:{order['orderId']}"]

    # The provider repeats the callback: the same answer, nothing new.
    again = requests.post(callback_url, json=result["callback"], timeout=10)
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["receiptNo"]) == ("PAID", receipt_no)
    assert s.sql(f"SELECT count(*) FROM payment WHERE connection_id = '{cid}'") == "1"
    assert len(ledger_of(s, ULB_ONLINE)) == 1
    assert dues_of(s, holder.token, cid) == paid_dues
    assert s.sql("SELECT count(*) FROM outbox WHERE event_type = 'payment.received' "
                 f"AND ulb = '{ULB_ONLINE}'") == "1"

    # A clerk starts an order for the rest; the provider reports FAILURE:
    # the order is FAILED and no money is recorded (nor on a repeat).
    r = s.post(f"{WT}/online-payments", {"connectionId": cid, "amountPaise": "6400", "advance": True},
               token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    failing = r.json()
    result = checkout(s, failing, callback_url, outcome="FAILURE")
    assert result["callbackStatus"] == 200, result
    assert result["callbackBody"]["status"] == "FAILED", result
    again = requests.post(callback_url, json=result["callback"], timeout=10)
    assert again.status_code == 200 and again.json()["status"] == "FAILED", again.text
    got = s.get(f"{WT}/online-payments/{failing['orderId']}", token=holder.token).json()
    assert (got["status"], got.get("receiptNo", ""), got["providerRef"]) == \
        ("FAILED", "", result["callback"]["providerRef"])
    assert s.sql(f"SELECT count(*) FROM payment WHERE connection_id = '{cid}'") == "1"
    assert len(ledger_of(s, ULB_ONLINE)) == 1
    assert dues_of(s, holder.token, cid) == paid_dues
    cli = s.cli("verify", ULB_ONLINE)
    assert cli.returncode == 0 and f"ulb {ULB_ONLINE}: ok, 1 rows" in cli.stdout, cli

    # An online receipt is reversed at counter REV: the dues return to the start.
    r = reverse(s, officer, receipt_no, reason="charge-back by the bank")
    assert r.status_code == 200, r.text
    assert (r.json()["receiptNo"], n(r.json(), "amountPaise"), r.json()["reversesReceiptNo"]) == \
        (f"{ULB_ONLINE}/2025-26/REV/000001", -20000, receipt_no)
    assert dues_of(s, holder.token, cid) == start

    # One signed SUCCESS callback delivered five times at once (two
    # workers): one payment, one ledger row, the same receipt in every answer.
    r = s.post(f"{WT}/online-payments", {"connectionId": cid, "amountPaise": "1000", "advance": True},
               token=holder.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    third = r.json()["orderId"]
    callback = {"orderId": third, "providerRef": "FPDUP1", "amountPaise": "1000",
                "status": "SUCCESS",
                "signature": s.provider.sign_callback(third, "FPDUP1", 1000, "SUCCESS")}
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda _: requests.post(callback_url, json=callback, timeout=20),
                                range(5)))
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    assert {(r.json()["status"], r.json()["receiptNo"]) for r in replies} == \
        {("PAID", f"{ULB_ONLINE}/2025-26/ONLINE/000002")}
    assert s.sql(f"SELECT count(*) FROM payment WHERE connection_id = '{cid}'") == "3"
    assert s.sql(f"SELECT count(*) FROM ledger WHERE idempotency_key = 'online:{third}'") == "1"
    assert n(dues_of(s, holder.token, cid), "outstandingPaise") == 26400 - 1000
    cli = s.cli("verify", ULB_ONLINE)
    assert cli.returncode == 0 and f"ulb {ULB_ONLINE}: ok, 3 rows" in cli.stdout, cli
