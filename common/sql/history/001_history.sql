-- history 001 — every change of a tracked table on an append-only,
-- hash-chained history, written in the same transaction by triggers.
--
-- requires: append_only
--
-- history_track(table) attaches three statement-level triggers (INSERT,
-- UPDATE, DELETE; transition tables carry the rows) and refuses TRUNCATE.
-- Each statement that changes rows adds one entry per ULB it touched:
--
--     (tbl, ulb, seq, op, old_rows, new_rows, actor, actor_role, request_id,
--      reason, recorded_us, hash)
--
-- old_rows and new_rows are the rows before and after as a JSON array
-- (json_agg of the rows, '' for none), exactly the bytes that are hashed.
-- Entries of one (tbl, ulb) form a chain, like the ledger's:
--
--     hash(n) = SHA-256( hash(n-1) || canonical(entry n) ),  hash(0) = 32 zero bytes
--
-- canonical(entry) is, for tbl, ulb, seq, op, old_rows, new_rows, actor,
-- actor_role, request_id, reason, recorded_us in that order, each field's
-- UTF-8 text written as "<byte length>:<bytes>;". common/history.c computes
-- the same bytes on its own; the verifier never trusts these functions.
--
-- Who and why come from the transaction: a rule function sets them with
-- rule_act() (common/sql/rules); a change made outside the rules (psql with
-- the owner's or the superuser's password) is recorded as actor
-- "db:<role>", role DATABASE — and, having bypassed the rules, stands out.
-- The triggers belong to the table's owner: the app role, which owns
-- nothing, can neither disable them nor write history itself. When a table
-- is first tracked, the rows it already holds are recorded as one BASELINE
-- entry per ULB, so that every current row has a history entry.

CREATE TABLE IF NOT EXISTS history_head (
    tbl   text NOT NULL,
    ulb   text NOT NULL,
    seq   bigint NOT NULL CHECK (seq >= 0),
    hash  bytea NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (tbl, ulb)
);

CREATE TABLE IF NOT EXISTS history (
    tbl          text NOT NULL,
    ulb          text NOT NULL,
    seq          bigint NOT NULL CHECK (seq >= 1),
    op           text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE', 'BASELINE')),
    old_rows     text NOT NULL,
    new_rows     text NOT NULL,
    actor        text NOT NULL,
    actor_role   text NOT NULL,
    request_id   text NOT NULL,
    reason       text NOT NULL,
    recorded_us  bigint NOT NULL,          -- microseconds since 1970-01-01 UTC
    hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (tbl, ulb, seq)
);

SELECT append_only_protect('history');
CREATE OR REPLACE TRIGGER history_head_no_delete BEFORE DELETE ON history_head
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER history_head_no_truncate BEFORE TRUNCATE ON history_head
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
DO $$
BEGIN
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON history, history_head FROM %I',
                   regexp_replace(current_user, '_owner$', '_app'));
END
$$;

-- One expression, inlined into history_append (see ledger_canonical).
CREATE OR REPLACE FUNCTION history_canonical(p_tbl text, p_ulb text, p_seq bigint, p_op text,
                                             p_old text, p_new text, p_actor text, p_role text,
                                             p_request text, p_reason text, p_us bigint)
RETURNS bytea LANGUAGE sql STABLE STRICT AS $$
    SELECT convert_to(
        octet_length(p_tbl) || ':' || p_tbl || ';' ||
        octet_length(p_ulb) || ':' || p_ulb || ';' ||
        octet_length(p_seq::text) || ':' || p_seq::text || ';' ||
        octet_length(p_op) || ':' || p_op || ';' ||
        octet_length(p_old) || ':' || p_old || ';' ||
        octet_length(p_new) || ':' || p_new || ';' ||
        octet_length(p_actor) || ':' || p_actor || ';' ||
        octet_length(p_role) || ':' || p_role || ';' ||
        octet_length(p_request) || ':' || p_request || ';' ||
        octet_length(p_reason) || ':' || p_reason || ';' ||
        octet_length(p_us::text) || ':' || p_us::text || ';', 'UTF8')
$$;

-- Appends one entry to the chain of (p_tbl, p_ulb): one statement moves the
-- head (its row lock, held to commit, orders the chain) and inserts the
-- entry; the head is created the first time.
CREATE OR REPLACE FUNCTION history_append(p_tbl text, p_ulb text, p_op text, p_old text,
                                          p_new text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    v_us bigint := floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    v_actor text := coalesce(nullif(current_setting('nagar.actor', true), ''),
                             'db:' || session_user);
    v_role text := coalesce(nullif(current_setting('nagar.actor_role', true), ''), 'DATABASE');
    v_request text := coalesce(current_setting('nagar.request_id', true), '');
    v_reason text := coalesce(current_setting('nagar.reason', true), '');
BEGIN
    LOOP
        WITH h AS (
            UPDATE history_head SET seq = seq + 1,
                   hash = sha256(hash || history_canonical(p_tbl, p_ulb, seq + 1, p_op, p_old,
                                                           p_new, v_actor, v_role, v_request,
                                                           v_reason, v_us))
             WHERE tbl = p_tbl AND ulb = p_ulb
            RETURNING seq, hash)
        INSERT INTO history (tbl, ulb, seq, op, old_rows, new_rows, actor, actor_role, request_id,
                             reason, recorded_us, hash)
        SELECT p_tbl, p_ulb, h.seq, p_op, p_old, p_new, v_actor, v_role, v_request, v_reason,
               v_us, h.hash
          FROM h;
        EXIT WHEN FOUND;
        INSERT INTO history_head (tbl, ulb, seq, hash)
            VALUES (p_tbl, p_ulb, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT (tbl, ulb) DO NOTHING;
    END LOOP;
END
$$;

-- The triggers' function: one entry per ULB the statement touched. Rows are
-- rendered with timestamps in UTC, whatever the writer's session says, so
-- that a verifier can compare them with the table as it is; the schema's
-- own functions are found whatever the writer's search_path (a superuser's
-- session, a maintenance script).
CREATE OR REPLACE FUNCTION history_record() RETURNS trigger LANGUAGE plpgsql
SET TimeZone = 'UTC' SET search_path FROM CURRENT AS $$
DECLARE r record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR r IN SELECT n.ulb, json_agg(n)::text AS rows FROM history_new n
                  GROUP BY n.ulb ORDER BY n.ulb LOOP
            PERFORM history_append(TG_TABLE_NAME, r.ulb, 'INSERT', '', r.rows);
        END LOOP;
    ELSIF TG_OP = 'DELETE' THEN
        FOR r IN SELECT o.ulb, json_agg(o)::text AS rows FROM history_old o
                  GROUP BY o.ulb ORDER BY o.ulb LOOP
            PERFORM history_append(TG_TABLE_NAME, r.ulb, 'DELETE', r.rows, '');
        END LOOP;
    ELSE
        FOR r IN SELECT coalesce(b.ulb, a.ulb) AS ulb, coalesce(b.rows, '') AS old_rows,
                        coalesce(a.rows, '') AS new_rows
                   FROM (SELECT o.ulb, json_agg(o)::text AS rows FROM history_old o
                          GROUP BY o.ulb) b
                   FULL JOIN (SELECT n.ulb, json_agg(n)::text AS rows FROM history_new n
                               GROUP BY n.ulb) a ON a.ulb = b.ulb
                  ORDER BY 1 LOOP
            PERFORM history_append(TG_TABLE_NAME, r.ulb, 'UPDATE', r.old_rows, r.new_rows);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

-- Tracks p_table (which must have a ulb column): its triggers, TRUNCATE
-- refused, and a BASELINE entry per ULB for the rows it holds already.
CREATE OR REPLACE FUNCTION history_track(p_table regclass) RETURNS void
LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
    v_name text := (SELECT c.relname FROM pg_class c WHERE c.oid = p_table);
    r record;
BEGIN
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS '
                   'history_new FOR EACH STATEMENT EXECUTE FUNCTION history_record()',
                   v_name || '_history_insert', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS '
                   'history_old NEW TABLE AS history_new FOR EACH STATEMENT EXECUTE FUNCTION '
                   'history_record()', v_name || '_history_update', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS '
                   'history_old FOR EACH STATEMENT EXECUTE FUNCTION history_record()',
                   v_name || '_history_delete', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()',
                   v_name || '_no_truncate', p_table);
    IF NOT EXISTS (SELECT FROM history h WHERE h.tbl = v_name) THEN
        PERFORM set_config('nagar.reason', 'history started: the rows already present', true);
        FOR r IN EXECUTE format('SELECT t.ulb, json_agg(t)::text AS rows FROM %s t '
                                'GROUP BY t.ulb ORDER BY t.ulb', p_table) LOOP
            PERFORM history_append(v_name, r.ulb, 'BASELINE', '', r.rows);
        END LOOP;
        PERFORM set_config('nagar.reason', '', true);
    END IF;
END
$$;
