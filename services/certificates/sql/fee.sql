-- fee.sql — certificate fees collected before registration (issue 14 item
-- 3): paid at a counter with a receipt, or waived by the commissioner with
-- a reason; and the day's collection of a ULB.
--
-- Rule functions of the service (common/service_rules.h runs them: f(actor,
-- request, today) answering the reply in proto3 JSON), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. The
-- writers are SECURITY DEFINER (they run as certificates_owner; the app
-- role only reads certificates.fee_settlement). Errors are SQLSTATE NRINV,
-- NRNFD, NRDEN, NRCON, NRPRE (common/sql/rules) with the field's JSON path
-- as DETAIL. Locks are taken in one order: the application's row, then the
-- receipt counter's row (receipt_next), held to the commit — the order
-- registration takes the application's row in, so a payment and a
-- registration of one application queue, never deadlock.

-- The rule a window's fee is charged under (certificates.legal_basis).
CREATE OR REPLACE FUNCTION cert_fee_legal_basis(p_late_window smallint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT b.citation FROM certificates.legal_basis b
                      WHERE b.figure = CASE p_late_window WHEN 2 THEN 'lateFeePaise'
                                                          WHEN 3 THEN 'permissionFeePaise'
                                                          WHEN 4 THEN 'orderFeePaise'
                                                          WHEN 5 THEN 'marriageFeePaise' END), '')
$$;

-- A settlement as the FeeSettlement message; NULL when there is none.
CREATE OR REPLACE FUNCTION cert_fee_settlement_json(p_application text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT jsonb_build_object(
        'applicationId', f.application_id, 'ulb', f.ulb, 'status', f.status,
        'amountPaise', f.amount_paise, 'receiptNo', coalesce(f.receipt_no, ''),
        'mode', coalesce(f.mode, ''), 'instrumentRef', f.instrument_ref,
        'counter', coalesce(f.counter, ''), 'settledOn', f.settled_on::text, 'reason', f.reason,
        'recordedBy', f.recorded_by, 'recordedRole', f.recorded_role,
        'recordedAt', to_char(f.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'legalBasis', cert_fee_legal_basis(a.late_window))
      FROM certificates.fee_settlement f
      JOIN certificates.application a ON a.application_id = f.application_id
     WHERE f.application_id = p_application
$$;

-- Refuses an application (locked by the caller) whose fee cannot be settled
-- now: no longer SUBMITTED, owing no fee, or settled already.
CREATE OR REPLACE FUNCTION cert_fee_unsettled(a certificates.application) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE s certificates.fee_settlement;
BEGIN
    IF a.state <> 1 THEN
        PERFORM rule_fail('NRPRE', 'applicationId',
                          format('application %s was already %s', a.application_id,
                                 CASE a.state WHEN 2 THEN 'registered' ELSE 'rejected' END));
    END IF;
    IF a.fee_paise = 0 THEN
        PERFORM rule_fail('NRPRE', 'applicationId',
                          format('application %s owes no fee: it was reported %s days after the '
                                 'event, within the free period (RBD Act s.8, MP RBD Rules 2024 '
                                 'r.5)', a.application_id, a.delay_days));
    END IF;
    SELECT * INTO s FROM certificates.fee_settlement WHERE application_id = a.application_id;
    IF FOUND THEN
        PERFORM rule_fail('NRPRE', 'applicationId',
                          CASE s.status WHEN 'PAID'
                              THEN format('the fee of application %s was already paid: receipt %s',
                                          a.application_id, s.receipt_no)
                              ELSE format('the fee of application %s was already waived on %s',
                                          a.application_id, s.settled_on) END);
    END IF;
END
$$;

-- The application, locked, when the actor is staff of its ULB in one of
-- p_roles; still SUBMITTED, owing a fee not yet settled.
CREATE OR REPLACE FUNCTION cert_fee_application(p_actor jsonb, p_id text, p_roles text[],
                                                p_what text)
RETURNS certificates.application LANGUAGE plpgsql AS $$
DECLARE
    a certificates.application;
BEGIN
    SELECT * INTO a FROM certificates.application
     WHERE application_id = rule_text(p_id, 'applicationId', 1, 64) FOR UPDATE;
    -- Another ULB's application is not the actor's to see: answered as a
    -- missing one (issue 12).
    IF NOT FOUND OR p_actor->>'role' = 'CITIZEN' OR coalesce(p_actor->>'ulb', '') <> a.ulb THEN
        PERFORM rule_fail('NRNFD', 'applicationId', format('no application has id %s', p_id));
    END IF;
    IF NOT coalesce(p_actor->>'role', '') = ANY (p_roles) THEN
        PERFORM rule_fail('NRDEN', 'applicationId',
                          format('%s of application %s is for a %s of ULB %s', p_what, p_id,
                                 array_to_string(p_roles, ' or '), a.ulb));
    END IF;
    PERFORM cert_fee_unsettled(a);
    RETURN a;
END
$$;

-- application.pay_fee: the fee taken at a counter by a clerk or registrar
-- of the ULB, in full; the receipt number is the next of its counter.
CREATE OR REPLACE FUNCTION cert_fee_pay(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    a certificates.application := cert_fee_application(p_actor, p_req->>'applicationId',
                                                       ARRAY['CLERK', 'REGISTRAR'],
                                                       'taking the fee');
    v_amount bigint := rule_int(coalesce(p_req->'amountPaise', '0'::jsonb), 'amountPaise', 0,
                                1000000000);
    v_mode text := rule_counter_mode(p_req->>'mode');
    v_ref text := btrim(coalesce(p_req->>'instrumentRef', ''));
    v_counter text := coalesce(p_req->>'counter', '');
    v_receipt text;
BEGIN
    PERFORM rule_act(p_actor, 'application.pay_fee');   -- on the fee_settlement's history
    IF v_amount <> a.fee_paise THEN
        PERFORM rule_fail('NRINV', 'amountPaise',
                          format('the fee of application %s is %s paise (Rs %s, %s); it is paid in '
                                 'full, not %s paise', a.application_id, a.fee_paise,
                                 to_char(a.fee_paise / 100.0, 'FM9999999990.00'),
                                 cert_fee_legal_basis(a.late_window), v_amount));
    END IF;
    PERFORM rule_instrument_ref(v_mode, v_ref);
    IF v_counter !~ '^[A-Z0-9]{1,12}$' THEN
        PERFORM rule_fail('NRINV', 'counter', 'counter must be 1 to 12 of A-Z, 0-9');
    END IF;
    IF v_counter = 'ONLINE' THEN    -- its series is the online payments' (cert_online_callback)
        PERFORM rule_fail('NRINV', 'counter',
                          'counter ONLINE numbers the fees paid online; name the counter you '
                          'took the money at');
    END IF;
    v_receipt := receipt_next(a.ulb, rule_fy_text(rule_fy_of(p_today)), 'CF' || v_counter);
    INSERT INTO certificates.fee_settlement (application_id, ulb, status, amount_paise,
        receipt_no, mode, instrument_ref, counter, settled_on, recorded_by, recorded_role)
    VALUES (a.application_id, a.ulb, 'PAID', a.fee_paise, v_receipt, v_mode, v_ref, v_counter,
            p_today, p_actor->>'userId', p_actor->>'role');
    PERFORM rule_audit(p_actor, a.ulb, 'application.fee_paid', a.application_id,
                       jsonb_build_object('receiptNo', v_receipt, 'amountPaise', a.fee_paise,
                                          'mode', v_mode, 'instrumentRef', v_ref,
                                          'counter', v_counter));
    RETURN cert_fee_settlement_json(a.application_id);
END
$$;

-- application.waive_fee: the commissioner of the ULB waives the fee, with
-- a reason that the certificate and the register show.
CREATE OR REPLACE FUNCTION cert_fee_waive(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    a certificates.application := cert_fee_application(p_actor, p_req->>'applicationId',
                                                       ARRAY['COMMISSIONER'], 'waiving the fee');
    v_reason text := btrim(coalesce(p_req->>'reason', ''));
BEGIN
    PERFORM rule_act(p_actor, 'application.waive_fee: ' || v_reason);
    IF char_length(v_reason) < 3 OR char_length(v_reason) > 300 OR v_reason ~ '[[:cntrl:]]' THEN
        PERFORM rule_fail('NRINV', 'reason',
                          'reason must be 3 to 300 characters (spaces at either end do not count) '
                          'without control characters: why the fee is waived');
    END IF;
    INSERT INTO certificates.fee_settlement (application_id, ulb, status, amount_paise,
        settled_on, reason, recorded_by, recorded_role)
    VALUES (a.application_id, a.ulb, 'WAIVED', a.fee_paise, p_today, v_reason,
            p_actor->>'userId', p_actor->>'role');
    PERFORM rule_audit(p_actor, a.ulb, 'application.fee_waived', a.application_id,
                       jsonb_build_object('amountPaise', a.fee_paise, 'reason', v_reason));
    RETURN cert_fee_settlement_json(a.application_id);
END
$$;

-- fees.collection: what a ULB took (and waived) on one day, for its staff
-- (CLERK, REGISTRAR, COMMISSIONER) and the STATE_ADMIN.
CREATE OR REPLACE FUNCTION cert_fee_collection(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text := coalesce(nullif(p_req->>'ulb', ''), p_actor->>'ulb', '');
    v_day date := CASE WHEN coalesce(p_req->>'onDate', '') = '' THEN p_today
                       ELSE rule_parse_date(p_req->>'onDate', 'onDate') END;
BEGIN
    PERFORM rule_require_role(p_actor, ARRAY['CLERK', 'REGISTRAR', 'COMMISSIONER', 'STATE_ADMIN'],
                              'reading the fees collected');
    PERFORM rule_ulb_arg(v_ulb, 'ulb');
    IF p_actor->>'role' <> 'STATE_ADMIN' AND coalesce(p_actor->>'ulb', '') <> v_ulb THEN
        PERFORM rule_fail('NRDEN', 'ulb', format('staff read the collection of their own ULB (%s), '
                                                 'not of %s', p_actor->>'ulb', v_ulb));
    END IF;
    RETURN (
        WITH day AS (
            SELECT f.*, cert_fee_settlement_json(f.application_id) AS j
              FROM certificates.fee_settlement f
             WHERE f.ulb = v_ulb AND f.settled_on = v_day)
        SELECT jsonb_build_object(
            'ulb', v_ulb, 'onDate', v_day::text,
            'receipts', (SELECT count(*) FROM day WHERE status = 'PAID'),
            'collectedPaise', (SELECT coalesce(sum(amount_paise), 0) FROM day
                                WHERE status = 'PAID'),
            'byMode', coalesce((SELECT jsonb_agg(jsonb_build_object('mode', m.mode,
                                                                    'receipts', m.n,
                                                                    'amountPaise', m.total)
                                                 ORDER BY m.mode)
                                  FROM (SELECT mode, count(*) AS n, sum(amount_paise) AS total
                                          FROM day WHERE status = 'PAID' GROUP BY mode) m), '[]'),
            'paid', coalesce((SELECT jsonb_agg(j ORDER BY receipt_no) FROM day
                               WHERE status = 'PAID'), '[]'),
            'waivers', (SELECT count(*) FROM day WHERE status = 'WAIVED'),
            'waivedPaise', (SELECT coalesce(sum(amount_paise), 0) FROM day
                             WHERE status = 'WAIVED'),
            'waived', coalesce((SELECT jsonb_agg(j ORDER BY recorded_at) FROM day
                                 WHERE status = 'WAIVED'), '[]')));
END
$$;

-- ---- the fee paid online (migration 008) --------------------------------------------
--
-- The flow is property tax's and water charges' (common/rules_money.c,
-- nagar_rules_online_*, with rule prefix "cert"): cert_online_initiate
-- answers the order, which the C side signs for the provider's checkout;
-- the C side verifies the provider's callback signature before
-- cert_online_callback runs. Locks in one order: the order's row, the
-- application's row, the receipt counter's row.

-- An application's kind as events name it (nagar.certificates.EventKind).
CREATE OR REPLACE FUNCTION cert_kind_name(p_kind smallint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_kind WHEN 1 THEN 'birth' WHEN 2 THEN 'death' WHEN 3 THEN 'marriage' END
$$;

CREATE OR REPLACE FUNCTION cert_fee_order_json(p_order text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('orderId', o.order_id, 'applicationId', o.application_id,
                              'ulb', o.ulb, 'amountPaise', o.amount_paise, 'status', o.status,
                              'receiptNo', o.receipt_no, 'providerRef', o.provider_ref,
                              'legalBasis', cert_fee_legal_basis(a.late_window), 'note', o.note,
                              'updatedAt', to_char(o.updated_at AT TIME ZONE 'UTC',
                                                   'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
           || coalesce((SELECT jsonb_build_object('refund', jsonb_build_object(
                            'mode', r.mode, 'reference', r.reference,
                            'refundedOn', r.refunded_on::text, 'recordedBy', r.recorded_by,
                            'recordedRole', r.recorded_role,
                            'recordedAt', to_char(r.recorded_at AT TIME ZONE 'UTC',
                                                  'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
                          FROM certificates.fee_refund r WHERE r.order_id = o.order_id),
                        '{}'::jsonb)
      FROM certificates.fee_order o
      JOIN certificates.application a ON a.application_id = o.application_id
     WHERE o.order_id = p_order
$$;

-- Whether the actor may see an application's fee: its orders and its
-- receipt. The citizen who applied, and staff of the application's ULB.
CREATE OR REPLACE FUNCTION cert_fee_visible(p_actor jsonb, p_ulb text, p_applicant text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE coalesce(p_actor->>'role', '')
               WHEN 'CITIZEN' THEN coalesce(p_actor->>'userId', '') = p_applicant
               ELSE coalesce(p_actor->>'ulb', '') = p_ulb END
$$;

-- The online order the request's "orderId" names, locked FOR UPDATE when
-- p_lock. One the actor may not see is answered as one that does not exist
-- (NRNFD "no online order has id X"): staff of its ULB see it, the citizen
-- who applied too when p_applicant_sees; p_actor NULL is the provider's
-- verified callback, which reaches every order.
CREATE OR REPLACE FUNCTION cert_fee_order_for(p_actor jsonb, p_req jsonb, p_applicant_sees boolean,
                                              p_lock boolean) RETURNS certificates.fee_order
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := rule_text(p_req->>'orderId', 'orderId', 1, 64);
    o certificates.fee_order;
BEGIN
    IF p_lock THEN
        SELECT * INTO o FROM certificates.fee_order WHERE order_id = v_id FOR UPDATE;
    ELSE
        SELECT * INTO o FROM certificates.fee_order WHERE order_id = v_id;
    END IF;
    IF o.order_id IS NULL
       OR (p_actor IS NOT NULL
           AND cert_fee_visible(p_actor, o.ulb,
                                CASE WHEN p_applicant_sees
                                     THEN (SELECT a.applicant FROM certificates.application a
                                            WHERE a.application_id = o.application_id) END)
               IS NOT TRUE) THEN
        PERFORM rule_fail('NRNFD', 'orderId', format('no online order has id %s', v_id));
    END IF;
    RETURN o;
END
$$;

-- fee_online.initiate: the applicant (a citizen, the one who applied) pays
-- the fee the service computed — there is no amount in the request. Staff
-- of the ULB take the fee at a counter instead; anyone else does not see
-- the application. Each call is a new order (an abandoned checkout is
-- simply never called back); the first SUCCESS settles the fee.
CREATE OR REPLACE FUNCTION cert_online_initiate(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    a certificates.application;
    v_id text := rule_text(p_req->>'applicationId', 'applicationId', 1, 64);
    v_order text := 'cf' || replace(gen_random_uuid()::text, '-', '');
    v_citizen boolean := coalesce(p_actor->>'role', '') = 'CITIZEN';
BEGIN
    PERFORM rule_act(p_actor, 'fee_online.initiate');
    SELECT * INTO a FROM certificates.application WHERE application_id = v_id FOR UPDATE;
    IF NOT FOUND OR NOT cert_fee_visible(p_actor, a.ulb, a.applicant) THEN
        PERFORM rule_fail('NRNFD', 'applicationId', format('no application has id %s', v_id));
    END IF;
    IF NOT v_citizen THEN
        PERFORM rule_fail('NRDEN', 'applicationId',
                          format('the fee of application %s is paid online by the citizen who '
                                 'applied; staff take it at a counter (fee/payment)', v_id));
    END IF;
    PERFORM cert_fee_unsettled(a);
    INSERT INTO certificates.fee_order (order_id, application_id, ulb, amount_paise, status,
                                        created_by)
    VALUES (v_order, a.application_id, a.ulb, a.fee_paise, 'CREATED', p_actor->>'userId');
    PERFORM rule_audit(p_actor, a.ulb, 'application.fee_order_created', a.application_id,
                       jsonb_build_object('orderId', v_order, 'amountPaise', a.fee_paise));
    RETURN cert_fee_order_json(v_order);
END
$$;

-- fee_online.get: the order, for the applicant and staff of its ULB.
CREATE OR REPLACE FUNCTION cert_online_get(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE o certificates.fee_order := cert_fee_order_for(p_actor, p_req, true, false);
BEGIN
    RETURN cert_fee_order_json(o.order_id);
END
$$;

-- fee_online.callback, once the C side verified the provider's signature:
-- a SUCCESS for an order still CREATED settles its application's fee,
-- once, with a receipt of counter ONLINE; a FAILURE marks the order
-- FAILED; a repeated callback answers the order as it stands. Answers
-- {"action", "order", ...}: "recorded" when the fee was settled now (not
-- "paid": on "paid" the C side would publish payment.received, an event
-- notifications takes from the tax services only), "refund_due" when the
-- money arrived after the fee was settled another way, "done" otherwise.
-- "recorded" and "refund_due" also carry the ulb, applicationId,
-- applicantUserId, kind and amountPaise (and receiptNo) of the applicant's
-- message, certificate.fee_paid or certificate.fee_refund_due
-- (fee_payment.c).
CREATE OR REPLACE FUNCTION cert_online_callback(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_ref text := coalesce(p_req->>'providerRef', '');
    v_provider jsonb := p_actor || jsonb_build_object('userId', 'provider',
                                                      'role', 'PAYMENT_PROVIDER');
    o certificates.fee_order;
    a certificates.application;
    s certificates.fee_settlement;
    v_note text;
    v_receipt text;
BEGIN
    PERFORM rule_act(v_provider, 'fee_online.callback ' || coalesce(p_req->>'status', ''));
    o := cert_fee_order_for(NULL, p_req, false, true);
    IF o.status <> 'CREATED' THEN
        RETURN jsonb_build_object('action', 'done', 'order', cert_fee_order_json(o.order_id));
    END IF;
    IF rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000) <> o.amount_paise THEN
        PERFORM rule_fail('NRINV', 'amountPaise',
                          format('order %s is for %s paise, the fee of application %s, not %s '
                                 'paise; nothing was recorded', o.order_id, o.amount_paise,
                                 o.application_id, p_req->>'amountPaise'));
    END IF;
    IF rule_enum(p_req->>'status', 'status', ARRAY['SUCCESS', 'FAILURE']) = 'FAILURE' THEN
        UPDATE certificates.fee_order SET status = 'FAILED', provider_ref = v_ref,
                                          updated_at = now()
         WHERE order_id = o.order_id;
        RETURN jsonb_build_object('action', 'done', 'order', cert_fee_order_json(o.order_id));
    END IF;
    SELECT * INTO a FROM certificates.application WHERE application_id = o.application_id
        FOR UPDATE;
    SELECT * INTO s FROM certificates.fee_settlement WHERE application_id = a.application_id;
    -- The provider took the money, but the fee was settled meanwhile (at a
    -- counter, waived, by another order) or the application decided: it is
    -- not taken twice; the order says it is to be refunded, and why.
    IF s.application_id IS NOT NULL OR a.state <> 1 THEN
        v_note := CASE WHEN s.status = 'PAID'
                           THEN format('the fee was already paid: receipt %s', s.receipt_no)
                       WHEN s.status = 'WAIVED'
                           THEN format('the fee was waived on %s', s.settled_on)
                       ELSE format('the application was %s before the payment arrived',
                                   CASE a.state WHEN 2 THEN 'registered' ELSE 'rejected' END)
                  END || '; the payment is to be refunded';
        UPDATE certificates.fee_order SET status = 'REFUND_DUE', provider_ref = v_ref,
                                          note = v_note, updated_at = now()
         WHERE order_id = o.order_id;
        PERFORM rule_audit(v_provider, a.ulb, 'application.fee_refund_due', a.application_id,
                           jsonb_build_object('orderId', o.order_id, 'amountPaise',
                                              o.amount_paise, 'providerRef', v_ref,
                                              'note', v_note));
        RETURN jsonb_build_object('action', 'refund_due', 'order', cert_fee_order_json(o.order_id),
                                  'ulb', a.ulb, 'applicationId', a.application_id,
                                  'applicantUserId', a.applicant, 'kind', cert_kind_name(a.kind),
                                  'amountPaise', o.amount_paise);
    END IF;
    v_receipt := receipt_next(a.ulb, rule_fy_text(rule_fy_of(p_today)), 'CFONLINE');
    INSERT INTO certificates.fee_settlement (application_id, ulb, status, amount_paise,
        receipt_no, mode, instrument_ref, counter, settled_on, recorded_by, recorded_role)
    VALUES (a.application_id, a.ulb, 'PAID', o.amount_paise, v_receipt, 'ONLINE', v_ref,
            'ONLINE', p_today, 'provider', 'PAYMENT_PROVIDER');
    UPDATE certificates.fee_order SET status = 'PAID', receipt_no = v_receipt,
                                      provider_ref = v_ref, updated_at = now()
     WHERE order_id = o.order_id;
    PERFORM rule_audit(v_provider, a.ulb, 'application.fee_paid', a.application_id,
                       jsonb_build_object('receiptNo', v_receipt, 'amountPaise', o.amount_paise,
                                          'mode', 'ONLINE', 'orderId', o.order_id,
                                          'providerRef', v_ref));
    RETURN jsonb_build_object('action', 'recorded', 'order', cert_fee_order_json(o.order_id),
                              'ulb', a.ulb, 'receiptNo', v_receipt,
                              'amountPaise', o.amount_paise, 'applicationId', a.application_id,
                              'applicantUserId', a.applicant, 'kind', cert_kind_name(a.kind));
END
$$;

-- ---- the fee receipt ------------------------------------------------------------------

-- fee_receipt.get: the receipt of an application's fee, paid at a counter
-- or online, as common/receipt_print.h prints it: one line, the fee's head
-- (the window it was charged for), and notes with the legal basis. For the
-- citizen who applied and staff of the ULB; to anyone else the application
-- does not exist. A waived fee, or one still due, has no receipt.
CREATE OR REPLACE FUNCTION cert_fee_receipt_get(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_id text := rule_text(p_req->>'applicationId', 'applicationId', 1, 64);
    a certificates.application;
    s certificates.fee_settlement;
    v_order text;
BEGIN
    SELECT * INTO a FROM certificates.application WHERE application_id = v_id;
    IF NOT FOUND OR NOT cert_fee_visible(p_actor, a.ulb, a.applicant) THEN
        PERFORM rule_fail('NRNFD', 'applicationId', format('no application has id %s', v_id));
    END IF;
    SELECT * INTO s FROM certificates.fee_settlement WHERE application_id = a.application_id;
    IF s.status IS DISTINCT FROM 'PAID' THEN
        PERFORM rule_fail('NRPRE', 'applicationId',
                          format('application %s has no fee receipt: %s', v_id,
                                 CASE WHEN s.status = 'WAIVED'
                                          THEN format('its fee was waived on %s (a waiver is no '
                                                      'payment)', s.settled_on)
                                      WHEN a.fee_paise = 0 THEN 'it owes no fee'
                                      ELSE format('its fee of %s paise is still due',
                                                  a.fee_paise) END));
    END IF;
    SELECT order_id INTO v_order FROM certificates.fee_order
     WHERE application_id = a.application_id AND status = 'PAID';
    RETURN jsonb_build_object(
        'receiptNo', s.receipt_no, 'ulb', s.ulb, 'applicationId', s.application_id,
        'amountPaise', s.amount_paise, 'mode', s.mode, 'instrumentRef', s.instrument_ref,
        'counter', s.counter, 'paidOn', s.settled_on::text, 'recordedBy', s.recorded_by,
        'allocations', jsonb_build_array(jsonb_build_object(
            'period', '', 'amountPaise', s.amount_paise,
            'head', CASE a.late_window WHEN 2 THEN 'LATE_FEE_30_DAYS'
                                       WHEN 3 THEN 'LATE_FEE_1_YEAR'
                                       WHEN 4 THEN 'LATE_FEE_OVER_1_YEAR'
                                       ELSE 'MARRIAGE_CERTIFICATE_FEE' END)),
        'notes', jsonb_build_array(
            jsonb_build_object('hi', 'विधिक आधार', 'en', 'Legal basis',
                               'value', cert_fee_legal_basis(a.late_window)),
            jsonb_build_object('hi', 'घटना के बाद सूचना', 'en', 'Reported after the event',
                               'value', CASE WHEN a.kind = 3 THEN '—'
                                             ELSE format('%s दिन / %s days', a.delay_days,
                                                         a.delay_days) END))
            || CASE WHEN v_order IS NULL THEN '[]'::jsonb
                    ELSE jsonb_build_array(jsonb_build_object(
                             'hi', 'ऑनलाइन ऑर्डर', 'en', 'Online order', 'value', v_order)) END);
END
$$;

-- ---- refunds of online payments that came too late (migration 010) ------------------
--
-- An online payment that arrived after the fee was settled another way is
-- REFUND_DUE (cert_online_callback): the ULB pays it back outside Nagar
-- (through the provider, a bank transfer, a cheque or cash) and records
-- that it did, once, as a row of certificates.fee_refund — an entry of its
-- own on the hash-chained history, written only here (the app role cannot
-- insert, update or delete it; nobody can update or delete it). The order
-- itself is not changed: it stays REFUND_DUE, with its refund beside it.

-- The staff of an order's ULB who handle refunds.
CREATE OR REPLACE FUNCTION cert_fee_refund_staff(p_actor jsonb, p_ulb text, p_what text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rule_require_role(p_actor, ARRAY['CLERK', 'REGISTRAR', 'COMMISSIONER'], p_what);
    IF coalesce(p_actor->>'ulb', '') <> p_ulb THEN
        PERFORM rule_fail('NRDEN', 'ulb', format('staff of ULB %s handle the refunds of their own '
                                                 'ULB, not of %s', p_actor->>'ulb', p_ulb));
    END IF;
END
$$;

-- fee_refund.list: a ULB's online fee payments to be refunded (state DUE,
-- the default), refunded (REFUNDED) or both (ALL), oldest first (by when
-- the payment was found to be due for a refund), a page at a time; with
-- the number and total still due. For the ULB's CLERK, REGISTRAR and
-- COMMISSIONER.
CREATE OR REPLACE FUNCTION cert_fee_refunds_list(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text := coalesce(nullif(p_req->>'ulb', ''), p_actor->>'ulb', '');
    v_state text := rule_enum(coalesce(nullif(p_req->>'state', ''), 'DUE'), 'state',
                              ARRAY['DUE', 'REFUNDED', 'ALL']);
    v_size integer := rule_page_size(p_req, 100, 50);
    v_token text := rule_page_after(p_req, '^cf[0-9a-f]{32}$');   -- the page before's last order
    v_after certificates.fee_order;
    v_ids text[];
BEGIN
    PERFORM rule_ulb_arg(v_ulb, 'ulb');
    PERFORM cert_fee_refund_staff(p_actor, v_ulb, 'reading the fee refunds');
    IF v_token <> '' THEN
        SELECT * INTO v_after FROM certificates.fee_order
         WHERE order_id = v_token AND ulb = v_ulb AND status = 'REFUND_DUE';
        IF NOT FOUND THEN
            PERFORM rule_fail('NRINV', 'pageToken', 'pageToken is not one this list issued');
        END IF;
    END IF;
    SELECT array_agg(x.order_id ORDER BY x.updated_at, x.order_id) INTO v_ids FROM (
        SELECT o.order_id, o.updated_at FROM certificates.fee_order o
         WHERE o.ulb = v_ulb AND o.status = 'REFUND_DUE'
           AND (v_token = '' OR (o.updated_at, o.order_id) > (v_after.updated_at, v_after.order_id))
           AND CASE v_state
                   WHEN 'DUE' THEN NOT EXISTS (SELECT FROM certificates.fee_refund r
                                                WHERE r.order_id = o.order_id)
                   WHEN 'REFUNDED' THEN EXISTS (SELECT FROM certificates.fee_refund r
                                                 WHERE r.order_id = o.order_id)
                   ELSE true END
         ORDER BY o.updated_at, o.order_id LIMIT v_size + 1) x;
    RETURN jsonb_build_object(
        'orders', coalesce((SELECT jsonb_agg(cert_fee_order_json(i) ORDER BY n)
                              FROM unnest(v_ids[1:v_size]) WITH ORDINALITY AS u(i, n)), '[]'),
        'nextPageToken', rule_page_next(v_ids, v_size),
        'dueCount', (SELECT count(*) FROM certificates.fee_order o
                      WHERE o.ulb = v_ulb AND o.status = 'REFUND_DUE'
                        AND NOT EXISTS (SELECT FROM certificates.fee_refund r
                                         WHERE r.order_id = o.order_id)),
        'duePaise', (SELECT coalesce(sum(o.amount_paise), 0) FROM certificates.fee_order o
                      WHERE o.ulb = v_ulb AND o.status = 'REFUND_DUE'
                        AND NOT EXISTS (SELECT FROM certificates.fee_refund r
                                         WHERE r.order_id = o.order_id)));
END
$$;

-- fee_refund.record: the ULB's CLERK, REGISTRAR or COMMISSIONER records
-- that a REFUND_DUE order's money was paid back: how (mode), the reference
-- of the transfer, cheque or voucher, and the day (not before the payment,
-- not after today). Once per order. Answers the order with its refund.
CREATE OR REPLACE FUNCTION cert_fee_refund_record(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_mode text := rule_enum(p_req->>'mode', 'mode',
                             ARRAY['PROVIDER', 'BANK_TRANSFER', 'CHEQUE', 'CASH']);
    v_ref text := btrim(coalesce(p_req->>'reference', ''));
    v_on date;
    o certificates.fee_order;
    r certificates.fee_refund;
BEGIN
    PERFORM rule_act(p_actor, 'fee_refund.record');
    o := cert_fee_order_for(p_actor, p_req, false, true);
    PERFORM cert_fee_refund_staff(p_actor, o.ulb, 'recording a refund');
    IF o.status <> 'REFUND_DUE' THEN
        PERFORM rule_fail('NRPRE', 'orderId',
                          format('order %s is %s: only a payment due for a refund (REFUND_DUE) is '
                                 'refunded', o.order_id, o.status));
    END IF;
    SELECT * INTO r FROM certificates.fee_refund WHERE order_id = o.order_id;
    IF FOUND THEN
        PERFORM rule_fail('NRPRE', 'orderId',
                          format('order %s was already refunded on %s (%s %s, recorded by %s)',
                                 o.order_id, r.refunded_on, r.mode, r.reference, r.recorded_by));
    END IF;
    IF v_ref !~ '^[A-Za-z0-9/._-]{1,64}$' THEN
        PERFORM rule_fail('NRINV', 'reference',
                          'reference must be 1 to 64 of A-Z a-z 0-9 / . _ - (spaces at either end '
                          'do not count): the refund''s id at the provider, the bank transfer''s '
                          'UTR, or the cheque or voucher number');
    END IF;
    v_on := CASE WHEN coalesce(p_req->>'refundedOn', '') = '' THEN p_today
                 ELSE rule_parse_date(p_req->>'refundedOn', 'refundedOn') END;
    IF v_on > p_today OR v_on < (o.created_at AT TIME ZONE 'Asia/Kolkata')::date THEN
        PERFORM rule_fail('NRINV', 'refundedOn',
                          format('refundedOn must be between the day of the payment (%s) and '
                                 'today (%s)', (o.created_at AT TIME ZONE 'Asia/Kolkata')::date,
                                 p_today));
    END IF;
    INSERT INTO certificates.fee_refund (order_id, application_id, ulb, amount_paise, mode,
                                         reference, refunded_on, recorded_by, recorded_role)
    VALUES (o.order_id, o.application_id, o.ulb, o.amount_paise, v_mode, v_ref, v_on,
            p_actor->>'userId', p_actor->>'role');
    PERFORM rule_audit(p_actor, o.ulb, 'application.fee_refunded', o.application_id,
                       jsonb_build_object('orderId', o.order_id, 'amountPaise', o.amount_paise,
                                          'mode', v_mode, 'reference', v_ref,
                                          'refundedOn', v_on::text));
    RETURN cert_fee_order_json(o.order_id);
END
$$;

-- The app role reaches the entry points above (SECURITY DEFINER), nothing else
-- (common/sql/rules 002: rules-only writes).
SELECT rules_grant_entry_points();
