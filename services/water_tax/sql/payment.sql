-- payment.sql — counter payments (wt_payment_record: checks, allocation,
-- receipt number, ledger row, payment in one call), receipts, reversals.
-- Locks are taken in one order: [online order,] connection, receipt
-- counter, the ULB's ledger head.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- The account of water charges is the connection (common/sql/accounts 003).
CREATE OR REPLACE FUNCTION wt_account_kind() RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"prefix": "wt", "table": "connection", "column": "connection_id",
             "key": "connectionId", "noun": "connection", "orderOmits": ["ulb"]}'::jsonb
$$;

CREATE OR REPLACE FUNCTION wt_account_visible(p_actor jsonb, p_connection text, p_field text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wt_connection_for(p_actor, p_connection, p_field, wt_everyone(), false);
END
$$;

-- The consumer's mobile and account, for notifications.
CREATE OR REPLACE FUNCTION wt_contact(p_connection text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('mobile', c.mobile, 'userId', c.user_id)
      FROM connection c WHERE c.connection_id = p_connection
$$;

CREATE OR REPLACE FUNCTION wt_receipt_json(p_payment_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT accounts_receipt_json(wt_account_kind(), p_payment_id,
        (SELECT jsonb_agg(jsonb_build_object('ref', a.ref, 'head', a.head,
                                             'amountPaise', a.amount_paise) ORDER BY a.id)
           FROM allocation a WHERE a.payment_id = p_payment_id))
$$;

CREATE OR REPLACE FUNCTION wt_payment_prepare(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_fields jsonb;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    v_fields := accounts_payment_fields(p_req);
    IF c.status IN ('APPLIED', 'REJECTED') THEN
        PERFORM rule_fail('NRPRE', 'connectionId', format('connection %s is %s: nothing to pay yet',
                                                        c.connection_id, c.status));
    END IF;
    RETURN v_fields
           || jsonb_build_object('ulb', c.ulb, 'fy', rule_fy_text(rule_fy_of(p_today)),
                                 'connectionId', c.connection_id, 'mobile', c.mobile,
                                 'userId', c.user_id);
END
$$;

-- Records a payment that has its receipt number and ledger row (an online
-- payment's callback): locks the connection, allocates, inserts.
CREATE OR REPLACE FUNCTION wt_payment_apply(p_recorded_by text, p_connection text, p_amount bigint,
                                            p_mode text, p_ref text, p_counter text,
                                            p_receipt text, p_ledger_seq bigint, p_today date)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v_ulb text;
BEGIN
    SELECT ulb INTO v_ulb FROM connection WHERE connection_id = p_connection FOR UPDATE;
    RETURN wt_payment_insert(v_ulb, p_connection, p_receipt, p_counter, p_mode, p_ref, p_amount,
                             p_today, p_ledger_seq, p_recorded_by,
                             wt_payment_allocate(p_connection, p_amount, p_today));
END
$$;

CREATE OR REPLACE FUNCTION wt_receipt_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT wt_receipt_json((accounts_receipt_find(wt_account_kind(), p_actor, p_req)->>'id')::bigint)
$$;

CREATE OR REPLACE FUNCTION wt_payment_allocate(p_connection text, p_amount bigint, p_today date)
RETURNS wt_allocation LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_refs text[] := '{}';
    v_heads text[] := '{}';
    v_dates date[] := '{}';
    v_amounts bigint[] := '{}';
    v_credit bigint := wt_advance_of(p_connection);
    v_available bigint := p_amount + v_credit;
    l record;
    v_take bigint;
BEGIN
    FOR l IN SELECT * FROM wt_dues_lines(p_connection) LOOP
        v_take := least(v_available, l.outstanding_paise);
        IF v_take > 0 THEN
            v_refs := v_refs || l.ref; v_heads := v_heads || l.head;
            v_dates := v_dates || l.charged_on; v_amounts := v_amounts || v_take;
            v_available := v_available - v_take;
        END IF;
    END LOOP;
    IF v_available - v_credit <> 0 THEN
        v_refs := v_refs || 'ADVANCE'::text; v_heads := v_heads || 'ADVANCE'::text;
        v_dates := v_dates || p_today; v_amounts := v_amounts || (v_available - v_credit);
    END IF;
    RETURN ROW(v_refs, v_heads, v_dates, v_amounts, v_available)::wt_allocation;
END
$$;

-- Inserts a payment with its allocation; answers its Receipt.
CREATE OR REPLACE FUNCTION wt_payment_insert(p_ulb text, p_connection text, p_receipt text, p_counter text,
                                  p_mode text, p_ref text, p_amount bigint, p_today date,
                                  p_ledger_seq bigint, p_recorded_by text, p_allocation wt_allocation)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v_payment bigint;
BEGIN
    INSERT INTO payment (ulb, connection_id, receipt_no, counter, mode, instrument_ref, amount_paise,
                         paid_on, ledger_seq, recorded_by, advance_after_paise)
    VALUES (p_ulb, p_connection, p_receipt, p_counter, p_mode, p_ref, p_amount, p_today,
            p_ledger_seq, p_recorded_by, p_allocation.advance_after)
    RETURNING id INTO v_payment;
    INSERT INTO allocation (payment_id, connection_id, ulb, ref, head, charged_on, amount_paise,
                            paid_on)
    SELECT v_payment, p_connection, p_ulb, t.ref, t.head, t.charged_on, t.amount, p_today
    FROM unnest(p_allocation.refs, p_allocation.heads, p_allocation.dates, p_allocation.amounts)
         WITH ORDINALITY AS t(ref, head, charged_on, amount, n)
    ORDER BY t.n;
    RETURN wt_receipt_json(v_payment);
END
$$;

-- A counter payment, whole. p_ledger_key is the ledger row's idempotency
-- key (the C side derives it from the caller and the request's
-- Idempotency-Key). Answers {"receipt": Receipt, "ulb", "mobile", "userId"}.
CREATE OR REPLACE FUNCTION wt_payment_record(p_actor jsonb, p_req jsonb, p_today date, p_ledger_key text)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_prep jsonb := wt_payment_prepare(p_actor, p_req, p_today);
    v_ulb text := v_prep->>'ulb';
    v_connection text := v_prep->>'connectionId';
    v_counter text := v_prep->>'counter';
    v_amount bigint := (v_prep->>'amountPaise')::bigint;
    v_allocation wt_allocation;
    v_receipt text;
    v_seq bigint;
BEGIN
    PERFORM rule_act(p_actor, 'payment.record');
    PERFORM 1 FROM connection WHERE connection_id = v_connection FOR UPDATE;
    v_allocation := wt_payment_allocate(v_connection, v_amount, p_today);
    PERFORM accounts_refuse_overpayment(p_req, 'connection ' || v_connection, v_amount,
        v_amount - greatest(v_allocation.advance_after - wt_advance_of(v_connection), 0));
    SELECT t.receipt_no, t.ledger_seq INTO v_receipt, v_seq
        FROM accounts_receipt_and_ledger(
            v_ulb, v_prep->>'fy', v_counter, p_ledger_key, 'PAYMENT', v_connection, v_amount,
            jsonb_build_object('mode', v_prep->>'mode', 'instrumentRef', v_prep->>'instrumentRef',
                               'counter', v_counter, 'paidOn', p_today::text,
                               'by', p_actor->>'userId'),
            'idempotencyKey', 'key ' || p_ledger_key) t;
    RETURN jsonb_build_object(
        'receipt', wt_payment_insert(v_ulb, v_connection, v_receipt, v_counter, v_prep->>'mode',
                                     v_prep->>'instrumentRef', v_amount, p_today, v_seq,
                                     p_actor->>'userId', v_allocation),
        'ulb', v_ulb, 'mobile', v_prep->'mobile', 'userId', v_prep->'userId');
END
$$;

-- A reversal, whole (accounts_payment_reverse): checked and the account
-- locked, then its receipt number, its negative ledger row and the negating
-- payment.
CREATE OR REPLACE FUNCTION wt_payment_reverse(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT accounts_payment_reverse('wt', p_actor, p_req, p_today)
$$;

-- Gone to common/sql/accounts 003.
DROP FUNCTION IF EXISTS wt_reverse_check(jsonb, jsonb, date);
DROP FUNCTION IF EXISTS wt_reverse_prepare(jsonb, jsonb, date);
DROP FUNCTION IF EXISTS wt_reverse_apply(jsonb, bigint, text, text, bigint, text, date);

SELECT rules_grant_entry_points();
