-- history 008 — who a change was made by: the actor a rule names is
-- believed inside a rule only.
--
-- requires: append_only
--
-- A rule function names who acts and why with rule_act() (common/sql/rules),
-- which sets the transaction's nagar.actor, nagar.actor_role,
-- nagar.request_id and nagar.reason; the triggers read them. Until now they
-- read them whoever had set them: with the owner's password (which the
-- threat model gives a taken host) one could set nagar.actor to a real
-- clerk and change an owner directly, the triggers on — the history named
-- the clerk, role CLERK, and `nagarctl verify`, which names a change made
-- outside the rules by its actor "db:<role>", passed.
--
-- Every rule runs as a SECURITY DEFINER function of the service's schema,
-- owned by <svc>_owner, called in the session of the service, <svc>_app:
-- in a rule, current_user is <svc>_owner and session_user <svc>_app. No
-- other session writes through a rule — the owner's (migrations, psql), the
-- superuser's and the reader's have session_user themselves — and the app
-- role writes no tracked table itself (rules 002: rules_lockdown), so its
-- own statements never get here with current_user <svc>_owner. So the
-- settings are believed only when session_user is the app role of the
-- owner the statement runs as; any other change is recorded, as one made
-- outside the rules always was, as actor "db:<session_user>", role
-- DATABASE, and an actor it claimed is kept in its reason ("claimed
-- staff:… (CLERK): …"), so nothing the writer said is lost and verify
-- names it. Migrations' BASELINE entries (history_track, history_track_of)
-- are recorded as before: no actor is set, "db:<owner>".
--
-- Any later CREATE OR REPLACE of history_append or history_record must keep
-- these lines (marked "history 008"). What an entry holds and how it is
-- hashed do not change: the verifier (common/history.c) recomputes the hash
-- from the stored fields, whatever their text.
--
-- Residual: the owner (or the superuser) may still replace these functions
-- for the length of a change — DDL, which pgAudit logs and the function's
-- checksum in nagar_schema_modules does not show. And with the app role's
-- password a rule may be called naming any actor: binding the caller's
-- verified token to the change is a separate step (issue 12/13).

-- Appends one entry to the chain of (p_tbl, p_ulb), as 001's: used by
-- history_track's BASELINE entries and history_record_of (007).
CREATE OR REPLACE FUNCTION history_append(p_tbl text, p_ulb text, p_op text, p_old text,
                                          p_new text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    v_us bigint := floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    v_actor text;
    v_role text;
    v_request text;
    v_reason text;
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

-- The triggers' function, as 006's but for who and why.
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
