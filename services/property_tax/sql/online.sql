-- online.sql — online payments: the order the citizen pays through the
-- provider, and the provider's signed callback that records it once. The
-- flows are common/sql/accounts 003's, for the property (pt_account_kind).
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- What the property owes now, after its credit and the rebate a payment in
-- full would earn today.
CREATE OR REPLACE FUNCTION pt_payable(p_property text, p_ulb text, p_today date) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT ((SELECT coalesce(sum(l.outstanding_paise), 0) FROM pt_dues_lines(p_property, p_today) l)
            - pt_advance_of(p_property) - pt_rebate_for(p_property, p_ulb, p_today))::bigint
$$;

CREATE OR REPLACE FUNCTION pt_online_initiate(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE p property;
BEGIN
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    RETURN accounts_online_initiate('pt', p_actor, p_req, p.ulb, p.property_id,
                                    pt_payable(p.property_id, p.ulb, p_today));
END
$$;

CREATE OR REPLACE FUNCTION pt_online_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT accounts_online_get('pt', p_actor, p_req)
$$;

-- The provider's callback, verified by the C side, recorded once
-- (accounts_online_callback).
CREATE OR REPLACE FUNCTION pt_online_callback(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT accounts_online_callback('pt', p_actor, p_req, p_today)
$$;

-- Gone to common/sql/accounts 003.
DROP FUNCTION IF EXISTS pt_order_json(text);
DROP FUNCTION IF EXISTS pt_online_callback_check(jsonb, date);
DROP FUNCTION IF EXISTS pt_online_callback_prepare(jsonb, date);
DROP FUNCTION IF EXISTS pt_online_mark_paid(text, text, text);

SELECT rules_grant_entry_points();
