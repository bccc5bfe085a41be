-- online.sql — online payments: the order the citizen pays through the
-- provider, and the provider's signed callback that records it once. The
-- flows and entry points (pt_online_initiate, pt_online_get,
-- pt_online_callback) are common/sql/accounts 003 and 005's, made for
-- the property in account.sql; here is what it owes now.
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

-- Gone to common/sql/accounts 003.
DROP FUNCTION IF EXISTS pt_order_json(text);
DROP FUNCTION IF EXISTS pt_online_callback_check(jsonb, date);
DROP FUNCTION IF EXISTS pt_online_callback_prepare(jsonb, date);
DROP FUNCTION IF EXISTS pt_online_mark_paid(text, text, text);

SELECT rules_grant_entry_points();
