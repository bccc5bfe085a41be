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

-- A payment and its allocation lines, as accounts_define makes it from
-- common/sql/accounts 005's template, but answering its Receipt from the
-- values it has just written instead of reading them back through
-- pt_receipt_json (about a twentieth of a counter payment's instructions):
-- a new payment reverses nothing, nothing reverses it yet, its reason is ''
-- and its lines are the allocation's, in order. Made here, after
-- accounts_define, so that every application of this file makes both in
-- that order. test_property_tax_receipt.py holds the answer to
-- receipt.get's for the same receipt.
CREATE OR REPLACE FUNCTION pt_payment_insert(p_ulb text, p_property text, p_receipt text,
                                             p_counter text, p_mode text, p_ref text,
                                             p_amount bigint, p_today date, p_ledger_seq bigint,
                                             p_recorded_by text, p_allocation pt_allocation)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_payment bigint;
    v_lines jsonb := '[]';
BEGIN
    INSERT INTO payment (ulb, property_id, receipt_no, counter, mode, instrument_ref,
                         amount_paise, paid_on, ledger_seq, recorded_by, advance_after_paise)
    VALUES (p_ulb, p_property, p_receipt, p_counter, p_mode, p_ref, p_amount, p_today,
            p_ledger_seq, p_recorded_by, p_allocation.advance_after)
    RETURNING id INTO v_payment;
    INSERT INTO allocation (payment_id, property_id, ulb, fy, head, kind, amount_paise, paid_on)
    SELECT v_payment, p_property, p_ulb, t.fy, t.head, t.kind, t.amount, p_today
    FROM unnest(p_allocation.fys, p_allocation.heads, p_allocation.kinds, p_allocation.amounts)
         WITH ORDINALITY AS t(fy, head, kind, amount, n)
    ORDER BY t.n;
    FOR i IN 1 .. coalesce(cardinality(p_allocation.amounts), 0) LOOP
        v_lines := v_lines || jsonb_build_object(
            'fy', rule_fy_text(p_allocation.fys[i]),
            'head', CASE WHEN p_allocation.kinds[i] = 'REBATE' THEN 'REBATE'
                         ELSE p_allocation.heads[i] END,
            'amountPaise', p_allocation.amounts[i]);
    END LOOP;
    RETURN jsonb_build_object(
        'receiptNo', p_receipt, 'ulb', p_ulb, 'propertyId', p_property,
        'amountPaise', p_amount, 'mode', p_mode, 'instrumentRef', p_ref,
        'counter', p_counter, 'paidOn', p_today::text,
        'allocations', v_lines,
        'ledgerSeq', p_ledger_seq, 'reversesReceiptNo', '', 'reversedByReceiptNo', '',
        'recordedBy', p_recorded_by, 'reason', '', 'advancePaise', p_allocation.advance_after);
END
$$;

SELECT rules_grant_entry_points();
