-- rules 002 — the app role writes through the rules only.
--
-- requires: audit
--
-- A service that keeps money, ownership or registrations gives its app role
-- no INSERT, UPDATE or DELETE on those tables and no EXECUTE on anything but
-- its rule functions: the ones it calls, each declared SECURITY DEFINER
-- (SET search_path FROM CURRENT: the schema, then pg_temp), which check the
-- business rule and record who acted and why. Ledger primitives, history,
-- receipt numbers and the helpers stay out of the app role's reach.
--
-- rule_act(actor, reason) names who acts and why for the rest of the
-- transaction (the history triggers and rule_audit read it);
-- rules_lockdown() takes the app role's writes and EXECUTE away (its
-- migration then grants back what the C code writes itself: idempotency
-- records, the outbox); rules_grant_entry_points() lets the app role EXECUTE
-- exactly the SECURITY DEFINER functions of the schema, and is called again
-- by every rule file after it is applied.

CREATE OR REPLACE FUNCTION rule_act(p_actor jsonb, p_reason text) RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('nagar.actor', coalesce(nullif(p_actor->>'userId', ''), 'system'), true),
           set_config('nagar.actor_role', coalesce(nullif(p_actor->>'role', ''), 'SYSTEM'), true),
           set_config('nagar.request_id', coalesce(p_actor->>'requestId', ''), true),
           set_config('nagar.reason', coalesce(p_reason, ''), true)
$$;

-- One row of the audit trail for a change made on the actor's behalf.
CREATE OR REPLACE FUNCTION rule_audit(p_actor jsonb, p_ulb text, p_action text, p_subject text,
                                      p_detail jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO audit (actor, actor_role, ulb, action, subject, detail, request_id)
    VALUES (coalesce(nullif(p_actor->>'userId', ''), 'system'),
            coalesce(nullif(p_actor->>'role', ''), 'SYSTEM'), p_ulb, p_action, p_subject, p_detail,
            coalesce(p_actor->>'requestId', ''))
$$;

CREATE OR REPLACE FUNCTION rules_grant_entry_points() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_app text := regexp_replace(current_user, '_owner$', '_app');
    f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS signature, p.prosecdef
               FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace LOOP
        IF f.prosecdef THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f.signature, v_app);
        ELSE
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %I', f.signature, v_app);
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION rules_lockdown() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_app text := regexp_replace(current_user, '_owner$', '_app');
BEGIN
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE INSERT, UPDATE, DELETE, TRUNCATE '
                   'ON TABLES FROM %I', current_schema(), v_app);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE EXECUTE ON FUNCTIONS FROM %I',
                   current_schema(), v_app);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA %I FROM %I',
                   current_schema(), v_app);
    PERFORM rules_grant_entry_points();
END
$$;
