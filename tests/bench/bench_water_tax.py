#!/usr/bin/python3
"""bench_water_tax.py — `make bench-water-tax`: the monthly water bill run
for N synthetic connections (default 100,000 in 8 ULBs) through the queue,
next to a bare INSERT ... SELECT of the same rows in the same run on the
same PostgreSQL.

  bills      bill.generate per ULB through the gateway, then the workers'
             chunks (one INSERT ... SELECT each, with arrears, advance,
             surcharge, metered slabs and estimates for missing readings)
             until every job is DONE; connections billed per second.
  baseline   a bare INSERT ... SELECT of the same rows (the bills and the
             estimated readings the run just produced) into copies of the two
             tables with the same indexes; rows per second.

The synthetic register is mixed: 70% unmetered (flat rate by category and
pipe size), 30% metered, of which two thirds have a reading for the month
and one third are estimated from their history.

A benchmark, not a test: it reports, and exits non-zero only when a run could
not complete.

  BUILD=build /usr/bin/python3 tests/bench/bench_water_tax.py [--connections 100000]
        [--ulbs 8] [--workers 8] [--chunk 5000]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rules_bench_stack import RulesBenchStack, http, timed_sql, wait_jobs  # noqa: E402

ULBS = ["250708", "250692", "250806", "250838", "250741", "250684", "250755", "250709"]
FY = "2025-26"
PERIOD = "2025-06"
TODAY = "2025-07-10"



def tariff():
    cats = ("DOMESTIC", "COMMERCIAL", "INDUSTRIAL", "INSTITUTIONAL")
    return {"flatRates": [{"category": c, "pipeSizeMm": p, "monthlyPaise": str(18000 + i * 9000 + p * 100)}
                          for i, c in enumerate(cats) for p in (15, 20, 25)],
            "meteredSlabs": [{"category": "DOMESTIC", "uptoKl": "10", "ratePaisePerKl": "500"},
                             {"category": "DOMESTIC", "uptoKl": "20", "ratePaisePerKl": "1000"},
                             {"category": "DOMESTIC", "uptoKl": "0", "ratePaisePerKl": "1500"}] +
                            [{"category": c, "uptoKl": "0", "ratePaisePerKl": "2500"}
                             for c in cats[1:]],
            "meteredMinimum": [{"category": c, "paise": "5000"} for c in cats],
            "sewerageBp": 3000, "solidWaste": [{"category": c, "paise": "3000"} for c in cats],
            "surchargeBp": 200, "advanceRebateBp": 500, "dueDays": 15, "maxMonthlyKl": "100",
            "estimateDefaultKl": "15", "reason": "benchmark tariff"}


def synthesize(cluster, ulbs, per_ulb):
    """per_ulb connections in each ULB over 9 wards, straight into the tables,
    with two months of reading history for the metered ones and a May bill
    (so arrears, advance and surcharge have something to work on)."""
    for ulb in ulbs:
        cluster.sql(f"""
            SET search_path = water_tax;
            INSERT INTO connection (connection_id, ulb, ward, number, property_id, consumer_name,
                                    address, category, pipe_size_mm, metered, meter_no, units,
                                    status, applied_on, active_from, created_by)
            SELECT '{ulb}-W' || lpad((1 + n % 9)::text, 3, '0') || '-' || lpad(n::text, 6, '0'),
                   '{ulb}', 1 + n % 9, n, '{ulb}-001-' || lpad(n::text, 6, '0'), 'Consumer ' || n,
                   'plot ' || n,
                   (ARRAY['DOMESTIC','DOMESTIC','DOMESTIC','COMMERCIAL','INDUSTRIAL',
                          'INSTITUTIONAL'])[1 + n % 6],
                   (ARRAY[15, 20, 25])[1 + (n / 7) % 3], n % 10 < 3,
                   CASE WHEN n % 10 < 3 THEN 'M' || n ELSE '' END, 1 + n % 3, 'ACTIVE',
                   '2025-03-01', '2025-03-01', 'bench'
            FROM generate_series(1, {per_ulb}) n;
            INSERT INTO meter_reading (connection_id, ulb, period, reading_date, reading_litres,
                                       consumption_litres, kind, meter_no, recorded_by)
            SELECT '{ulb}-W' || lpad((1 + n % 9)::text, 3, '0') || '-' || lpad(n::text, 6, '0'),
                   '{ulb}', p, (p + interval '1 month' - interval '1 day')::date,
                   k * (5000 + n % 20000), CASE WHEN k = 0 THEN 0 ELSE 5000 + n % 20000 END,
                   CASE WHEN k = 0 THEN 'INITIAL' ELSE 'ACTUAL' END, 'M' || n, 'bench'
            FROM generate_series(1, {per_ulb}) n,
                 LATERAL (VALUES (0, date '2025-03-01'), (1, date '2025-04-01'),
                                 (2, date '2025-05-01'), (3, date '2025-06-01')) AS r(k, p)
            WHERE n % 10 < 3 AND (k < 3 OR n % 10 < 2);
            INSERT INTO bill (connection_id, period, ulb, ward, tariff_version_id, metered,
                              consumption_litres, estimated, water_paise, sewerage_paise,
                              solid_waste_paise, surcharge_paise, rebate_paise, arrear_paise,
                              advance_paise, bill_date, due_date)
            SELECT '{ulb}-W' || lpad((1 + n % 9)::text, 3, '0') || '-' || lpad(n::text, 6, '0'),
                   '2025-05-01', '{ulb}', 1 + n % 9, 0, false, 0, false, 18000, 5400, 3000, 0, 0,
                   0, 0, '2025-06-01', '2025-06-16'
            FROM generate_series(1, {per_ulb}) n WHERE n % 4 = 0;""",
                    dbname="nagar_water_tax")
    cluster.sql("VACUUM ANALYZE", dbname="nagar_water_tax")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=100000)
    parser.add_argument("--ulbs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=5000)
    args = parser.parse_args()
    ulbs = ULBS[:max(1, min(args.ulbs, len(ULBS)))]
    per_ulb = args.connections // len(ulbs)
    total = per_ulb * len(ulbs)
    stack = RulesBenchStack("nagar-bench-wt-")
    results = {}
    try:
        stack.start("water_tax", args.workers, {
            "NAGAR_WATER_TAX_BUSINESS_DATE": TODAY, "NAGAR_WATER_TAX_BILL_CHUNK": str(args.chunk),
            "NAGAR_WATER_TAX_BILL_IDLE_POLL_MS": "50", "NAGAR_WATER_TAX_OUTBOX_RELAY": "0"})
        cluster, base, admin = stack.cluster, stack.base, stack.admin

        print(f"bench-water-tax: synthesizing {total} connections in {len(ulbs)} ULBs ...",
              flush=True)
        synthesize(cluster, ulbs, per_ulb)
        for ulb in ulbs:
            http("PUT", f"{base}/api/v1/water-tax/tariffs/{ulb}/{FY}", admin, tariff(),
                 key=f"tariff-{ulb}")

        # 1. the monthly bills through the queue
        start = time.monotonic()
        jobs = [http("POST", f"{base}/api/v1/water-tax/bill-jobs", admin,
                     {"ulb": ulb, "period": PERIOD}, key=f"bills-{ulb}")["jobId"] for ulb in ulbs]
        if not wait_jobs(base, admin, "/api/v1/water-tax/bill-jobs", jobs, start + 1800):
            sys.exit("bench_water_tax: bill jobs did not finish within 30 minutes")
        bills_s = time.monotonic() - start
        bills = int(cluster.sql("SELECT count(*) FROM water_tax.bill WHERE period = '2025-06-01'",
                                dbname="nagar_water_tax"))
        if bills != total:
            sys.exit(f"bench_water_tax: {bills} bills for {total} connections")
        results["estimated"] = int(cluster.sql(
            "SELECT count(*) FROM water_tax.bill WHERE period = '2025-06-01' AND estimated",
            dbname="nagar_water_tax"))
        results["bills"] = total / bills_s

        # 2. the bare INSERT ... SELECT of the same rows
        cluster.sql("SET search_path = water_tax; "
                    "CREATE TABLE bench_bill (LIKE bill INCLUDING ALL); "
                    "CREATE TABLE bench_reading (LIKE meter_reading INCLUDING ALL)",
                    dbname="nagar_water_tax")
        bare_s = timed_sql(cluster, "nagar_water_tax",
                           "SET search_path = water_tax; "
                           "INSERT INTO bench_bill SELECT * FROM bill WHERE period = '2025-06-01'; "
                           "INSERT INTO bench_reading SELECT * FROM meter_reading "
                           "WHERE kind = 'ESTIMATED'")
        results["bare"] = total / bare_s
    finally:
        stack.stop()

    ratio = results["bills"] / results["bare"]
    print(f"bench-water-tax: {total} connections in {len(ulbs)} ULBs, {args.workers} water_tax "
          f"workers, chunks of {args.chunk}; {results['estimated']} bills on estimated readings")
    print(f"  monthly bills through the queue   {results['bills']:>10.0f} connections/s  "
          f"{ratio:.0%} of the bare insert")
    print(f"  bare INSERT ... SELECT, same rows {results['bare']:>10.0f} connections/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
