-- online.sql — online payments: the order the citizen pays through the
-- provider, and the provider's signed callback that records it once.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

CREATE OR REPLACE FUNCTION pt_order_json(p_order text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('orderId', o.order_id, 'propertyId', o.property_id, 'ulb', o.ulb,
                              'amountPaise', o.amount_paise, 'status', o.status,
                              'receiptNo', o.receipt_no, 'providerRef', o.provider_ref)
    FROM online_order o WHERE o.order_id = p_order
$$;

CREATE OR REPLACE FUNCTION pt_online_initiate(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    p property;
    v_order text := 'pt' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    PERFORM rule_act(p_actor, 'online.initiate');
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    PERFORM accounts_refuse_overpayment(
        p_req, 'property ' || p.property_id,
        rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000),
        ((SELECT coalesce(sum(l.outstanding_paise), 0) FROM pt_dues_lines(p.property_id, p_today) l)
          - pt_advance_of(p.property_id) - pt_rebate_for(p.property_id, p.ulb, p_today))::bigint);
    INSERT INTO online_order (order_id, ulb, property_id, amount_paise, status, created_by)
    VALUES (v_order, p.ulb, p.property_id,
            rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000), 'CREATED',
            p_actor->>'userId');
    RETURN pt_order_json(v_order);
END
$$;

CREATE OR REPLACE FUNCTION pt_online_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE o online_order;
BEGIN
    SELECT * INTO o FROM online_order WHERE order_id = rule_text(p_req->>'orderId', 'orderId', 1, 64);
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END IF;
    BEGIN
        PERFORM pt_property_for(p_actor, o.property_id, 'orderId',
                                ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                      'STATE_ADMIN'], false);
    EXCEPTION WHEN SQLSTATE 'NRNFD' THEN    -- its property is not the actor's to see
        PERFORM rule_fail('NRNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END;
    RETURN pt_order_json(o.order_id);
END
$$;

-- A verified callback (the C side checked the HMAC): locks the order.
-- Answers {"order": ..., "action": "pay" | "done"} with the fields the
-- receipt and ledger need.
CREATE OR REPLACE FUNCTION pt_online_callback_check(p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE o online_order;
BEGIN
    SELECT * INTO o FROM online_order WHERE order_id = rule_text(p_req->>'orderId', 'orderId', 1, 64)
        FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END IF;
    IF o.status <> 'CREATED' THEN
        RETURN jsonb_build_object('action', 'done', 'order', pt_order_json(o.order_id));
    END IF;
    IF rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000) <> o.amount_paise THEN
        PERFORM rule_fail('NRINV', 'amountPaise', format('order %s is for %s paise, not %s', o.order_id,
                                                       o.amount_paise, p_req->>'amountPaise'));
    END IF;
    IF rule_enum(p_req->>'status', 'status', ARRAY['SUCCESS', 'FAILURE']) = 'FAILURE' THEN
        UPDATE online_order SET status = 'FAILED', provider_ref = coalesce(p_req->>'providerRef', ''),
                                updated_at = now()
        WHERE order_id = o.order_id;
        RETURN jsonb_build_object('action', 'done', 'order', pt_order_json(o.order_id));
    END IF;
    RETURN jsonb_build_object('action', 'pay', 'order', pt_order_json(o.order_id), 'ulb', o.ulb,
                              'account', o.property_id,
                              'fy', rule_fy_text(rule_fy_of(p_today))) || pt_owner_contact(o.property_id);
END
$$;

CREATE OR REPLACE FUNCTION pt_online_mark_paid(p_order text, p_receipt text, p_provider_ref text) RETURNS jsonb
LANGUAGE sql AS $$
    UPDATE online_order SET status = 'PAID', receipt_no = p_receipt, provider_ref = p_provider_ref,
                            updated_at = now()
    WHERE order_id = p_order;
    SELECT pt_order_json(p_order);
$$;

CREATE OR REPLACE FUNCTION pt_online_callback_prepare(p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_prep jsonb := pt_online_callback_check(p_req, p_today);
BEGIN
    IF v_prep->>'action' = 'pay' THEN
        PERFORM 1 FROM property WHERE property_id = v_prep->'order'->>'propertyId' FOR UPDATE;
    END IF;
    RETURN v_prep;
END
$$;

-- The provider's callback, verified by the C side, recorded once
-- (accounts_online_callback).
CREATE OR REPLACE FUNCTION pt_online_callback(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT accounts_online_callback('pt', p_actor, p_req, p_today)
$$;

SELECT rules_grant_entry_points();
