"""Every write a rule function makes is on the history with the person who
made it and why, never as a database role: nagarctl verify names an entry
whose actor is db:<role> as a change made outside the rules.

  - Water tax: disconnecting and reconnecting a connection
    (wt_connection_disconnect / _reconnect) records the officer and
    "connection.disconnect: <reason>" on the connection's history.
  - Certificates: a fee taken at the counter (cert_fee_pay) and a fee waived
    (cert_fee_waive) record the clerk and the commissioner on the
    fee_settlement's history.

The rules are called as each service's app role, as the service does, for a
ULB no other test uses.
"""
import json
import uuid

from tax_schedules import domestic_tariff

ULB = "999071"
TODAY = "2026-06-01"
# test_water_tax.py's, for the year of TODAY: connection and (dis)connection fees
TARIFF = domestic_tariff("test tariff", ulb=ULB, fy="2026-27")


def rule(pg_cluster, svc, sql):
    r = pg_cluster.psql_as(f"{svc}_app", f"SET search_path = {svc}; {sql}")
    assert r.ok, r.stderr
    return r.stdout.strip()


def history(pg_cluster, svc, table):
    out = pg_cluster.sql(f"SELECT json_agg(h ORDER BY seq) FROM (SELECT seq, op, actor, reason "
                         f"FROM {svc}.history WHERE tbl = '{table}' AND ulb = '{ULB}') h",
                         dbname=f"nagar_{svc}")
    return json.loads(out) if out else []


def actor(user, role):
    return json.dumps({"userId": user, "role": role, "ulb": ULB})


def test_disconnect_and_reconnect_are_on_the_history_as_the_officer(pg_cluster):
    clerk, officer = actor("staff:actors-clerk", "CLERK"), actor("staff:actors-ro", "REVENUE_OFFICER")
    rule(pg_cluster, "water_tax",
         f"SELECT wt_tariff_set('{officer}', '{json.dumps(TARIFF)}', '{TODAY}')")
    applied = json.loads(rule(pg_cluster, "water_tax", (
        f"SELECT wt_connection_apply('{clerk}', '"
        + json.dumps({"ulb": ULB, "ward": 1, "propertyId": f"{ULB}-001-000001",
                      "consumerName": "Actor Test", "address": "1 Test Road",
                      "category": "DOMESTIC", "pipeSizeMm": 15})
        + f"', '{TODAY}')")))
    cid = applied["connectionId"]
    rule(pg_cluster, "water_tax", f"SELECT wt_connection_decide('{officer}', '"
         + json.dumps({"connectionId": cid, "approve": True, "reason": "site inspected"})
         + f"', '{TODAY}')")
    for action, reason in (("disconnect", "arrears unpaid"), ("reconnect", "arrears paid")):
        done = json.loads(rule(pg_cluster, "water_tax", f"SELECT wt_connection_{action}('{officer}', '"
                               + json.dumps({"connectionId": cid, "reason": reason})
                               + f"', '{TODAY}')"))
        assert done["status"] == ("DISCONNECTED" if action == "disconnect" else "RECONNECTED"), done
    entries = history(pg_cluster, "water_tax", "connection")
    fees = history(pg_cluster, "water_tax", "fee")
    assert [e["actor"] for e in entries + fees if e["actor"].startswith("db:")] == [], entries + fees
    # The connection fee, then the disconnection and the reconnection fees.
    assert [(e["actor"], e["reason"]) for e in fees[-2:]] == [
        ("staff:actors-ro", "connection.disconnect: arrears unpaid"),
        ("staff:actors-ro", "connection.reconnect: arrears paid")], fees
    assert [(e["op"], e["actor"], e["reason"]) for e in entries[-2:]] == [
        ("UPDATE", "staff:actors-ro", "connection.disconnect: arrears unpaid"),
        ("UPDATE", "staff:actors-ro", "connection.reconnect: arrears paid")], entries


def test_fees_taken_or_waived_are_on_the_history_as_the_staff(pg_cluster):
    clerk = actor("staff:actors-clerk", "CLERK")
    commissioner = actor("staff:actors-commissioner", "COMMISSIONER")
    ids = []
    for _ in range(2):
        app_id = str(uuid.uuid4())
        rule(pg_cluster, "certificates", f"SELECT cert_application_submit('{clerk}', '"
             + json.dumps({"applicationId": app_id, "ulb": ULB, "kind": 1,
                           "eventDate": "2026-04-01", "subjectName": "Actor Test",
                           "report": {}, "delayDays": 40, "lateWindow": 1, "feePaise": 200,
                           "permissionRequired": False})
             + "')")
        ids.append(app_id)
    paid = json.loads(rule(pg_cluster, "certificates", f"SELECT cert_fee_pay('{clerk}', '"
                           + json.dumps({"applicationId": ids[0], "amountPaise": "200",
                                         "mode": "CASH", "counter": "C1"})
                           + f"', '{TODAY}')"))
    assert paid["status"] == "PAID", paid
    rule(pg_cluster, "certificates", f"SELECT cert_fee_waive('{commissioner}', '"
         + json.dumps({"applicationId": ids[1], "reason": "family below the poverty line"})
         + f"', '{TODAY}')")
    entries = history(pg_cluster, "certificates", "fee_settlement")
    assert [(e["op"], e["actor"], e["reason"]) for e in entries] == [
        ("INSERT", "staff:actors-clerk", "application.pay_fee"),
        ("INSERT", "staff:actors-commissioner",
         "application.waive_fee: family below the poverty line")], entries
