#!/usr/bin/python3
"""make_legacy_fixture.py — makes the "database made by an older main" that
tests/system/test_upgrade.py upgrades, and records how it was made.

It starts the whole suite exactly as `make run` lays it out (tests/drills/suite.py,
with the build of the checkout it runs in), exercises every money, ownership and
registration path through the gateway — properties, rates, the annual demand,
counter payments, a reversal, an online payment with the provider's signed
callback, a self-assessment, a mutation; water connections, readings, a bill run,
payments; a birth registration and its certificate — signs a checkpoint with
nagarctl, and writes into OUT:

  <service>.sql.gz     pg_dump --schema=<service> of each service database
  checkpoint.txt       the signed checkpoint nagarctl wrote
  checkpoint.pub       its public key
  certificate_keys/    the public keys the certificates were sealed with
  MADE_BY              the commit it was made from

Run it from a checkout of the older main (the fixture in main-7b3248d/ was made
from commit 7b3248d, the last main before SQL modules), as root, with that
checkout built (make BUILD=build/asan SANITIZE=1 tests):

  BUILD=build/asan tests/system/legacy/make_legacy_fixture.py tests/system/legacy/main-7b3248d
"""
import gzip
import hashlib
import hmac
import os
import shutil
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "drills"))

from suite import Suite, make_base_dir  # noqa: E402

PT = "/api/v1/property-tax"
WT = "/api/v1/water-tax"
ULB_A, ULB_B, ULB_WATER, ULB_CERT = "250786", "293817", "250708", "250852"
FY = "2025-26"


def ok(r):
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    return r.json()


def rates(fy):
    return {"maintenanceBp": 1000, "slabMode": "MARGINAL",
            "slabs": [{"uptoPaise": "3600000", "rateBp": 600},
                      {"uptoPaise": "6000000", "rateBp": 800}, {"uptoPaise": "0", "rateBp": 1000}],
            "educationCessBp": 300, "urbanDevelopmentCessBp": 100, "samekitPaise": "50000",
            "rebateBp": 600, "rebateLastDay": f"{fy[:4]}-08-31", "surchargeBpPerMonth": 150,
            "surchargeThresholdPaise": "0", "selfOccupiedRebateBp": 1000,
            "exemptionThresholdPaise": "600000",
            "exemptCategories": ["WORSHIP", "CHARITABLE", "GOVERNMENT", "BPL"],
            "mutationFeePaise": "100000",
            "alvRates": [{"zone": "A", "construction": "RCC", "usage": "RESIDENTIAL",
                          "ratePaisePerSqft": "1500"}],
            "reason": "fixture schedule"}


def property_tax(s):
    officer_tokens = {}
    for ulb in (ULB_A, ULB_B):
        officer = s.token("REVENUE_OFFICER", ulb)
        officer_tokens[ulb] = officer
        ok(s.http("PUT", f"{PT}/rates/{ulb}/{FY}", token=officer, key=uuid.uuid4().hex,
                  json=rates(FY)))
        clerk = s.token("CLERK", ulb)
        pids = [s.create_property(clerk, ulb, area=800 + 100 * i) for i in range(4)]
        job = ok(s.http("POST", f"{PT}/demand-jobs", token=officer, key=uuid.uuid4().hex,
                        json={"ulb": ulb, "fy": FY}))
        for _ in range(600):
            status = ok(s.http("GET", f"{PT}/demand-jobs/{job['jobId']}", token=officer))
            if status["status"] == "DONE":
                break
            __import__("time").sleep(0.1)
        receipts = []
        for i, pid in enumerate(pids):
            r = ok(s.pay(clerk, pid, 5000 + 1000 * i))
            receipts.append(r["receiptNo"])
        ok(s.pay(clerk, pids[0], 250000))      # more than is due: the rest becomes credit
        ok(s.http("POST", f"{PT}/payments/reversals", token=officer, key=uuid.uuid4().hex,
                  json={"receiptNo": receipts[1], "reason": "cheque bounced", "counter": "C1"}))
    # An online payment with the provider's signed callback.
    clerk = s.token("CLERK", ULB_A)
    citizen_id = "citizen:fixture-1"
    citizen = s.token("CITIZEN", "", citizen_id)
    body = {"ulb": ULB_A, "ward": 2, "zone": "A", "address": "7 Station Road",
            "usage": "RESIDENTIAL", "construction": "RCC", "occupancy": "SELF_OCCUPIED",
            "owners": [{"name": "Ravi", "mobile": "9812300002", "userId": citizen_id,
                        "shareBp": 10000}],
            "floors": [{"floor": 0, "areaSqft": "900"}]}
    pid = ok(s.http("POST", f"{PT}/properties", token=clerk, key=uuid.uuid4().hex,
                    json=body))["propertyId"]
    order = ok(s.http("POST", f"{PT}/online-payments", token=citizen, key=uuid.uuid4().hex,
                      json={"propertyId": pid, "amountPaise": "123456"}))
    # Property tax's own provider key (one per service; a checkout from before
    # that has the one shared payment_provider.key).
    key_path = os.path.join(s.var, "secrets", "payment_provider", "property_tax.key")
    if not os.path.exists(key_path):
        key_path = os.path.join(s.var, "secrets", "payment_provider.key")
    with open(key_path) as f:
        key = bytes.fromhex(f.read().strip())
    signature = hmac.new(key, f"v1|callback|{order['orderId']}|FPX1|123456|SUCCESS".encode(),
                         hashlib.sha256).hexdigest()
    ok(s.http("POST", f"{PT}/online-payments/callback",
              json={"orderId": order["orderId"], "providerRef": "FPX1", "amountPaise": "123456",
                    "status": "SUCCESS", "signature": signature}))
    # A self-assessment and a mutation (ownership change).
    declaration = {"propertyId": pid, "fy": FY, "zone": "A", "usage": "RESIDENTIAL",
                   "construction": "RCC", "occupancy": "SELF_OCCUPIED",
                   "floors": [{"floor": 0, "areaSqft": "950"}]}
    ok(s.http("POST", f"{PT}/assessments", token=citizen, key=uuid.uuid4().hex, json=declaration))
    ok(s.http("POST", f"{PT}/properties/{pid}/mutations", token=clerk, key=uuid.uuid4().hex,
              json={"newOwners": [{"name": "Kiran", "mobile": "9812300004", "shareBp": 6000},
                                  {"name": "Lata", "shareBp": 4000}],
                    "deedRef": "SALE-2025-77", "reason": "sale deed registered"}))


def water_tax(s):
    officer = s.token("REVENUE_OFFICER", ULB_WATER)
    clerk = s.token("CLERK", ULB_WATER)
    tariff = {"flatRates": [{"category": "DOMESTIC", "pipeSizeMm": 15, "monthlyPaise": "18000"}],
              "meteredSlabs": [{"category": "DOMESTIC", "uptoKl": "0", "ratePaisePerKl": "500"}],
              "meteredMinimum": [{"category": "DOMESTIC", "paise": "5000"}],
              "sewerageBp": 3000, "solidWaste": [{"category": "DOMESTIC", "paise": "3000"}],
              "surchargeBp": 200, "advanceRebateBp": 500, "dueDays": 15, "maxMonthlyKl": "100",
              "estimateDefaultKl": "15",
              "connectionFees": [{"category": "DOMESTIC", "pipeSizeMm": 15, "feePaise": "200000"}],
              "disconnectionFeePaise": "20000", "reconnectionFeePaise": "50000",
              "reason": "fixture tariff"}
    ok(s.http("PUT", f"{WT}/tariffs/{ULB_WATER}/{FY}", token=officer, key=uuid.uuid4().hex,
              json=tariff))
    cids = []
    for i in range(3):
        body = {"ulb": ULB_WATER, "ward": 1, "propertyId": f"{ULB_WATER}-001-00000{i + 1}",
                "consumerName": f"Consumer {i}", "mobile": "9876500001",
                "address": "12 Gandhi Marg", "category": "DOMESTIC", "pipeSizeMm": 15,
                "metered": i == 0, "units": 1}
        if i == 0:
            body["meterNo"] = "M-FIXTURE"
        cid = ok(s.http("POST", f"{WT}/connections", token=clerk, key=uuid.uuid4().hex,
                        json=body))["connectionId"]
        ok(s.http("POST", f"{WT}/connections/{cid}/decision", token=officer,
                  key=uuid.uuid4().hex,
                  json={"approve": True, "reason": "site inspected",
                        "initialReadingLitres": "0", "activeFrom": "2025-05-01"}))
        cids.append(cid)
    ok(s.http("POST", f"{WT}/connections/{cids[0]}/readings", token=clerk, key=uuid.uuid4().hex,
              json={"readingDate": "2025-06-30", "readingLitres": "12000"}))
    job = ok(s.http("POST", f"{WT}/bill-jobs", token=officer, key=uuid.uuid4().hex,
                    json={"ulb": ULB_WATER, "period": "2025-06"}))
    for _ in range(600):
        if ok(s.http("GET", f"{WT}/bill-jobs/{job['jobId']}", token=officer))["status"] == "DONE":
            break
        __import__("time").sleep(0.1)
    for cid in cids:
        ok(s.http("POST", f"{WT}/payments", token=clerk, key=uuid.uuid4().hex,
                  json={"connectionId": cid, "amountPaise": "10000", "mode": "CASH",
                        "counter": "W1"}))


def certificates(s):
    citizen = s.token("CITIZEN", "", "citizen:9876543210")
    registrar = s.token("REGISTRAR", ULB_CERT)
    s.issue_birth_certificate(ULB_CERT, citizen, registrar)
    s.issue_birth_certificate(ULB_CERT, citizen, registrar, days_ago=5)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    base = make_base_dir()
    s = Suite(base)
    try:
        # The fixture's business dates: the first quarter of 2025-26.
        s.svc_env["NAGAR_PROPERTY_TAX_BUSINESS_DATE"] = "2025-07-01"
        s.svc_env["NAGAR_WATER_TAX_BUSINESS_DATE"] = "2025-07-10"
        s.start_all()
        property_tax(s)
        water_tax(s)
        certificates(s)
        s.ctl_ok("checkpoint")
        s.ctl_ok("verify")
        layout = dict(line.split("=", 1) for line in
                      s.run([os.path.join(ROOT, "deploy", "pg.sh"), "env"]).stdout.split())
        for svc in ("identity", "certificates", "property_tax", "water_tax", "notifications"):
            r = subprocess.run(
                ["pg_dump", "-h", layout["NAGAR_PG_SOCKET_DIR"], "-p", str(s.pg_port), "-U",
                 layout["NAGAR_PG_SUPERUSER"], "--schema", svc, f"nagar_{svc}"],
                env=s.env, capture_output=True, timeout=120, check=True)
            with gzip.open(os.path.join(out, f"{svc}.sql.gz"), "wb", compresslevel=9) as f:
                f.write(r.stdout)
        directory = os.path.join(s.var, "checkpoints")
        [name] = sorted(os.listdir(directory))[-1:]
        shutil.copyfile(os.path.join(directory, name), os.path.join(out, "checkpoint.txt"))
        shutil.copyfile(os.path.join(s.var, "checkpoint_key", "checkpoint.pub"),
                        os.path.join(out, "checkpoint.pub"))
        keys = os.path.join(out, "certificate_keys")
        os.makedirs(keys, exist_ok=True)
        for name in os.listdir(os.path.join(s.var, "certificate_keys")):
            shutil.copyfile(os.path.join(s.var, "certificate_keys", name),
                            os.path.join(keys, name))
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        with open(os.path.join(out, "MADE_BY"), "w") as f:
            f.write(f"{commit}\nmade by tests/system/legacy/make_legacy_fixture.py\n")
    finally:
        s.stop()
    print(f"legacy fixture written to {out}")


if __name__ == "__main__":
    main()
