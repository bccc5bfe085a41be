-- 011_payment_one_call.sql — a counter payment in one statement, with the
-- ULB's ledger head locked for as short a time as the chain allows. The
-- same change as property tax's 011 (which says what was measured):
--
--   * wt_payment_record does the money part in one call: the checks, the
--     allocation (connection locked), the receipt number, the ledger row,
--     the payment; the allocation is computed before the receipt counter
--     and the ULB's ledger head are locked. The caller adds the outbox
--     event and the idempotency record in the same transaction.
--   * Every money movement takes its locks in one order — [online order,]
--     connection, receipt counter, ULB ledger head — so none can deadlock
--     another.
--   * ledger_canonical() is STABLE, as its body is, so ledger_append()
--     inlines it instead of planning it for every row; ledger_append()
--     creates a chain head only when it is missing.

ALTER FUNCTION ledger_canonical(text, bigint, text, text, text, text, bigint, text, bigint) STABLE;

CREATE OR REPLACE FUNCTION ledger_append(p_ulb text, p_key text, p_kind text, p_account text,
                                         p_reference text, p_amount bigint, p_detail text)
RETURNS TABLE (entry_seq bigint, entry_hash bytea, entry_recorded_us bigint, created boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_head_seq bigint;
    v_head_hash bytea;
    v_seq bigint;
    v_us bigint;
    v_hash bytea;
    v_old ledger%ROWTYPE;
BEGIN
    IF p_ulb IS NULL OR p_key IS NULL OR p_kind IS NULL OR p_account IS NULL
       OR p_reference IS NULL OR p_amount IS NULL OR p_detail IS NULL THEN
        RAISE EXCEPTION 'ledger_append: every argument is required'
            USING ERRCODE = '22004';
    END IF;
    -- The chain head lock serialises appends of one ULB: sequence numbers
    -- are gap-free and each hash covers its predecessor.
    SELECT h.seq, h.hash INTO v_head_seq, v_head_hash
        FROM ledger_head h WHERE h.ulb = p_ulb FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO ledger_head (ulb, seq, hash) VALUES (p_ulb, 0, decode(repeat('00', 32), 'hex'))
            ON CONFLICT (ulb) DO NOTHING;
        SELECT h.seq, h.hash INTO v_head_seq, v_head_hash
            FROM ledger_head h WHERE h.ulb = p_ulb FOR UPDATE;
    END IF;
    SELECT * INTO v_old FROM ledger l WHERE l.ulb = p_ulb AND l.idempotency_key = p_key;
    IF FOUND THEN
        IF v_old.kind <> p_kind OR v_old.account <> p_account OR v_old.amount_paise <> p_amount THEN
            RAISE EXCEPTION 'ledger key "%" of ULB % already records % of % paise on %',
                p_key, p_ulb, v_old.kind, v_old.amount_paise, v_old.account
                USING ERRCODE = 'LGCON',
                      HINT = 'use a new idempotency key for a new money movement';
        END IF;
        RETURN QUERY SELECT v_old.seq, v_old.hash, v_old.recorded_us, false;
        RETURN;
    END IF;
    v_seq := v_head_seq + 1;
    v_us := floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    v_hash := sha256(v_head_hash || ledger_canonical(p_ulb, v_seq, p_key, p_kind, p_account,
                                                     p_reference, p_amount, p_detail, v_us));
    INSERT INTO ledger (ulb, seq, idempotency_key, kind, account, reference, amount_paise,
                        detail, recorded_us, hash)
        VALUES (p_ulb, v_seq, p_key, p_kind, p_account, p_reference, p_amount, p_detail,
                v_us, v_hash);
    UPDATE ledger_head SET seq = v_seq, hash = v_hash WHERE ulb = p_ulb;
    RETURN QUERY SELECT v_seq, v_hash, v_us, true;
END
$$;

-- How a payment settles a connection's dues (the rule wt_payment_apply has
-- always applied, unchanged): the advance credit and the payment settle the
-- charges oldest first (wt_dues_lines' order); what is left becomes credit
-- (head ADVANCE, the change of the credit).
CREATE TYPE wt_allocation AS (refs text[], heads text[], dates date[], amounts bigint[],
                              advance_after bigint);

CREATE FUNCTION wt_payment_allocate(p_connection text, p_amount bigint, p_today date)
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
CREATE FUNCTION wt_payment_insert(p_ulb text, p_connection text, p_receipt text, p_counter text,
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

-- A counter payment, whole. p_ledger_key is the ledger row's idempotency
-- key (the C side derives it from the caller and the request's
-- Idempotency-Key). Answers {"receipt": Receipt, "ulb", "mobile", "userId"}.
CREATE FUNCTION wt_payment_record(p_actor jsonb, p_req jsonb, p_today date, p_ledger_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_prep jsonb := wt_payment_prepare(p_actor, p_req, p_today);
    v_ulb text := v_prep->>'ulb';
    v_connection text := v_prep->>'connectionId';
    v_counter text := v_prep->>'counter';
    v_amount bigint := (v_prep->>'amountPaise')::bigint;
    v_allocation wt_allocation;
    v_no bigint;
    v_receipt text;
    v_seq bigint;
    v_created boolean;
BEGIN
    PERFORM 1 FROM connection WHERE connection_id = v_connection FOR UPDATE;
    v_allocation := wt_payment_allocate(v_connection, v_amount, p_today);
    -- common/receipt.c's upsert and format: <ulb>/<fy>/<counter>/<6+ digits>.
    INSERT INTO receipt_counter AS c (ulb, fy, counter, last_no)
        VALUES (v_ulb, v_prep->>'fy', v_counter, 1)
        ON CONFLICT (ulb, fy, counter) DO UPDATE SET last_no = c.last_no + 1
        RETURNING last_no INTO v_no;
    v_receipt := format('%s/%s/%s/%s', v_ulb, v_prep->>'fy', v_counter,
                        lpad(v_no::text, greatest(6, length(v_no::text)), '0'));
    SELECT l.entry_seq, l.created INTO v_seq, v_created
        FROM ledger_append(v_ulb, p_ledger_key, 'PAYMENT', v_connection, v_receipt, v_amount,
                           jsonb_build_object('mode', v_prep->>'mode',
                                              'instrumentRef', v_prep->>'instrumentRef',
                                              'counter', v_counter, 'paidOn', p_today::text,
                                              'by', p_actor->>'userId')::text) l;
    IF NOT v_created THEN
        PERFORM wt_fail('WTCON', 'idempotencyKey',
                        format('the ledger already holds row %s for key %s; nothing was recorded',
                               v_seq, p_ledger_key));
    END IF;
    RETURN jsonb_build_object(
        'receipt', wt_payment_insert(v_ulb, v_connection, v_receipt, v_counter, v_prep->>'mode',
                                     v_prep->>'instrumentRef', v_amount, p_today, v_seq,
                                     p_actor->>'userId', v_allocation),
        'ulb', v_ulb, 'mobile', v_prep->'mobile', 'userId', v_prep->'userId');
END
$$;

-- Reversals and online callbacks: the checks as before, then the
-- connection's lock before the C side takes the receipt number.
ALTER FUNCTION wt_reverse_prepare(jsonb, jsonb, date) RENAME TO wt_reverse_check;

CREATE FUNCTION wt_reverse_prepare(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_prep jsonb := wt_reverse_check(p_actor, p_req, p_today);
BEGIN
    PERFORM 1 FROM connection WHERE connection_id = v_prep->>'connectionId' FOR UPDATE;
    RETURN v_prep;
END
$$;

ALTER FUNCTION wt_online_callback_prepare(jsonb, date) RENAME TO wt_online_callback_check;

CREATE FUNCTION wt_online_callback_prepare(p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_prep jsonb := wt_online_callback_check(p_req, p_today);
BEGIN
    IF v_prep->>'action' = 'pay' THEN
        PERFORM 1 FROM connection WHERE connection_id = v_prep->'order'->>'connectionId' FOR UPDATE;
    END IF;
    RETURN v_prep;
END
$$;
