-- payment.sql — counter payments (pt_payment_record: checks, allocation,
-- receipt number, ledger row, payment in one call), receipts, reversals.
-- Locks are taken in one order: [online order,] property, receipt counter,
-- the ULB's ledger head.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- The account of property tax is the property (common/sql/accounts 003).
CREATE OR REPLACE FUNCTION pt_account_kind() RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"prefix": "pt", "table": "property", "column": "property_id", "key": "propertyId",
             "noun": "property"}'::jsonb
$$;

CREATE OR REPLACE FUNCTION pt_account_visible(p_actor jsonb, p_property text, p_field text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pt_property_for(p_actor, p_property, p_field,
                            ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                  'STATE_ADMIN'], false);
END
$$;

-- The first owner's mobile and account, for notifications.
CREATE OR REPLACE FUNCTION pt_contact(p_property text) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE o property_owner;
BEGIN
    SELECT * INTO o FROM property_owner WHERE property_id = p_property ORDER BY ordinal LIMIT 1;
    RETURN jsonb_build_object('ownerMobile', coalesce(o.mobile, ''), 'ownerUserId', coalesce(o.user_id, ''));
END
$$;

CREATE OR REPLACE FUNCTION pt_receipt_json(p_payment_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT accounts_receipt_json(pt_account_kind(), p_payment_id,
        (SELECT jsonb_agg(jsonb_build_object(
                    'fy', rule_fy_text(a.fy),
                    'head', CASE WHEN a.kind = 'REBATE' THEN 'REBATE' ELSE a.head END,
                    'amountPaise', a.amount_paise) ORDER BY a.id)
           FROM allocation a WHERE a.payment_id = p_payment_id))
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

-- Records a payment that has its receipt number and ledger row (an online
-- payment's callback): locks the property, allocates, inserts.
CREATE OR REPLACE FUNCTION pt_payment_apply(p_recorded_by text, p_property text, p_amount bigint,
                                            p_mode text, p_ref text, p_counter text,
                                            p_receipt text, p_ledger_seq bigint, p_today date)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v_ulb text;
BEGIN
    SELECT ulb INTO v_ulb FROM property WHERE property_id = p_property FOR UPDATE;
    RETURN pt_payment_insert(v_ulb, p_property, p_receipt, p_counter, p_mode, p_ref, p_amount,
                             p_today, p_ledger_seq, p_recorded_by,
                             pt_payment_allocate(p_property, v_ulb, p_amount, p_today));
END
$$;

CREATE OR REPLACE FUNCTION pt_receipt_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT pt_receipt_json((accounts_receipt_find(pt_account_kind(), p_actor, p_req)->>'id')::bigint)
$$;

CREATE OR REPLACE FUNCTION pt_payment_allocate(p_property text, p_ulb text, p_amount bigint, p_today date)
RETURNS pt_allocation LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_fy integer := rule_fy_of(p_today);
    v_fys integer[] := '{}';
    v_heads text[] := '{}';
    v_kinds text[] := '{}';
    v_amounts bigint[] := '{}';
    v_line_fys integer[];
    v_line_heads text[];
    v_line_dues bigint[];
    v_outstanding bigint;
    v_credit bigint := pt_advance_of(p_property);
    v_available bigint := p_amount + v_credit;
    v_rebate bigint := pt_rebate_for(p_property, p_ulb, p_today);
    v_due bigint;
    v_take bigint;
BEGIN
    SELECT coalesce(array_agg(l.fy ORDER BY l.fy, l.ord), '{}'),
           coalesce(array_agg(l.head ORDER BY l.fy, l.ord), '{}'),
           coalesce(array_agg(l.outstanding_paise ORDER BY l.fy, l.ord), '{}'),
           coalesce(sum(l.outstanding_paise), 0)
        INTO v_line_fys, v_line_heads, v_line_dues, v_outstanding
        FROM pt_dues_lines(p_property, p_today) l;
    IF v_rebate > 0 AND v_available >= v_outstanding - v_rebate THEN
        v_fys := v_fys || v_fy; v_heads := v_heads || 'PROPERTY_TAX'::text;
        v_kinds := v_kinds || 'REBATE'::text; v_amounts := v_amounts || v_rebate;
    ELSE
        v_rebate := 0;
    END IF;
    FOR i IN 1 .. coalesce(cardinality(v_line_fys), 0) LOOP
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

-- Inserts a payment with its allocation; answers its Receipt.
CREATE OR REPLACE FUNCTION pt_payment_insert(p_ulb text, p_property text, p_receipt text, p_counter text,
                                  p_mode text, p_ref text, p_amount bigint, p_today date,
                                  p_ledger_seq bigint, p_recorded_by text, p_allocation pt_allocation)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v_payment bigint;
BEGIN
    INSERT INTO payment (ulb, property_id, receipt_no, counter, mode, instrument_ref, amount_paise,
                         paid_on, ledger_seq, recorded_by, advance_after_paise)
    VALUES (p_ulb, p_property, p_receipt, p_counter, p_mode, p_ref, p_amount, p_today, p_ledger_seq,
            p_recorded_by, p_allocation.advance_after)
    RETURNING id INTO v_payment;
    INSERT INTO allocation (payment_id, property_id, ulb, fy, head, kind, amount_paise, paid_on)
    SELECT v_payment, p_property, p_ulb, t.fy, t.head, t.kind, t.amount, p_today
    FROM unnest(p_allocation.fys, p_allocation.heads, p_allocation.kinds, p_allocation.amounts)
         WITH ORDINALITY AS t(fy, head, kind, amount, n)
    ORDER BY t.n;
    RETURN pt_receipt_json(v_payment);
END
$$;

-- A counter payment, whole. p_ledger_key is the ledger row's idempotency
-- key (the C side derives it from the caller and the request's
-- Idempotency-Key). Answers {"receipt": Receipt, "ulb", "ownerMobile",
-- "ownerUserId"}.
CREATE OR REPLACE FUNCTION pt_payment_record(p_actor jsonb, p_req jsonb, p_today date, p_ledger_key text)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_prep jsonb := pt_payment_prepare(p_actor, p_req, p_today);
    v_ulb text := v_prep->>'ulb';
    v_property text := v_prep->>'propertyId';
    v_counter text := v_prep->>'counter';
    v_amount bigint := (v_prep->>'amountPaise')::bigint;
    v_allocation pt_allocation;
    v_receipt text;
    v_seq bigint;
BEGIN
    PERFORM rule_act(p_actor, 'payment.record');
    PERFORM 1 FROM property WHERE property_id = v_property FOR UPDATE;
    v_allocation := pt_payment_allocate(v_property, v_ulb, v_amount, p_today);
    PERFORM accounts_refuse_overpayment(p_req, 'property ' || v_property, v_amount,
        v_amount - greatest(v_allocation.advance_after - pt_advance_of(v_property), 0));
    SELECT t.receipt_no, t.ledger_seq INTO v_receipt, v_seq
        FROM accounts_receipt_and_ledger(
            v_ulb, v_prep->>'fy', v_counter, p_ledger_key, 'PAYMENT', v_property, v_amount,
            jsonb_build_object('mode', v_prep->>'mode', 'instrumentRef', v_prep->>'instrumentRef',
                               'counter', v_counter, 'paidOn', p_today::text,
                               'by', p_actor->>'userId'),
            'idempotencyKey', 'key ' || p_ledger_key) t;
    RETURN jsonb_build_object(
        'receipt', pt_payment_insert(v_ulb, v_property, v_receipt, v_counter, v_prep->>'mode',
                                     v_prep->>'instrumentRef', v_amount, p_today, v_seq,
                                     p_actor->>'userId', v_allocation),
        'ulb', v_ulb, 'ownerMobile', v_prep->'ownerMobile', 'ownerUserId', v_prep->'ownerUserId');
END
$$;

-- A reversal, whole (accounts_payment_reverse): checked and the account
-- locked, then its receipt number, its negative ledger row and the negating
-- payment.
CREATE OR REPLACE FUNCTION pt_payment_reverse(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT accounts_payment_reverse('pt', p_actor, p_req, p_today)
$$;

-- Gone to common/sql/accounts 003.
DROP FUNCTION IF EXISTS pt_owner_contact(text);
DROP FUNCTION IF EXISTS pt_reverse_check(jsonb, jsonb, date);
DROP FUNCTION IF EXISTS pt_reverse_prepare(jsonb, jsonb, date);
DROP FUNCTION IF EXISTS pt_reverse_apply(jsonb, bigint, text, text, bigint, text, date);

SELECT rules_grant_entry_points();
