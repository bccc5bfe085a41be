"""test_history_chain.py — the history's and the ledger's entries stay what
common/sql/history 001 and ledger 001 define after the faster versions
(history 003, ledger 004):

  - history_canonical and ledger_canonical return exactly chain_canonical's
    bytes for the same fields (multi-byte text, empty fields, large fields);
  - history_record writes one entry per ULB a statement touched, in ULB
    order, with the rows before and after (INSERT of two ULBs, UPDATE of
    one, an UPDATE that moves a row between ULBs, DELETE, a statement that
    changes nothing), each entry's hash recomputed here with chain_canonical
    over its predecessor's;
  - the same with the table set to history_rows_as_text (history 004): the
    entries hold each row's text, which reads back through the row type
    into the row as it is, whatever the writer's DateStyle and time zone.

Everything runs as the superuser in one transaction that is rolled back. The
actor the transaction names (nagar.actor, as rule_act would) is not a rule's
(history 008): the entries name the superuser, db:<role>, role DATABASE,
and keep the claimed actor in their reason.
"""
import json
import re

import pytest

DB = "nagar_property_tax"

CANONICAL = """
SET search_path = property_tax;
SELECT bool_and(history_canonical(t, u, s, o, a, b, c, d, e, f, us)
                = chain_canonical(t, u, s::text, o, a, b, c, d, e, f, us::text)
            AND ledger_canonical(u, s, t, o, a, b, s * 7, c, us)
                = chain_canonical(u, s::text, t, o, a, b, (s * 7)::text, c, us::text))
       || ':' || count(*)
  FROM (VALUES ('payment', '250749', 1::bigint, 'INSERT', '', '[{"a": 1}]', 'staff:x', 'CLERK',
                'r-1', 'why', 1733380000000000::bigint),
               ('property_owner', '250749', 12345678901, 'UPDATE', 'नगर पालिका', 'ऊपर "q"',
                'db:postgres', 'DATABASE', '', '', 0),
               ('t', 'u', 9, 'DELETE', repeat('x', 300000), '', '', '', '', '', -5))
       AS v(t, u, s, o, a, b, c, d, e, f, us);
"""


def test_fixed_canonical_forms_are_chain_canonical(pg_cluster):
    assert pg_cluster.sql(CANONICAL, dbname=DB) == "true:3"


def property_row(pid, ulb, number):
    return (f"('{pid}', '{ulb}', 99, {number}, 'A', 'plot {number}', 'RESIDENTIAL', 'RCC', "
            f"'RENTED', 'EXEMPTION_NONE', 'test')")


STATEMENTS = f"""
SET search_path = property_tax;
BEGIN;
{{setup}}
SELECT set_config('nagar.actor', 'staff:history-test', true),
       set_config('nagar.actor_role', 'CLERK', true),
       set_config('nagar.request_id', 'req-history-test', true),
       set_config('nagar.reason', 'history test', true);
INSERT INTO property (property_id, ulb, ward, number, zone, address, usage, construction,
                      occupancy, exemption, created_by)
VALUES {property_row('990002-099-000001', '990002', 5)},
       {property_row('990001-099-000001', '990001', 1)},
       {property_row('990001-099-000002', '990001', 2)};
UPDATE property SET address = 'moved' WHERE property_id = '990001-099-000002';
UPDATE property SET address = 'none' WHERE property_id = 'no such property';
UPDATE property SET ulb = '990002' WHERE property_id = '990001-099-000001';
DELETE FROM property WHERE property_id LIKE '99000_-099-%';
SELECT json_agg(json_build_object('ulb', h.ulb, 'op', h.op, 'actor', h.actor,
                                  'role', h.actor_role, 'reason', h.reason,
                                  'request', h.request_id, 'old', {{old}}, 'new', {{new}},
                                  'text', {{text}}, 'raw', h.new_rows,
                                  'chained', h.hash = sha256(coalesce(p.hash, decode(repeat('00', 32), 'hex'))
                                      || chain_canonical(h.tbl, h.ulb, h.seq::text, h.op, h.old_rows,
                                                         h.new_rows, h.actor, h.actor_role,
                                                         h.request_id, h.reason, h.recorded_us::text)))
                ORDER BY h.recorded_us, h.ulb)
  FROM history h
  LEFT JOIN history p ON p.tbl = h.tbl AND p.ulb = h.ulb AND p.seq = h.seq - 1
 WHERE h.tbl = 'property' AND h.ulb IN ('990001', '990002');
ROLLBACK;
"""


def rows(text):
    return sorted((r["property_id"], r["ulb"], r["address"]) for r in json.loads(text or "[]"))


AS_OBJECTS = {"setup": "", "old": "h.old_rows", "new": "h.new_rows", "text": "false"}


def as_rows(side):
    """An entry's rows of the text form read back as the superuser's SQL would
    verify them: each string through the property row type into JSON."""
    return (f"coalesce((SELECT json_agg(to_jsonb((r #>> '{{}}')::property))::text "
            f"FROM jsonb_array_elements(nullif({side}, '')::jsonb) r), '')")


AS_TEXT = {"setup": "SELECT history_rows_as_text('property'); "
                    "SET LOCAL DateStyle = 'SQL, DMY'; SET LOCAL TimeZone = 'Asia/Kolkata';",
           "old": as_rows("h.old_rows"), "new": as_rows("h.new_rows"),
           "text": "(SELECT bool_and(jsonb_typeof(r) = 'string') FROM jsonb_array_elements("
                   "coalesce(nullif(h.old_rows, ''), '[]')::jsonb "
                   "|| coalesce(nullif(h.new_rows, ''), '[]')::jsonb) r)"}


@pytest.mark.parametrize("form", [AS_OBJECTS, AS_TEXT], ids=["objects", "text"])
def test_statements_are_recorded_per_ulb_with_old_and_new_rows(pg_cluster, form):
    out = pg_cluster.sql(STATEMENTS.format(**form), dbname=DB)
    entries = json.loads(out.splitlines()[-1])
    assert {e["text"] for e in entries} == {form is AS_TEXT}, entries
    if form is AS_TEXT:
        # Written in UTC and ISO order whatever the writer's session said.
        [first] = json.loads(entries[0]["raw"])[:1]
        assert re.search(r',"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00",', first), first
    got = [(e["ulb"], e["op"], rows(e["old"]), rows(e["new"])) for e in entries]
    assert got == [
        # One INSERT of two ULBs: an entry for each, in ULB order.
        ("990001", "INSERT", [], [("990001-099-000001", "990001", "plot 1"),
                                  ("990001-099-000002", "990001", "plot 2")]),
        ("990002", "INSERT", [], [("990002-099-000001", "990002", "plot 5")]),
        # An UPDATE of one ULB; the UPDATE of no row writes nothing.
        ("990001", "UPDATE", [("990001-099-000002", "990001", "plot 2")],
         [("990001-099-000002", "990001", "moved")]),
        # A row moved to another ULB: gone from one chain, arrived on the other.
        ("990001", "UPDATE", [("990001-099-000001", "990001", "plot 1")], []),
        ("990002", "UPDATE", [], [("990001-099-000001", "990002", "plot 1")]),
        # One DELETE of both ULBs' rows.
        ("990001", "DELETE", [("990001-099-000002", "990001", "moved")], []),
        ("990002", "DELETE", [("990001-099-000001", "990002", "plot 1"),
                              ("990002-099-000001", "990002", "plot 5")], []),
    ], got
    assert all(e["chained"] for e in entries), entries
    assert {(e["actor"], e["role"], e["request"], e["reason"]) for e in entries} == {
        (f"db:{pg_cluster.superuser}", "DATABASE", "req-history-test",
         "claimed staff:history-test (CLERK): history test")}, entries
