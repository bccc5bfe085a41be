"""Dues on a day before a financial year begins do not include that year
(issue 14 item 5: `dues?asOf=2026-03-31` showed FY 2026-27's demand as
outstanding).

Property tax: the 2026-27 demand is raised early, in March 2026; on 31 March
only 2025-26 is owed, from 1 April both years. Water: a bill is owed from its
bill date (the 1st of the next month), so on 31 March 2026 February's bill
(dated 1 March) is owed and March's (dated 1 April, in 2026-27) is not.
"""
from test_property_tax import (PT, create_property, dues, heads, n, run_demand,
                               set_rates)
from test_water_tax import WT, NO_FEE, connect, run_bills, set_tariff

ULB_PT_EARLY = "250914"     # Barwani
ULB_WT_EARLY = "250957"     # Begamganj


def test_property_dues_before_the_year_begins(property_tax_stack):
    s = property_tax_stack(business_date="2026-03-15")
    officer = s.staff("REVENUE_OFFICER", ULB_PT_EARLY)
    clerk = s.staff("CLERK", ULB_PT_EARLY)
    for fy in ("2025-26", "2026-27"):
        set_rates(s, officer, ULB_PT_EARLY, fy)
    pid = create_property(s, clerk, ULB_PT_EARLY, 3000)
    run_demand(s, officer, ULB_PT_EARLY, "2025-26")
    run_demand(s, officer, ULB_PT_EARLY, "2026-27")      # raised early, in March

    # 3000 sq ft rented: 252,000 + 135,000 + 45,000 + 50,000 = 482,000 a year.
    for as_of in (None, "2026-03-31"):
        d = dues(s, clerk.token, pid, as_of)
        assert {l["fy"] for l in d["lines"]} == {"2025-26"}, d
        assert (n(d, "outstandingPaise"), n(d, "payablePaise")) == (482000, 482000), d
    assert dues(s, clerk.token, pid)["asOf"] == "2026-03-15"

    # From 1 April the new year is owed; 2025-26 carries no surcharge yet
    # (no whole month since it ended) and 2026-27's rebate (6% of 252,000)
    # is offered until 31 August.
    d = dues(s, clerk.token, pid, "2026-04-01")
    assert heads(d, "2026-27") == {"PROPERTY_TAX": 252000, "EDUCATION_CESS": 135000,
                                   "URBAN_DEVELOPMENT_CESS": 45000, "SAMEKIT": 50000}
    assert (n(d, "outstandingPaise"), n(d, "rebatePaise"), n(d, "payablePaise")) == \
        (964000, 15120, 964000 - 15120)


def test_water_dues_before_the_year_begins(water_tax_stack):
    s = water_tax_stack(business_date="2026-04-10")
    officer = s.staff("REVENUE_OFFICER", ULB_WT_EARLY)
    clerk = s.staff("CLERK", ULB_WT_EARLY)
    for fy in ("2025-26", "2026-27"):
        set_tariff(s, officer, ULB_WT_EARLY, fy=fy, connectionFees=NO_FEE)
    cid = connect(s, clerk, officer, ULB_WT_EARLY, active_from="2026-02-01")
    run_bills(s, officer, ULB_WT_EARLY, "2026-02")      # dated 2026-03-01
    run_bills(s, officer, ULB_WT_EARLY, "2026-03")      # dated 2026-04-01

    def water_dues(as_of=None):
        r = s.get(f"{WT}/connections/{cid}/dues", token=clerk.token,
                  params={"asOf": as_of} if as_of else None)
        assert r.status_code == 200, r.text
        return r.json()

    # Flat domestic 15 mm, one household: 18,000 + 5,400 + 3,000 = 26,400 a month;
    # March's bill carries February's 26,400 as arrears and a 2% surcharge of 528.
    d = water_dues("2026-03-31")
    assert d["asOf"] == "2026-03-31"
    assert {l["ref"] for l in d["lines"]} == {"2026-02"}, d
    assert (n(d, "outstandingPaise"), n(d, "payablePaise")) == (26400, 26400)
    d = water_dues()
    assert d["asOf"] == "2026-04-10"
    assert {l["ref"] for l in d["lines"]} == {"2026-02", "2026-03"}, d
    assert n(d, "outstandingPaise") == 26400 * 2 + 528
    r = s.get(f"{WT}/connections/{cid}/dues", token=clerk.token, params={"asOf": "31/03/2026"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "asOf", r.text
