-- accounts 002 — reversals and online payments, once for every service that
-- keeps accounts, in the database: the app role may not append to the
-- ledger or take receipt numbers, so the whole movement is one rule call.
--
-- requires: rules, receipt, ledger
--
-- Each is called by the service's own SECURITY DEFINER entry point with its
-- rule prefix (a name compiled into it, never input), and calls the
-- service's parts by that prefix:
--
--   <prefix>_reverse_prepare(actor, request, today)  the checks; locks the
--        account; answers ulb, fy, account, paymentId, amountPaise (negative),
--        receiptNo (the payment reversed), counter, reason and the payer's contact
--   <prefix>_reverse_apply(actor, payment id, receipt, counter, ledger seq,
--        reason, today)  the negating payment; answers its Receipt
--   <prefix>_online_callback_prepare(request, today)  locks the order (and
--        the account when it is to be paid); answers action "pay" or "done",
--        order, ulb, fy, account and the payer's contact
--   <prefix>_payment_apply(by, account, amount, mode, ref, counter, receipt,
--        ledger seq, today)  a payment that has its receipt and ledger row
--   <prefix>_online_mark_paid(order, receipt, provider ref)  answers the order
--
-- Locks are taken in the one order of every money movement: [the online
-- order,] the account, the receipt counter, the ULB's ledger head.

-- A reversal: answers the prepare's fields with "receipt", the reversal's
-- Receipt.
CREATE OR REPLACE FUNCTION accounts_payment_reverse(p_prefix text, p_actor jsonb, p_req jsonb,
                                                    p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_prep jsonb;
    v_receipt text;
    v_seq bigint;
    v_created boolean;
    v_reply jsonb;
BEGIN
    EXECUTE format('SELECT %I($1, $2, $3)', p_prefix || '_reverse_prepare')
        INTO v_prep USING p_actor, p_req, p_today;
    PERFORM rule_act(p_actor, 'payment.reverse: ' || (v_prep->>'reason'));
    v_receipt := receipt_next(v_prep->>'ulb', v_prep->>'fy', v_prep->>'counter');
    -- One reversal per payment: the original receipt is the ledger key.
    SELECT l.entry_seq, l.created INTO v_seq, v_created
        FROM ledger_append(v_prep->>'ulb', 'reversal:' || (v_prep->>'receiptNo'), 'REVERSAL',
                           v_prep->>'account', v_receipt, (v_prep->>'amountPaise')::bigint,
                           jsonb_build_object('mode', 'REVERSAL',
                                              'instrumentRef', v_prep->>'receiptNo',
                                              'counter', v_prep->>'counter',
                                              'paidOn', p_today::text, 'by', p_actor->>'userId',
                                              'reason', v_prep->>'reason')::text) l;
    IF NOT v_created THEN
        PERFORM rule_fail('NRCON', 'receiptNo',
                          format('the ledger already holds the reversal of %s (row %s); nothing '
                                 'was recorded', v_prep->>'receiptNo', v_seq));
    END IF;
    EXECUTE format('SELECT %I($1, $2, $3, $4, $5, $6, $7)', p_prefix || '_reverse_apply')
        INTO v_reply
        USING p_actor, (v_prep->>'paymentId')::bigint, v_receipt, v_prep->>'counter', v_seq,
              v_prep->>'reason', p_today;
    RETURN v_prep || jsonb_build_object('receipt', v_reply);
END
$$;

-- A verified callback: a SUCCESS is recorded once per order (receipt at
-- counter ONLINE, ledger key online:<order>); answers action "paid" with
-- the order, its receipt number and amount, or "done" with the order as it
-- stands (a FAILURE, or a callback repeated).
CREATE OR REPLACE FUNCTION accounts_online_callback(p_prefix text, p_actor jsonb, p_req jsonb,
                                                    p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_prep jsonb;
    v_order text := p_req->>'orderId';
    v_amount bigint;
    v_receipt text;
    v_seq bigint;
    v_created boolean;
    v_reply jsonb;
BEGIN
    PERFORM rule_act(p_actor || jsonb_build_object('userId', 'provider',
                                                   'role', 'PAYMENT_PROVIDER'),
                     'online.callback ' || coalesce(p_req->>'status', ''));
    EXECUTE format('SELECT %I($1, $2)', p_prefix || '_online_callback_prepare')
        INTO v_prep USING p_req, p_today;
    IF v_prep->>'action' <> 'pay' THEN
        RETURN v_prep;
    END IF;
    v_amount := (v_prep->'order'->>'amountPaise')::bigint;
    v_receipt := receipt_next(v_prep->>'ulb', v_prep->>'fy', 'ONLINE');
    SELECT l.entry_seq, l.created INTO v_seq, v_created
        FROM ledger_append(v_prep->>'ulb', 'online:' || v_order, 'PAYMENT', v_prep->>'account',
                           v_receipt, v_amount,
                           jsonb_build_object('mode', 'ONLINE',
                                              'instrumentRef', coalesce(p_req->>'providerRef', ''),
                                              'counter', 'ONLINE', 'paidOn', p_today::text,
                                              'by', 'provider', 'orderId', v_order)::text) l;
    IF NOT v_created THEN
        PERFORM rule_fail('NRCON', 'orderId',
                          format('the ledger already holds the payment of order %s (row %s); '
                                 'nothing was recorded', v_order, v_seq));
    END IF;
    EXECUTE format('SELECT %I($1, $2, $3, $4, $5, $6, $7, $8, $9)', p_prefix || '_payment_apply')
        USING 'provider', v_prep->>'account', v_amount, 'ONLINE',
              coalesce(p_req->>'providerRef', ''), 'ONLINE', v_receipt, v_seq, p_today;
    EXECUTE format('SELECT %I($1, $2, $3)', p_prefix || '_online_mark_paid')
        INTO v_reply USING v_order, v_receipt, coalesce(p_req->>'providerRef', '');
    RETURN v_prep || jsonb_build_object('action', 'paid', 'order', v_reply,
                                        'receiptNo', v_receipt, 'amountPaise', v_amount);
END
$$;

-- No accidental double collection: a payment larger than what is
-- outstanding (p_payable, after any credit and rebate) is refused, naming
-- that amount, unless the request says explicitly that the rest is an
-- advance ("advance": true). The caller holds the account's lock, so of
-- twenty payments of the full due racing each other one is recorded and
-- nineteen find nothing outstanding.
CREATE OR REPLACE FUNCTION accounts_refuse_overpayment(p_req jsonb, p_account text, p_amount bigint,
                                                       p_payable bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_amount > greatest(p_payable, 0) AND NOT coalesce((p_req->>'advance')::boolean, false) THEN
        PERFORM rule_fail('NRPRE', 'amountPaise',
                          format('%s paise is outstanding on %s; a payment of %s paise would leave '
                                 '%s paise as credit: pay at most %s paise, or say "advance": true '
                                 'to keep the rest as an advance', greatest(p_payable, 0), p_account,
                                 p_amount, p_amount - greatest(p_payable, 0),
                                 greatest(p_payable, 0)));
    END IF;
END
$$;
