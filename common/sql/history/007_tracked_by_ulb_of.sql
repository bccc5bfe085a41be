-- history 007 — master data on the history: tables whose rows name their
-- ULB through the version they belong to, and the state's own rows.
--
-- requires: append_only
--
-- history_track (001) chains a table's entries per (table, ULB), reading
-- each row's own ulb column. The schedules money is computed from do not
-- all have one: a rate version (rate_version, tariff_version) names its
-- ULB, its slabs and rates (rate_slab, alv_rate, tariff_slab, ...) name
-- only the version (version_id). And a ULB's certificate fee schedule sits
-- beside the state default, whose ulb is '' — a chain no checkpoint can
-- hold (a checkpoint's ULB is 1 to 15 digits, common/checkpoint.h).
--
-- history_track_of(table, parent, fk) tracks such a table like
-- history_track: the same entries (old and new rows as a JSON array of
-- objects, who, why, when), the same chains, hashes and verifier
-- (common/history.c compares every current row with its last image by the
-- table's primary key, whatever its chain), TRUNCATE refused, a BASELINE
-- entry for the rows already there. Only which chain a row's entry goes to
-- is chosen differently:
--
--   parent NULL    the row's own ulb column;
--   parent given   the ulb of the parent row whose id is the row's fk
--                  (rate_slab.version_id -> rate_version.id), so a ULB's
--                  slabs are on one chain per table, beside its versions;
--
-- and a ulb of '' (the state's own rows) is chain "0", which is no LGD
-- code. A row whose parent cannot be found is refused (SQLSTATE 23503):
-- its entry would have no chain.
--
-- The trigger function is this file's own (history_record_of) and appends
-- through history_append (001), so history_record (006) and its hot path
-- stay as they are: master data changes a few times a year.

-- The rows of p_source (a transition table or the table itself) grouped by
-- chain: (ulb, rows), rows the JSON array of the group's rows.
CREATE OR REPLACE FUNCTION history_of_groups_sql(p_source text, p_parent text, p_fk text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('SELECT CASE WHEN g.u = '''' THEN ''0'' ELSE g.u END AS ulb, '
                  'json_agg(g.j)::text AS rows FROM (SELECT %s AS u, to_json(r) AS j '
                  'FROM %s r %s) g GROUP BY 1',
                  CASE WHEN p_parent = '' THEN 'r.ulb' ELSE 'p.ulb' END, p_source,
                  CASE WHEN p_parent = '' THEN ''
                       ELSE format('LEFT JOIN %s p ON p.id = r.%I', p_parent, p_fk) END)
$$;

-- The triggers' function: one entry per chain the statement touched, in
-- chain order. TG_ARGV: the parent table ('' for none) and the fk column.
CREATE OR REPLACE FUNCTION history_record_of() RETURNS trigger LANGUAGE plpgsql
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET search_path FROM CURRENT AS $$
DECLARE
    v_none constant text := 'SELECT NULL::text AS ulb, NULL::text AS rows WHERE false';
    v_old text := v_none;
    v_new text := v_none;
    r record;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        v_old := history_of_groups_sql('history_old', TG_ARGV[0], TG_ARGV[1]);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        v_new := history_of_groups_sql('history_new', TG_ARGV[0], TG_ARGV[1]);
    END IF;
    FOR r IN EXECUTE format('SELECT coalesce(b.ulb, a.ulb) AS ulb, coalesce(b.rows, '''') '
                            'AS old_rows, coalesce(a.rows, '''') AS new_rows FROM (%s) b '
                            'FULL JOIN (%s) a ON a.ulb = b.ulb ORDER BY 1', v_old, v_new) LOOP
        IF r.ulb IS NULL THEN
            RAISE EXCEPTION '%: rows of % name no row of % (by %): their history has no chain',
                            TG_OP, TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1]
                USING ERRCODE = '23503';
        END IF;
        PERFORM history_append(TG_TABLE_NAME, r.ulb, TG_OP, r.old_rows, r.new_rows);
    END LOOP;
    RETURN NULL;
END
$$;

-- Tracks p_table, its entries chained by the ULB of its parent row
-- (p_parent.id = p_table.p_fk) or, p_parent NULL, by its own ulb column;
-- '' is chain "0". Triggers named as history_track names them (the
-- verifier finds a tracked table by them), TRUNCATE refused, and a
-- BASELINE entry per chain for the rows already present.
CREATE OR REPLACE FUNCTION history_track_of(p_table regclass, p_parent regclass, p_fk text)
RETURNS void LANGUAGE plpgsql SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres' SET extra_float_digits = 1 AS $$
DECLARE
    v_name text := (SELECT c.relname FROM pg_class c WHERE c.oid = p_table);
    v_parent text := '';
    v_args text;
    r record;
BEGIN
    IF p_parent IS NULL THEN
        IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = p_table
                         AND a.attname = 'ulb' AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'history_track_of: % has no ulb column: name the parent row that '
                            'has one', p_table USING ERRCODE = '42703';
        END IF;
    ELSE
        IF (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = p_parent
              AND a.attname IN ('id', 'ulb') AND NOT a.attisdropped) <> 2 THEN
            RAISE EXCEPTION 'history_track_of: % has no id and ulb columns', p_parent
                USING ERRCODE = '42703';
        END IF;
        IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = p_table
                         AND a.attname = p_fk AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'history_track_of: % has no column %', p_table, p_fk
                USING ERRCODE = '42703';
        END IF;
        v_parent := (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_parent);
    END IF;
    v_args := format('%L, %L', v_parent, coalesce(p_fk, ''));
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS '
                   'history_new FOR EACH STATEMENT EXECUTE FUNCTION history_record_of(%s)',
                   v_name || '_history_insert', p_table, v_args);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS '
                   'history_old NEW TABLE AS history_new FOR EACH STATEMENT EXECUTE FUNCTION '
                   'history_record_of(%s)', v_name || '_history_update', p_table, v_args);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS '
                   'history_old FOR EACH STATEMENT EXECUTE FUNCTION history_record_of(%s)',
                   v_name || '_history_delete', p_table, v_args);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()',
                   v_name || '_no_truncate', p_table);
    IF NOT EXISTS (SELECT FROM history h WHERE h.tbl = v_name) THEN
        PERFORM set_config('nagar.reason', 'history started: the rows already present', true);
        FOR r IN EXECUTE history_of_groups_sql(p_table::text, v_parent, coalesce(p_fk, ''))
                         || ' ORDER BY 1' LOOP
            IF r.ulb IS NULL THEN
                RAISE EXCEPTION 'history_track_of: rows of % name no row of %', p_table, p_parent
                    USING ERRCODE = '23503';
            END IF;
            PERFORM history_append(v_name, r.ulb, 'BASELINE', '', r.rows);
        END LOOP;
        PERFORM set_config('nagar.reason', '', true);
    END IF;
END
$$;

DO $$
BEGIN
    EXECUTE format('REVOKE EXECUTE ON FUNCTION history_track_of(regclass, regclass, text), '
                   'history_of_groups_sql(text, text, text) FROM PUBLIC, %I',
                   regexp_replace(current_user, '_owner$', '_app'));
END
$$;
