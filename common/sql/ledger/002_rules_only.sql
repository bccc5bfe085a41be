-- ledger 002 — ledger_append is a primitive the rules call, not the app
-- role: it runs with its caller's rights (a rule function, which runs as
-- the owner), and the app role may not EXECUTE it or ledger_canonical. A
-- payment, a reversal or an online payment is recorded by the service's
-- rule function, which checks it and then appends.

ALTER FUNCTION ledger_append(text, text, text, text, text, bigint, text) SECURITY INVOKER;
DO $$
BEGIN
    EXECUTE format('REVOKE EXECUTE ON FUNCTION ledger_append(text, text, text, text, text, bigint, '
                   'text), ledger_canonical(text, bigint, text, text, text, text, bigint, text, '
                   'bigint) FROM %I', regexp_replace(current_user, '_owner$', '_app'));
END
$$;
