-- accounts 006 — reading and saving versioned master data (property tax's
-- rates, water tax's tariffs: tables master_data_create made), which both
-- services did alike, each in its own copy: a read answers the version
-- asked for or the built-in defaults; a save names who saves it and why,
-- for a ULB and year its role may change, and takes the next version
-- number under a lock, so that two saves racing get two versions.
--
-- requires: rules
--
-- accounts_version_get(actor, req, table, noun, max version, roles, what,
--   defaults, json) — the version accounts_version_id (004) finds, after
--   checking that the actor has one of roles (for `what`); that version as
--   json(version id) answers it, or defaults(ulb, fy) when none is saved.
--   table, defaults and json are the service's own (constants in its rule
--   file, never input).
-- accounts_version_scope(actor, req, action, what) — a save: rule_act with
--   "<action>: <reason>", then the request's "ulb" and "fy" for a
--   REVENUE_OFFICER, COMMISSIONER or STATE_ADMIN of that ULB (rule_ulb_year).
-- accounts_version_next(table, ulb, fy) — the next version number of a
--   ULB's year, with a transaction lock held on it until the save commits.

CREATE OR REPLACE FUNCTION accounts_version_get(p_actor jsonb, p_req jsonb, p_table regclass,
                                                p_noun text, p_max_version integer,
                                                p_roles text[], p_what text,
                                                p_defaults regproc, p_json regproc)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id bigint := accounts_version_id(p_req, p_table, p_noun, p_max_version);
    v_reply jsonb;
BEGIN
    PERFORM rule_require_role(p_actor, p_roles, p_what);
    IF v_id IS NULL THEN
        EXECUTE format('SELECT %s($1, $2)', p_defaults) INTO v_reply
            USING p_req->>'ulb', rule_parse_fy(p_req->>'fy', 'fy');
    ELSE
        EXECUTE format('SELECT %s($1)', p_json) INTO v_reply USING v_id;
    END IF;
    RETURN v_reply;
END
$$;

CREATE OR REPLACE FUNCTION accounts_version_scope(p_actor jsonb, p_req jsonb, p_action text,
                                                  p_what text, OUT ulb text, OUT fy integer)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rule_act(p_actor, p_action || ': ' || coalesce(p_req->>'reason', ''));
    SELECT s.ulb, s.fy INTO ulb, fy
      FROM rule_ulb_year(p_actor, p_req, ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                         p_what) s;
END
$$;

CREATE OR REPLACE FUNCTION accounts_version_next(p_table regclass, p_ulb text, p_fy integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_version integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(p_table::text || ':' || p_ulb || ':' || p_fy));
    EXECUTE format('SELECT coalesce(max(version), 0) + 1 FROM %s WHERE ulb = $1 AND fy = $2',
                   p_table) INTO v_version USING p_ulb, p_fy;
    RETURN v_version;
END
$$;
