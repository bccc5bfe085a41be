-- online.sql — online payments: the order the consumer pays through the
-- provider, and the provider's signed callback that records it once.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

CREATE OR REPLACE FUNCTION wt_order_json(p_order text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('orderId', o.order_id, 'connectionId', o.connection_id,
                              'amountPaise', o.amount_paise, 'status', o.status,
                              'receiptNo', o.receipt_no, 'providerRef', o.provider_ref)
    FROM online_order o WHERE o.order_id = p_order
$$;

CREATE OR REPLACE FUNCTION wt_online_initiate(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    c connection;
    v_order text := 'wt' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    PERFORM rule_act(p_actor, 'online.initiate');
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    PERFORM accounts_refuse_overpayment(
        p_req, 'connection ' || c.connection_id,
        rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000),
        ((SELECT coalesce(sum(l.outstanding_paise), 0) FROM wt_dues_lines(c.connection_id) l)
          - wt_advance_of(c.connection_id))::bigint);
    INSERT INTO online_order (order_id, ulb, connection_id, amount_paise, status, created_by)
    VALUES (v_order, c.ulb, c.connection_id,
            rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000), 'CREATED',
            p_actor->>'userId');
    RETURN wt_order_json(v_order);
END
$$;

CREATE OR REPLACE FUNCTION wt_online_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE o online_order;
BEGIN
    SELECT * INTO o FROM online_order WHERE order_id = rule_text(p_req->>'orderId', 'orderId', 1, 64);
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END IF;
    BEGIN
        PERFORM wt_connection_for(p_actor, o.connection_id, 'orderId', wt_everyone(), false);
    EXCEPTION WHEN SQLSTATE 'NRNFD' THEN    -- its connection is not the actor's to see
        PERFORM rule_fail('NRNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END;
    RETURN wt_order_json(o.order_id);
END
$$;

-- A verified callback (the C side checked the HMAC): locks the order and
-- answers {"action": "pay" | "done", "order": ..., "ulb", "fy", contact}.
CREATE OR REPLACE FUNCTION wt_online_callback_check(p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    o online_order;
    c connection;
BEGIN
    SELECT * INTO o FROM online_order WHERE order_id = rule_text(p_req->>'orderId', 'orderId', 1, 64)
        FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END IF;
    IF o.status <> 'CREATED' THEN
        RETURN jsonb_build_object('action', 'done', 'order', wt_order_json(o.order_id));
    END IF;
    IF rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000) <> o.amount_paise THEN
        PERFORM rule_fail('NRINV', 'amountPaise', format('order %s is for %s paise, not %s', o.order_id,
                                                       o.amount_paise, p_req->>'amountPaise'));
    END IF;
    IF rule_enum(p_req->>'status', 'status', ARRAY['SUCCESS', 'FAILURE']) = 'FAILURE' THEN
        UPDATE online_order SET status = 'FAILED', provider_ref = coalesce(p_req->>'providerRef', ''),
                                updated_at = now()
        WHERE order_id = o.order_id;
        RETURN jsonb_build_object('action', 'done', 'order', wt_order_json(o.order_id));
    END IF;
    SELECT * INTO c FROM connection WHERE connection_id = o.connection_id;
    RETURN jsonb_build_object('action', 'pay', 'order', wt_order_json(o.order_id), 'ulb', o.ulb,
                              'account', o.connection_id,
                              'fy', rule_fy_text(rule_fy_of(p_today)), 'mobile', c.mobile,
                              'userId', c.user_id);
END
$$;

CREATE OR REPLACE FUNCTION wt_online_mark_paid(p_order text, p_receipt text, p_provider_ref text) RETURNS jsonb
LANGUAGE sql AS $$
    UPDATE online_order SET status = 'PAID', receipt_no = p_receipt, provider_ref = p_provider_ref,
                            updated_at = now()
    WHERE order_id = p_order;
    SELECT wt_order_json(p_order);
$$;

CREATE OR REPLACE FUNCTION wt_online_callback_prepare(p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_prep jsonb := wt_online_callback_check(p_req, p_today);
BEGIN
    IF v_prep->>'action' = 'pay' THEN
        PERFORM 1 FROM connection WHERE connection_id = v_prep->'order'->>'connectionId' FOR UPDATE;
    END IF;
    RETURN v_prep;
END
$$;

-- The provider's callback, verified by the C side, recorded once
-- (accounts_online_callback).
CREATE OR REPLACE FUNCTION wt_online_callback(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT accounts_online_callback('wt', p_actor, p_req, p_today)
$$;

SELECT rules_grant_entry_points();
