"""test_history_actor.py — the history names a person only for a change made
through a rule (common/sql/history 008):

  - through the rules, as the service's app role (pt_property_create,
    pt_mutation_record), the history names the clerk, role CLERK, and the
    rule's reason;
  - with the owner's password, the triggers on, a session that names a real
    clerk itself (nagar.actor, nagar.actor_role, nagar.reason, as rule_act
    would) and replaces a property's owner is recorded as
    db:property_tax_owner, role DATABASE, the clerk it claimed kept in the
    reason; the superuser's likewise as db:<superuser>; nagarctl verify
    names both as made outside the rules (exit 3) and none of the rules'
    changes;
  - the app role writes no tracked table of any service itself, so its own
    statements never reach the history as a rule's.

Until history 008 the owner's change was recorded as the clerk's and
verify passed it (found by the outside-attack review, 2026-12-05).
"""
import json

from test_history_text import ctl_verify

ULB = "999082"
TODAY = "2026-06-01"
CLERK = {"userId": "staff:history-actor-clerk", "role": "CLERK", "ulb": ULB}
SERVICES = ("property_tax", "water_tax", "certificates")


class Stack:
    """What test_history_text.ctl_verify reads from a stack."""

    def __init__(self, cluster):
        self.cluster = cluster


def rule(pg_cluster, sql):
    r = pg_cluster.psql_as("property_tax_app", f"SET search_path = property_tax; {sql}")
    assert r.ok, r.stderr
    return json.loads(r.stdout.strip())


def owner_entries(pg_cluster):
    out = pg_cluster.sql("SELECT json_agg(h ORDER BY seq) FROM (SELECT seq, op, actor, actor_role, "
                         "reason, new_rows FROM property_tax.history WHERE tbl = 'property_owner' "
                         f"AND ulb = '{ULB}') h", dbname="nagar_property_tax")
    return json.loads(out) if out else []


# What redteam's probe did: the settings rule_act makes, then the change itself.
CLAIMING_A_CLERK = """
SET search_path = property_tax;
BEGIN;
SELECT set_config('nagar.actor', '{actor}', true), set_config('nagar.actor_role', 'CLERK', true),
       set_config('nagar.reason', 'mutation.record: sale deed', true);
UPDATE property_owner SET user_id = 'citizen:9999999999', name = '{name}'
 WHERE property_id = '{pid}';
COMMIT;
"""


def test_an_actor_is_believed_only_inside_a_rule(pg_cluster, nagar_bin, tmp_path):
    created = rule(pg_cluster, "SELECT pt_property_create('" + json.dumps(CLERK) + "', '" + json.dumps(
        {"ulb": ULB, "ward": 3, "zone": "A", "address": "8 Actor Lane", "usage": "RESIDENTIAL",
         "construction": "RCC", "occupancy": "SELF_OCCUPIED", "floors": [{"floor": 0, "areaSqft": 800}],
         "owners": [{"name": "Asha Rao", "mobile": "9876500082", "shareBp": 10000}]})
        + f"', '{TODAY}')")
    pid = created["propertyId"]
    rule(pg_cluster, "SELECT pt_mutation_record('" + json.dumps(CLERK) + "', '" + json.dumps(
        {"propertyId": pid, "deedRef": "SALE-82", "reason": "sale deed registered",
         "newOwners": [{"name": "Ravi Rao", "mobile": "9876500083", "shareBp": 10000}]})
        + f"', '{TODAY}')")
    by_rules = owner_entries(pg_cluster)
    assert [e["op"] for e in by_rules] == ["INSERT", "DELETE", "INSERT"], by_rules
    assert {(e["actor"], e["actor_role"]) for e in by_rules} == {(CLERK["userId"], "CLERK")}
    assert by_rules[-1]["reason"] == "mutation.record: sale deed registered", by_rules[-1]

    r = pg_cluster.psql_as("property_tax_owner", CLAIMING_A_CLERK.format(
        actor=CLERK["userId"], name="Evil Buyer", pid=pid))
    assert r.ok, r.stderr
    pg_cluster.sql(CLAIMING_A_CLERK.format(actor=CLERK["userId"], name="Evil Buyer Two", pid=pid),
                   dbname="nagar_property_tax")
    entries = owner_entries(pg_cluster)
    by_owner, by_superuser = entries[len(by_rules):]
    claimed = f"claimed {CLERK['userId']} (CLERK): mutation.record: sale deed"
    assert (by_owner["op"], by_owner["actor"], by_owner["actor_role"], by_owner["reason"]) == \
        ("UPDATE", "db:property_tax_owner", "DATABASE", claimed), by_owner
    assert json.loads(by_owner["new_rows"])[0]["name"] == "Evil Buyer"
    assert (by_superuser["actor"], by_superuser["actor_role"], by_superuser["reason"]) == \
        (f"db:{pg_cluster.superuser}", "DATABASE", claimed), by_superuser

    verified = ctl_verify(Stack(pg_cluster), nagar_bin, tmp_path)
    assert verified.returncode == 3, verified.stdout + verified.stderr
    outside = {int(line.split()[4]): line for line in verified.stdout.splitlines()
               if line.split()[:4] == ["history", "property_owner", "-", ULB]
               and "made outside the rules" in line}
    assert sorted(outside) == [by_owner["seq"], by_superuser["seq"]], verified.stdout
    assert "UPDATE made outside the rules, as db:property_tax_owner" in outside[by_owner["seq"]]
    assert CLERK["userId"] in outside[by_owner["seq"]], outside


def test_the_app_role_writes_no_tracked_table(pg_cluster):
    for svc in SERVICES:
        out = pg_cluster.sql(
            "SELECT count(DISTINCT c.oid) || ' ' || coalesce(string_agg(DISTINCT c.relname || ':' "
            "|| x.p, ' '), '') FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " LEFT JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x(p)"
            f"   ON has_table_privilege('{svc}_app', c.oid, x.p)"
            f" WHERE c.relnamespace = '{svc}'::regnamespace"
            " AND t.tgname = c.relname || '_history_update'", dbname=f"nagar_{svc}")
        tracked, _, writable = out.partition(" ")
        assert int(tracked) >= 6, f"{svc}: {out}"
        assert writable == "", f"{svc}_app may write tracked tables: {writable}"
