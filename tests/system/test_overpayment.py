"""No accidental double collection (issue 12 item 7).

A payment larger than what is outstanding is refused — 422 on amountPaise,
naming the outstanding amount — unless the request says explicitly that the
rest is an advance. Twenty counter payments of the full due, sent at once
under twenty different Idempotency-Keys, collect it once: one is accepted,
nineteen are refused. An explicit advance is still recorded as credit.
Online orders are held to the same rule when they are made.
"""
import concurrent.futures
import uuid

PT = "/api/v1/property-tax"
WT = "/api/v1/water-tax"
ULB = "263211"          # no other test uses it
ULB_WATER = "251040"
FY = "2025-26"
RATES = {"maintenanceBp": 1000, "slabMode": "MARGINAL",
         "slabs": [{"uptoPaise": "3600000", "rateBp": 600}, {"uptoPaise": "0", "rateBp": 1000}],
         "educationCessBp": 300, "urbanDevelopmentCessBp": 100, "samekitPaise": "50000",
         "rebateBp": 0, "surchargeBpPerMonth": 0, "surchargeThresholdPaise": "0",
         "selfOccupiedRebateBp": 1000, "exemptionThresholdPaise": "0",
         "exemptCategories": ["WORSHIP"], "mutationFeePaise": "100000",
         "alvRates": [{"zone": "A", "construction": "RCC", "usage": "RESIDENTIAL",
                       "ratePaisePerSqft": "1500"}],
         "reason": "overpayment test"}


def payment(pid, amount, **extra):
    return dict({"propertyId": pid, "amountPaise": str(amount), "mode": "CASH", "counter": "C1"},
                **extra)


def test_twenty_full_payments_collect_once_and_an_advance_still_works(property_tax_stack):
    s = property_tax_stack(business_date="2025-06-15")
    officer, clerk = s.staff("REVENUE_OFFICER", ULB), s.staff("CLERK", ULB)
    r = s.put(f"{PT}/rates/{ULB}/{FY}", RATES, token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    body = {"ulb": ULB, "ward": 1, "zone": "A", "address": "4 Lake Road", "usage": "RESIDENTIAL",
            "construction": "RCC", "occupancy": "RENTED",
            "owners": [{"name": "Ravi Rao", "mobile": "9876500021", "shareBp": 10000}],
            "floors": [{"floor": 0, "areaSqft": "1000"}]}
    r = s.post(f"{PT}/properties", body, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    pid = r.json()["propertyId"]
    r = s.post(f"{PT}/demand-jobs", {"ulb": ULB, "fy": FY}, token=officer.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    job = r.json()["jobId"]
    for _ in range(600):
        if s.get(f"{PT}/demand-jobs/{job}", token=officer.token).json()["status"] == "DONE":
            break
        __import__("time").sleep(0.1)
    dues = s.get(f"{PT}/properties/{pid}/dues", token=clerk.token).json()
    due = int(dues["payablePaise"])
    assert due > 0, dues

    # More than is outstanding, without saying so: refused, naming what is.
    r = s.post(f"{PT}/payments", payment(pid, due + 1), token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "amountPaise" and f"{due} paise is outstanding" in error["message"]

    # Twenty at once, each the full due, each its own key: collected once.
    def pay(_):
        return s.post(f"{PT}/payments", payment(pid, due), token=clerk.token,
                      key=uuid.uuid4().hex)
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(pay, range(20)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [422] * 19, [(r.status_code, r.text[:120]) for r in results]
    for r in results:
        if r.status_code == 422:
            error = r.json()["error"]
            assert error["field"] == "amountPaise", r.text
            assert "0 paise is outstanding" in error["message"], r.text
    assert s.sql(f"SELECT count(*) FROM payment WHERE property_id = '{pid}'") == "1"
    after = s.get(f"{PT}/properties/{pid}/dues", token=clerk.token).json()
    assert int(after.get("payablePaise", 0)) == 0 and int(after.get("advancePaise", 0)) == 0

    # An advance, said so: recorded as credit.
    r = s.post(f"{PT}/payments", payment(pid, 50000, advance=True), token=clerk.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    assert [a["head"] for a in r.json()["allocations"]] == ["ADVANCE"]
    credit = s.get(f"{PT}/properties/{pid}/dues", token=clerk.token).json()
    assert int(credit["advancePaise"]) == 50000

    # An online order for more than is outstanding: the same rule.
    r = s.post(f"{PT}/online-payments", {"propertyId": pid, "amountPaise": "1000"},
               token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 422 and "0 paise is outstanding" in r.json()["error"]["message"]
    r = s.post(f"{PT}/online-payments", {"propertyId": pid, "amountPaise": "1000",
                                         "advance": True}, token=clerk.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text


def test_water_charges_refuse_an_overpayment_too(water_tax_stack):
    s = water_tax_stack(business_date="2025-07-10")
    officer, clerk = s.staff("REVENUE_OFFICER", ULB_WATER), s.staff("CLERK", ULB_WATER)
    tariff = {"flatRates": [{"category": "DOMESTIC", "pipeSizeMm": 15, "monthlyPaise": "18000"}],
              "meteredSlabs": [{"category": "DOMESTIC", "uptoKl": "0", "ratePaisePerKl": "500"}],
              "meteredMinimum": [{"category": "DOMESTIC", "paise": "5000"}], "sewerageBp": 3000,
              "solidWaste": [{"category": "DOMESTIC", "paise": "3000"}], "surchargeBp": 200,
              "advanceRebateBp": 500, "dueDays": 15, "maxMonthlyKl": "100",
              "estimateDefaultKl": "15", "disconnectionFeePaise": "20000",
              "reconnectionFeePaise": "50000", "reason": "overpayment test",
              "connectionFees": [{"category": "DOMESTIC", "pipeSizeMm": 15,
                                  "feePaise": "200000"}]}
    r = s.put(f"{WT}/tariffs/{ULB_WATER}/2025-26", tariff, token=officer.token,
              key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    body = {"ulb": ULB_WATER, "ward": 1, "propertyId": f"{ULB_WATER}-001-000001",
            "consumerName": "Asha Verma", "mobile": "9876500001", "address": "12 Gandhi Marg",
            "category": "DOMESTIC", "pipeSizeMm": 15, "metered": False, "units": 1}
    r = s.post(f"{WT}/connections", body, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    cid = r.json()["connectionId"]
    r = s.post(f"{WT}/connections/{cid}/decision",
               {"approve": True, "reason": "site inspected", "initialReadingLitres": "0",
                "activeFrom": "2025-05-01"}, token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    dues = s.get(f"{WT}/connections/{cid}/dues", token=clerk.token).json()
    due = int(dues.get("outstandingPaise", 0)) - int(dues.get("advancePaise", 0))
    pay = {"connectionId": cid, "amountPaise": str(due + 500), "mode": "CASH", "counter": "W1"}
    r = s.post(f"{WT}/payments", pay, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 422 and r.json()["error"]["field"] == "amountPaise", r.text
    assert "paise is outstanding" in r.json()["error"]["message"]
    r = s.post(f"{WT}/payments", dict(pay, advance=True), token=clerk.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
