-- rules 001 — the helpers every service's rule functions are written with
-- (common/service_rules.h runs the rules as bus methods).
--
-- requires: audit
--
-- A rule is a SQL function f(actor jsonb, request jsonb, today date) that
-- checks the actor's reach, validates every field and answers the reply
-- message in proto3 JSON. It fails through rule_fail() with one of these
-- SQLSTATEs, the offending field's JSON path as DETAIL:
--
--     NRINV invalid argument   NRNFD not found   NRDEN permission denied
--     NRCON conflict           NRPRE failed precondition
--
-- The actor is {"userId", "role", "ulb"} as the service verified it.
-- Financial years are integers here (2026 for 2026-27) and "2026-27" in
-- messages; dates and timestamps cross the boundary as ISO 8601 text.

-- ---- errors -------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION rule_fail(p_code text, p_field text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', p_message USING ERRCODE = p_code, DETAIL = coalesce(p_field, '');
END
$$;

-- ---- financial years and dates ------------------------------------------------------

CREATE OR REPLACE FUNCTION rule_fy_text(p_fy integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT p_fy::text || '-' || lpad(((p_fy + 1) % 100)::text, 2, '0')
$$;

CREATE OR REPLACE FUNCTION rule_fy_of(p_date date) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN extract(month FROM p_date) >= 4 THEN extract(year FROM p_date)::integer
                ELSE extract(year FROM p_date)::integer - 1 END
$$;

CREATE OR REPLACE FUNCTION rule_parse_fy(p_text text, p_field text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v integer;
BEGIN
    IF p_text IS NULL OR p_text !~ '^(20[0-9]{2})-[0-9]{2}$' THEN
        PERFORM rule_fail('NRINV', p_field, format('%s must be a financial year such as 2026-27, not "%s"',
                                                   p_field, coalesce(p_text, '')));
    END IF;
    v := substr(p_text, 1, 4)::integer;
    IF substr(p_text, 6, 2) <> lpad(((v + 1) % 100)::text, 2, '0') THEN
        PERFORM rule_fail('NRINV', p_field, format('%s "%s" is not a financial year: after %s comes %s',
                                                   p_field, p_text, v, rule_fy_text(v)));
    END IF;
    RETURN v;
END
$$;

CREATE OR REPLACE FUNCTION rule_parse_date(p_text text, p_field text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_text IS NULL OR p_text !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
        PERFORM rule_fail('NRINV', p_field, format('%s must be a date YYYY-MM-DD, not "%s"', p_field,
                                                   coalesce(p_text, '')));
    END IF;
    RETURN p_text::date;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    PERFORM rule_fail('NRINV', p_field, format('%s "%s" is not a calendar date', p_field, p_text));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION rule_ts(p_at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- ---- fields ---------------------------------------------------------------------------

-- Text of 0..max characters (min..max when min > 0) without control characters.
CREATE OR REPLACE FUNCTION rule_text(p_value text, p_field text, p_min integer, p_max integer)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v text := coalesce(p_value, '');
BEGIN
    IF char_length(v) < p_min OR char_length(v) > p_max OR v ~ '[[:cntrl:]]' THEN
        PERFORM rule_fail('NRINV', p_field,
                          format('%s must be %s to %s characters without control characters', p_field,
                                 p_min, p_max));
    END IF;
    RETURN v;
END
$$;

-- An integer in [min, max]; absent (proto3 default) is 0.
CREATE OR REPLACE FUNCTION rule_int(p_value jsonb, p_field text, p_min bigint, p_max bigint)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v numeric;
BEGIN
    IF p_value IS NULL OR p_value = 'null'::jsonb THEN
        v := 0;
    ELSE
        v := (p_value #>> '{}')::numeric;
    END IF;
    IF v <> trunc(v) OR v < p_min OR v > p_max THEN
        PERFORM rule_fail('NRINV', p_field, format('%s must be a whole number from %s to %s, not %s',
                                                   p_field, p_min, p_max, v));
    END IF;
    RETURN v::bigint;
EXCEPTION WHEN invalid_text_representation THEN
    PERFORM rule_fail('NRINV', p_field, format('%s must be a whole number', p_field));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION rule_enum(p_value text, p_field text, p_allowed text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR NOT p_value = ANY (p_allowed) THEN
        PERFORM rule_fail('NRINV', p_field, format('%s must be one of %s', p_field,
                                                   array_to_string(p_allowed, ', ')));
    END IF;
    RETURN p_value;
END
$$;

CREATE OR REPLACE FUNCTION rule_ulb_arg(p_value text, p_field text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR p_value !~ '^[0-9]{1,10}$' THEN
        PERFORM rule_fail('NRINV', p_field, format('%s must be the LGD code of a ULB (1 to 10 digits)',
                                                   p_field));
    END IF;
    RETURN p_value;
END
$$;

-- ---- actors -------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION rule_require_role(p_actor jsonb, p_roles text[], p_what text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce(p_actor->>'userId', '') = '' OR NOT coalesce(p_actor->>'role', '') = ANY (p_roles) THEN
        PERFORM rule_fail('NRDEN', NULL, format('%s needs one of the roles %s', p_what,
                                                array_to_string(p_roles, ', ')));
    END IF;
END
$$;

-- Staff act within their own ULB; a STATE_ADMIN anywhere.
CREATE OR REPLACE FUNCTION rule_check_ulb(p_actor jsonb, p_ulb text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_actor->>'role' = 'STATE_ADMIN' THEN
        RETURN;
    END IF;
    IF p_actor->>'role' = 'CITIZEN' OR coalesce(p_actor->>'ulb', '') <> p_ulb THEN
        PERFORM rule_fail('NRDEN', NULL, format('a %s of ULB %s may not act on the data of ULB %s',
                                                coalesce(p_actor->>'role', ''),
                                                coalesce(nullif(p_actor->>'ulb', ''), '(none)'), p_ulb));
    END IF;
END
$$;

-- One row of the audit trail for a change made on the actor's behalf.
CREATE OR REPLACE FUNCTION rule_audit(p_actor jsonb, p_ulb text, p_action text, p_subject text,
                                      p_detail jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO audit (actor, actor_role, ulb, action, subject, detail)
    VALUES (coalesce(nullif(p_actor->>'userId', ''), 'system'),
            coalesce(nullif(p_actor->>'role', ''), 'SYSTEM'), p_ulb, p_action, p_subject, p_detail)
$$;

-- ---- the older layout ---------------------------------------------------------------

-- Drops the copies of these helpers that a service database of the older
-- layout kept under its own prefix (pt_fail, wt_text, ...), with its
-- <prefix>_idempotency_lookup (now idempotency_lookup). Its migration that
-- retires the older layout calls it; on a newer database it drops nothing.
CREATE OR REPLACE FUNCTION rules_retire_copies(p_prefix text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_signature text;
BEGIN
    FOREACH v_signature IN ARRAY ARRAY[
        'fail(text, text, text)', 'fy_text(integer)', 'fy_of(date)', 'parse_fy(text, text)',
        'parse_date(text, text)', 'text(text, text, integer, integer)',
        'int(jsonb, text, bigint, bigint)', 'enum(text, text, text[])', 'ulb_arg(text, text)',
        'ts(timestamptz)', 'require_role(jsonb, text[], text)', 'check_ulb(jsonb, text)',
        'audit(jsonb, text, text, text, jsonb)', 'idempotency_lookup(text, text)']
    LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %I%s', p_prefix || '_' || split_part(v_signature, '(', 1),
                       '(' || split_part(v_signature, '(', 2));
    END LOOP;
END
$$;
