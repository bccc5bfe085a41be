"""Signed checkpoints: `nagarctl verify` detects, with exit code 3, a changed
row, a deleted row, a truncated tail (head moved back too, so the chain is
internally consistent) and a wholesale rewritten chain (every hash
recomputed) — the chains because the signed checkpoint, kept in files and
in the witness store, pins the heads, the rewrite also because the payments
no longer agree with the ledger. The tampering is done with the owner's
credentials, the strongest a stolen database password gives."""
import os

ULB_CHANGED, ULB_DELETED, ULB_TRUNCATED, ULB_REWRITTEN, ULB_CLEAN = (
    "250786", "293817", "250852", "298926", "251034")

REWRITE = """
ALTER TABLE ledger DISABLE TRIGGER USER;
DO $$ DECLARE r record; h bytea := decode(repeat('00', 32), 'hex'); BEGIN
  FOR r IN SELECT * FROM ledger WHERE ulb = '{ulb}' ORDER BY seq LOOP
    IF r.seq = 1 THEN r.amount_paise := 1; END IF;
    h := sha256(h || ledger_canonical(r.ulb, r.seq, r.idempotency_key, r.kind, r.account,
                                      r.reference, r.amount_paise, r.detail, r.recorded_us));
    UPDATE ledger SET amount_paise = r.amount_paise, hash = h WHERE ulb = r.ulb AND seq = r.seq;
  END LOOP;
  UPDATE ledger_head SET hash = h WHERE ulb = '{ulb}';
END $$;
ALTER TABLE ledger ENABLE TRIGGER USER;
"""

TRUNCATE_TAIL = """
ALTER TABLE ledger DISABLE TRIGGER USER;
DELETE FROM ledger WHERE ulb = '{ulb}' AND seq > 2;
UPDATE ledger_head h SET seq = 2, hash = l.hash FROM ledger l
 WHERE h.ulb = '{ulb}' AND l.ulb = h.ulb AND l.seq = 2;
ALTER TABLE ledger ENABLE TRIGGER USER;
"""


def owner(suite, text, svc="property_tax"):
    r = suite.sql_as(f"{svc}_owner", f"nagar_{svc}", f"SET search_path = {svc}; " + text)
    assert r.returncode == 0, r.stderr
    return r


def line_of(out, ledger, ulb):
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0] == ledger and parts[1] == ulb:
            return line
    raise AssertionError(f"no line for {ledger} {ulb} in:\n{out}")


def test_verify_detects_every_kind_of_tampering(suite_factory):
    s = suite_factory()
    s.start_all()
    for ulb in (ULB_CHANGED, ULB_DELETED, ULB_TRUNCATED, ULB_REWRITTEN, ULB_CLEAN):
        s.paid_property(ulb, 1000, 2000, 3000, 4000)
    citizen = s.token("CITIZEN", "", "citizen:9876543210")
    s.issue_birth_certificate(ULB_CHANGED, citizen, s.token("REGISTRAR", ULB_CHANGED))
    s.issue_birth_certificate(ULB_CHANGED, citizen, s.token("REGISTRAR", ULB_CHANGED))

    r = s.ctl_ok("checkpoint")
    print(r.stdout)
    r = s.ctl_ok("verify")
    assert "10 failed" not in r.stdout and " 0 failed verification" in r.stdout

    # A wholesale rewrite is consistent in itself; the signed checkpoint (kept
    # in the checkpoint files and in the witness store) and the payments,
    # which no longer agree with the rewritten ledger row, name it.
    owner(s, REWRITE.format(ulb=ULB_REWRITTEN))
    empty = os.path.join(s.base, "no-checkpoints")
    os.makedirs(empty)
    env_ctl = s.ctl_env()
    env_ctl["NAGAR_CHECKPOINT_DIR"] = empty
    r = s.run([__import__("suite").ctl_binary(), "verify"], env=env_ctl, check=False)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "the witness store" in r.stdout, r.stdout
    assert "rewritten" in line_of(r.stdout, "property_tax", ULB_REWRITTEN)
    assert any(l.startswith("payments ") and ULB_REWRITTEN in l and "differs from ledger row" in l
               for l in r.stdout.splitlines()), r.stdout
    r = s.ctl("verify")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "rewritten" in line_of(r.stdout, "property_tax", ULB_REWRITTEN)

    # The others, each the owner's way.
    owner(s, "ALTER TABLE ledger DISABLE TRIGGER USER; "
             f"UPDATE ledger SET amount_paise = 99 WHERE ulb = '{ULB_CHANGED}' AND seq = 2; "
             "ALTER TABLE ledger ENABLE TRIGGER USER;")
    owner(s, "ALTER TABLE ledger DISABLE TRIGGER USER; "
             f"DELETE FROM ledger WHERE ulb = '{ULB_DELETED}' AND seq = 2; "
             "ALTER TABLE ledger ENABLE TRIGGER USER;")
    owner(s, TRUNCATE_TAIL.format(ulb=ULB_TRUNCATED))
    owner(s, "ALTER TABLE certificate DISABLE TRIGGER USER; "
             "UPDATE certificate SET qr_payload = qr_payload || 'x' "
             "WHERE seq = (SELECT max(seq) FROM certificate); "
             "ALTER TABLE certificate ENABLE TRIGGER USER;", svc="certificates")

    r = s.ctl("verify")
    print(r.stdout)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "does not match its hash" in line_of(r.stdout, "property_tax", ULB_CHANGED)
    assert "row 2 is missing" in line_of(r.stdout, "property_tax", ULB_DELETED)
    assert "shorter than its signed checkpoint" in line_of(r.stdout, "property_tax", ULB_TRUNCATED)
    assert "rewritten" in line_of(r.stdout, "property_tax", ULB_REWRITTEN)
    assert line_of(r.stdout, "property_tax", ULB_CLEAN).endswith(" ok")
    assert "changed" in line_of(r.stdout, "certificates", ULB_CHANGED)
    assert "5 failed verification" in r.stdout

    # A tampered state is never signed.
    before = sorted(os.listdir(os.path.join(s.var, "checkpoints")))
    r = s.ctl("checkpoint")
    assert r.returncode == 3 and "no checkpoint written" in r.stderr
    assert sorted(os.listdir(os.path.join(s.var, "checkpoints"))) == before


def test_a_forged_or_altered_checkpoint_is_refused(suite_factory):
    s = suite_factory()
    s.start_all()
    s.paid_property(ULB_CLEAN, 500)
    s.ctl_ok("checkpoint")
    directory = os.path.join(s.var, "checkpoints")
    [name] = os.listdir(directory)
    path = os.path.join(directory, name)
    with open(path) as f:
        text = f.read()
    # The attacker edits the pinned sequence in a copy that sorts last.
    forged = text.replace(f"head property_tax {ULB_CLEAN} 1 ", f"head property_tax {ULB_CLEAN} 0 ")
    assert forged != text
    later = os.path.join(directory, "checkpoint-99999999999999999999.txt")
    with open(later, "w") as f:
        f.write(forged)
    r = s.ctl("verify")
    assert r.returncode == 3 and "signature does not verify" in r.stderr, r.stdout + r.stderr
    os.unlink(later)
    s.ctl_ok("verify")
