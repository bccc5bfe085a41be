-- rules 003 — what the rule functions of several services checked each in
-- their own copy: a record id's form, whether the actor may reach a record
-- (or a batch job), and the ULB and year a staff report or master-data
-- read is about.
--
-- requires: audit
--
-- rule_id_arg(id, field, pattern, example) — the id, or NRINV naming the
--   field and showing an example ("propertyId must be a property id such as
--   802462-005-000123").
-- rule_check_reach(actor, found, ulb, held, field, missing) — NRNFD with the
--   message `missing` unless the record was found and the actor may reach
--   it: a STATE_ADMIN anything; a CITIZEN what they hold (held: owner,
--   consumer, applicant — the caller works it out, for citizens only); other
--   staff what belongs to their own ULB (a record of no ULB, such as a job
--   over every ULB, to nobody else). A record the actor may not reach is
--   answered exactly as one that does not exist (issue 12: no 403 that
--   confirms it exists).
-- rule_ulb_scope(actor, req, roles, what) — the request's "ulb", checked,
--   then the actor's role (one of roles, for `what`) and reach
--   (rule_check_ulb: staff of that ULB or a STATE_ADMIN);
-- rule_ulb_year(actor, req, roles, what) — the same and the request's "fy".
-- rule_batch_scope(actor, req, what, every) — the ULB a batch job (the
--   annual demand, a month's bills) is started for: REVENUE_OFFICER,
--   COMMISSIONER or STATE_ADMIN of it; no "ulb" (NULL) means every ULB,
--   which only a STATE_ADMIN may start (NRDEN with the message `every`).

CREATE OR REPLACE FUNCTION rule_id_arg(p_id text, p_field text, p_pattern text, p_example text)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_id IS NULL OR p_id !~ p_pattern THEN
        PERFORM rule_fail('NRINV', p_field, format('%s must be %s', p_field, p_example));
    END IF;
    RETURN p_id;
END
$$;

CREATE OR REPLACE FUNCTION rule_check_reach(p_actor jsonb, p_found boolean, p_ulb text,
                                            p_held boolean, p_field text, p_missing text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_reached boolean := CASE coalesce(p_actor->>'role', '')
                             WHEN 'STATE_ADMIN' THEN true
                             WHEN 'CITIZEN' THEN coalesce(p_held, false)
                             ELSE coalesce(p_actor->>'ulb', '') = p_ulb END;
BEGIN
    IF NOT coalesce(p_found, false) OR NOT coalesce(v_reached, false) THEN
        PERFORM rule_fail('NRNFD', p_field, p_missing);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION rule_ulb_scope(p_actor jsonb, p_req jsonb, p_roles text[], p_what text)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v_ulb text := rule_ulb_arg(p_req->>'ulb', 'ulb');
BEGIN
    PERFORM rule_require_role(p_actor, p_roles, p_what);
    PERFORM rule_check_ulb(p_actor, v_ulb);
    RETURN v_ulb;
END
$$;

CREATE OR REPLACE FUNCTION rule_ulb_year(p_actor jsonb, p_req jsonb, p_roles text[], p_what text,
                                         OUT ulb text, OUT fy integer)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    ulb := rule_ulb_arg(p_req->>'ulb', 'ulb');
    fy := rule_parse_fy(p_req->>'fy', 'fy');
    ulb := rule_ulb_scope(p_actor, p_req, p_roles, p_what);
END
$$;

CREATE OR REPLACE FUNCTION rule_batch_scope(p_actor jsonb, p_req jsonb, p_what text, p_every text)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v_ulb text := nullif(coalesce(p_req->>'ulb', ''), '');
BEGIN
    PERFORM rule_require_role(p_actor, ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                              p_what);
    IF v_ulb IS NULL THEN
        IF p_actor->>'role' <> 'STATE_ADMIN' THEN
            PERFORM rule_fail('NRDEN', 'ulb', p_every);
        END IF;
    ELSE
        PERFORM rule_ulb_arg(v_ulb, 'ulb');
        PERFORM rule_check_ulb(p_actor, v_ulb);
    END IF;
    RETURN v_ulb;
END
$$;
