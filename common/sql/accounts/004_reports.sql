-- accounts 004 — what the reads of every service that keeps accounts
-- did alike, each in its own copy: the day's collection of a ULB by counter
-- and mode (from the payment table accounts_install made, whose columns are
-- the same in every service), and which version of a ULB's year of
-- versioned master data (rates, a tariff) a read asks for.
--
-- requires: rules
--
-- accounts_daily_collection(ulb, date) answers
--   {"ulb", "date", "rows": [{"counter", "mode", "receipts", "amountPaise"}],
--    "totalPaise"}
-- (rows by counter, then mode; a reversal counts as a receipt of negative
-- amount, as it is one). The caller has checked who asks (rule_ulb_scope).
-- plpgsql, so that it can be created before the service's first migration
-- makes the payment table (modules are applied first).

CREATE OR REPLACE FUNCTION accounts_daily_collection(p_ulb text, p_date date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('ulb', p_ulb, 'date', p_date::text,
                'rows', coalesce(jsonb_agg(jsonb_build_object('counter', g.counter, 'mode', g.mode,
                                           'receipts', g.receipts, 'amountPaise', g.amount)
                                           ORDER BY g.counter, g.mode), '[]'),
                'totalPaise', coalesce(sum(g.amount), 0))
            FROM (SELECT p.counter, p.mode, count(*) AS receipts, sum(p.amount_paise) AS amount
                  FROM payment p WHERE p.ulb = p_ulb AND p.paid_on = p_date
                  GROUP BY p.counter, p.mode) g);
END
$$;

-- The id of the version of a ULB's year of versioned master data (property
-- tax's rate_version, water tax's tariff_version: tables with ulb, fy,
-- version, id) that a read asks for: "version" 0 (or none) is the newest,
-- NULL when none is saved (the caller answers its defaults); another that
-- is not saved is NRNFD naming "version". "ulb" and "fy" are checked
-- first. p_table is the service's own table (a constant in its rule file,
-- never input); p_noun names the data in the message.
CREATE OR REPLACE FUNCTION accounts_version_id(p_req jsonb, p_table regclass, p_noun text,
                                               p_max_version integer) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_ulb text := rule_ulb_arg(p_req->>'ulb', 'ulb');
    v_fy integer := rule_parse_fy(p_req->>'fy', 'fy');
    v_version integer := rule_int(p_req->'version', 'version', 0, p_max_version);
    v_id bigint;
BEGIN
    IF v_version = 0 THEN
        EXECUTE format('SELECT id FROM %s WHERE ulb = $1 AND fy = $2 ORDER BY version DESC LIMIT 1',
                       p_table) INTO v_id USING v_ulb, v_fy;
        RETURN v_id;
    END IF;
    EXECUTE format('SELECT id FROM %s WHERE ulb = $1 AND fy = $2 AND version = $3', p_table)
        INTO v_id USING v_ulb, v_fy, v_version;
    IF v_id IS NULL THEN
        PERFORM rule_fail('NRNFD', 'version', format('ULB %s has no %s version %s for %s', v_ulb,
                                                     p_noun, v_version, rule_fy_text(v_fy)));
    END IF;
    RETURN v_id;
END
$$;
