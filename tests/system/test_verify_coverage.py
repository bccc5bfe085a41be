"""test_verify_coverage.py — nagarctl verify looks at every table that is on
a history, so a row changed with the triggers off (the owner's password) is
found and named whatever table it is in:

  - every table of a verified service (property tax, water tax,
    certificates) that has history triggers is one verify checks: with one
    of its history triggers disabled, verify names that table (exit 3);
  - a certificate fee receipt (fee_settlement: money with no ledger behind
    it) whose amount the owner changed with the triggers off is named as
    differing from its last history entry;
  - so is a row of any schedule money is computed from — property tax's
    rate_version, rate_slab, alv_rate; water tax's tariff_version and its
    flat, slab, category and connection-fee rows; certificates'
    fee_schedule, a ULB's and the state default — and certificates_app
    cannot add a fee schedule version but through its rule function;
  - a change the owner made with the triggers off and then re-stated as a
    BASELINE entry (the kind history_track writes once, when a table is
    first tracked) is named: a BASELINE anywhere but at the start of its
    table's history is a change made outside the rules.

The certificate fee tables (fee_settlement, fee_order, fee_refund) had
history triggers but were not among the tables verify checked, and verify
took any BASELINE entry for a legitimate one, so both changes passed verify
(found by the outside-attack review, 2026-12-05). The schedules were on no
history at all: the owner lowered an ALV rate from 1,500 to 1 paise a
square foot and verify exited 0.
"""
import json
import uuid

from tax_schedules import domestic_tariff, plain_rates
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


# ---- master data: rate schedules, water tariffs, certificate fee schedules ----------------

SCHEDULE_ULB = "250911"   # this test's own ULB and year: no other test bills from them
SCHEDULE_FY = "2040-41"
STATE_ADMIN = {"userId": "staff:schedules", "role": "STATE_ADMIN", "ulb": "",
               "requestId": "verify-coverage-schedules"}


def rule_call(pg_cluster, svc, sql):
    """sql as svc's app role (what the service itself runs); its output."""
    r = pg_cluster.psql_as(f"{svc}_app", f"SET search_path = {svc}; {sql}",
                           dbname=f"nagar_{svc}")
    assert r.ok, r
    return r.stdout.strip()


def literal(value):
    return "'" + json.dumps(value).replace("'", "''") + "'"


def saved_schedules(pg_cluster):
    """A rate schedule, a water tariff and a ULB's certificate fees, saved
    through their rule functions as the services save them; their version ids."""
    rates = dict(plain_rates("verify coverage"), ulb=SCHEDULE_ULB, fy=SCHEDULE_FY)
    rate = json.loads(rule_call(pg_cluster, "property_tax",
                                f"SELECT pt_rates_set({literal(STATE_ADMIN)}, {literal(rates)}, "
                                f"current_date)"))
    tariff = dict(domestic_tariff("verify coverage"), ulb=SCHEDULE_ULB, fy=SCHEDULE_FY)
    water = json.loads(rule_call(pg_cluster, "water_tax",
                                 f"SELECT wt_tariff_set({literal(STATE_ADMIN)}, "
                                 f"{literal(tariff)}, current_date)"))
    fees = {"ulb": SCHEDULE_ULB, "effectiveFrom": "2040-04-01", "freeDays": 21, "lateDays": 30,
            "lateFeePaise": "2500", "permissionDays": 365, "permissionFeePaise": "6000",
            "orderFeePaise": "12000", "marriageFeePaise": "5000", "childNameDays": 5475,
            "reason": "verify coverage"}
    fee_id = rule_call(pg_cluster, "certificates",
                       f"SELECT id FROM cert_fee_schedule_save({literal(STATE_ADMIN)}, "
                       f"{literal(fees)})")
    rate_id = pg_cluster.sql(f"SELECT id FROM property_tax.rate_version WHERE ulb = "
                             f"'{SCHEDULE_ULB}' AND version = {rate['version']} AND fy = 2040",
                             dbname="nagar_property_tax")
    tariff_id = pg_cluster.sql(f"SELECT id FROM water_tax.tariff_version WHERE ulb = "
                               f"'{SCHEDULE_ULB}' AND version = {water['version']} AND fy = 2040",
                               dbname="nagar_water_tax")
    return int(rate_id), int(tariff_id), int(fee_id)


def tampers(rate_id, tariff_id, fee_id):
    """(service, table, key verify names, the forged change, its undoing, the
    chain): one row of every schedule table, changed as the owner would to
    bill less. A row is on its version's ULB's chain; the state default's on 0."""
    domestic = f"version_id = {tariff_id} AND category = 'DOMESTIC'"
    return [change + (SCHEDULE_ULB,) for change in [
        ("property_tax", "rate_version", f"[{rate_id}]",
         f"UPDATE rate_version SET samekit_paise = %s WHERE id = {rate_id}", 1, 50000),
        ("property_tax", "rate_slab", f"[{rate_id}, 1]",
         f"UPDATE rate_slab SET rate_bp = %s WHERE version_id = {rate_id} AND ordinal = 1",
         1, 600),
        ("property_tax", "alv_rate", f'[{rate_id}, "A", "RCC", "RESIDENTIAL"]',
         f"UPDATE alv_rate SET rate_paise_per_sqft = %s WHERE version_id = {rate_id}", 1, 1500),
        ("water_tax", "tariff_version", f"[{tariff_id}]",
         f"UPDATE tariff_version SET due_days = %s WHERE id = {tariff_id}", 90, 15),
        ("water_tax", "tariff_flat", f'[{tariff_id}, "DOMESTIC", 15]',
         f"UPDATE tariff_flat SET monthly_paise = %s WHERE {domestic}", 1, 18000),
        ("water_tax", "tariff_slab", f'[{tariff_id}, "DOMESTIC", 1]',
         f"UPDATE tariff_slab SET rate_paise_per_kl = %s WHERE {domestic}", 1, 500),
        ("water_tax", "tariff_category", f'[{tariff_id}, "DOMESTIC"]',
         f"UPDATE tariff_category SET metered_minimum_paise = %s WHERE {domestic}", 0, 5000),
        ("water_tax", "tariff_connection_fee", f'[{tariff_id}, "DOMESTIC", 15]',
         f"UPDATE tariff_connection_fee SET fee_paise = %s WHERE {domestic}", 1, 200000),
        ("certificates", "fee_schedule", f"[{fee_id}]",
         f"UPDATE fee_schedule SET late_fee_paise = %s WHERE id = {fee_id}", 1, 2500),
    ]] + [
        # The state default (migration 001's row, on the history as its BASELINE).
        ("certificates", "fee_schedule", "[1]",
         "UPDATE fee_schedule SET order_fee_paise = %s WHERE ulb = '' AND version = 1", 1, 10000,
         "0"),
    ]


def owner_change(pg_cluster, svc, table, statement):
    """statement as svc's owner with table's triggers off (append-only and
    history alike), then on again: the owner's way round the history."""
    r = pg_cluster.psql_as(f"{svc}_owner",
                           f"SET search_path = {svc}; ALTER TABLE {table} DISABLE TRIGGER USER; "
                           f"{statement}; ALTER TABLE {table} ENABLE TRIGGER USER",
                           dbname=f"nagar_{svc}")
    assert r.ok, r


def named(r, table, key):
    return [line for line in r.stdout.splitlines()
            if line.split()[:2] == ["history", table] and key in line
            and "differs from its last history entry" in line]


def test_a_schedule_changed_by_the_owner_is_named(pg_cluster, nagar_bin, tmp_path):
    """Rates, tariffs and fee schedules decide what every bill and application
    is charged: each is on the history, and a row of any of them changed by
    the owner with the triggers off is named by verify (table, key, seq).
    Before, none was on a history and verify exited 0 (the review's probe:
    alv_rate 1500 -> 1 paise a square foot after a rates.set)."""
    rate_id, tariff_id, fee_id = saved_schedules(pg_cluster)
    changes = tampers(rate_id, tariff_id, fee_id)
    for svc, table, _, statement, forged, _, _ in changes:
        owner_change(pg_cluster, svc, table, statement % forged)
    try:
        r = ctl_verify(Cluster(pg_cluster), nagar_bin, tmp_path)
    finally:
        for svc, table, _, statement, _, original, _ in changes:
            owner_change(pg_cluster, svc, table, statement % original)
    assert r.returncode == 3, r.stdout + r.stderr
    missed = [f"{svc}.{table} {key}" for svc, table, key, *_ in changes
              if not named(r, table, key)]
    assert not missed, f"verify does not name {missed}:\n{r.stdout}"
    # Named with the sequence of the entry the row departs from, on its chain.
    for svc, table, key, *_, chain in changes:
        after_key = [line.split(key, 1)[1].split()[:2] for line in named(r, table, key)]
        assert [ulb for ulb, seq in after_key if ulb == chain and int(seq) >= 1], \
            (table, key, chain, after_key)
    restored = ctl_verify(Cluster(pg_cluster), nagar_bin, tmp_path)
    assert not [line for svc, table, key, *_ in changes for line in named(restored, table, key)]


def test_fee_schedules_are_written_through_the_rule_only(pg_cluster):
    """certificates_app may not add a fee schedule version itself (it could
    write any fee, saved by anyone); the rule function checks who saves
    which ULB's fees and records the actor on the history."""
    columns = ("ulb, effective_from, version, free_days, late_days, late_fee_paise, "
               "permission_days, permission_fee_paise, order_fee_paise, marriage_fee_paise, "
               "child_name_days, saved_by, reason")
    r = pg_cluster.psql_as(
        "certificates_app",
        f"INSERT INTO certificates.fee_schedule ({columns}) VALUES ('', '2000-01-01', 99, 21, "
        f"30, 1, 365, 1, 1, 1, 5475, 'staff:someone', 'forged')", dbname="nagar_certificates")
    assert r.sqlstate == "42501", r
    clerk = dict(STATE_ADMIN, role="CLERK", ulb=SCHEDULE_ULB)
    commissioner = dict(STATE_ADMIN, role="COMMISSIONER", ulb=SCHEDULE_ULB)
    fees = {"ulb": "", "effectiveFrom": "2040-04-01", "freeDays": 21, "lateDays": 30,
            "permissionDays": 365, "childNameDays": 5475, "reason": "not theirs"}
    for actor, ulb in ((clerk, SCHEDULE_ULB), (commissioner, ""), (commissioner, "250912")):
        r = pg_cluster.psql_as(
            "certificates_app", f"SET search_path = certificates; SELECT cert_fee_schedule_save("
            f"{literal(actor)}, {literal(dict(fees, ulb=ulb))})", dbname="nagar_certificates")
        assert r.sqlstate == "NRDEN", (actor, ulb, r)
    saved = rule_call(pg_cluster, "certificates",
                      f"SELECT id FROM cert_fee_schedule_save({literal(commissioner)}, "
                      f"{literal(dict(fees, ulb=SCHEDULE_ULB, reason='council resolution'))})")
    entry = pg_cluster.sql(
        f"SELECT actor || ' ' || actor_role || ' ' || reason FROM certificates.history "
        f"WHERE tbl = 'fee_schedule' AND ulb = '{SCHEDULE_ULB}' AND new_rows::jsonb @> "
        f"'[{{\"id\": {saved}}}]'", dbname="nagar_certificates")
    assert entry == "staff:schedules COMMISSIONER fees.set: council resolution", entry


def test_a_schedule_change_with_the_history_on_is_recorded(pg_cluster):
    """With only the append-only trigger off (the history's on), the owner's
    change of a slab and removal of an ALV rate are entries on the chain of
    their version's ULB, as what they are: UPDATE and DELETE by
    db:property_tax_owner, old and new rows (verify names such entries as
    made outside the rules). Rolled back: the shared database keeps none."""
    rates = dict(plain_rates("recorded changes"), ulb=SCHEDULE_ULB, fy="2041-42")
    rule_call(pg_cluster, "property_tax",
              f"SELECT pt_rates_set({literal(STATE_ADMIN)}, {literal(rates)}, current_date)")
    version = pg_cluster.sql(f"SELECT max(id) FROM property_tax.rate_version WHERE ulb = "
                             f"'{SCHEDULE_ULB}' AND fy = 2041", dbname="nagar_property_tax")
    r = pg_cluster.psql_as(
        "property_tax_owner",
        "SET search_path = property_tax; BEGIN; "
        "ALTER TABLE rate_slab DISABLE TRIGGER rate_slab_append_only; "
        "ALTER TABLE alv_rate DISABLE TRIGGER alv_rate_append_only; "
        f"UPDATE rate_slab SET rate_bp = 1 WHERE version_id = {version} AND ordinal = 1; "
        f"DELETE FROM alv_rate WHERE version_id = {version}; "
        "SELECT json_agg(json_build_object('tbl', tbl, 'ulb', ulb, 'op', op, 'actor', actor, "
        "'old', old_rows, 'new', new_rows) ORDER BY tbl) FROM (SELECT DISTINCT ON (tbl) * "
        "FROM history WHERE tbl IN ('rate_slab', 'alv_rate') ORDER BY tbl, recorded_us DESC) h; "
        "ROLLBACK", dbname="nagar_property_tax")
    assert r.ok, r
    alv, slab = json.loads(r.stdout.strip())
    assert (alv["tbl"], alv["ulb"], alv["op"], alv["actor"], alv["new"]) == (
        "alv_rate", SCHEDULE_ULB, "DELETE", "db:property_tax_owner", ""), alv
    assert json.loads(alv["old"])[0]["rate_paise_per_sqft"] == 1500
    assert (slab["tbl"], slab["ulb"], slab["op"], slab["actor"]) == (
        "rate_slab", SCHEDULE_ULB, "UPDATE", "db:property_tax_owner"), slab
    assert [json.loads(slab["old"])[0]["rate_bp"], json.loads(slab["new"])[0]["rate_bp"]] == [600, 1]
