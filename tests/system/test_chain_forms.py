"""test_chain_forms.py — what the CHECK constraints of the history and the
ledger held until common/sql/history 006 and ledger 006 dropped them is held
by `nagarctl verify` instead, where the owner cannot switch it off (and, for
the ledger, by ledger_append, the one way a row is written):

  - history: an entry's seq >= 1, its op one of INSERT, UPDATE, DELETE,
    BASELINE, its hash 32 bytes; a head's seq >= 0 and 32-byte hash;
  - ledger: a row's ULB of 1 to 10 digits, seq >= 1, idempotency key of 1 to
    300 characters, kind of 1 to 32 of A-Z and _, account of 1 to 64,
    reference of at most 64, detail of at most 4096 bytes, 32-byte hash; a
    head's ULB, seq >= 0 and hash;
  - the tables carry no CHECK constraint any more (the owner could always
    drop one; the modules' own functions never break those rules);
  - rows breaking each rule, written with the owner's password and the
    append-only triggers off, are each named by verify (the check, the
    table, the ULB, the seq), and verify passes again once they are gone;
  - ledger_append refuses arguments that break the rules (SQLSTATE 23514,
    as the constraints did);
  - and (common/sql/receipt 002) a receipt counter's ULB of 1 to 10 digits,
    year such as 2026-27, counter of 1 to 16 of A-Z and 0-9 and last number
    not below 0: receipt_next refuses arguments that break them (23514) and
    verify names a counter row that does;
  - and (property tax migrations 020, 021) a payment's mode, amount and
    property, an allocation's head, kind and payment: verify names a row that
    breaks them (the CHECK constraints and foreign keys are gone).
"""
from test_history_text import ctl_verify
from test_property_tax import create_property

ULB = "250977"          # no other test uses it (the cluster is the session's)
HASH = "decode(repeat('ab', 32), 'hex')"
SHORT = "decode(repeat('ab', 31), 'hex')"


def as_owner(s, sql, tables=("history", "history_head")):
    """sql as the owner, the append-only triggers of tables off around it."""
    off = "".join(f"ALTER TABLE {t} DISABLE TRIGGER USER; " for t in tables)
    on = "".join(f"; ALTER TABLE {t} ENABLE TRIGGER USER" for t in tables)
    r = s.cluster.psql_as("property_tax_owner", f"SET search_path = property_tax; {off}{sql}{on}",
                          dbname="nagar_property_tax")
    assert r.ok, r


def entry(tbl, seq, op, hash_sql):
    return (f"('{tbl}', '{ULB}', {seq}, '{op}', '', '[]', 'staff:probe', 'CLERK', 'r', 'probe', "
            f"0, {hash_sql})")


def probes(r):
    """verify's findings about this test's chains: (table, seq, problem)."""
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["history"] and parts[1].startswith("form_probe") and ULB in parts:
            out.append((parts[1], parts[4], line.split("TAMPERED: ", 1)[1]))
    return sorted(out)


def test_verify_names_what_the_history_constraints_held(property_tax_stack, nagar_bin,
                                                        tmp_path):
    s = property_tax_stack()
    checks = s.sql("SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND conrelid IN "
                   "('history'::regclass, 'history_head'::regclass, 'ledger'::regclass, "
                   "'ledger_head'::regclass)")
    assert checks == "0", checks

    as_owner(s, "INSERT INTO history (tbl, ulb, seq, op, old_rows, new_rows, actor, actor_role, "
                "request_id, reason, recorded_us, hash) VALUES "
                + ", ".join([entry("form_probe_seq", 0, "INSERT", HASH),
                             entry("form_probe_op", 1, "REWRITE", HASH),
                             entry("form_probe_hash", 1, "INSERT", SHORT)])
                + "; INSERT INTO history_head (tbl, ulb, seq, hash) VALUES "
                f"('form_probe_head_seq', '{ULB}', -1, {HASH}), "
                f"('form_probe_head_hash', '{ULB}', 0, {SHORT})")
    try:
        r = ctl_verify(s, nagar_bin, tmp_path)
        assert r.returncode == 3, r.stdout + r.stderr
        assert probes(r) == [
            ("form_probe_hash", "1", "an entry's hash of 31 bytes, not 32"),
            ("form_probe_head_hash", "0", "the chain head's hash is of 31 bytes, not 32"),
            ("form_probe_head_seq", "-1", "the chain head is numbered below 0"),
            ("form_probe_op", "1", 'an entry of op "REWRITE": the history writes INSERT, '
                                   'UPDATE, DELETE or BASELINE only'),
            ("form_probe_seq", "0", "an entry numbered below 1: the history never writes one"),
        ], r.stdout
    finally:
        as_owner(s, f"DELETE FROM history WHERE tbl LIKE 'form_probe%' AND ulb = '{ULB}'; "
                    f"DELETE FROM history_head WHERE tbl LIKE 'form_probe%' AND ulb = '{ULB}'")
    assert not probes(ctl_verify(s, nagar_bin, tmp_path))


LEDGER = "250978"       # no other test uses it


def ledger_row(ulb, seq, key, kind="PROBE", account="probe", reference="probe", detail="'{}'",
               hash_sql=HASH):
    return (f"('{ulb}', {seq}, '{key}', '{kind}', '{account}', {reference}, 1, {detail}, 0, "
            f"{hash_sql})")


def findings(r):
    """verify's findings, each (check, table, key, ULB, seq, problem)."""
    out = []
    for line in r.stdout.splitlines():
        if "TAMPERED: " in line:
            head, problem = line.split("TAMPERED: ", 1)
            out.append((*head.split(), problem))
    return out


def ledger_probes(r):
    """verify's findings of the ledger check in this test's ULBs: (table, seq, problem)."""
    return sorted((f[1], f[-2], f[-1]) for f in findings(r)
                  if f[0] == "ledger" and f[-3] in (LEDGER, "25097x"))


def test_verify_and_ledger_append_hold_what_the_ledger_constraints_held(property_tax_stack,
                                                                       nagar_bin, tmp_path):
    s = property_tax_stack()
    refused = s.cluster.psql_as(
        "property_tax_owner",
        "SELECT * FROM property_tax.ledger_append('250978', 'k', 'pay', 'a', 'r', 1, '{}')",
        dbname="nagar_property_tax")
    assert refused.sqlstate == "23514" and 'kind "pay"' in refused.stderr, refused

    as_owner(s, "INSERT INTO ledger (ulb, seq, idempotency_key, kind, account, reference, "
                "amount_paise, detail, recorded_us, hash) VALUES "
                + ", ".join([ledger_row(LEDGER, 0, "probe-seq", reference="'seq'"),
                             ledger_row(LEDGER, 1000001, "", reference="'key'"),
                             ledger_row(LEDGER, 1000002, "probe-kind", kind="pay",
                                        reference="'kind'"),
                             ledger_row(LEDGER, 1000003, "probe-acct", account="",
                                        reference="'account'"),
                             ledger_row(LEDGER, 1000004, "probe-ref",
                                        reference="repeat('r', 65)"),
                             ledger_row(LEDGER, 1000005, "probe-detail", reference="'detail'",
                                        detail="repeat('d', 4097)"),
                             ledger_row(LEDGER, 1000006, "probe-hash", reference="'hash'",
                                        hash_sql=SHORT),
                             ledger_row("25097x", 1, "probe-ulb", reference="'ulb'")])
                + "; INSERT INTO ledger_head (ulb, seq, hash) VALUES "
                f"('{LEDGER}', -1, {SHORT})", tables=("ledger", "ledger_head"))
    try:
        r = ctl_verify(s, nagar_bin, tmp_path)
        assert r.returncode == 3, r.stdout + r.stderr
        assert ledger_probes(r) == sorted([
            ("ledger", "0", "a row numbered below 1: the ledger never writes one"),
            ("ledger", "1000001", "its idempotency key is of 0 characters, not 1 to 300"),
            ("ledger", "1000002", 'its kind "pay" is not 1 to 32 of A-Z and _'),
            ("ledger", "1000003", "its account is of 0 characters, not 1 to 64"),
            ("ledger", "1000004", "its reference is of 65 characters, more than 64"),
            ("ledger", "1000005", "its detail is of 4097 bytes, more than 4096"),
            ("ledger", "1000006", "its hash is of 31 bytes, not 32"),
            ("ledger", "1", "its ULB is not 1 to 10 digits"),
            ("ledger_head", "-1", "the chain head is numbered below 0"),
        ]), r.stdout
    finally:
        as_owner(s, f"DELETE FROM ledger WHERE ulb IN ('{LEDGER}', '25097x'); "
                    f"DELETE FROM ledger_head WHERE ulb = '{LEDGER}'",
                 tables=("ledger", "ledger_head"))
    assert not ledger_probes(ctl_verify(s, nagar_bin, tmp_path))


RECEIPTS = "250979"     # no other test uses it


def receipt_probes(r):
    """verify's findings of the receipt counters check: (key, ULB, problem)."""
    return sorted((f[2], f[3], f[-1]) for f in findings(r)
                  if f[:2] == ("receipts", "receipt_counter"))


def test_verify_and_receipt_next_hold_what_the_receipt_counter_constraints_held(
        property_tax_stack, nagar_bin, tmp_path):
    s = property_tax_stack()
    checks = s.sql("SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND conrelid = "
                   "'receipt_counter'::regclass")
    assert checks == "0", checks
    for args, words in ((f"'{RECEIPTS}', '2026-27', 'c1'", 'counter "c1"'),
                        (f"'{RECEIPTS}', '2026-7', 'C1'", 'financial year "2026-7"'),
                        (f"'{RECEIPTS}', '20-6-27', 'C1'", 'financial year "20-6-27"'),
                        ("'25097x', '2026-27', 'C1'", 'ulb "25097x"')):
        refused = s.cluster.psql_as("property_tax_owner",
                                    f"SELECT property_tax.receipt_next({args})",
                                    dbname="nagar_property_tax")
        assert refused.sqlstate == "23514" and words in refused.stderr, refused
    numbered = s.cluster.psql_as(
        "property_tax_owner", f"SELECT property_tax.receipt_next('{RECEIPTS}', '2026-27', 'C1'); "
                              f"DELETE FROM property_tax.receipt_counter WHERE ulb = '{RECEIPTS}'",
        dbname="nagar_property_tax")
    assert numbered.ok and f"{RECEIPTS}/2026-27/C1/000001" in numbered.stdout, numbered

    written = s.cluster.psql_as(
        "property_tax_owner",
        "INSERT INTO property_tax.receipt_counter (ulb, fy, counter, last_no) VALUES "
        f"('{RECEIPTS}', '2026-7', 'C1', 1), ('{RECEIPTS}', '2026-27', 'c1', 1), "
        f"('{RECEIPTS}', '2026-27', 'C2', -1), ('25097y', '2026-27', 'C1', 1)",
        dbname="nagar_property_tax")
    assert written.ok, written
    try:
        r = ctl_verify(s, nagar_bin, tmp_path)
        assert r.returncode == 3, r.stdout + r.stderr
        assert receipt_probes(r) == sorted([
            ("2026-7/C1", RECEIPTS, 'its financial year "2026-7" is not of the form 2026-27'),
            ("2026-27/c1", RECEIPTS, 'its counter "c1" is not 1 to 16 of A-Z and 0-9'),
            ("2026-27/C2", RECEIPTS, "its last number is -1, below 0"),
            ("2026-27/C1", "25097y", "its ULB is not 1 to 10 digits"),
        ]), r.stdout
    finally:
        gone = s.cluster.psql_as("property_tax_owner",
                                 "DELETE FROM property_tax.receipt_counter "
                                 f"WHERE ulb IN ('{RECEIPTS}', '25097y')",
                                 dbname="nagar_property_tax")
        assert gone.ok, gone
    assert not receipt_probes(ctl_verify(s, nagar_bin, tmp_path))


PAYMENTS = "250980"     # no other test uses it


def test_verify_holds_what_the_payment_and_allocation_constraints_held(property_tax_stack,
                                                                        nagar_bin, tmp_path):
    """property tax's migrations 020 and 021: a payment's mode, amount and
    property, an allocation's head, kind and payment, named by verify."""
    s = property_tax_stack()
    checks = s.sql("SELECT string_agg(conname, ' ' ORDER BY conname) FROM pg_constraint "
                   "WHERE contype = 'c' AND conrelid IN ('payment'::regclass, "
                   "'allocation'::regclass)")
    assert checks == "", checks
    keys = s.sql("SELECT string_agg(conname, ' ' ORDER BY conname) FROM pg_constraint "
                 "WHERE contype = 'f' AND conrelid IN ('payment'::regclass, "
                 "'allocation'::regclass)")
    assert keys == "payment_reverses_payment_id_fkey", keys
    pid = create_property(s, s.staff("CLERK", PAYMENTS), PAYMENTS, 500)
    payment = ("INSERT INTO payment (id, ulb, property_id, receipt_no, counter, mode, "
               "instrument_ref, amount_paise, paid_on, ledger_seq, recorded_by, "
               "advance_after_paise) VALUES ")
    as_owner(s, payment
             + f"(-1, '{PAYMENTS}', '{pid}', 'probe-mode', 'C1', 'CARD', '', 100, '2026-06-15', "
               "-1, 'probe', 0), "
             + f"(-2, '{PAYMENTS}', '{pid}', 'probe-zero', 'C1', 'CASH', '', 0, '2026-06-15', "
               "-2, 'probe', 0), "
             + f"(-3, '{PAYMENTS}', '{PAYMENTS}-001-999999', 'probe-gone', 'C1', 'CASH', '', "
               "100, '2026-06-15', -3, 'probe', 0); "
             "INSERT INTO allocation (id, payment_id, property_id, ulb, head, amount_paise, "
             "paid_on, fy, kind) VALUES "
             f"(-1, -1, '{pid}', '{PAYMENTS}', 'RENT', 60, '2026-06-15', 2026, 'CASH'), "
             f"(-2, -1, '{pid}', '{PAYMENTS}', 'PROPERTY_TAX', 40, '2026-06-15', 2026, 'GIFT'), "
             f"(-3, -99, '{pid}', '{PAYMENTS}', 'PROPERTY_TAX', 40, '2026-06-15', 2026, 'CASH'), "
             f"(-4, -1, '{pid}', '{PAYMENTS}', 'PROPERTY_TAX', 40, '2026-06-15', 2025, 'CASH'), "
             f"(-5, -1, '{pid}', '{PAYMENTS}', 'ADVANCE', 40, '2026-06-15', 2026, 'CASH')",
             tables=("payment", "allocation"))
    wanted = [
        ("allocations", "allocation", "-1",
         f'it settles "RENT" of 2026-27, which property {pid} was never charged'),
        ("allocations", "allocation", "-4",
         f'it settles "PROPERTY_TAX" of 2025-26, which property {pid} was never charged'),
        ("allocations", "allocation", "-2", 'its kind "GIFT" is not CASH or REBATE'),
        ("allocations", "allocation", "-3", "its payment -99 is not there"),
        ("payments", "payment", "probe-gone", f"its property {PAYMENTS}-001-999999 is not there"),
        ("payments", "payment", "probe-mode",
         'its mode "CARD" is not CASH, CHEQUE, DEMAND_DRAFT, UPI or ONLINE'),
        ("payments", "payment", "probe-zero", "its amount is 0 paise"),
    ]

    def named(r):
        return sorted({(f[0], f[1], f[2], f[-1]) for f in findings(r)} & set(wanted))

    try:
        r = ctl_verify(s, nagar_bin, tmp_path)
        assert r.returncode == 3, r.stdout + r.stderr
        assert named(r) == sorted(wanted), r.stdout
        # An ADVANCE (credit) settles no demand line: not named.
        assert not [f for f in findings(r) if f[1] == "allocation" and f[2] == "-5"], r.stdout
    finally:
        as_owner(s, "DELETE FROM allocation WHERE id < 0; DELETE FROM payment WHERE id < 0",
                 tables=("payment", "allocation"))
    assert not named(ctl_verify(s, nagar_bin, tmp_path))
