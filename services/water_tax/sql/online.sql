-- online.sql — online payments: the order the consumer pays through the
-- provider, and the provider's signed callback that records it once. The
-- flows are common/sql/accounts 003's, for the connection (wt_account_kind).
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- What the connection owes now, after its credit.
CREATE OR REPLACE FUNCTION wt_payable(p_connection text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT ((SELECT coalesce(sum(l.outstanding_paise), 0) FROM wt_dues_lines(p_connection) l)
            - wt_advance_of(p_connection))::bigint
$$;

CREATE OR REPLACE FUNCTION wt_online_initiate(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE c connection;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    RETURN accounts_online_initiate('wt', p_actor, p_req, c.ulb, c.connection_id,
                                    wt_payable(c.connection_id));
END
$$;

CREATE OR REPLACE FUNCTION wt_online_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT accounts_online_get('wt', p_actor, p_req)
$$;

-- The provider's callback, verified by the C side, recorded once
-- (accounts_online_callback).
CREATE OR REPLACE FUNCTION wt_online_callback(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT accounts_online_callback('wt', p_actor, p_req, p_today)
$$;

-- Gone to common/sql/accounts 003.
DROP FUNCTION IF EXISTS wt_order_json(text);
DROP FUNCTION IF EXISTS wt_online_callback_check(jsonb, date);
DROP FUNCTION IF EXISTS wt_online_callback_prepare(jsonb, date);
DROP FUNCTION IF EXISTS wt_online_mark_paid(text, text, text);

SELECT rules_grant_entry_points();
