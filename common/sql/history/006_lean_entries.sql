-- history 006 — the same entries for less: the constraints of 001 that
-- only the module's own functions could meet are checked by the verifier
-- instead, and the trigger appends its entries itself.
--
-- requires: append_only
--
-- What an entry holds, how it is hashed and the order of a chain do not
-- change (001, 003, 004). What an entry cost, a counter payment writing
-- two (its payment and its allocations, inside the ULB's ledger lock):
--
--   * the CHECK constraints of history and history_head (seq >= 1, op one
--     of four, a 32-byte hash; head seq >= 0, a 32-byte hash). PostgreSQL
--     reads each CHECK's expression back from its stored text and plans it
--     afresh at every statement that writes the table — about a fifth of
--     what an entry cost. Only history_append and this trigger write those
--     tables (the app role may not, 001), and they meet the rules by
--     construction (seq is the head's plus one from 0, op is TG_OP or
--     BASELINE, hash is a sha256); the owner, the one role that could
--     write anything else, could as well drop the constraints. So the
--     rules move to where a tampering owner cannot switch them off: the
--     verifier (common/verify.c) names an entry or a head that breaks any
--     of them, and the chain walk (common/chain.c) recomputes every hash
--     and requires seq 1, 2, ... up to the head, as before.
--   * history_append called through PERFORM, a statement of its own with
--     its own search_path switch: the trigger now runs the append's
--     statement itself (history_append stays, for history_track's BASELINE
--     entries).
--
-- A tracked single-row INSERT cost 592,000 instructions, 102,000 of them
-- untracked (callgrind, scratch database); now 472,000: the history's part
-- of it down by a quarter. A demand chunk's entries cost what they did:
-- rendering and hashing megabytes of rows is nearly all of it.

ALTER TABLE history DROP CONSTRAINT IF EXISTS history_seq_check,
                    DROP CONSTRAINT IF EXISTS history_op_check,
                    DROP CONSTRAINT IF EXISTS history_hash_check;
ALTER TABLE history_head DROP CONSTRAINT IF EXISTS history_head_seq_check,
                         DROP CONSTRAINT IF EXISTS history_head_hash_check;

-- The triggers' function, as 004's: one entry per ULB the statement
-- touched, in ULB order, its rows in the trigger's form; each entry
-- appended here as history_append (001) appends it, who and why read once
-- for the statement.
CREATE OR REPLACE FUNCTION history_record() RETURNS trigger LANGUAGE plpgsql
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 1 SET search_path FROM CURRENT AS $$
DECLARE
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
    v_actor := coalesce(nullif(current_setting('nagar.actor', true), ''),
                        'db:' || session_user);
    v_role := coalesce(nullif(current_setting('nagar.actor_role', true), ''), 'DATABASE');
    v_request := coalesce(current_setting('nagar.request_id', true), '');
    v_reason := coalesce(current_setting('nagar.reason', true), '');
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
                       hash = sha256(hash || history_canonical(TG_TABLE_NAME, v_low, seq + 1,
                                                               TG_OP, v_old, v_new, v_actor,
                                                               v_role, v_request, v_reason, v_us))
                 WHERE tbl = TG_TABLE_NAME AND ulb = v_low
                RETURNING seq, hash)
            INSERT INTO history (tbl, ulb, seq, op, old_rows, new_rows, actor, actor_role,
                                 request_id, reason, recorded_us, hash)
            SELECT TG_TABLE_NAME, v_low, h.seq, TG_OP, v_old, v_new, v_actor, v_role,
                   v_request, v_reason, v_us, h.hash
              FROM h;
            EXIT WHEN FOUND;
            INSERT INTO history_head (tbl, ulb, seq, hash)
                VALUES (TG_TABLE_NAME, v_low, 0, decode(repeat('00', 32), 'hex'))
                ON CONFLICT (tbl, ulb) DO NOTHING;
        END LOOP;
        EXIT WHEN v_ulbs IS NULL;
    END LOOP;
    RETURN NULL;
END
$$;
