-- account.sql — water charges' account is the connection: what it is
-- (wt_account_kind, for common/sql/accounts 003 and 005) and who holds one
-- (wt_held_by), and the functions every service that keeps accounts
-- shares, made here from accounts 005's templates with the connection's
-- names: wt_connection_for (the one check of who may see or act on one),
-- wt_advance_of, wt_account_visible, wt_payment_insert, wt_payment_apply
-- and the entry points wt_dues, wt_payment_record, wt_receipt_get,
-- wt_payment_reverse, wt_online_initiate, wt_online_get,
-- wt_online_callback. This file sorts first, so they exist before the rule
-- files that call them. What is the connection's own (wt_payment_prepare,
-- wt_payment_allocate, wt_payable, wt_dues_json, wt_receipt_json,
-- wt_contact) is in payment.sql, online.sql and dues.sql.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- lines: the allocation's columns a payment fills, from wt_allocation's
-- arrays (migrations/001). The online order answers no "ulb".
CREATE OR REPLACE FUNCTION wt_account_kind() RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"prefix": "wt", "table": "connection", "column": "connection_id",
             "key": "connectionId", "noun": "connection", "orderOmits": ["ulb"],
             "title": "water connection",
             "idPattern": "^[0-9]{1,10}-W[0-9]{3}-[0-9]{6}$",
             "idExample": "a connection id such as 802462-W005-000123",
             "lines": [["ref", "refs"], ["head", "heads"], ["charged_on", "dates"]]}'::jsonb
$$;

-- A citizen holds the connections in their name.
CREATE OR REPLACE FUNCTION wt_held_by(c connection, p_user text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT c.user_id = p_user
$$;

SELECT accounts_define(wt_account_kind());

SELECT rules_grant_entry_points();
