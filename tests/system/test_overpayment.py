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

from tax_schedules import domestic_tariff, plain_rates
from test_property_tax import create_property, run_demand
from test_water_tax import connect

PT = "/api/v1/property-tax"
WT = "/api/v1/water-tax"
ULB = "263211"          # no other test uses it
ULB_WATER = "251040"
FY = "2025-26"



def payment(pid, amount, **extra):
    return dict({"propertyId": pid, "amountPaise": str(amount), "mode": "CASH", "counter": "C1"},
                **extra)


def test_twenty_full_payments_collect_once_and_an_advance_still_works(property_tax_stack):
    s = property_tax_stack(business_date="2025-06-15")
    officer, clerk = s.staff("REVENUE_OFFICER", ULB), s.staff("CLERK", ULB)
    r = s.put(f"{PT}/rates/{ULB}/{FY}", plain_rates("overpayment test"), token=officer.token,
              key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    pid = create_property(s, clerk, ULB, 1000, owners=[{"name": "Ravi Rao", "mobile": "9876500021",
                                                        "shareBp": 10000}])
    run_demand(s, officer, ULB, FY)
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
    r = s.put(f"{WT}/tariffs/{ULB_WATER}/2025-26", domestic_tariff("overpayment test"),
              token=officer.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    cid = connect(s, clerk, officer, ULB_WATER)
    dues = s.get(f"{WT}/connections/{cid}/dues", token=clerk.token).json()
    due = int(dues.get("outstandingPaise", 0)) - int(dues.get("advancePaise", 0))
    pay = {"connectionId": cid, "amountPaise": str(due + 500), "mode": "CASH", "counter": "W1"}
    r = s.post(f"{WT}/payments", pay, token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 422 and r.json()["error"]["field"] == "amountPaise", r.text
    assert "paise is outstanding" in r.json()["error"]["message"]
    r = s.post(f"{WT}/payments", dict(pay, advance=True), token=clerk.token,
               key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
