"""The app role writes money, ownership and registrations through the rules
only, and every change of them is on a hash-chained history.

  - As property_tax_app, water_tax_app and certificates_app: no INSERT,
    UPDATE, DELETE or TRUNCATE of those tables, no ledger primitives, no
    history of its own, no trigger to disable (SQLSTATE 42501 every time).
  - Each app role may EXECUTE exactly its service's SECURITY DEFINER rule
    functions, and write only idempotency records and the outbox (plus, for
    certificates, audit rows). Master data money is computed from (rate
    schedules, tariffs, certificate fee schedules) is written through rule
    functions too: certificates_app may not INSERT a fee schedule version.
  - A payment through the gateway is on the history of payment and
    allocation with the clerk as actor, the request's id and the reason.
  - A change made with the owner's password outside the rules is recorded
    too, as actor db:<role>; TRUNCATE of a tracked table is refused even to
    the owner.
"""
import json
import uuid

from test_property_tax import create_property

PT = "/api/v1/property-tax"
ULB = "250749"   # Ajaygarh (test_property_tax.py's import test uses it for a CSV only)

PROTECTED = {
    "property_tax": ["property", "property_owner", "property_floor", "demand", "demand_bill",
                     "payment", "allocation", "online_order", "assessment", "mutation",
                     "mutation_application", "ledger", "ledger_head", "history", "history_head",
                     "rate_version", "rate_slab", "alv_rate", "receipt_counter", "ward_counter",
                     "audit"],
    "water_tax": ["connection", "meter_reading", "bill", "fee", "payment", "allocation",
                  "online_order", "ledger", "ledger_head", "history", "tariff_version",
                  "tariff_flat", "tariff_slab", "tariff_category", "tariff_connection_fee",
                  "receipt_counter", "audit"],
    "certificates": ["application", "certificate", "certificate_chain", "correction",
                     "registration_counter", "history", "fee_settlement", "fee_order",
                     "fee_schedule", "receipt_counter"],
}
WRITABLE = {
    "property_tax": {"idempotency": "INSERT", "outbox": "INSERT/UPDATE"},
    "water_tax": {"idempotency": "INSERT", "outbox": "INSERT/UPDATE"},
    "certificates": {"idempotency": "INSERT", "outbox": "INSERT/UPDATE", "audit": "INSERT"},
}


def test_app_roles_cannot_write_or_call_primitives(pg_cluster):
    for svc, tables in PROTECTED.items():
        app = f"{svc}_app"
        for table in tables:
            column = pg_cluster.sql(f"SELECT min(column_name) FROM information_schema.columns "
                                    f"WHERE table_schema = '{svc}' AND table_name = '{table}' "
                                    f"AND is_generated = 'NEVER'", dbname=f"nagar_{svc}")
            for sql in (f"INSERT INTO {svc}.{table} ({column}) SELECT {column} FROM {svc}.{table}",
                        f"UPDATE {svc}.{table} SET {column} = {column}",
                        f"DELETE FROM {svc}.{table}",
                        f"TRUNCATE {svc}.{table}",
                        f"ALTER TABLE {svc}.{table} DISABLE TRIGGER USER"):
                r = pg_cluster.psql_as(app, sql)
                assert r.sqlstate == "42501", f"{app}: {sql}: {r}"
        calls = ["SELECT history_append('payment', '1', 'INSERT', '', '[]')",
                 "SELECT history_track('outbox')", "SELECT rules_lockdown()",
                 "SELECT rule_act('{}', 'x')"]
        if svc != "certificates":
            calls += ["SELECT * FROM ledger_append('1', 'k', 'PAYMENT', 'a', 'r', 1, '{}')",
                      "SELECT receipt_next('1', '2025-26', 'C1')", "SELECT ward_number_next('1', 1)"]
        for sql in calls:
            r = pg_cluster.psql_as(app, f"SET search_path = {svc}; {sql}")
            assert r.sqlstate == "42501", f"{app}: {sql}: {r}"


def test_app_roles_reach_only_their_rule_functions(pg_cluster):
    for svc, writable in WRITABLE.items():
        db = f"nagar_{svc}"
        # What the app role may EXECUTE is exactly what is SECURITY DEFINER.
        wrong = pg_cluster.sql(
            f"SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p "
            f"WHERE p.pronamespace = '{svc}'::regnamespace "
            f"AND has_function_privilege('{svc}_app', p.oid, 'EXECUTE') <> p.prosecdef", dbname=db)
        assert wrong == "", f"{svc}: {wrong}"
        definers = pg_cluster.sql(
            f"SELECT string_agg(p.proname || ':' || array_to_string(p.proconfig, ','), '|') "
            f"FROM pg_proc p WHERE p.pronamespace = '{svc}'::regnamespace AND p.prosecdef",
            dbname=db)
        assert definers.count("|") > 5, definers
        for entry in definers.split("|"):
            assert entry.endswith(f"search_path={svc}, pg_temp"), f"{svc}: {entry}"
        grants = pg_cluster.sql(
            f"SELECT string_agg(c.relname || ':' || array_to_string(ARRAY(SELECT x FROM "
            f"unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x "
            f"WHERE has_table_privilege('{svc}_app', c.oid, x)), '/'), ' ' ORDER BY c.relname) "
            f"FROM pg_class c WHERE c.relnamespace = '{svc}'::regnamespace AND c.relkind = 'r' "
            f"AND (has_table_privilege('{svc}_app', c.oid, 'INSERT') "
            f"OR has_table_privilege('{svc}_app', c.oid, 'UPDATE') "
            f"OR has_table_privilege('{svc}_app', c.oid, 'DELETE'))", dbname=db)
        assert dict(g.split(":") for g in grants.split()) == writable, f"{svc}: {grants}"


def history(s, table, where=""):
    out = s.sql(f"SELECT json_agg(h ORDER BY seq) FROM (SELECT seq, op, actor, actor_role, "
                f"request_id, reason, old_rows, new_rows FROM history "
                f"WHERE tbl = '{table}' AND ulb = '{ULB}' {where}) h")
    return json.loads(out) if out else []


def test_changes_are_on_the_history_with_actor_request_and_reason(property_tax_stack):
    s = property_tax_stack()
    clerk = s.staff("CLERK", ULB)
    pid = create_property(s, clerk, ULB, 800, ward=7,
                          owners=[{"name": "Gita Rao", "mobile": "9876500011", "shareBp": 10000}])
    owners = [e for e in history(s, "property_owner") if pid in e["new_rows"]]
    assert owners and owners[-1]["actor"] == clerk.user_id, owners
    assert owners[-1]["reason"] == "property.create" and owners[-1]["actor_role"] == "CLERK"

    r = s.post(f"{PT}/payments", {"propertyId": pid, "amountPaise": "5000", "mode": "CASH",
                                  "counter": "C1", "advance": True},
               token=clerk.token, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    receipt = r.json()
    request_id = r.headers["X-Request-Id"]
    [paid] = [e for e in history(s, "payment") if receipt["receiptNo"] in e["new_rows"]]
    assert (paid["op"], paid["actor"], paid["reason"]) == ("INSERT", clerk.user_id,
                                                           "payment.record"), paid
    assert paid["request_id"] == request_id
    rows = json.loads(paid["new_rows"])
    assert rows[0]["receipt_no"] == receipt["receiptNo"] and rows[0]["amount_paise"] == 5000
    allocated = [e for e in history(s, "allocation") if e["request_id"] == request_id]
    assert allocated and json.loads(allocated[0]["new_rows"])[0]["payment_id"] == rows[0]["id"]

    # The owner's password, the triggers on: recorded, and as what it is.
    owner = s.cluster.psql_as("property_tax_owner",
                              f"SET search_path = property_tax; UPDATE property_owner "
                              f"SET name = 'Someone Else' WHERE property_id = '{pid}'")
    assert owner.ok, owner
    [changed] = [e for e in history(s, "property_owner", "AND op = 'UPDATE'") if pid in e["new_rows"]]
    assert changed["actor"] == "db:property_tax_owner" and changed["actor_role"] == "DATABASE"
    assert json.loads(changed["old_rows"])[0]["name"] == "Gita Rao"
    assert json.loads(changed["new_rows"])[0]["name"] == "Someone Else"
    # TRUNCATE bypasses row triggers: refused to everyone.
    for table in ("property_owner", "payment", "history"):
        r = s.cluster.psql_as("property_tax_owner", f"TRUNCATE property_tax.{table} CASCADE")
        assert r.sqlstate == "42501", r
