-- rules 006 — rule_act (002) in plpgsql: who acts and why, for the
-- history's triggers, set as before (the same four settings, local to the
-- transaction).
--
-- 002 wrote it as an SQL function of one SELECT of four set_config()
-- columns: such a function is never inlined (one column only is), so every
-- call parsed and planned its body afresh through the SQL-function
-- executor — every counter payment's, about 0.1 ms of its 2.5 ms in the
-- database. A plpgsql function keeps its plan for the session.

CREATE OR REPLACE FUNCTION rule_act(p_actor jsonb, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('nagar.actor', coalesce(nullif(p_actor->>'userId', ''), 'system'), true),
            set_config('nagar.actor_role', coalesce(nullif(p_actor->>'role', ''), 'SYSTEM'), true),
            set_config('nagar.request_id', coalesce(p_actor->>'requestId', ''), true),
            set_config('nagar.reason', coalesce(p_reason, ''), true);
END
$$;
