-- idempotency 002 — idempotency_lookup is an entry point of the app role
-- (SECURITY DEFINER), so a service whose app role may EXECUTE only its rule
-- functions (common/sql/rules, rules_lockdown) can still look keys up.

CREATE OR REPLACE FUNCTION idempotency_lookup(p_actor text, p_key text)
RETURNS TABLE (method text, request_hash text, reply text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_actor || chr(31) || p_key, 7));
    RETURN QUERY SELECT i.method, encode(i.request_hash, 'hex'), encode(i.reply, 'hex')
                 FROM idempotency i WHERE i.actor = p_actor AND i.key = p_key;
END
$$;
