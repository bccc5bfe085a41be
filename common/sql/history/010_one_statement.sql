-- history 010 — an entry the cheap way on the money path: a payment's two
-- entries (its row, its allocation's rows) in one statement each, and a
-- chain's head found through its index.
--
-- requires: append_only
--
-- 009's function, measured with callgrind (a single-user backend on a
-- scratch database of 16,000 properties with their demand; the statements
-- of a counter payment as the service sends them; instructions per
-- payment, the difference of a 20- and a 120-payment run): 5,886,000;
-- without the two history triggers 4,876,000. Two changes, each keeping an
-- entry's fields, text and hash as they were:
--
--   * history_head holds one row per table and ULB: a page or two in a
--     town or a benchmark of a few ULBs, which the planner reads whole
--     (cost 2) rather than through its primary key (cost 4 or more), every
--     head and every dead version of one on the way — at every entry. The
--     function plans its statements with enable_seqscan off: the head's
--     key is then its way in, whatever the table's size (no other
--     statement here reads a table: the rows are the trigger's transition
--     tables). -86,000.
--   * An INSERT's rows, all of one ULB whose chain has a head — nearly
--     every entry a rule makes — are read, hashed onto the head and
--     appended in one statement instead of two. Anything else (no row,
--     several ULBs, a chain's first entry, a table of text rows, an UPDATE
--     or DELETE) moves no head there and takes 009's way. With the above:
--     -121,000 (5,765,000).
--
-- Who and why (the lines marked "history 008") are read before the rows
-- now (they read no row), unchanged; the entry's time is taken just before
-- its statement, as before.

CREATE OR REPLACE FUNCTION history_record() RETURNS trigger LANGUAGE plpgsql
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET enable_seqscan = off SET search_path FROM CURRENT AS $$
DECLARE
    v_tbl text := TG_TABLE_NAME;  -- text: compared with name, the head's key is no index
    v_text boolean := TG_NARGS > 0 AND TG_ARGV[0] = 'text';
    v_old text := '';
    v_new text := '';
    v_low text;
    v_high text;
    v_low2 text;
    v_high2 text;
    v_ulbs text[];
    v_olds text[];
    v_news text[];
    v_old_ulbs text[];
    v_old_rows text[];
    v_new_ulbs text[];
    v_new_rows text[];
    v_us bigint;
    v_actor text;
    v_role text;
    v_request text;
    v_reason text;
    i integer;
BEGIN
    -- Who and why (history 008): the actor a rule named, inside a rule only.
    v_actor := coalesce(current_setting('nagar.actor', true), '');
    v_role := coalesce(current_setting('nagar.actor_role', true), '');
    v_request := coalesce(current_setting('nagar.request_id', true), '');
    v_reason := coalesce(current_setting('nagar.reason', true), '');
    IF v_actor = '' OR session_user = current_user
       OR session_user::text <> regexp_replace(current_user::text, '_owner$', '_app') THEN
        IF v_actor <> '' OR v_role <> '' THEN
            v_reason := format('claimed %s (%s)', v_actor, v_role)
                        || CASE WHEN v_reason <> '' THEN ': ' || v_reason ELSE '' END;
        END IF;
        v_actor := 'db:' || session_user;
        v_role := 'DATABASE';
    ELSIF v_role = '' THEN
        v_role := 'DATABASE';
    END IF;
    -- The rows of an INSERT into one ULB whose chain has a head (nearly
    -- every entry a rule makes: a payment, its allocation): read, hashed
    -- onto the head and appended in one statement. Anything else (no row,
    -- several ULBs, the chain's first entry, a table of text rows) finds
    -- no head to move here and takes the general way below, as 009 did.
    IF TG_OP = 'INSERT' AND NOT v_text THEN
        v_us := floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
        WITH n AS (
            SELECT min(r.ulb) AS ulb, max(r.ulb) AS high, json_agg(r)::text AS rows
              FROM history_new r),
        h AS (
            UPDATE history_head SET seq = history_head.seq + 1,
                   hash = sha256(history_head.hash
                                 || history_canonical(v_tbl, n.ulb, history_head.seq + 1,
                                                      'INSERT', '', n.rows, v_actor, v_role,
                                                      v_request, v_reason, v_us))
              FROM n
             WHERE history_head.tbl = v_tbl AND history_head.ulb = n.ulb AND n.high = n.ulb
            RETURNING history_head.seq, history_head.hash, n.ulb, n.rows)
        INSERT INTO history (tbl, ulb, seq, op, old_rows, new_rows, actor, actor_role,
                             request_id, reason, recorded_us, hash)
        SELECT v_tbl, h.ulb, h.seq, 'INSERT', '', h.rows, v_actor, v_role, v_request,
               v_reason, v_us, h.hash
          FROM h;
        IF FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
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
    IF v_low = v_high THEN          -- one ULB (nearly all): appended from that pass
        v_old := coalesce(v_old, '');
        v_new := coalesce(v_new, '');
    ELSE
        -- Several ULBs: each side grouped per ULB, the two sides joined.
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
        SELECT array_agg(coalesce(b.ulb, a.ulb) ORDER BY coalesce(b.ulb, a.ulb)),
               array_agg(coalesce(b.rows, '') ORDER BY coalesce(b.ulb, a.ulb)),
               array_agg(coalesce(a.rows, '') ORDER BY coalesce(b.ulb, a.ulb))
          INTO v_ulbs, v_olds, v_news
          FROM unnest(v_old_ulbs, v_old_rows) AS b(ulb, rows)
          FULL JOIN unnest(v_new_ulbs, v_new_rows) AS a(ulb, rows) ON a.ulb = b.ulb;
        IF v_ulbs IS NULL THEN
            RETURN NULL;            -- no rows on either side (a DELETE or INSERT of none)
        END IF;
    END IF;
    -- The entries: the one ULB's (v_ulbs NULL), or each of v_ulbs in turn.
    -- Each moves its chain's head (the row lock, held to commit, orders
    -- the chain) and inserts the entry in one statement; the head is
    -- created the first time.
    i := 0;
    LOOP
        IF v_ulbs IS NOT NULL THEN
            i := i + 1;
            EXIT WHEN i > cardinality(v_ulbs);
            v_low := v_ulbs[i];
            v_old := v_olds[i];
            v_new := v_news[i];
        END IF;
        v_us := floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
        LOOP
            WITH h AS (
                UPDATE history_head SET seq = seq + 1,
                       hash = sha256(hash || history_canonical(v_tbl, v_low, seq + 1,
                                                               TG_OP, v_old, v_new, v_actor,
                                                               v_role, v_request, v_reason, v_us))
                 WHERE tbl = v_tbl AND ulb = v_low
                RETURNING seq, hash)
            INSERT INTO history (tbl, ulb, seq, op, old_rows, new_rows, actor, actor_role,
                                 request_id, reason, recorded_us, hash)
            SELECT v_tbl, v_low, h.seq, TG_OP, v_old, v_new, v_actor, v_role,
                   v_request, v_reason, v_us, h.hash
              FROM h;
            EXIT WHEN FOUND;
            INSERT INTO history_head (tbl, ulb, seq, hash)
                VALUES (v_tbl, v_low, 0, decode(repeat('00', 32), 'hex'))
                ON CONFLICT (tbl, ulb) DO NOTHING;
        END LOOP;
        EXIT WHEN v_ulbs IS NULL;
    END LOOP;
    RETURN NULL;
END
$$;
