"""System tests of nagar-property-tax through the gateway (and, for the
database fences, psql as the service's own role and as the superuser).

Every rule has a worked example with the expected paise; the arithmetic is
spelled out next to each expectation and in services/property_tax/README.md.
Tests keep their data apart by ULB (the database is the session's), so each
test owns one or two LGD codes below.
"""
import concurrent.futures
import re
import time
import uuid

import requests

from rules_stack import job_through_a_killed_worker
from tax_schedules import readme_rates as rates_body

PT = "/api/v1/property-tax"

# One ULB (or two) per test: LGD codes from services/identity/data.
ULB_RULES = "250786"        # Amarpatan
ULB_OTHER = "293817"        # Athana
ULB_PARTIAL = "250852"      # Badnagar
ULB_RETRY = "298926"        # Bakho
ULB_LEDGER = "251034"       # Barghat
ULB_TWICE = "248070"        # Betul Bazar
ULB_KILL = "250700"         # Bhitarwar
ULB_ONLINE = "250778"       # Birsinghpur
ULB_ASSESS = "250858"       # Agar
ULB_IMPORT = "250749"       # Ajaygarh
ULB_CHUNKS = "250733"       # Badagaon Shajapur


def n(obj, key):
    """An integer field of a reply; proto3 JSON leaves out zeros."""
    return int(obj.get(key, 0))


def set_rates(s, officer, ulb, fy, **overrides):
    r = s.put(f"{PT}/rates/{ulb}/{fy}", rates_body(fy, **overrides), token=officer.token,
              key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    return r.json()


def property_body(ulb, area, ward=1, zone="A", occupancy="RENTED", exemption=None, owners=None):
    body = {"ulb": ulb, "ward": ward, "zone": zone, "address": "12 Gandhi Marg",
            "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": occupancy,
            "owners": owners or [{"name": "Asha Verma", "mobile": "9876500001",
                                  "shareBp": 10000}],
            "floors": [{"floor": 0, "areaSqft": str(area)}]}
    if exemption:
        body["exemption"] = exemption
    return body


def create_property(s, clerk, ulb, area, **kwargs):
    r = s.post(f"{PT}/properties", property_body(ulb, area, **kwargs), token=clerk.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    return r.json()["propertyId"]


def run_demand(s, officer, ulb, fy, timeout=60):
    return s.run_job(f"{PT}/demand-jobs", {"ulb": ulb, "fy": fy}, officer.token, timeout)


def dues(s, token, pid, as_of=None):
    r = s.get(f"{PT}/properties/{pid}/dues", token=token, params={"asOf": as_of} if as_of else None)
    assert r.status_code == 200, r.text
    return r.json()


def heads(d, fy):
    return {l["head"]: n(l, "demandPaise") for l in d.get("lines", []) if l["fy"] == fy}


def pay(s, clerk, pid, amount, key=None, mode="CASH", ref="", counter="C1", advance=True):
    """A counter payment; what exceeds the dues stays as credit unless advance=False
    (then it is refused, 422)."""
    body = {"propertyId": pid, "amountPaise": str(amount), "mode": mode, "counter": counter,
            "advance": advance}
    if ref:
        body["instrumentRef"] = ref
    return s.post(f"{PT}/payments", body, token=clerk.token, key=key or uuid.uuid4().hex)


def allocations(receipt):
    return [(a["fy"], a["head"], n(a, "amountPaise")) for a in receipt.get("allocations", [])]


# ---- rules: slab, cess, exemption, self-occupied, rounding, rebate, surcharge ----------

def test_tax_heads_worked_examples(property_tax_stack):
    s = property_tax_stack(business_date="2025-08-31")
    officer = s.staff("REVENUE_OFFICER", ULB_RULES)
    clerk = s.staff("CLERK", ULB_RULES)
    schedule = set_rates(s, officer, ULB_RULES, "2025-26")
    assert schedule["version"] >= 1 and schedule["slabMode"] == "MARGINAL"

    rented = create_property(s, clerk, ULB_RULES, 3000)
    self_occupied = create_property(s, clerk, ULB_RULES, 3000, occupancy="SELF_OCCUPIED")
    worship = create_property(s, clerk, ULB_RULES, 3000, exemption="WORSHIP")
    small = create_property(s, clerk, ULB_RULES, 400)
    large = create_property(s, clerk, ULB_RULES, 10000)
    rounding = create_property(s, clerk, ULB_RULES, 1050, zone="B")
    job = run_demand(s, officer, ULB_RULES, "2025-26")
    assert n(job, "skipped") == 0

    # ALV 3000 x Rs 15 = Rs 45,000; net ALV 45,000 - 10% = 40,500; marginal slabs:
    # 6% of 36,000 + 8% of 4,500 = 2,160 + 360 = Rs 2,520. Cesses on ALV: 3% = 1,350, 1% = 450.
    assert heads(dues(s, clerk.token, rented), "2025-26") == {
        "PROPERTY_TAX": 252000, "EDUCATION_CESS": 135000, "URBAN_DEVELOPMENT_CESS": 45000,
        "SAMEKIT": 50000}
    # Self-occupied: 10% off the property-tax head: 252,000 - 25,200.
    assert heads(dues(s, clerk.token, self_occupied), "2025-26")["PROPERTY_TAX"] == 226800
    # Exempt category (worship): no head at all.
    assert set(heads(dues(s, clerk.token, worship), "2025-26").values()) == {0}
    # Net ALV 5,400 <= the Rs 6,000 threshold: no property-tax head; cesses and samekit stay.
    assert heads(dues(s, clerk.token, small), "2025-26") == {
        "PROPERTY_TAX": 0, "EDUCATION_CESS": 18000, "URBAN_DEVELOPMENT_CESS": 6000,
        "SAMEKIT": 50000}
    # All three slabs: net ALV 1,35,000: 2,160 + 8% of 24,000 + 10% of 75,000 = 11,580.
    assert heads(dues(s, clerk.token, large), "2025-26")["PROPERTY_TAX"] == 1158000
    # Rounding, half away from zero, once per head: ALV 1050 x 15.37 = 16,138.50 rupees
    # = 1,613,850 paise; UD 1% = 16,138.5 -> 16,139; EC 3% = 48,415.5 -> 48,416;
    # net 1,452,465 x 6% = 87,147.9 -> 87,148.
    assert heads(dues(s, clerk.token, rounding), "2025-26") == {
        "PROPERTY_TAX": 87148, "EDUCATION_CESS": 48416, "URBAN_DEVELOPMENT_CESS": 16139,
        "SAMEKIT": 50000}

    # Flat slab mode as a new version (another year): 10% of all of 1,35,000 = 13,500.
    set_rates(s, officer, ULB_RULES, "2024-25", slabMode="FLAT")
    run_demand(s, officer, ULB_RULES, "2024-25")
    assert heads(dues(s, clerk.token, large), "2024-25")["PROPERTY_TAX"] == 1350000
    assert heads(dues(s, clerk.token, rented), "2024-25")["PROPERTY_TAX"] == 324000  # 8% of 40,500

    # Rebate: 6% of the year's property-tax head when paid by 31 August, not on 1 September.
    on_time = dues(s, clerk.token, rented, "2025-08-31")
    assert n(on_time, "rebatePaise") == 15120
    late = dues(s, clerk.token, rented, "2025-09-01")
    assert n(late, "rebatePaise") == 0

    # Surcharge on arrears, 1.5% a month after the year ends (1 April 2026), whole months:
    # the self-occupied property owes 456,800 for 2025-26 (2024-25's flat-mode bill too).
    d = dues(s, clerk.token, self_occupied, "2026-04-30")
    assert all(l["head"] != "SURCHARGE" or l["fy"] != "2025-26" for l in d["lines"])
    d = dues(s, clerk.token, self_occupied, "2026-06-15")
    surcharge = [l for l in d["lines"] if l["head"] == "SURCHARGE" and l["fy"] == "2025-26"]
    assert n(surcharge[0], "outstandingPaise") == 13704   # 456,800 x 1.5% x 2

    # Paying the rebated amount on 31 August (the business date) settles everything.
    # (The property also owes its 2024-25 flat-mode bill, with surcharge: the rebate
    # needs everything payable cleared.)
    assert n(on_time, "payablePaise") == n(on_time, "outstandingPaise") - 15120
    r = pay(s, clerk, rented, n(on_time, "payablePaise"))
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert ("2025-26", "REBATE", 15120) in allocations(receipt)
    settled = dues(s, clerk.token, rented, "2025-08-31")
    assert [l for l in settled["lines"] if l["fy"] == "2025-26" and n(l, "outstandingPaise")] == []


def test_partial_advance_arrears_and_reports(property_tax_stack):
    s = property_tax_stack(business_date="2026-06-15")
    officer = s.staff("REVENUE_OFFICER", ULB_PARTIAL)
    clerk = s.staff("CLERK", ULB_PARTIAL)
    set_rates(s, officer, ULB_PARTIAL, "2025-26")
    set_rates(s, officer, ULB_PARTIAL, "2026-27")
    pid = create_property(s, clerk, ULB_PARTIAL, 3000, ward=3)
    defaulter = create_property(s, clerk, ULB_PARTIAL, 3000, ward=4)
    run_demand(s, officer, ULB_PARTIAL, "2025-26")
    run_demand(s, officer, ULB_PARTIAL, "2026-27")
    # Arrears carried forward onto the 2026-27 bill.
    assert s.sql(f"SELECT arrear_paise FROM demand_bill WHERE property_id = '{pid}' "
                 f"AND fy = 2026") == "482000"

    # Partial payment: oldest year first; within it surcharge (482,000 x 1.5% x 2 whole
    # months = 14,460), then property tax, then education cess.
    r = pay(s, clerk, pid, 300000)
    assert r.status_code == 200, r.text
    first_receipt = r.json()["receiptNo"]
    assert allocations(r.json()) == [("2025-26", "SURCHARGE", 14460),
                                     ("2025-26", "PROPERTY_TAX", 252000),
                                     ("2025-26", "EDUCATION_CESS", 33540)]
    # The rest of 2025-26 (196,460; its surcharge is paid), then 2026-27 with its rebate
    # (paid by 31 August: 15,120) and the remainder as advance: 1,000,000 - 663,340.
    r = pay(s, clerk, pid, 1000000, mode="CHEQUE", ref="000123")
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert allocations(receipt) == [
        ("2026-27", "REBATE", 15120),
        ("2025-26", "EDUCATION_CESS", 101460), ("2025-26", "URBAN_DEVELOPMENT_CESS", 45000),
        ("2025-26", "SAMEKIT", 50000), ("2026-27", "PROPERTY_TAX", 236880),
        ("2026-27", "EDUCATION_CESS", 135000), ("2026-27", "URBAN_DEVELOPMENT_CESS", 45000),
        ("2026-27", "SAMEKIT", 50000), ("2026-27", "ADVANCE", 336660)]
    assert n(receipt, "advancePaise") == 336660
    d = dues(s, clerk.token, pid)
    assert n(d, "advancePaise") == 336660 and n(d, "payablePaise") == 0

    # Receipt numbers: gap-free per ULB, year and counter.
    numbers = [re.fullmatch(rf"{ULB_PARTIAL}/2026-27/C1/(\d{{6}})", x)
               for x in (first_receipt, receipt["receiptNo"])]
    assert all(numbers) and int(numbers[1].group(1)) == int(numbers[0].group(1)) + 1

    # DCB for 2026-27, ULB total over every head: arrear demand 2 x 482,000 (both properties
    # owed 2025-26 on 1 April), current 2 x 482,000; collections 482,000 each side for pid.
    dcb = s.get(f"{PT}/reports/dcb", token=officer.token,
                params={"ulb": ULB_PARTIAL, "fy": "2026-27"}).json()
    total = [row for row in dcb["rows"] if row.get("ward", 0) == 0 and row["head"] == "TOTAL"][0]
    assert (n(total, "arrearDemandPaise"), n(total, "currentDemandPaise"),
            n(total, "arrearCollectionPaise"), n(total, "currentCollectionPaise"),
            n(total, "arrearBalancePaise"), n(total, "currentBalancePaise")) == \
        (964000, 964000, 482000, 482000, 482000, 482000)
    ward3 = [row for row in dcb["rows"] if row.get("ward") == 3 and row["head"] == "PROPERTY_TAX"][0]
    assert n(ward3, "currentCollectionPaise") == 252000     # 236,880 cash + 15,120 rebate

    daily = s.get(f"{PT}/reports/daily-collection", token=clerk.token,
                  params={"ulb": ULB_PARTIAL, "date": "2026-06-15"}).json()
    assert {(row["counter"], row["mode"], row["receipts"], n(row, "amountPaise"))
            for row in daily["rows"]} == {("C1", "CASH", 1, 300000), ("C1", "CHEQUE", 1, 1000000)}
    assert n(daily, "totalPaise") == 1300000

    defaulters = s.get(f"{PT}/reports/defaulters", token=clerk.token,
                       params={"ulb": ULB_PARTIAL}).json()["defaulters"]
    assert [(x["propertyId"], n(x, "outstandingPaise"), x["oldestFy"]) for x in defaulters] == \
        [(defaulter, 482000, "2025-26")]


# ---- idempotency, reversal, reach, validation ------------------------------------------

def test_payment_retried_concurrently_gives_one_receipt(property_tax_stack):
    s = property_tax_stack(processes=2)
    clerk = s.staff("CLERK", ULB_RETRY)
    pid = create_property(s, clerk, ULB_RETRY, 1000)
    key = "retry-" + uuid.uuid4().hex
    before = int(s.sql(f"SELECT count(*) FROM ledger WHERE ulb = '{ULB_RETRY}'"))

    def attempt(_):
        r = pay(s, clerk, pid, 250000, key=key)
        return r.status_code, r.json()
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        results = list(pool.map(attempt, range(5)))
    assert {status for status, _ in results} == {200}, results
    assert len({body["receiptNo"] for _, body in results}) == 1
    assert int(s.sql(f"SELECT count(*) FROM ledger WHERE ulb = '{ULB_RETRY}'")) == before + 1
    assert s.sql(f"SELECT count(*) FROM payment WHERE property_id = '{pid}'") == "1"
    # No demand yet: the whole payment is an advance.
    assert allocations(results[0][1]) == [(results[0][1]["receiptNo"].split("/")[1], "ADVANCE",
                                           250000)]
    # The same key for another amount is a conflict; no key at all is refused by the gateway.
    r = pay(s, clerk, pid, 1, key=key)
    assert r.status_code == 409 and r.json()["error"]["field"] == "idempotencyKey"
    r = s.post(f"{PT}/payments", {"propertyId": pid, "amountPaise": "100", "mode": "CASH",
                                  "counter": "C1"}, token=clerk.token)
    assert r.status_code == 400

    # Reversal by a revenue officer: a reversing entry, never a deletion.
    officer = s.staff("REVENUE_OFFICER", ULB_RETRY)
    receipt_no = results[0][1]["receiptNo"]
    r = s.post(f"{PT}/payments/reversals", {"receiptNo": receipt_no, "reason": "cheque bounced"},
               token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 403
    reversal_key = uuid.uuid4().hex
    r = s.post(f"{PT}/payments/reversals", {"receiptNo": receipt_no, "reason": "cheque bounced"},
               token=officer.token, key=reversal_key)
    assert r.status_code == 200, r.text
    reversal = r.json()
    assert n(reversal, "amountPaise") == -250000 and reversal["reversesReceiptNo"] == receipt_no
    assert n(reversal, "advancePaise") == 0
    assert int(s.sql(f"SELECT count(*) FROM ledger WHERE ulb = '{ULB_RETRY}'")) == before + 2
    assert s.sql(f"SELECT amount_paise FROM ledger WHERE ulb = '{ULB_RETRY}' "
                 f"ORDER BY seq DESC LIMIT 1") == "-250000"
    r = s.post(f"{PT}/payments/reversals", {"receiptNo": receipt_no, "reason": "again"},
               token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 422 and r.json()["error"]["field"] == "receiptNo"
    got = s.get(f"{PT}/receipts", token=clerk.token, params={"receiptNo": receipt_no}).json()
    assert got["reversedByReceiptNo"] == reversal["receiptNo"]

    # Six officers reverse one receipt at once, each under its own key: one
    # reversal; the others get the 422 on receiptNo that a later one gets.
    r = pay(s, clerk, pid, 5000, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    second = r.json()["receiptNo"]

    def reverse(_):
        return s.post(f"{PT}/payments/reversals", {"receiptNo": second, "reason": "cheque bounced"},
                      token=officer.token, key=uuid.uuid4().hex)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(reverse, range(6)))
    assert sorted(r.status_code for r in replies) == [200] + [422] * 5, \
        [(r.status_code, r.text) for r in replies]
    assert all(r.json()["error"]["field"] == "receiptNo" and
               "already been reversed" in r.json()["error"]["message"]
               for r in replies if r.status_code == 422), [r.text for r in replies]
    assert int(s.sql(f"SELECT count(*) FROM ledger WHERE ulb = '{ULB_RETRY}'")) == before + 4


def test_reach_and_validation(property_tax_stack):
    s = property_tax_stack()
    clerk = s.staff("CLERK", ULB_RULES)
    other_clerk = s.staff("CLERK", ULB_OTHER)
    pid = create_property(s, clerk, ULB_RULES, 500)

    # Another ULB's clerk: a property it may not see is 404 like a missing one
    # (issue 12), reading or paying; registering in that ULB is 403.
    r = s.get(f"{PT}/properties/{pid}", token=other_clerk.token)
    assert r.status_code == 404 and r.json()["error"]["message"] == f"no property {pid}", r.text
    assert pay(s, other_clerk, pid, 100).status_code == 404
    r = s.post(f"{PT}/properties", property_body(ULB_RULES, 100), token=other_clerk.token)
    assert r.status_code == 403
    assert s.get(f"{PT}/reports/dcb", token=other_clerk.token,
                 params={"ulb": ULB_RULES, "fy": "2025-26"}).status_code == 403
    # A citizen who is not an owner: 404, exactly as for a missing one.
    stranger = s.citizen("9812300001")
    seen = s.get(f"{PT}/properties/{pid}", token=stranger.token)
    missing_id = pid[:-3] + "999"
    missing = s.get(f"{PT}/properties/{missing_id}", token=stranger.token)
    assert seen.status_code == missing.status_code == 404, seen.text
    assert seen.json()["error"]["message"].replace(pid, "X") == \
        missing.json()["error"]["message"].replace(missing_id, "X")

    count = s.sql("SELECT count(*) FROM property")
    cases = [
        (property_body(ULB_RULES, 100, owners=[{"name": "A", "shareBp": 5000},
                                              {"name": "B", "mobile": "12345", "shareBp": 5000}]),
         "owners[1].mobile"),
        (property_body(ULB_RULES, 0), "floors[0].areaSqft"),
        (dict(property_body(ULB_RULES, 100), ward=1000), "ward"),
        (dict(property_body(ULB_RULES, 100), usage="CASTLE"), "usage"),
        (property_body(ULB_RULES, 100, owners=[{"name": "A", "shareBp": 4000}]), "owners"),
    ]
    for body, field in cases:
        r = s.post(f"{PT}/properties", body, token=clerk.token)
        assert r.status_code in (400, 422), (field, r.text)
        assert r.json()["error"]["field"] == field, (field, r.text)
    assert s.sql("SELECT count(*) FROM property") == count

    payments = s.sql("SELECT count(*) FROM payment")
    for body, field in [({"amountPaise": "0"}, "amountPaise"),
                        ({"mode": "CHEQUE"}, "instrumentRef"),
                        ({"counter": "c-1"}, "counter")]:
        full = {"propertyId": pid, "amountPaise": "100", "mode": "CASH", "counter": "C1",
                "advance": True}
        full.update(body)
        r = s.post(f"{PT}/payments", full, token=clerk.token, key=uuid.uuid4().hex)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert s.sql("SELECT count(*) FROM payment") == payments

    officer = s.staff("REVENUE_OFFICER", ULB_RULES)
    bad = rates_body("2030-31", slabs=[{"uptoPaise": "3600000", "rateBp": 600},
                                       {"uptoPaise": "100", "rateBp": 800},
                                       {"uptoPaise": "0", "rateBp": 1000}])
    r = s.put(f"{PT}/rates/{ULB_RULES}/2030-31", bad, token=officer.token)
    assert r.status_code == 422 and r.json()["error"]["field"] == "slabs[1].uptoPaise"
    r = s.put(f"{PT}/rates/{ULB_RULES}/2030-31", rates_body("2030-31"), token=clerk.token)
    assert r.status_code == 403
    r = s.put(f"{PT}/rates/{ULB_OTHER}/2030-31", rates_body("2030-31"), token=officer.token)
    assert r.status_code == 403


# ---- ledger -----------------------------------------------------------------------------

def test_ledger_append_only_and_tamper_detected(property_tax_stack):
    s = property_tax_stack()
    clerk = s.staff("CLERK", ULB_LEDGER)
    commissioner = s.staff("COMMISSIONER", ULB_LEDGER)
    pid = create_property(s, clerk, ULB_LEDGER, 800)
    # Twelve rows: a chain is walked in the order of its numbers (10 after 9, not after 1).
    for amount in range(1000, 13000, 1000):
        assert pay(s, clerk, pid, amount).status_code == 200
    seq = int(s.sql(f"SELECT max(seq) FROM ledger WHERE ulb = '{ULB_LEDGER}'")) - 1
    assert seq >= 11

    # The service's own role cannot change, remove or empty the ledger, nor write it directly.
    for statement in (f"UPDATE ledger SET amount_paise = 1 WHERE ulb = '{ULB_LEDGER}'",
                      f"DELETE FROM ledger WHERE ulb = '{ULB_LEDGER}'",
                      "TRUNCATE ledger",
                      "INSERT INTO ledger SELECT * FROM ledger LIMIT 1",
                      f"UPDATE ledger_head SET seq = 0 WHERE ulb = '{ULB_LEDGER}'",
                      "DELETE FROM payment", "UPDATE allocation SET amount_paise = 0"):
        result = s.app_sql(statement)
        assert not result.ok and result.sqlstate == "42501", (statement, result)
    # Even the superuser is refused by the triggers.
    result = s.cluster._psql(["-d", "nagar_property_tax"],
                             dict(s.cluster.env, PGHOST=s.cluster.socket_dir,
                                  PGPORT=str(s.cluster.port), PGUSER=s.cluster.superuser),
                             f"DELETE FROM property_tax.ledger WHERE ulb = '{ULB_LEDGER}'")
    assert not result.ok and "append-only" in result.stderr

    r = s.get(f"{PT}/ledger/verify", token=commissioner.token, params={"ulb": ULB_LEDGER})
    assert r.status_code == 200 and r.json()["ok"] is True, r.text

    # Tampering directly in the database (trigger off) is found at its exact link.
    s.sql(f"ALTER TABLE ledger DISABLE TRIGGER ledger_append_only; "
          f"UPDATE ledger SET amount_paise = amount_paise + 100000 "
          f"WHERE ulb = '{ULB_LEDGER}' AND seq = {seq}; "
          f"ALTER TABLE ledger ENABLE TRIGGER ledger_append_only")
    try:
        r = s.get(f"{PT}/ledger/verify", token=commissioner.token, params={"ulb": ULB_LEDGER})
        body = r.json()
        assert body.get("ok", False) is False
        chain = body["chains"][0]
        assert (chain["ulb"], n(chain, "brokenSeq")) == (ULB_LEDGER, seq), body
        cli = s.cli("verify", ULB_LEDGER)
        assert cli.returncode == 3, cli
        assert f"ulb {ULB_LEDGER}: BROKEN at seq {seq}:" in cli.stdout
    finally:
        s.sql(f"ALTER TABLE ledger DISABLE TRIGGER ledger_append_only; "
              f"UPDATE ledger SET amount_paise = amount_paise - 100000 "
              f"WHERE ulb = '{ULB_LEDGER}' AND seq = {seq}; "
              f"ALTER TABLE ledger ENABLE TRIGGER ledger_append_only")
    cli = s.cli("verify", ULB_LEDGER)
    assert cli.returncode == 0 and f"ulb {ULB_LEDGER}: ok" in cli.stdout, cli
    # Another ULB's commissioner may not verify this ULB.
    other = s.staff("COMMISSIONER", ULB_OTHER)
    assert s.get(f"{PT}/ledger/verify", token=other.token,
                 params={"ulb": ULB_LEDGER}).status_code == 403


# ---- annual demand --------------------------------------------------------------------------

def demand_snapshot(s, ulb):
    return s.sql(
        "SELECT md5(string_agg(x, ',' ORDER BY x)) FROM ("
        f"  SELECT property_id || fy || head || amount_paise AS x FROM demand WHERE ulb = '{ulb}'"
        "  UNION ALL SELECT property_id || fy || property_tax_paise || arrear_paise "
        f"  FROM demand_bill WHERE ulb = '{ulb}') t")


def insert_properties(s, ulb, count, ward=9):
    """Register count properties directly (setup speed), numbered like the service does."""
    s.sql(f"""
        INSERT INTO ward_counter (ulb, ward, last_no) VALUES ('{ulb}', {ward}, {count})
            ON CONFLICT (ulb, ward) DO UPDATE SET last_no = ward_counter.last_no + {count};
        INSERT INTO property (property_id, ulb, ward, number, zone, address, usage, construction,
                              occupancy, exemption, created_by)
        SELECT '{ulb}-' || lpad('{ward}', 3, '0') || '-' || lpad(n::text, 6, '0'), '{ulb}', {ward}, n,
               'A', 'plot ' || n, 'RESIDENTIAL', 'RCC',
               CASE WHEN n % 3 = 0 THEN 'SELF_OCCUPIED' ELSE 'RENTED' END,
               CASE WHEN n % 50 = 0 THEN 'BPL' ELSE 'EXEMPTION_NONE' END, 'test'
        FROM generate_series(1, {count}) n;
        INSERT INTO property_owner (property_id, ordinal, name, mobile, user_id, share_bp)
        SELECT '{ulb}-' || lpad('{ward}', 3, '0') || '-' || lpad(n::text, 6, '0'), 1, 'Owner ' || n, '', '', 10000
        FROM generate_series(1, {count}) n;
        INSERT INTO property_floor (property_id, floor, area_sqft)
        SELECT '{ulb}-' || lpad('{ward}', 3, '0') || '-' || lpad(n::text, 6, '0'), 0, 300 + (n % 40) * 97
        FROM generate_series(1, {count}) n;""")


def test_demand_twice_is_identical(property_tax_stack):
    s = property_tax_stack(NAGAR_PROPERTY_TAX_DEMAND_CHUNK=70)
    officer = s.staff("REVENUE_OFFICER", ULB_TWICE)
    set_rates(s, officer, ULB_TWICE, "2025-26")
    insert_properties(s, ULB_TWICE, 500)
    first = run_demand(s, officer, ULB_TWICE, "2025-26")
    assert (n(first, "total"), n(first, "processed"), n(first, "billsCreated")) == \
        (500, 500, 500)
    assert n(first, "chunks") >= 8      # 500 / 70, so the work really went in chunks
    snapshot = demand_snapshot(s, ULB_TWICE)
    second = run_demand(s, officer, ULB_TWICE, "2025-26")
    assert second["jobId"] != first["jobId"]
    assert n(second, "processed") == 500 and n(second, "billsCreated") == 0
    assert demand_snapshot(s, ULB_TWICE) == snapshot
    s.check_job_reach(f"{PT}/demand-jobs", first["jobId"], "demand job", ULB_OTHER, ULB_TWICE)
    assert s.sql(f"SELECT count(*) FROM demand WHERE ulb = '{ULB_TWICE}'") == "2000"
    # The demand.raised event of each job is in the outbox.
    assert int(s.sql(f"SELECT count(*) FROM outbox WHERE event_type = 'demand.raised' "
                     f"AND ulb = '{ULB_TWICE}'")) == 2


def test_demand_killed_half_way_finishes_after_restart(property_tax_stack):
    s = property_tax_stack(NAGAR_PROPERTY_TAX_DEMAND_CHUNK=100,
                           NAGAR_PROPERTY_TAX_DEMAND_TICK_MS=60)
    officer = s.staff("REVENUE_OFFICER", ULB_KILL)
    set_rates(s, officer, ULB_KILL, "2025-26")
    insert_properties(s, ULB_KILL, 3000)
    job_through_a_killed_worker(s, officer.token, f"{PT}/demand-jobs",
                                {"ulb": ULB_KILL, "fy": "2025-26"}, "demand_job", "demand_bill",
                                3000)
    assert s.sql(f"SELECT count(*) FROM demand_bill WHERE ulb = '{ULB_KILL}'") == "3000"
    assert s.sql(f"SELECT count(*) FROM demand WHERE ulb = '{ULB_KILL}'") == "12000"
    # Every bill equals what one uninterrupted computation gives: compare with a re-run.
    snapshot = demand_snapshot(s, ULB_KILL)
    run_demand(s, officer, ULB_KILL, "2025-26")
    assert demand_snapshot(s, ULB_KILL) == snapshot


def test_demand_chunk_reads_its_own_properties_arrears_and_advance(property_tax_stack):
    """A chunk reads the earlier demand, the payments and the floors of its own properties,
    whatever the chunk boundaries: each 2026-27 bill carries its own property's area,
    arrear (2025-26 demand less what paid it, surcharge aside) and advance credit."""
    s = property_tax_stack(business_date="2026-06-15", NAGAR_PROPERTY_TAX_DEMAND_CHUNK=2)
    officer = s.staff("REVENUE_OFFICER", ULB_CHUNKS)
    clerk = s.staff("CLERK", ULB_CHUNKS)
    set_rates(s, officer, ULB_CHUNKS, "2025-26")
    set_rates(s, officer, ULB_CHUNKS, "2026-27")
    areas = [1000, 1500, 2000, 2500, 3000, 3500, 4000]
    pids = [create_property(s, clerk, ULB_CHUNKS, area, ward=5) for area in areas]
    assert pids == sorted(pids)
    run_demand(s, officer, ULB_CHUNKS, "2025-26")

    def owed_2025(pid):
        return int(s.sql(f"SELECT sum(amount_paise) FROM demand WHERE property_id = '{pid}' "
                         "AND fy = 2025"))
    # Chunks of two: (0 1) (2 3) (4 5) (6). Paid in full with credit to spare: 1 and 2,
    # either side of a boundary; in part: 5; nothing: the rest.
    advances = {}
    for i in (1, 2):
        payable = n(dues(s, clerk.token, pids[i]), "payablePaise")
        r = pay(s, clerk, pids[i], payable + 10000 * i)
        assert r.status_code == 200, r.text
        advances[i] = n(r.json(), "advancePaise")
        assert advances[i] == 10000 * i, r.text
    r = pay(s, clerk, pids[5], 100000)
    assert r.status_code == 200, r.text
    surcharge = sum(n(a, "amountPaise") for a in r.json()["allocations"]
                    if a["head"] == "SURCHARGE")
    job = run_demand(s, officer, ULB_CHUNKS, "2026-27")
    assert (n(job, "processed"), n(job, "billsCreated"), n(job, "chunks")) == (7, 7, 4)

    bills = {}
    for line in s.sql(f"SELECT property_id, area_sqft, arrear_paise, advance_paise FROM "
                      f"demand_bill WHERE ulb = '{ULB_CHUNKS}' AND fy = 2026").splitlines():
        pid, area, arrear, advance = line.split("|")
        bills[pid] = (int(area), int(arrear), int(advance))
    expected = {}
    for i, pid in enumerate(pids):
        arrear = {1: 0, 2: 0, 5: owed_2025(pid) - (100000 - surcharge)}.get(i, owed_2025(pid))
        expected[pid] = (areas[i], arrear, advances.get(i, 0))
    assert bills == expected
    assert 0 < expected[pids[5]][1] < owed_2025(pids[5])


# ---- online payments -------------------------------------------------------------------------

def test_online_payment_through_provider(property_tax_stack):
    s = property_tax_stack()
    clerk = s.staff("CLERK", ULB_ONLINE)
    citizen = s.citizen("9812300002")
    pid = create_property(s, clerk, ULB_ONLINE, 700, owners=[
        {"name": "Ravi", "mobile": "9812300002", "userId": citizen.user_id, "shareBp": 10000}])
    assert s.get(f"{PT}/properties/{pid}", token=citizen.token).status_code == 200
    r = s.post(f"{PT}/online-payments", {"propertyId": pid, "amountPaise": "123456", "advance": True},
               token=citizen.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["status"] == "CREATED" and len(order["merchantSignature"]) == 64
    callback_url = s.gateway.url + f"{PT}/online-payments/callback"

    # A forged callback (signed with another key) is refused and records nothing.
    forged = {"orderId": order["orderId"], "providerRef": "FPX1", "amountPaise": "123456",
              "status": "SUCCESS", "signature": "0" * 64}
    r = requests.post(callback_url, json=forged, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["field"] == "signature"
    tampered = dict(forged, signature=s.provider.sign_callback(order["orderId"], "FPX1", 100,
                                                               "SUCCESS"))
    assert requests.post(callback_url, json=tampered, timeout=10).status_code == 403
    assert s.sql(f"SELECT count(*) FROM payment WHERE property_id = '{pid}'") == "0"

    # The provider takes the money and calls back, signed: one receipt at counter ONLINE.
    r = requests.post(s.provider.url + "/checkout",
                      json={"orderId": order["orderId"], "amountPaise": order["amountPaise"],
                            "merchantSignature": order["merchantSignature"],
                            "callbackUrl": callback_url}, timeout=20)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["callbackStatus"] == 200, result
    paid = result["callbackBody"]
    assert paid["status"] == "PAID" and f"/{'ONLINE'}/" in paid["receiptNo"]
    # The provider repeats the callback: same receipt, nothing new.
    again = requests.post(callback_url, json=result["callback"], timeout=10)
    assert again.status_code == 200 and again.json()["receiptNo"] == paid["receiptNo"]
    assert s.sql(f"SELECT count(*) FROM payment WHERE property_id = '{pid}'") == "1"
    assert s.sql(f"SELECT count(*) FROM ledger WHERE idempotency_key = "
                 f"'online:{order['orderId']}'") == "1"
    got = s.get(f"{PT}/online-payments/{order['orderId']}", token=citizen.token).json()
    assert got["receiptNo"] == paid["receiptNo"]
    receipt = s.get(f"{PT}/receipts", token=citizen.token,
                    params={"receiptNo": paid["receiptNo"]}).json()
    assert receipt["mode"] == "ONLINE" and n(receipt, "amountPaise") == 123456


# ---- self-assessment, mutation, import ---------------------------------------------------------

def test_self_assessment_and_mutation(property_tax_stack):
    s = property_tax_stack(business_date="2025-07-01")
    clerk = s.staff("CLERK", ULB_ASSESS)
    officer = s.staff("REVENUE_OFFICER", ULB_ASSESS)
    set_rates(s, officer, ULB_ASSESS, "2025-26")
    citizen = s.citizen("9812300003")
    pid = create_property(s, clerk, ULB_ASSESS, 1000, owners=[
        {"name": "Meena", "mobile": "9812300003", "userId": citizen.user_id, "shareBp": 10000}])
    declaration = {"propertyId": pid, "fy": "2025-26", "zone": "A", "usage": "RESIDENTIAL",
                   "construction": "RCC", "occupancy": "SELF_OCCUPIED",
                   "floors": [{"floor": 0, "areaSqft": "900"}]}
    r = s.post(f"{PT}/assessments", declaration, token=citizen.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    filed = r.json()
    assert (filed["revision"], filed["status"], n(filed, "alvPaise")) == (1, "FILED", 1350000)
    r = s.post(f"{PT}/assessments/{filed['assessmentId']}/revise",
               dict({k: v for k, v in declaration.items() if k not in ("propertyId", "fy")},
                    floors=[{"floor": 0, "areaSqft": "950"}]),
               token=citizen.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    revised = r.json()
    assert revised["revision"] == 2
    # Only a revenue officer decides; re-assessment needs a reason.
    decision = {"decision": "REASSESS", "zone": "A", "usage": "RESIDENTIAL",
                "construction": "RCC", "occupancy": "RENTED",
                "floors": [{"floor": 0, "areaSqft": "1200"}, {"floor": 1, "areaSqft": "400"}]}
    path = f"{PT}/assessments/{revised['assessmentId']}/decision"
    assert s.post(path, dict(decision, reason="site visit"), token=clerk.token).status_code == 403
    r = s.post(path, decision, token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = s.post(path, dict(decision, reason="site visit found a first floor"), token=officer.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "REASSESSED"
    prop = s.get(f"{PT}/properties/{pid}", token=clerk.token).json()
    assert (prop["occupancy"], n(prop, "totalAreaSqft")) == ("RENTED", 1600)
    actions = s.sql(f"SELECT string_agg(action, ',' ORDER BY id) FROM audit "
                    f"WHERE subject = '{pid}'")
    assert actions == "property.create,assessment.file,assessment.revise,assessment.reassess"

    # Mutation: owners replaced, the old ones kept, the fee (Rs 1,000) joins this year's dues.
    r = s.post(f"{PT}/properties/{pid}/mutations",
               {"newOwners": [{"name": "Kiran", "mobile": "9812300004", "shareBp": 6000},
                              {"name": "Lata", "shareBp": 4000}],
                "deedRef": "SALE-2025-77", "reason": "sale deed registered"},
               token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    mutation = r.json()
    assert n(mutation, "feePaise") == 100000
    assert mutation["previousOwners"][0]["name"] == "Meena"
    assert heads(dues(s, clerk.token, pid), "2025-26") == {"MUTATION_FEE": 100000}
    assert s.get(f"{PT}/properties/{pid}", token=citizen.token).status_code == 404


def test_import_csv_all_or_nothing(property_tax_stack):
    s = property_tax_stack()
    clerk = s.staff("CLERK", ULB_IMPORT)
    header = "ward,zone,address,usage,construction,occupancy,exemption,owner_name,owner_mobile,area_sqft\n"
    good = header + ('2,A,"Plot 1, Station Road",RESIDENTIAL,RCC,RENTED,,Suresh,9812300005,1200\n'
                     '2,B,Plot 2,COMMERCIAL,TIN_SHED,RENTED,,"Rao ""Jr""",,300\n')
    r = s.post(f"{PT}/properties/import", {"ulb": ULB_IMPORT, "csv": good}, token=clerk.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    ids = r.json()["propertyIds"]
    assert r.json()["imported"] == 2 and len(ids) == 2
    first = s.get(f"{PT}/properties/{ids[0]}", token=clerk.token).json()
    assert first["address"] == "Plot 1, Station Road"
    second = s.get(f"{PT}/properties/{ids[1]}", token=clerk.token).json()
    assert second["owners"][0]["name"] == 'Rao "Jr"'
    # Numbers are gap-free per ward, and a failed import gives nothing back.
    assert [int(i.rsplit("-", 1)[1]) for i in ids] == [int(ids[0].rsplit("-", 1)[1]),
                                                       int(ids[0].rsplit("-", 1)[1]) + 1]
    count = s.sql("SELECT count(*) FROM property")
    bad = header + "2,A,Plot 3,RESIDENTIAL,RCC,RENTED,,X,,100\n2,A,Plot 4,RESIDENTIAL,MUD,RENTED,,Y,,100\n"
    r = s.post(f"{PT}/properties/import", {"ulb": ULB_IMPORT, "csv": bad}, token=clerk.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 422 and r.json()["error"]["field"] == "csv"
    assert "line 3" in r.json()["error"]["message"]
    assert s.sql("SELECT count(*) FROM property") == count
    nxt = create_property(s, clerk, ULB_IMPORT, 100, ward=2)
    assert int(nxt.rsplit("-", 1)[1]) == int(ids[1].rsplit("-", 1)[1]) + 1
