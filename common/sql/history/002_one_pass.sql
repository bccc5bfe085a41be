-- history 002 — the same entries, written in one pass: the canonical form
-- through chain_canonical (common/sql/append_only 002, the ledger's too;
-- history_append (001) hashes through it unchanged), the rows' text
-- compressed with lz4, a statement of one ULB rendered without grouping.
--
-- requires: append_only
--
-- What an entry holds and how it is hashed do not change (001). What made
-- an entry of a large statement (a demand chunk: 5,000 bills, 20,000
-- demand lines, 5 MB of JSON) cost more than the statement itself was
-- history_canonical's `a || b || ...`, which copied the text built so far
-- once per operator, and pglz compressing the rows' text when it was
-- stored; lz4 does that about ten times faster (at a little more space).

DO $$
BEGIN
    ALTER TABLE history ALTER COLUMN old_rows SET COMPRESSION lz4,
                        ALTER COLUMN new_rows SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;   -- a server built without lz4 keeps pglz
END
$$;

CREATE OR REPLACE FUNCTION history_canonical(p_tbl text, p_ulb text, p_seq bigint, p_op text,
                                             p_old text, p_new text, p_actor text, p_role text,
                                             p_request text, p_reason text, p_us bigint)
RETURNS bytea LANGUAGE sql STABLE STRICT AS $$
    SELECT chain_canonical(p_tbl, p_ulb, p_seq::text, p_op, p_old, p_new, p_actor, p_role,
                           p_request, p_reason, p_us::text)
$$;

-- The triggers' function, as 001's: one entry per ULB the statement touched.
-- A statement of one ULB (a demand chunk, a payment: nearly all) renders
-- its rows without grouping them, which would sort them first.
CREATE OR REPLACE FUNCTION history_record() RETURNS trigger LANGUAGE plpgsql
SET TimeZone = 'UTC' SET search_path FROM CURRENT AS $$
DECLARE
    r record;
    v_low text;
    v_high text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT min(n.ulb), max(n.ulb) INTO v_low, v_high FROM history_new n;
        IF v_low = v_high THEN
            PERFORM history_append(TG_TABLE_NAME, v_low, 'INSERT', '',
                                   (SELECT json_agg(n)::text FROM history_new n));
            RETURN NULL;
        END IF;
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
