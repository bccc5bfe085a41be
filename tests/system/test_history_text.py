"""test_history_text.py — the annual demand's bills and heads are on their
history as the rows' text (common/sql/history 004, property tax migration
018), and nagarctl verify reads that form as it reads JSON objects:

  - a demand run writes entries whose rows are JSON strings (each row's
    text), chained like every other entry; verify passes;
  - a demand head changed with the triggers off (the owner's password) is
    named by verify: history, demand, the row's key, the entry it departs
    from; a head removed with the triggers off is named as gone; put back
    as they were, the rows verify again.
"""
import os
import subprocess

from test_property_tax import create_property, run_demand, set_rates

ULB = "250975"          # Babai: no other test uses it (the cluster is the session's)
FY = "2025-26"


def ctl_verify(s, nagar_bin, tmp_path):
    env = dict(s.cluster.env, NAGAR_VAR=str(tmp_path), NAGAR_LOG_LEVEL="warn",
               NAGAR_CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
               NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR=str(tmp_path / "certificate_keys"),
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=0")
    for directory in ("NAGAR_CHECKPOINT_DIR", "NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR"):
        os.makedirs(env[directory], exist_ok=True)
    for svc in ("property_tax", "water_tax", "certificates"):
        env[f"NAGAR_CTL_CONNINFO_{svc.upper()}"] = (
            s.cluster.conninfo(f"{svc}_reader") +
            f" passfile={s.cluster.pgpass(svc + '_reader')}")
    r = subprocess.run([nagar_bin("nagar-ctl"), "verify"], env=env, capture_output=True,
                       text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode in (0, 3), r.stdout + r.stderr
    return r


def findings(r, table):
    """verify's findings about table's rows in this test's ULB (other tests
    share the database and may leave findings of their own)."""
    return [l for l in r.stdout.splitlines() if l.split()[:2] == ["history", table]
            and f" {ULB} " in l]


def as_owner(s, sql):
    r = s.cluster.psql_as("property_tax_owner",
                          "SET search_path = property_tax; ALTER TABLE demand DISABLE TRIGGER USER; "
                          f"{sql}; ALTER TABLE demand ENABLE TRIGGER USER",
                          dbname="nagar_property_tax")
    assert r.ok, r


def test_demand_history_as_text_verifies_and_names_a_change(property_tax_stack, nagar_bin,
                                                            tmp_path):
    s = property_tax_stack(NAGAR_PROPERTY_TAX_DEMAND_CHUNK=2)
    officer = s.staff("REVENUE_OFFICER", ULB)
    clerk = s.staff("CLERK", ULB)
    set_rates(s, officer, ULB, FY)
    pids = [create_property(s, clerk, ULB, 400 + 100 * i) for i in range(5)]
    job = run_demand(s, officer, ULB, FY)
    assert str(job["billsCreated"]) == "5", job

    # Three chunks of each table, every element a row's text.
    forms = s.sql("SELECT string_agg(tbl || ':' || n || ':' || forms, ' ' ORDER BY tbl) FROM ("
                  " SELECT tbl, count(DISTINCT h.seq) AS n,"
                  "        string_agg(DISTINCT jsonb_typeof(e), ',') AS forms"
                  "   FROM history h CROSS JOIN LATERAL jsonb_array_elements(h.new_rows::jsonb) e"
                  f"  WHERE tbl IN ('demand', 'demand_bill') AND ulb = '{ULB}' AND op = 'INSERT'"
                  "  GROUP BY tbl) t")
    assert forms == "demand:3:string demand_bill:3:string", forms
    clean = ctl_verify(s, nagar_bin, tmp_path)
    assert not findings(clean, "demand") and not findings(clean, "demand_bill"), clean.stdout
    chains = [l.split() for l in clean.stdout.splitlines()
              if l.split()[:2] in (["property_tax.demand", ULB], ["property_tax.demand_bill", ULB])]
    assert sorted((c[0], c[2], c[-1]) for c in chains) == [
        ("property_tax.demand", "3", "ok"), ("property_tax.demand_bill", "3", "ok")], chains

    # The owner, the triggers off: a head changed, another removed.
    pid = pids[2]           # in the second chunk (two properties a chunk)
    saved = s.sql(f"SELECT d::text FROM demand d WHERE property_id = '{pids[4]}' "
                  "AND head = 'SAMEKIT'")
    changed_sql = (f"UPDATE demand SET amount_paise = amount_paise + %d WHERE property_id = "
                   f"'{pid}' AND head = 'PROPERTY_TAX'")
    as_owner(s, changed_sql % 1 + f"; DELETE FROM demand WHERE property_id = '{pids[4]}' "
                                  "AND head = 'SAMEKIT'")
    try:
        r = ctl_verify(s, nagar_bin, tmp_path)
        assert r.returncode == 3, r.stdout + r.stderr
        changed = [l for l in findings(r, "demand") if pid in l and "PROPERTY_TAX" in l
                   and "differs from its last history entry" in l]
        assert changed, r.stdout
        # The entry it departs from: the chunk that wrote it (the second of three).
        assert changed[0].split("TAMPERED")[0].split()[-1] == "2", changed[0]
        gone = [l for l in findings(r, "demand") if pids[4] in l and "SAMEKIT" in l
                and "is gone" in l]
        assert gone and gone[0].split("TAMPERED")[0].split()[-1] == "3", r.stdout
    finally:
        # Put the rows back as they were, for the tests after this one.
        as_owner(s, changed_sql % -1 + "; INSERT INTO demand SELECT (" +
                 "'" + saved.replace("'", "''") + "'::demand).*")
    restored = ctl_verify(s, nagar_bin, tmp_path)
    assert not findings(restored, "demand"), restored.stdout
