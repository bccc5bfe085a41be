"""Refunds of online certificate-fee payments that came too late (issue 14
item 3 follow-up).

A payment the provider takes after the fee was settled another way is not
taken twice: its order is REFUND_DUE. The ULB's clerk, registrar or
commissioner sees its town's orders due for a refund (oldest first, paged,
with the count and total still due) and records, once, that one was
refunded: how, the reference, the day and who — a row of its own written
through a rule function and on the hash-chained history, never an update
or a delete; the order stays REFUND_DUE with its refund beside it. Other
towns' staff and citizens cannot see or record it.

Fixtures come from certificates_fixtures.py (cert_stack, with s.provider).
"""
import uuid

from test_certificate_fee_online import checkout, initiate
from test_certificate_fees import pay
from test_certificates import apply, error, marriage_report, ok, today

REFUNDS = "/api/v1/certificates/fee-refunds"


def refund_due(s):
    """A marriage fee paid at the counter while the citizen paid it online too."""
    app = ok(apply(s, "marriage", marriage_report(11), s.citizen, ulb=s.ulb_a))
    order = ok(initiate(s, app["applicationId"], s.citizen))
    ok(pay(s, app["applicationId"], s.clerk_a, amountPaise="3000"))
    due = checkout(s, order)["callbackBody"]
    assert due["status"] == "REFUND_DUE", due
    return due


def record(s, order_id, token, key=None, **body):
    body = {"mode": "BANK_TRANSFER", "reference": "UTR/2026/0042", **body}
    return s.gateway.post(f"/api/v1/certificates/fee-payments/{order_id}/refund", body,
                          token=token, headers={"Idempotency-Key": key or uuid.uuid4().hex})


def listed(s, token, **params):
    return ok(s.gateway.get(REFUNDS, token=token, params=params))


def test_staff_list_the_refunds_due_and_record_one_once(cert_stack):
    s = cert_stack
    first, second = refund_due(s), refund_due(s)

    # The town's staff see both, oldest first, with the total still due.
    page = listed(s, s.clerk_a, pageSize=100)
    ids = [o["orderId"] for o in page["orders"]]
    assert ids.index(first["orderId"]) < ids.index(second["orderId"]), ids
    assert all(o["status"] == "REFUND_DUE" and not o.get("refund") for o in page["orders"]), page
    assert int(page["dueCount"]) >= 2 and int(page["duePaise"]) >= 6000, page
    assert int(page["duePaise"]) == sum(int(o["amountPaise"]) for o in page["orders"])
    assert "refunded" in page["orders"][ids.index(first["orderId"])]["note"]
    # A page at a time.
    one = listed(s, s.registrar_a, pageSize=1)
    assert len(one["orders"]) == 1 and one["nextPageToken"], one
    rest = listed(s, s.commissioner_a, pageSize=1, pageToken=one["nextPageToken"])
    assert rest["orders"][0]["orderId"] != one["orders"][0]["orderId"], rest
    error(s.gateway.get(REFUNDS, token=s.clerk_a, params={"pageToken": "cf" + "0" * 32}), 422,
          "INVALID_ARGUMENT", "pageToken")
    error(s.gateway.get(REFUNDS, token=s.clerk_a, params={"state": "MAYBE"}), 422,
          "INVALID_ARGUMENT", "state")
    # Another town's staff: not theirs; citizens: not at all.
    error(s.gateway.get(REFUNDS, token=s.registrar_b, params={"ulb": s.ulb_a}), 403,
          "PERMISSION_DENIED", "ulb")
    assert first["orderId"] not in [o["orderId"] for o in listed(s, s.registrar_b)["orders"]]
    assert s.gateway.get(REFUNDS, token=s.citizen).status_code == 403

    # Recording it: refused with the field named when the entry is wrong.
    oid = first["orderId"]
    error(record(s, oid, s.clerk_a, reference="  "), 422, "INVALID_ARGUMENT", "reference")
    error(record(s, oid, s.clerk_a, reference="UTR 42; drop"), 422, "INVALID_ARGUMENT",
          "reference")
    error(record(s, oid, s.clerk_a, mode="GIFT"), 422, "INVALID_ARGUMENT", "mode")
    error(record(s, oid, s.clerk_a, refundedOn="2099-01-01"), 422, "INVALID_ARGUMENT",
          "refundedOn")
    error(record(s, oid, s.clerk_a, refundedOn="2020-01-01"), 422, "INVALID_ARGUMENT",
          "refundedOn")
    error(record(s, oid, s.registrar_b), 404, "NOT_FOUND", "orderId")
    assert record(s, oid, s.citizen).status_code == 403
    r = s.gateway.post(f"/api/v1/certificates/fee-payments/{oid}/refund",
                       {"mode": "CASH", "reference": "V-1"}, token=s.clerk_a)
    assert r.status_code == 400, r.text          # money moves: an Idempotency-Key is required
    assert s.db.sql(f"SELECT count(*) FROM certificates.fee_refund "
                    f"WHERE order_id = '{oid}'") == "0"

    key = uuid.uuid4().hex
    done = ok(record(s, oid, s.clerk_a, key=key))
    assert done["status"] == "REFUND_DUE" and done["orderId"] == oid, done
    refund = done["refund"]
    assert (refund["mode"], refund["reference"], refund["refundedOn"], refund["recordedRole"]) \
        == ("BANK_TRANSFER", "UTR/2026/0042", today().isoformat(), "CLERK"), refund
    assert refund["recordedBy"] and refund["recordedAt"], refund
    again = record(s, oid, s.clerk_a, key=key)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    body = error(record(s, oid, s.commissioner_a), 422, "FAILED_PRECONDITION", "orderId")
    assert "already refunded" in body["message"] and "UTR/2026/0042" in body["message"], body
    # Only a payment due for a refund is refunded.
    paid_app = ok(apply(s, "marriage", marriage_report(13), s.citizen, ulb=s.ulb_a))
    paid = checkout(s, ok(initiate(s, paid_app["applicationId"], s.citizen)))["callbackBody"]
    assert paid["status"] == "PAID", paid
    error(record(s, paid["orderId"], s.clerk_a), 422, "FAILED_PRECONDITION", "orderId")

    # Listed as refunded now, not as due; the order shows its refund.
    assert oid not in [o["orderId"] for o in listed(s, s.clerk_a, pageSize=100)["orders"]]
    refunded = listed(s, s.clerk_a, state="REFUNDED", pageSize=100)["orders"]
    assert [o["refund"]["reference"] for o in refunded if o["orderId"] == oid] == \
        ["UTR/2026/0042"]
    got = ok(s.gateway.get(f"/api/v1/certificates/fee-payments/{oid}", token=s.citizen))
    assert got["refund"]["refundedOn"] == today().isoformat(), got

    # An entry on the hash-chained history, written only by the rule.
    assert s.db.sql(f"SELECT count(*) FROM certificates.history WHERE tbl = 'fee_refund' "
                    f"AND ulb = '{s.ulb_a}' AND op = 'INSERT' AND new_rows LIKE '%{oid}%'") == "1"
    assert s.db.sql(f"SELECT count(*) FROM certificates.audit WHERE action = "
                    f"'application.fee_refunded' AND detail->>'orderId' = '{oid}'") == "1"
    for statement in (f"UPDATE certificates.fee_refund SET reference = 'X' WHERE order_id = '{oid}'",
                      f"DELETE FROM certificates.fee_refund WHERE order_id = '{oid}'",
                      f"INSERT INTO certificates.fee_refund SELECT * FROM certificates.fee_refund "
                      f"WHERE order_id = '{oid}'"):
        r = s.db.psql_as_app(statement)
        assert not r.ok and r.sqlstate == "42501", (statement, r)


def test_the_fee_receipt_finds_its_history_entry_by_an_index(cert_stack):
    """The receipt's QR names the settlement's history entry; the lookup is
    one probe of migration 011's index, not a scan of the town's fees."""
    s = cert_stack
    app = ok(apply(s, "marriage", marriage_report(14), s.citizen, ulb=s.ulb_a))
    receipt = ok(pay(s, app["applicationId"], s.clerk_a, amountPaise="3000"))["receiptNo"]
    pdf = ok(s.gateway.get(f"/api/v1/certificates/applications/{app['applicationId']}"
                           f"/fee/receipt/pdf", token=s.citizen))
    seq = s.db.sql(f"SELECT seq FROM certificates.history WHERE tbl = 'fee_settlement' "
                   f"AND ulb = '{s.ulb_a}' AND op = 'INSERT' AND new_rows::jsonb @> "
                   f"'[{{\"receipt_no\": \"{receipt}\"}}]'")
    assert pdf["qrPayload"].split("|")[5] == seq, (pdf["qrPayload"], seq)
    # fee_payment.c's lookup, as the planner runs it (sequential scans off:
    # the table is small here; the question is which index answers it).
    plan = s.db.sql("SET enable_seqscan = off; EXPLAIN SELECT seq::text, encode(hash, 'hex') "
                    "FROM certificates.history WHERE tbl = 'fee_settlement' AND op = 'INSERT' "
                    f"AND ulb = '{s.ulb_a}' AND (new_rows::jsonb) -> 0 ->> 'receipt_no' = "
                    f"'{receipt}'")
    assert "history_fee_receipt_idx" in plan, plan
