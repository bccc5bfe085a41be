-- payment.sql — what is the property's own in counter payments, receipts
-- and reversals: its payer's contact, a receipt's lines, a payment's checks
-- and how it settles the dues (pt_payment_allocate: rebate, oldest year
-- first, the rest as advance). The flows (pt_payment_record: checks,
-- allocation, receipt number, ledger row, payment in one call; receipts;
-- reversals) are common/sql/accounts 003 and 005's, made in account.sql.
-- Locks are taken in one order: [online order,] property, receipt counter,
-- the ULB's ledger head.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- The first owner's mobile and account, for notifications.
CREATE OR REPLACE FUNCTION pt_contact(p_property text) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE o property_owner;
BEGIN
    SELECT * INTO o FROM property_owner WHERE property_id = p_property ORDER BY ordinal LIMIT 1;
    RETURN jsonb_build_object('ownerMobile', coalesce(o.mobile, ''), 'ownerUserId', coalesce(o.user_id, ''));
END
$$;

-- A Receipt: accounts_receipt_json's fields (common/sql/accounts 003, which
-- water tax uses), read here in one statement with the property's id as
-- the column it is: that function finds the account in to_jsonb(row) and
-- reads the payment again (a payment's receipt is made on every payment;
-- this way it costs three quarters). test_property_tax_receipt.py holds the
-- two to the same answer. plpgsql, not SQL: an SQL function with a
-- subquery is never inlined, and was planned afresh at every call.
CREATE OR REPLACE FUNCTION pt_receipt_json(p_payment_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
        'receiptNo', p.receipt_no, 'ulb', p.ulb, 'propertyId', p.property_id,
        'amountPaise', p.amount_paise, 'mode', p.mode, 'instrumentRef', p.instrument_ref,
        'counter', p.counter, 'paidOn', p.paid_on::text,
        'allocations', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                            'fy', rule_fy_text(a.fy),
                                            'head', CASE WHEN a.kind = 'REBATE' THEN 'REBATE'
                                                         ELSE a.head END,
                                            'amountPaise', a.amount_paise) ORDER BY a.id)
                                 FROM allocation a WHERE a.payment_id = p.id), '[]'),
        'ledgerSeq', p.ledger_seq,
        'reversesReceiptNo', coalesce((SELECT o.receipt_no FROM payment o
                                       WHERE o.id = p.reverses_payment_id), ''),
        'reversedByReceiptNo', coalesce((SELECT r.receipt_no FROM payment r
                                         WHERE r.reverses_payment_id = p.id), ''),
        'recordedBy', p.recorded_by, 'reason', p.reason, 'advancePaise', p.advance_after_paise)
    FROM payment p WHERE p.id = p_payment_id);
END
$$;

-- Checks a counter payment before its receipt number and ledger row are
-- taken; answers what those need.
CREATE OR REPLACE FUNCTION pt_payment_prepare(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE p property;
BEGIN
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    RETURN accounts_payment_fields(p_req)
           || jsonb_build_object('ulb', p.ulb, 'fy', rule_fy_text(rule_fy_of(p_today)),
                                 'propertyId', p.property_id)
           || pt_contact(p.property_id);
END
$$;

CREATE OR REPLACE FUNCTION pt_payment_allocate(p_property text, p_ulb text, p_amount bigint, p_today date)
RETURNS pt_allocation LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_fy integer := rule_fy_of(p_today);
    v_fys integer[] := '{}';
    v_heads text[] := '{}';
    v_kinds text[] := '{}';
    v_amounts bigint[] := '{}';
    v_line_fys integer[] := '{}';
    v_line_heads text[] := '{}';
    v_line_dues bigint[] := '{}';
    v_outstanding bigint := 0;
    v_credit bigint := pt_advance_of(p_property);
    v_available bigint := p_amount + v_credit;
    v_rebate bigint := pt_rebate_for(p_property, p_ulb, p_today);
    v_due bigint;
    v_take bigint;
    l record;
BEGIN
    -- The lines, oldest year first and in apportionment order, read once
    -- (three ordered aggregates over them sorted them three times).
    FOR l IN SELECT d.fy, d.head, d.outstanding_paise FROM pt_dues_lines(p_property, p_today) d
             ORDER BY d.fy, d.ord LOOP
        v_line_fys := v_line_fys || l.fy;
        v_line_heads := v_line_heads || l.head;
        v_line_dues := v_line_dues || l.outstanding_paise;
        v_outstanding := v_outstanding + l.outstanding_paise;
    END LOOP;
    IF v_rebate > 0 AND v_available >= v_outstanding - v_rebate THEN
        v_fys := v_fys || v_fy; v_heads := v_heads || 'PROPERTY_TAX'::text;
        v_kinds := v_kinds || 'REBATE'::text; v_amounts := v_amounts || v_rebate;
    ELSE
        v_rebate := 0;
    END IF;
    FOR i IN 1 .. cardinality(v_line_fys) LOOP
        v_due := v_line_dues[i];
        IF v_line_fys[i] = v_fy AND v_line_heads[i] = 'PROPERTY_TAX' THEN
            v_due := v_due - v_rebate;
        END IF;
        v_take := least(v_available, v_due);
        IF v_take > 0 THEN
            v_fys := v_fys || v_line_fys[i]; v_heads := v_heads || v_line_heads[i];
            v_kinds := v_kinds || 'CASH'::text; v_amounts := v_amounts || v_take;
            v_available := v_available - v_take;
        END IF;
    END LOOP;
    IF v_available - v_credit <> 0 THEN
        v_fys := v_fys || v_fy; v_heads := v_heads || 'ADVANCE'::text;
        v_kinds := v_kinds || 'CASH'::text; v_amounts := v_amounts || (v_available - v_credit);
    END IF;
    RETURN ROW(v_fys, v_heads, v_kinds, v_amounts, v_available)::pt_allocation;
END
$$;

-- Gone to common/sql/accounts 003.
DROP FUNCTION IF EXISTS pt_owner_contact(text);
DROP FUNCTION IF EXISTS pt_reverse_check(jsonb, jsonb, date);
DROP FUNCTION IF EXISTS pt_reverse_prepare(jsonb, jsonb, date);
DROP FUNCTION IF EXISTS pt_reverse_apply(jsonb, bigint, text, text, bigint, text, date);

SELECT rules_grant_entry_points();
