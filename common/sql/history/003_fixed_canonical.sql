-- history 003 — the same entries for less: the canonical form written by
-- one format() of the eleven fields, and a statement's rows rendered, its
-- ULBs found and its entry appended in one pass over the transition table.
--
-- requires: append_only
--
-- What an entry holds and how it is hashed do not change (001): the bytes
-- history_canonical returns are chain_canonical's (append_only 002) for the
-- same fields, "<byte length>:<bytes>;" each. chain_canonical, a plpgsql
-- loop over a VARIADIC array, copied the array — megabytes of JSON in a
-- demand chunk's entry — twice for every field after the rows (a chunk of
-- 5,000 bills spent about as long on it as on rendering the rows); a fixed
-- format() copies each field once. tests/system/test_history.py checks the
-- two agree; the verifier (common/history.c) computes them on its own.

CREATE OR REPLACE FUNCTION history_canonical(p_tbl text, p_ulb text, p_seq bigint, p_op text,
                                             p_old text, p_new text, p_actor text, p_role text,
                                             p_request text, p_reason text, p_us bigint)
RETURNS bytea LANGUAGE sql STABLE STRICT AS $$
    SELECT convert_to(format('%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;',
                             octet_length(p_tbl), p_tbl, octet_length(p_ulb), p_ulb,
                             octet_length(p_seq::text), p_seq, octet_length(p_op), p_op,
                             octet_length(p_old), p_old, octet_length(p_new), p_new,
                             octet_length(p_actor), p_actor, octet_length(p_role), p_role,
                             octet_length(p_request), p_request, octet_length(p_reason), p_reason,
                             octet_length(p_us::text), p_us), 'UTF8')
$$;

-- The triggers' function, as 002's: one entry per ULB the statement
-- touched, in ULB order. The rows of each side are read once: their JSON
-- and the lowest and highest ULB together; a statement of one ULB (nearly
-- all: a demand chunk, a payment, an owner change) is appended from that
-- pass, one of several ULBs is grouped per ULB as before.
CREATE OR REPLACE FUNCTION history_record() RETURNS trigger LANGUAGE plpgsql
SET TimeZone = 'UTC' SET search_path FROM CURRENT AS $$
DECLARE
    r record;
    v_old text := '';
    v_new text := '';
    v_low text;
    v_high text;
    v_low2 text;
    v_high2 text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT min(o.ulb), max(o.ulb), json_agg(o)::text INTO v_low, v_high, v_old
          FROM history_old o;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        SELECT min(n.ulb), max(n.ulb), json_agg(n)::text INTO v_low2, v_high2, v_new
          FROM history_new n;
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
