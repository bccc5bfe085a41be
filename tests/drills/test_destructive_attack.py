"""Drill: the e-Nagar Palika attack. Someone with every service's database
owner credentials updates, deletes and drops in every service's database.
Continuous WAL archiving (pgBackRest, repository owned by nagar-backup) lets
`nagarctl restore --to T` bring the cluster back to just before the attack:
every row written before T is back, nothing written after, every chain
verifies against the signed checkpoint, and the suite serves again."""
import os
import re
import subprocess
import time
import uuid

from suite import DB_SERVICES

ULB_A, ULB_B = "250786", "293817"

ATTACK = """
SET client_min_messages = warning;
DO $$ DECLARE t record; c text; BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
    EXECUTE format('ALTER TABLE %I DISABLE TRIGGER USER', t.tablename);
    SELECT column_name INTO c FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = t.tablename
       AND data_type = 'text' ORDER BY ordinal_position LIMIT 1;
    IF c IS NOT NULL THEN
      BEGIN
        EXECUTE format('UPDATE %I SET %I = %L', t.tablename, c, 'pwned');
      EXCEPTION WHEN others THEN NULL;   -- a CHECK or key refused this one
      END;
    END IF;
  END LOOP;
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
    BEGIN
      EXECUTE format('DELETE FROM %I', t.tablename);
    EXCEPTION WHEN foreign_key_violation THEN
      EXECUTE format('TRUNCATE %I CASCADE', t.tablename);
    END;
  END LOOP;
END $$;
DROP SCHEMA {schema} CASCADE;
"""


def test_destructive_attack_restored_to_just_before(suite_factory):
    s = suite_factory(backup=True)
    s.start_all()
    # The repository belongs to nagar-backup: the database's OS user cannot remove it.
    repo = os.path.join(s.var, "backup", "repo")
    r = subprocess.run(["runuser", "-u", "postgres", "--", "rm", "-rf", repo],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and os.path.isdir(os.path.join(repo, "archive")), r.stderr

    # Business as usual: payments in two ULBs, certificates, a checkpoint.
    receipts = []
    for ulb in (ULB_A, ULB_B):
        _, _, paid = s.paid_property(ulb, 1500, 2500, 3500)
        receipts += [receipt["receiptNo"] for receipt in paid]
    citizen = s.token("CITIZEN", "", "citizen:9876543210")
    certificate = s.issue_birth_certificate(ULB_A, citizen, s.token("REGISTRAR", ULB_A))
    s.ctl_ok("checkpoint")

    # A quiet moment: T is "just before the attack".
    for svc in s.services() + ["gateway"]:
        s.stop_service(svc)
    before = s.fingerprint()
    rows_before = sum(int(v.split(":")[0]) for v in before.values())
    t = s.sql("postgres", "SELECT now()")
    time.sleep(1.0)

    # Written after T: must not come back.
    for svc in s.services():
        s.start_service(svc)
    s.start_gateway()
    s.wait_serving()
    clerk_a = s.token("CLERK", ULB_A)
    late_pid = s.create_property(clerk_a, ULB_A)
    late = s.pay(clerk_a, late_pid, 777)
    assert late.status_code == 200, late.text

    # The attack, with each owner's password, in every service's database.
    statements_ok = 0
    for svc in DB_SERVICES:
        r = s.sql_as(f"{svc}_owner", f"nagar_{svc}",
                     f"SET search_path = {svc};" + ATTACK.format(schema=svc))
        assert r.returncode == 0, f"the attack on {svc} failed?\n{r.stderr}"
        statements_ok += 1
        gone = s.sql(f"nagar_{svc}", f"SELECT count(*) FROM pg_namespace WHERE nspname = '{svc}'")
        assert gone == "0", f"schema {svc} survived"
    r = s.ctl("verify")
    assert r.returncode in (1, 3), r.stdout   # the ledgers are gone: verification fails

    # Restore to T.
    for svc in s.services() + ["gateway"]:
        s.stop_service(svc)
    started = time.monotonic()
    r = s.ctl("restore", "--to", t, timeout=600)
    restore_seconds = time.monotonic() - started
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"restore took ([0-9.]+) s", r.stdout)
    assert m, r.stdout

    after = s.fingerprint()
    rows_after = sum(int(v.split(":")[0]) for v in after.values())
    missing = {k: (before[k], after.get(k)) for k in before if after.get(k) != before[k]}
    extra = [k for k in after if k not in before]
    assert not missing and not extra, f"differs after restore: {missing} {extra}"
    late_receipt = late.json()["receiptNo"]
    assert s.sql("nagar_property_tax",
                 f"SELECT count(*) FROM property_tax.ledger WHERE reference = '{late_receipt}'") == "0"
    assert s.sql("nagar_property_tax",
                 f"SELECT count(*) FROM property_tax.property WHERE property_id = '{late_pid}'") == "0"
    r = s.ctl_ok("verify")
    assert " 0 failed verification" in r.stdout

    # The suite serves again, on the restored data.
    for svc in s.services():
        s.start_service(svc)
    s.start_gateway()
    s.wait_serving()
    clerk_b = s.token("CLERK", ULB_B)
    pid = s.sql("nagar_property_tax", f"SELECT property_id FROM property_tax.property "
                                      f"WHERE ulb = '{ULB_B}' LIMIT 1")
    r = s.pay(clerk_b, pid, 100, key=uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    s.ctl_ok("verify")
    s.ctl_ok("backup-verify", timeout=300)
    print(f"\nDRILL destructive attack: rows before attack {rows_before}, rows after restore "
          f"{rows_after}, tables compared {len(before)}, attacked databases {statements_ok}, "
          f"restore {float(m.group(1)):.1f} s (nagarctl restore incl. post-restore full backup "
          f"{restore_seconds:.1f} s), certificate {certificate.get('certificateId')} back, "
          f"late payment {late_receipt} gone")
