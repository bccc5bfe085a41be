-- append_only 001 — tables whose rows are never changed or removed.
--
-- refuse_change() is the trigger function behind every append-only table
-- of a service (ledgers, audit trails, payments, issued certificates,
-- versioned master data): it refuses UPDATE, DELETE and TRUNCATE to every
-- role, the owner included, so a correction is always a new row that
-- references the old one. append_only_protect(table) attaches it, under
-- the names <table>_append_only (rows) and <table>_no_truncate.
--
-- A service database of the older layout had its own copies of this
-- function (ledger_refuse_change, certificates.refuse_change,
-- identity.audit_refuse_change); this one replaces them.

CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = '42501',
              HINT = 'record a new row that corrects or reverses the old one instead';
END
$$;

CREATE OR REPLACE FUNCTION append_only_protect(p_table regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_name text := (SELECT c.relname FROM pg_class c WHERE c.oid = p_table);
BEGIN
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION refuse_change()', v_name || '_append_only',
                   p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()', v_name || '_no_truncate',
                   p_table);
END
$$;
