-- account.sql — property tax's account is the property: what it is
-- (pt_account_kind, for common/sql/accounts 003 and 005) and who holds one
-- (pt_held_by), and the functions every service that keeps accounts
-- shares, made here from accounts 005's templates with the property's
-- names: pt_property_for (the one check of who may see or act on one),
-- pt_advance_of, pt_account_visible, pt_payment_insert, pt_payment_apply
-- and the entry points pt_dues, pt_payment_record, pt_receipt_get,
-- pt_payment_reverse, pt_online_initiate, pt_online_get,
-- pt_online_callback. This file sorts first, so they exist before the rule
-- files that call them. What is the property's own (pt_payment_prepare,
-- pt_payment_allocate, pt_payable, pt_dues_json, pt_receipt_json,
-- pt_contact) is in payment.sql, online.sql and dues.sql.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- lines: the allocation's columns a payment fills, from pt_allocation's
-- arrays (migrations/001).
CREATE OR REPLACE FUNCTION pt_account_kind() RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"prefix": "pt", "table": "property", "column": "property_id", "key": "propertyId",
             "noun": "property", "title": "property",
             "idPattern": "^[0-9]{1,10}-[0-9]{3}-[0-9]{6}$",
             "idExample": "a property id such as 802462-005-000123",
             "lines": [["fy", "fys"], ["head", "heads"], ["kind", "kinds"]]}'::jsonb
$$;

-- A citizen holds the properties they are an owner of.
CREATE OR REPLACE FUNCTION pt_held_by(p property, p_user text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT FROM property_owner o WHERE o.property_id = p.property_id
                                                   AND o.user_id = p_user)
$$;

SELECT accounts_define(pt_account_kind());

SELECT rules_grant_entry_points();
