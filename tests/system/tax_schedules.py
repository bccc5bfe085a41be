"""tax_schedules.py — the property-tax rate schedules and water tariffs that
system tests and drills set, so that one schedule has one spelling:

    readme_rates(fy, **overrides)    the README's example schedule (+ a zone B rate)
    plain_rates(reason)              no rebate, surcharge or exemption threshold
    domestic_tariff(reason, **overrides)   one DOMESTIC 15 mm connection's charges

Each returns a fresh dict (the body of PUT .../rates/{ulb}/{fy} or
.../tariffs/{ulb}/{fy}; a bus caller adds "ulb" and "fy"); overrides
replace whole fields. The worked examples in test_property_tax.py and
test_water_tax.py spell out the paise these give; a test that needs other
figures overrides the fields it is about, so the reader sees them.

tests/system/legacy/make_legacy_fixture.py keeps its own copies on purpose:
it speaks to an older build and must go on producing the checked-in fixture.
"""


def readme_rates(fy, **overrides):
    """The README's example schedule: the defaults plus an ALV grid."""
    start = int(fy[:4])
    body = {
        "maintenanceBp": 1000, "slabMode": "MARGINAL",
        "slabs": [{"uptoPaise": "3600000", "rateBp": 600}, {"uptoPaise": "6000000", "rateBp": 800},
                  {"uptoPaise": "0", "rateBp": 1000}],
        "educationCessBp": 300, "urbanDevelopmentCessBp": 100, "samekitPaise": "50000",
        "rebateBp": 600, "rebateLastDay": f"{start}-08-31", "surchargeBpPerMonth": 150,
        "surchargeThresholdPaise": "0", "selfOccupiedRebateBp": 1000,
        "exemptionThresholdPaise": "600000",
        "exemptCategories": ["WORSHIP", "CHARITABLE", "GOVERNMENT", "BPL"],
        "mutationFeePaise": "100000",
        "alvRates": [{"zone": "A", "construction": "RCC", "usage": "RESIDENTIAL",
                      "ratePaisePerSqft": "1500"},
                     {"zone": "B", "construction": "RCC", "usage": "RESIDENTIAL",
                      "ratePaisePerSqft": "1537"}],
        "reason": "test schedule",
    }
    body.update(overrides)
    return body


def plain_rates(reason):
    """A schedule whose bill is the tax and cesses alone, whenever it is paid:
    no rebate, no surcharge, nothing below a threshold exempt (zone A, RCC,
    residential at 1,500 paise a sq ft). For tests of payments and records,
    not of the schedule."""
    return {"maintenanceBp": 1000, "slabMode": "MARGINAL",
            "slabs": [{"uptoPaise": "3600000", "rateBp": 600}, {"uptoPaise": "0", "rateBp": 1000}],
            "educationCessBp": 300, "urbanDevelopmentCessBp": 100, "samekitPaise": "50000",
            "rebateBp": 0, "surchargeBpPerMonth": 0, "surchargeThresholdPaise": "0",
            "selfOccupiedRebateBp": 1000, "exemptionThresholdPaise": "0",
            "exemptCategories": ["WORSHIP"], "mutationFeePaise": "100000",
            "alvRates": [{"zone": "A", "construction": "RCC", "usage": "RESIDENTIAL",
                          "ratePaisePerSqft": "1500"}],
            "reason": reason}


def domestic_tariff(reason, **overrides):
    """test_water_tax.py's tariff for the one category and pipe size most
    tests connect (DOMESTIC, 15 mm): 18,000 paise a month unmetered, with its
    connection fee (2,000 rupees) and (dis)connection fees."""
    body = {"flatRates": [{"category": "DOMESTIC", "pipeSizeMm": 15, "monthlyPaise": "18000"}],
            "meteredSlabs": [{"category": "DOMESTIC", "uptoKl": "0", "ratePaisePerKl": "500"}],
            "meteredMinimum": [{"category": "DOMESTIC", "paise": "5000"}], "sewerageBp": 3000,
            "solidWaste": [{"category": "DOMESTIC", "paise": "3000"}], "surchargeBp": 200,
            "advanceRebateBp": 500, "dueDays": 15, "maxMonthlyKl": "100",
            "estimateDefaultKl": "15",
            "connectionFees": [{"category": "DOMESTIC", "pipeSizeMm": 15, "feePaise": "200000"}],
            "disconnectionFeePaise": "20000", "reconnectionFeePaise": "50000",
            "reason": reason}
    body.update(overrides)
    return body
