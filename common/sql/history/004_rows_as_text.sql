-- history 004 — a table of bulk statements may record its rows as their
-- text: each row's text output (record_out: the values in column order,
-- no key names) as one string of the JSON array, instead of a JSON object.
--
-- requires: append_only
--
-- An entry's old_rows and new_rows stay a JSON array ('' for none), hashed
-- as they are stored, and the chain's hash is computed as before (001, 003):
-- a chain may hold entries of either form and verifies the same way. What
-- changes is what one element is:
--
--   [{"property_id": "...", "fy": 2026, ...}, ...]      a table tracked by history_track
--   ["(...,2026,...)", ...]                              one set to history_rows_as_text
--
-- The verifier (common/history.c) tells them apart element by element (a
-- JSON object or a JSON string) and reads a string back through the
-- table's row type. The text is half the JSON's size and takes half its
-- time to write: a demand chunk (5,000 bills and 20,000 demand heads)
-- spent about 50 ms of its 110 ms of history on rendering its rows as JSON
-- objects, and about as long hashing and storing text twice as long.
-- Rows are rendered with the settings below, whatever the writer's
-- session says (dates in ISO order, floats exact), as timestamps are in UTC.

-- The triggers' function, as 003's, the rows of each side rendered in the
-- form the trigger's argument names: none, JSON objects; 'text', strings.
-- Each form is its own statement (one CASE per row would cost the bulk form
-- its gain and change the other's bytes: json_agg puts "\n " between
-- objects, not between strings): an entry of JSON objects is written byte
-- for byte as 003 wrote it.
CREATE OR REPLACE FUNCTION history_record() RETURNS trigger LANGUAGE plpgsql
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET search_path FROM CURRENT AS $$
DECLARE
    r record;
    v_text boolean := TG_NARGS > 0 AND TG_ARGV[0] = 'text';
    v_old text := '';
    v_new text := '';
    v_low text;
    v_high text;
    v_low2 text;
    v_high2 text;
    v_old_ulbs text[];
    v_old_rows text[];
    v_new_ulbs text[];
    v_new_rows text[];
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF v_text THEN
            SELECT min(o.ulb), max(o.ulb), json_agg(o::text)::text INTO v_low, v_high, v_old
              FROM history_old o;
        ELSE
            SELECT min(o.ulb), max(o.ulb), json_agg(o)::text INTO v_low, v_high, v_old
              FROM history_old o;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        IF v_text THEN
            SELECT min(n.ulb), max(n.ulb), json_agg(n::text)::text INTO v_low2, v_high2, v_new
              FROM history_new n;
        ELSE
            SELECT min(n.ulb), max(n.ulb), json_agg(n)::text INTO v_low2, v_high2, v_new
              FROM history_new n;
        END IF;
        IF TG_OP = 'INSERT' THEN
            v_low := v_low2;
            v_high := v_high2;
        ELSIF v_low IS DISTINCT FROM v_low2 OR v_high IS DISTINCT FROM v_high2 THEN
            v_high := NULL;         -- the rows moved between ULBs: grouped below
        END IF;
    END IF;
    IF v_old IS NULL AND v_new IS NULL THEN
        RETURN NULL;                -- no rows (json_agg of none is NULL)
    END IF;
    IF v_low = v_high THEN
        PERFORM history_append(TG_TABLE_NAME, v_low, TG_OP, coalesce(v_old, ''),
                               coalesce(v_new, ''));
        RETURN NULL;
    END IF;
    -- Several ULBs (rare: a chunk of a job over every ULB, a row moved
    -- between ULBs): one entry per ULB, in ULB order, each side grouped,
    -- the two sides' rows read into arrays first, in the trigger's form.
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF v_text THEN
            SELECT array_agg(g.ulb ORDER BY g.ulb), array_agg(g.rows ORDER BY g.ulb)
              INTO v_old_ulbs, v_old_rows
              FROM (SELECT o.ulb, json_agg(o::text)::text AS rows FROM history_old o
                     GROUP BY o.ulb) g;
        ELSE
            SELECT array_agg(g.ulb ORDER BY g.ulb), array_agg(g.rows ORDER BY g.ulb)
              INTO v_old_ulbs, v_old_rows
              FROM (SELECT o.ulb, json_agg(o)::text AS rows FROM history_old o
                     GROUP BY o.ulb) g;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        IF v_text THEN
            SELECT array_agg(g.ulb ORDER BY g.ulb), array_agg(g.rows ORDER BY g.ulb)
              INTO v_new_ulbs, v_new_rows
              FROM (SELECT n.ulb, json_agg(n::text)::text AS rows FROM history_new n
                     GROUP BY n.ulb) g;
        ELSE
            SELECT array_agg(g.ulb ORDER BY g.ulb), array_agg(g.rows ORDER BY g.ulb)
              INTO v_new_ulbs, v_new_rows
              FROM (SELECT n.ulb, json_agg(n)::text AS rows FROM history_new n
                     GROUP BY n.ulb) g;
        END IF;
    END IF;
    FOR r IN SELECT coalesce(b.ulb, a.ulb) AS ulb, coalesce(b.rows, '') AS old_rows,
                    coalesce(a.rows, '') AS new_rows
               FROM unnest(v_old_ulbs, v_old_rows) AS b(ulb, rows)
               FULL JOIN unnest(v_new_ulbs, v_new_rows) AS a(ulb, rows) ON a.ulb = b.ulb
              ORDER BY 1 LOOP
        PERFORM history_append(TG_TABLE_NAME, r.ulb, TG_OP, r.old_rows, r.new_rows);
    END LOOP;
    RETURN NULL;
END
$$;

-- Records p_table's rows as text from now on (it must be tracked already,
-- history_track): its three triggers again, with the argument 'text'.
-- Entries written before keep their JSON objects and verify as they are.
CREATE OR REPLACE FUNCTION history_rows_as_text(p_table regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_name text := (SELECT c.relname FROM pg_class c WHERE c.oid = p_table);
BEGIN
    IF (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = p_table
          AND t.tgname IN (v_name || '_history_insert', v_name || '_history_update',
                           v_name || '_history_delete')) <> 3 THEN
        RAISE EXCEPTION 'history_rows_as_text: % is not tracked (history_track first)', p_table
            USING ERRCODE = '55000';
    END IF;
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS '
                   'history_new FOR EACH STATEMENT EXECUTE FUNCTION history_record(''text'')',
                   v_name || '_history_insert', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS '
                   'history_old NEW TABLE AS history_new FOR EACH STATEMENT EXECUTE FUNCTION '
                   'history_record(''text'')', v_name || '_history_update', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS '
                   'history_old FOR EACH STATEMENT EXECUTE FUNCTION history_record(''text'')',
                   v_name || '_history_delete', p_table);
END
$$;

DO $$
BEGIN
    EXECUTE format('REVOKE EXECUTE ON FUNCTION history_rows_as_text(regclass) FROM PUBLIC, %I',
                   regexp_replace(current_user, '_owner$', '_app'));
END
$$;
