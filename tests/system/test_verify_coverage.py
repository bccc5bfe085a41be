"""test_verify_coverage.py — nagarctl verify looks at every table that is on
a history, so a row changed with the triggers off (the owner's password) is
found and named whatever table it is in:

  - every table of a verified service (property tax, water tax,
    certificates) that has history triggers is one verify checks: with one
    of its history triggers disabled, verify names that table (exit 3);
  - a certificate fee receipt (fee_settlement: money with no ledger behind
    it) whose amount the owner changed with the triggers off is named as
    differing from its last history entry.

  - a change the owner made with the triggers off and then re-stated as a
    BASELINE entry (the kind history_track writes once, when a table is
    first tracked) is named: a BASELINE anywhere but at the start of its
    table's history is a change made outside the rules.

The certificate fee tables (fee_settlement, fee_order, fee_refund) had
history triggers but were not among the tables verify checked, and verify
took any BASELINE entry for a legitimate one, so both changes passed verify
(found by the outside-attack review, 2026-12-05).
"""
import uuid

from test_certificate_fees import late_birth, pay
from test_certificates import ok
from test_history_text import ctl_verify
from test_property_tax import create_property

VERIFIED = ("property_tax", "water_tax", "certificates")
ULB_BASELINE = "251037"     # Waraseoni: no other test uses it (the cluster is the session's)


class Cluster:
    """What test_history_text.ctl_verify reads from a stack."""

    def __init__(self, cluster):
        self.cluster = cluster


def tracked_tables(pg_cluster, svc):
    """The tables of svc's schema with a history trigger, as the database has them."""
    out = pg_cluster.sql(
        "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE n.nspname = '{svc}' AND t.tgname = c.relname || '_history_update'",
        dbname=f"nagar_{svc}")
    return out.split()


def set_update_triggers(pg_cluster, svc, tables, state):
    statements = "; ".join(f"ALTER TABLE {svc}.{t} {state} TRIGGER {t}_history_update"
                           for t in tables)
    r = pg_cluster.psql_as(f"{svc}_owner", statements, dbname=f"nagar_{svc}")
    assert r.ok, r


def test_verify_checks_every_table_on_a_history(pg_cluster, nagar_bin, tmp_path):
    stack = Cluster(pg_cluster)
    tables = {svc: tracked_tables(pg_cluster, svc) for svc in VERIFIED}
    assert len(tables["certificates"]) >= 6 and len(tables["property_tax"]) >= 11, tables
    for svc in VERIFIED:
        set_update_triggers(pg_cluster, svc, tables[svc], "DISABLE")
    try:
        r = ctl_verify(stack, nagar_bin, tmp_path)
    finally:
        for svc in VERIFIED:
            set_update_triggers(pg_cluster, svc, tables[svc], "ENABLE")
    assert r.returncode == 3, r.stdout + r.stderr
    unnamed = [f"{svc}.{t}" for svc in VERIFIED for t in tables[svc]
               if not any(line.split()[:2] == ["history", t] and
                          f"update trigger of {svc}.{t}'s history is disabled" in line
                          for line in r.stdout.splitlines())]
    assert not unnamed, f"verify does not check {unnamed}:\n{r.stdout}"


def test_a_fee_receipt_changed_by_the_owner_is_named(cert_stack, nagar_bin, tmp_path):
    s = cert_stack
    app_id = late_birth(s, 40)["applicationId"]
    paid = ok(pay(s, app_id, s.clerk_a, key=uuid.uuid4().hex))
    receipt = paid["receiptNo"]

    def as_owner(sql):
        r = s.db.cluster.psql_as(
            "certificates_owner",
            "SET search_path = certificates; ALTER TABLE fee_settlement DISABLE TRIGGER USER; "
            f"{sql}; ALTER TABLE fee_settlement ENABLE TRIGGER USER", dbname="nagar_certificates")
        assert r.ok, r

    changed = "UPDATE fee_settlement SET amount_paise = amount_paise + %d WHERE receipt_no = '%s'"
    as_owner(changed % (-4000, receipt))
    try:
        r = ctl_verify(Cluster(s.db.cluster), nagar_bin, tmp_path)
    finally:
        as_owner(changed % (4000, receipt))
    named = [line for line in r.stdout.splitlines() if line.split()[:2] ==
             ["history", "fee_settlement"] and f'["{app_id}"]' in line
             and "differs from its last history entry" in line]
    assert r.returncode == 3 and named, r.stdout + r.stderr
    restored = ctl_verify(Cluster(s.db.cluster), nagar_bin, tmp_path)
    assert not [line for line in restored.stdout.splitlines()
                if line.split()[:2] == ["history", "fee_settlement"]], restored.stdout


def test_an_owner_change_restated_as_a_baseline_is_named(property_tax_stack, nagar_bin,
                                                          tmp_path):
    s = property_tax_stack()
    clerk = s.staff("CLERK", ULB_BASELINE)
    pid = create_property(s, clerk, ULB_BASELINE, 500)
    r = s.cluster.psql_as(
        "property_tax_owner",
        "SET search_path = property_tax; ALTER TABLE property_owner DISABLE TRIGGER USER; "
        "UPDATE property_owner SET user_id = 'citizen:9999999999', name = 'Evil Buyer'"
        f" WHERE property_id = '{pid}'; ALTER TABLE property_owner ENABLE TRIGGER USER; "
        f"SELECT history_append('property_owner', '{ULB_BASELINE}', 'BASELINE', '', "
        f"(SELECT json_agg(o)::text FROM property_owner o WHERE property_id = '{pid}'))",
        dbname="nagar_property_tax")
    assert r.ok, r
    restated = s.sql("SELECT seq FROM history WHERE tbl = 'property_owner'"
                     f" AND ulb = '{ULB_BASELINE}' AND op = 'BASELINE'")
    assert restated and int(restated) > 1, restated
    v = ctl_verify(s, nagar_bin, tmp_path)
    named = [line for line in v.stdout.splitlines()
             if line.split()[:2] == ["history", "property_owner"] and ULB_BASELINE in line
             and f" {restated} " in f" {line} " and "a BASELINE entry, as db:property_tax_owner"
             in line and "does not open its chain" in line]
    assert v.returncode == 3 and named, v.stdout + v.stderr
