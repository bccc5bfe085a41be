-- online.sql — online payments: the order the consumer pays through the
-- provider, and the provider's signed callback that records it once. The
-- flows and entry points (wt_online_initiate, wt_online_get,
-- wt_online_callback) are common/sql/accounts 003 and 005's, made for
-- the connection in account.sql; here is what it owes now.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- What the connection owes now, after its credit (p_ulb and p_today: the
-- call is the same for every account, accounts 005; water charges have no
-- rebate that depends on them).
CREATE OR REPLACE FUNCTION wt_payable(p_connection text, p_ulb text, p_today date) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT ((SELECT coalesce(sum(l.outstanding_paise), 0) FROM wt_dues_lines(p_connection) l)
            - wt_advance_of(p_connection))::bigint
$$;

-- Gone to common/sql/accounts 003.
DROP FUNCTION IF EXISTS wt_order_json(text);
DROP FUNCTION IF EXISTS wt_online_callback_check(jsonb, date);
DROP FUNCTION IF EXISTS wt_online_callback_prepare(jsonb, date);
DROP FUNCTION IF EXISTS wt_online_mark_paid(text, text, text);
-- Called with the ULB and the day since accounts 005.
DROP FUNCTION IF EXISTS wt_payable(text);

SELECT rules_grant_entry_points();
