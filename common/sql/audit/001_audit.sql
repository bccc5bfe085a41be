-- audit 001 — who changed what, when: one append-only row per change a
-- service makes on someone's behalf (identity's accounts, certificates'
-- registrations, the taxes' rules), read back per subject and per ULB.
--
-- requires: append_only
--
-- A database of the older layout kept this table under two shapes; it is
-- brought to this one in place: property tax's and water tax's "role"
-- becomes actor_role, their ulb may be NULL (a change of no ULB), and
-- request_id and client_ip are added.

CREATE TABLE IF NOT EXISTS audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    actor_role  text NOT NULL,
    action      text NOT NULL,
    subject     text NOT NULL,
    ulb         text,
    detail      jsonb NOT NULL,
    request_id  text NOT NULL DEFAULT '',
    client_ip   text NOT NULL DEFAULT ''
);
DO $$
BEGIN
    IF EXISTS (SELECT FROM information_schema.columns WHERE table_schema = current_schema()
                                                      AND table_name = 'audit'
                                                      AND column_name = 'role') THEN
        ALTER TABLE audit RENAME COLUMN role TO actor_role;
    END IF;
END
$$;
ALTER TABLE audit ALTER COLUMN ulb DROP NOT NULL;
ALTER TABLE audit ALTER COLUMN at SET DEFAULT clock_timestamp();
ALTER TABLE audit ADD COLUMN IF NOT EXISTS request_id text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN IF NOT EXISTS client_ip text NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS audit_subject_idx ON audit (subject, id);
CREATE INDEX IF NOT EXISTS audit_ulb_idx ON audit (ulb, id);

DROP TRIGGER IF EXISTS audit_no_update_delete ON audit;
SELECT append_only_protect('audit');
DO $$
BEGIN
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit FROM %I',
                   regexp_replace(current_user, '_owner$', '_app'));
END
$$;
