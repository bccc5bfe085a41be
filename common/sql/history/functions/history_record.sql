-- history_record(), the tracked tables' trigger function, as it stands: a
-- change to it is made here, in place (a module's functions/ file, applied
-- again whenever it changes; common/migrate.h). 001 to 010 keep the
-- versions databases ran before, each restated whole.
--
-- One entry per statement and ULB: the rows of each side as JSON (or as
-- each row's text, for a table tracked with 'text'), who and why, the time,
-- hashed onto the chain's head (history_head, whose row lock orders the
-- chain) and appended to history. An INSERT's rows of one ULB whose chain
-- has a head, nearly every entry a rule makes, take one statement (010);
-- anything else the general way below. The settings fix the rows' text
-- whoever writes; enable_seqscan off, because a chain's head must be found
-- through its key however few heads there are (009).

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
    -- Who and why (history 008): the actor a rule named, inside a rule
    -- only: the owner role acting for its own app role's session
    -- (<svc>_owner for <svc>_app), compared as text (a regular expression
    -- here cost a payment's two entries 19,000 instructions).
    v_actor := coalesce(current_setting('nagar.actor', true), '');
    v_role := coalesce(current_setting('nagar.actor_role', true), '');
    v_request := coalesce(current_setting('nagar.request_id', true), '');
    v_reason := coalesce(current_setting('nagar.reason', true), '');
    IF v_actor = '' OR right(current_user::text, 6) <> '_owner'
       OR session_user::text <> left(current_user::text, -6) || '_app' THEN
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
