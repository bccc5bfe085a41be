-- accounts 003 — the payment and online-order flows of every service that
-- keeps accounts, written once: property tax and water charges differ only
-- in what their account is, how it is reached, what it owes and how its
-- payments are apportioned.
--
-- requires: rules, receipt, ledger
--
-- A service describes its account by one function, <prefix>_account_kind(),
-- answering a constant object:
--
--   prefix   the rule prefix ("pt")            table   the account table ("property")
--   column   its key column ("property_id")    key     its JSON name ("propertyId")
--   noun     how messages name it ("property")
--   orderOmits  fields its OnlineOrder message does not have (optional)
--
-- and provides, by that prefix (names compiled into it, never input):
--
--   <prefix>_account_visible(actor, account, field)  refuses (NRNFD on field) an
--        account the actor may not reach
--   <prefix>_contact(account)  the payer's contact, merged into the replies the
--        C side sends notifications from
--   <prefix>_advance_of(account)  its credit
--   <prefix>_receipt_json(payment id)  a Receipt as the API answers it
--   <prefix>_payment_apply  (accounts 002)
--
-- accounts_payment_reverse and accounts_online_callback (002) are written
-- again here over these: the services' <prefix>_reverse_prepare,
-- _reverse_apply, _online_callback_prepare and _online_mark_paid of 002
-- are gone.
--
-- The flows here then are the receipt and the online order as the API
-- answers them, finding them and refusing what the actor may not reach,
-- the checks of a counter payment's fields, a receipt number with its
-- ledger row, the checks of a reversal, and the provider's callback.
-- Locks are taken in the one order of every money movement: [the online
-- order,] the account, the receipt counter, the ULB's ledger head.

CREATE OR REPLACE FUNCTION accounts_kind(p_prefix text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE v_kind jsonb;
BEGIN
    EXECUTE format('SELECT %I()', p_prefix || '_account_kind') INTO v_kind;
    RETURN v_kind;
END
$$;

-- Locks the account row (FOR UPDATE) when it exists.
CREATE OR REPLACE FUNCTION accounts_lock(p_kind jsonb, p_account text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SELECT 1 FROM %I WHERE %I = $1 FOR UPDATE', p_kind->>'table',
                   p_kind->>'column') USING p_account;
END
$$;

CREATE OR REPLACE FUNCTION accounts_contact(p_kind jsonb, p_account text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE v_contact jsonb;
BEGIN
    EXECUTE format('SELECT %I($1)', (p_kind->>'prefix') || '_contact') INTO v_contact
        USING p_account;
    RETURN v_contact;
END
$$;

-- Refuses an account the actor may not reach, as the service's own
-- lookup does, answering for p_field with p_missing (the id the actor
-- asked for: a receipt, an order), never naming the account.
CREATE OR REPLACE FUNCTION accounts_check_visible(p_kind jsonb, p_actor jsonb, p_account text,
                                                  p_field text, p_missing text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SELECT %I($1, $2, $3)', (p_kind->>'prefix') || '_account_visible')
        USING p_actor, p_account, p_field;
EXCEPTION WHEN SQLSTATE 'NRNFD' THEN
    PERFORM rule_fail('NRNFD', p_field, p_missing);
END
$$;

-- A payment as the API answers it (a Receipt): p_allocations are its
-- lines as the service words them.
CREATE OR REPLACE FUNCTION accounts_receipt_json(p_kind jsonb, p_payment_id bigint,
                                                 p_allocations jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
        'receiptNo', p.receipt_no, 'ulb', p.ulb, p_kind->>'key', to_jsonb(p)->>(p_kind->>'column'),
        'amountPaise', p.amount_paise, 'mode', p.mode, 'instrumentRef', p.instrument_ref,
        'counter', p.counter, 'paidOn', p.paid_on::text,
        'allocations', coalesce(p_allocations, '[]'),
        'ledgerSeq', p.ledger_seq,
        'reversesReceiptNo', coalesce((SELECT o.receipt_no FROM payment o
                                       WHERE o.id = p.reverses_payment_id), ''),
        'reversedByReceiptNo', coalesce((SELECT r.receipt_no FROM payment r
                                         WHERE r.reverses_payment_id = p.id), ''),
        'recordedBy', p.recorded_by, 'reason', p.reason, 'advancePaise', p.advance_after_paise)
    FROM payment p WHERE p.id = p_payment_id);
END
$$;

-- The payment of receipt p_req.receiptNo if the actor may reach its
-- account, as a JSON object of its row; one it may not is answered as a
-- missing one (issue 12).
CREATE OR REPLACE FUNCTION accounts_receipt_find(p_kind jsonb, p_actor jsonb, p_req jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v jsonb;
BEGIN
    SELECT to_jsonb(p) INTO v FROM payment p
     WHERE p.receipt_no = rule_text(p_req->>'receiptNo', 'receiptNo', 1, 64);
    IF v IS NULL THEN
        PERFORM rule_fail('NRNFD', 'receiptNo', format('no receipt %s', p_req->>'receiptNo'));
    END IF;
    PERFORM accounts_check_visible(p_kind, p_actor, v->>(p_kind->>'column'), 'receiptNo',
                                   format('no receipt %s', p_req->>'receiptNo'));
    RETURN v;
END
$$;

-- A counter payment's own fields, checked: answers amountPaise, mode,
-- instrumentRef and counter.
CREATE OR REPLACE FUNCTION accounts_payment_fields(p_req jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_amount bigint := rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000);
    v_mode text := rule_enum(p_req->>'mode', 'mode', ARRAY['CASH', 'CHEQUE', 'DEMAND_DRAFT', 'UPI']);
    v_ref text := coalesce(p_req->>'instrumentRef', '');
BEGIN
    IF v_ref !~ '^[A-Za-z0-9/._-]{0,64}$' OR (v_mode <> 'CASH' AND v_ref = '') THEN
        PERFORM rule_fail('NRINV', 'instrumentRef',
                          format('instrumentRef must be 1 to 64 of A-Z a-z 0-9 / . _ - (the %s '
                                 'number)%s', lower(replace(v_mode, '_', ' ')),
                                 CASE WHEN v_mode = 'CASH' THEN ' or empty for cash' ELSE '' END));
    END IF;
    PERFORM accounts_check_counter(p_req->>'counter', false);
    RETURN jsonb_build_object('amountPaise', v_amount, 'mode', v_mode, 'instrumentRef', v_ref,
                              'counter', p_req->>'counter');
END
$$;

-- A counter's name: 1 to 16 of A-Z, 0-9, never ONLINE (the provider's);
-- empty only where p_optional.
CREATE OR REPLACE FUNCTION accounts_check_counter(p_counter text, p_optional boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_optional AND coalesce(p_counter, '') = '' THEN
        RETURN;
    END IF;
    IF coalesce(p_counter, '') !~ '^[A-Z0-9]{1,16}$' OR p_counter = 'ONLINE' THEN
        PERFORM rule_fail('NRINV', 'counter', 'counter must be 1 to 16 of A-Z, 0-9 (ONLINE is reserved)');
    END IF;
END
$$;

-- The receipt number of a money movement and its ledger row, under
-- ledger key p_key; a key the ledger already holds is refused on p_field
-- (NRCON), naming p_what and the row: nothing is recorded twice.
CREATE OR REPLACE FUNCTION accounts_receipt_and_ledger(p_ulb text, p_fy text, p_counter text,
                                                       p_key text, p_kind text, p_account text,
                                                       p_amount bigint, p_detail jsonb,
                                                       p_field text, p_what text,
                                                       OUT receipt_no text, OUT ledger_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE v_created boolean;
BEGIN
    receipt_no := receipt_next(p_ulb, p_fy, p_counter);
    SELECT l.entry_seq, l.created INTO ledger_seq, v_created
        FROM ledger_append(p_ulb, p_key, p_kind, p_account, receipt_no, p_amount,
                           p_detail::text) l;
    IF NOT v_created THEN
        PERFORM rule_fail('NRCON', p_field,
                          format('the ledger already holds %s (row %s); nothing was recorded',
                                 p_what, ledger_seq));
    END IF;
END
$$;

-- The checks of a reversal; answers ulb, fy, account, <key>, paymentId,
-- amountPaise (negative), receiptNo (the payment reversed), counter (the
-- request's, else the payment's; REV for an online one), reason and the
-- payer's contact.
CREATE OR REPLACE FUNCTION accounts_reverse_check(p_kind jsonb, p_actor jsonb, p_req jsonb,
                                                  p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v record;
    v_account text;
BEGIN
    PERFORM rule_require_role(p_actor, ARRAY['REVENUE_OFFICER'], 'reversing a payment');
    SELECT * INTO v FROM payment WHERE receipt_no = rule_text(p_req->>'receiptNo', 'receiptNo', 1, 64);
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'receiptNo', format('no receipt %s', p_req->>'receiptNo'));
    END IF;
    IF p_actor->>'role' <> 'STATE_ADMIN' AND coalesce(p_actor->>'ulb', '') <> v.ulb THEN
        -- Another ULB's: not the actor's to see, answered as a missing one (issue 12).
        PERFORM rule_fail('NRNFD', 'receiptNo', format('no receipt %s', p_req->>'receiptNo'));
    END IF;
    PERFORM rule_text(p_req->>'reason', 'reason', 3, 300);
    PERFORM accounts_check_counter(p_req->>'counter', true);
    IF v.reverses_payment_id IS NOT NULL THEN
        PERFORM rule_fail('NRPRE', 'receiptNo', format('%s is itself a reversal; it cannot be reversed',
                                                     v.receipt_no));
    END IF;
    IF EXISTS (SELECT FROM payment r WHERE r.reverses_payment_id = v.id) THEN
        PERFORM rule_fail('NRPRE', 'receiptNo', format('%s has already been reversed', v.receipt_no));
    END IF;
    v_account := to_jsonb(v)->>(p_kind->>'column');
    RETURN jsonb_build_object('ulb', v.ulb, 'fy', rule_fy_text(rule_fy_of(p_today)),
                              p_kind->>'key', v_account, 'account', v_account,
                              'paymentId', v.id,
                              'amountPaise', -v.amount_paise, 'receiptNo', v.receipt_no,
                              'counter', coalesce(nullif(p_req->>'counter', ''),
                                                  CASE WHEN v.counter = 'ONLINE' THEN 'REV'
                                                       ELSE v.counter END),
                              'reason', p_req->>'reason') || accounts_contact(p_kind, v_account);
END
$$;

-- A reversal is a new, negative payment whose allocations negate the
-- original's line by line (rebate and advance included: every column of
-- the service's allocation is copied but the amount): the dues come back
-- exactly. Answers the reversal's Receipt (<prefix>_receipt_json).
CREATE OR REPLACE FUNCTION accounts_reverse_apply(p_kind jsonb, p_actor jsonb, p_payment_id bigint,
                                                  p_receipt text, p_counter text,
                                                  p_ledger_seq bigint, p_reason text,
                                                  p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v record;
    v_account text;
    v_advance bigint;
    v_id bigint;
    v_columns text;
    v_reply jsonb;
BEGIN
    SELECT * INTO v FROM payment WHERE id = p_payment_id;
    v_account := to_jsonb(v)->>(p_kind->>'column');
    PERFORM accounts_lock(p_kind, v_account);
    EXECUTE format('SELECT %I($1)', (p_kind->>'prefix') || '_advance_of') INTO v_advance
        USING v_account;
    EXECUTE format('INSERT INTO payment (ulb, %I, receipt_no, counter, mode, instrument_ref, '
                   'amount_paise, paid_on, ledger_seq, reverses_payment_id, reason, recorded_by, '
                   'advance_after_paise) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '
                   '$13) RETURNING id', p_kind->>'column')
        INTO v_id
        USING v.ulb, v_account, p_receipt, p_counter, v.mode, v.instrument_ref, -v.amount_paise,
              p_today, p_ledger_seq, v.id, p_reason, p_actor->>'userId',
              v_advance - coalesce((SELECT sum(a.amount_paise) FROM allocation a
                                     WHERE a.payment_id = v.id AND a.head = 'ADVANCE'), 0);
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_columns
      FROM pg_attribute a
     WHERE a.attrelid = 'allocation'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attgenerated = '' AND a.attname NOT IN ('id', 'payment_id', 'amount_paise', 'paid_on');
    EXECUTE format('INSERT INTO allocation (payment_id, %1$s, amount_paise, paid_on) '
                   'SELECT $1, %1$s, -amount_paise, $2 FROM allocation WHERE payment_id = $3 '
                   'ORDER BY id', v_columns)
        USING v_id, p_today, v.id;
    PERFORM rule_audit(p_actor, v.ulb, 'payment.reverse', v.receipt_no,
                       jsonb_build_object('reversal', p_receipt, 'reason', p_reason));
    EXECUTE format('SELECT %I($1)', (p_kind->>'prefix') || '_receipt_json') INTO v_reply
        USING v_id;
    RETURN v_reply;
END
$$;

-- A reversal: checked, the account locked and checked again (a reversal
-- racing it has committed by then), then its receipt number, its negative
-- ledger row (one per payment: the original receipt is the ledger key)
-- and the negating payment (accounts_reverse_apply). Answers the checks'
-- fields with "receipt", the reversal's Receipt.
CREATE OR REPLACE FUNCTION accounts_payment_reverse(p_prefix text, p_actor jsonb, p_req jsonb,
                                                    p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_kind jsonb := accounts_kind(p_prefix);
    v_prep jsonb;
    v_taken record;
    v_reply jsonb;
BEGIN
    v_prep := accounts_reverse_check(v_kind, p_actor, p_req, p_today);
    PERFORM accounts_lock(v_kind, v_prep->>'account');
    v_prep := accounts_reverse_check(v_kind, p_actor, p_req, p_today);
    PERFORM rule_act(p_actor, 'payment.reverse: ' || (v_prep->>'reason'));
    v_taken := accounts_receipt_and_ledger(
        v_prep->>'ulb', v_prep->>'fy', v_prep->>'counter', 'reversal:' || (v_prep->>'receiptNo'),
        'REVERSAL', v_prep->>'account', (v_prep->>'amountPaise')::bigint,
        jsonb_build_object('mode', 'REVERSAL', 'instrumentRef', v_prep->>'receiptNo',
                           'counter', v_prep->>'counter', 'paidOn', p_today::text,
                           'by', p_actor->>'userId', 'reason', v_prep->>'reason'),
        'receiptNo', 'the reversal of ' || (v_prep->>'receiptNo'));
    v_reply := accounts_reverse_apply(v_kind, p_actor, (v_prep->>'paymentId')::bigint,
                                      v_taken.receipt_no, v_prep->>'counter', v_taken.ledger_seq,
                                      v_prep->>'reason', p_today);
    RETURN v_prep || jsonb_build_object('receipt', v_reply);
END
$$;

-- An online order as the API answers it.
CREATE OR REPLACE FUNCTION accounts_order_json(p_kind jsonb, p_order text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('orderId', o.order_id,
                                      p_kind->>'key', to_jsonb(o)->>(p_kind->>'column'),
                                      'ulb', o.ulb, 'amountPaise', o.amount_paise,
                                      'status', o.status, 'receiptNo', o.receipt_no,
                                      'providerRef', o.provider_ref)
            FROM online_order o WHERE o.order_id = p_order)
           - ARRAY(SELECT jsonb_array_elements_text(coalesce(p_kind->'orderOmits', '[]')));
END
$$;

-- A new order for account p_account of ULB p_ulb, which the caller has
-- found the actor may pay for; p_payable is what it owes after any credit
-- and rebate (no accidental double collection: accounts 002).
CREATE OR REPLACE FUNCTION accounts_online_initiate(p_prefix text, p_actor jsonb, p_req jsonb,
                                                    p_ulb text, p_account text, p_payable bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_kind jsonb := accounts_kind(p_prefix);
    v_order text := p_prefix || replace(gen_random_uuid()::text, '-', '');
    v_amount bigint := rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000);
BEGIN
    PERFORM rule_act(p_actor, 'online.initiate');
    PERFORM accounts_refuse_overpayment(p_req, (v_kind->>'noun') || ' ' || p_account, v_amount,
                                        p_payable);
    EXECUTE format('INSERT INTO online_order (order_id, ulb, %I, amount_paise, status, created_by) '
                   'VALUES ($1, $2, $3, $4, %L, $5)', v_kind->>'column', 'CREATED')
        USING v_order, p_ulb, p_account, v_amount, p_actor->>'userId';
    RETURN accounts_order_json(v_kind, v_order);
END
$$;

CREATE OR REPLACE FUNCTION accounts_online_get(p_prefix text, p_actor jsonb, p_req jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_kind jsonb := accounts_kind(p_prefix);
    o record;
BEGIN
    SELECT * INTO o FROM online_order WHERE order_id = rule_text(p_req->>'orderId', 'orderId', 1, 64);
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END IF;
    PERFORM accounts_check_visible(v_kind, p_actor, to_jsonb(o)->>(v_kind->>'column'), 'orderId',
                                   format('no online order %s', p_req->>'orderId'));
    RETURN accounts_order_json(v_kind, o.order_id);
END
$$;

-- A verified callback (the C side checked the HMAC): the order locked,
-- then, for a SUCCESS of an order still CREATED, its account. Answers
-- {"action": "pay" | "done", "order", and for "pay": ulb, account, fy and
-- the payer's contact}.
CREATE OR REPLACE FUNCTION accounts_online_callback_prepare(p_kind jsonb, p_req jsonb,
                                                            p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    o record;
    v_account text;
BEGIN
    SELECT * INTO o FROM online_order WHERE order_id = rule_text(p_req->>'orderId', 'orderId', 1, 64)
        FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM rule_fail('NRNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END IF;
    IF o.status <> 'CREATED' THEN
        RETURN jsonb_build_object('action', 'done', 'order', accounts_order_json(p_kind, o.order_id));
    END IF;
    IF rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000) <> o.amount_paise THEN
        PERFORM rule_fail('NRINV', 'amountPaise', format('order %s is for %s paise, not %s', o.order_id,
                                                       o.amount_paise, p_req->>'amountPaise'));
    END IF;
    IF rule_enum(p_req->>'status', 'status', ARRAY['SUCCESS', 'FAILURE']) = 'FAILURE' THEN
        UPDATE online_order SET status = 'FAILED', provider_ref = coalesce(p_req->>'providerRef', ''),
                                updated_at = now()
        WHERE order_id = o.order_id;
        RETURN jsonb_build_object('action', 'done', 'order', accounts_order_json(p_kind, o.order_id));
    END IF;
    v_account := to_jsonb(o)->>(p_kind->>'column');
    PERFORM accounts_lock(p_kind, v_account);
    RETURN jsonb_build_object('action', 'pay', 'order', accounts_order_json(p_kind, o.order_id),
                              'ulb', o.ulb, 'account', v_account,
                              'fy', rule_fy_text(rule_fy_of(p_today)))
           || accounts_contact(p_kind, v_account);
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
    v_kind jsonb := accounts_kind(p_prefix);
    v_prep jsonb;
    v_order text := p_req->>'orderId';
    v_amount bigint;
    v_taken record;
BEGIN
    PERFORM rule_act(p_actor || jsonb_build_object('userId', 'provider',
                                                   'role', 'PAYMENT_PROVIDER'),
                     'online.callback ' || coalesce(p_req->>'status', ''));
    v_prep := accounts_online_callback_prepare(v_kind, p_req, p_today);
    IF v_prep->>'action' <> 'pay' THEN
        RETURN v_prep;
    END IF;
    v_amount := (v_prep->'order'->>'amountPaise')::bigint;
    v_taken := accounts_receipt_and_ledger(
        v_prep->>'ulb', v_prep->>'fy', 'ONLINE', 'online:' || v_order, 'PAYMENT',
        v_prep->>'account', v_amount,
        jsonb_build_object('mode', 'ONLINE', 'instrumentRef', coalesce(p_req->>'providerRef', ''),
                           'counter', 'ONLINE', 'paidOn', p_today::text, 'by', 'provider',
                           'orderId', v_order),
        'orderId', 'the payment of order ' || v_order);
    EXECUTE format('SELECT %I($1, $2, $3, $4, $5, $6, $7, $8, $9)', p_prefix || '_payment_apply')
        USING 'provider', v_prep->>'account', v_amount, 'ONLINE',
              coalesce(p_req->>'providerRef', ''), 'ONLINE', v_taken.receipt_no,
              v_taken.ledger_seq, p_today;
    UPDATE online_order SET status = 'PAID', receipt_no = v_taken.receipt_no,
                            provider_ref = coalesce(p_req->>'providerRef', ''), updated_at = now()
     WHERE order_id = v_order;
    RETURN v_prep || jsonb_build_object('action', 'paid', 'order', accounts_order_json(v_kind, v_order),
                                        'receiptNo', v_taken.receipt_no, 'amountPaise', v_amount);
END
$$;
