-- accounts 005 — the functions every service that keeps accounts had, each
-- in its own copy alike but for the names of its account: its credit, who
-- may reach an account, a counter payment whole, a payment's rows, and the
-- entry points of receipts, reversals and online orders. Written once here
-- as templates; accounts_define(kind) makes them in the service's schema
-- with its names, so that they run as static SQL (planned once per
-- session, as before: the counter payment is the money path the benchmark
-- holds to its figures, and an EXECUTE per step costs ~10 µs each).
--
-- requires: rules, receipt, ledger
--
-- The kind is the service's <prefix>_account_kind() (accounts 003) with
-- keys more: "title", how a message names one that is missing ("no water
-- connection 802462-W005-000123"); "idPattern" and "idExample", the form of
-- its id and an example of it; and "lines", the columns of its allocation
-- table that a payment's lines fill, each with the array of its
-- <prefix>_allocation type that holds them, in order — property tax
-- [["fy", "fys"], ["head", "heads"], ["kind", "kinds"]], water tax
-- [["ref", "refs"], ["head", "heads"], ["charged_on", "dates"]]. Every
-- name is checked before it is used.
--
-- A service calls accounts_define(<prefix>_account_kind()) from the rule
-- file that sorts first (sql/account.sql), so that the functions exist
-- before the rule files whose SQL-language functions call them, and keeps
-- what is its own (accounts 003 and here):
--
--   <prefix>_held_by(account row, user id)  whether a citizen holds it
--   <prefix>_payment_prepare(actor, request, today)  a counter payment's
--        checks: accounts_payment_fields, ulb, fy, <key> and the contact
--   <prefix>_payment_allocate(account, ulb, amount, today)  how the payment
--        settles the dues: a <prefix>_allocation
--   <prefix>_payable(account, ulb, today)  what it owes now, after credit
--        (and a rebate a payment in full would earn)
--   <prefix>_dues_json(account, ulb, as of)  its dues on a day (Dues)
--   <prefix>_receipt_json(payment id), <prefix>_contact(account)
--
-- accounts_define makes, with the names and parameter names of the copies
-- they replace (so CREATE OR REPLACE keeps them in place on an upgrade):
--
--   <prefix>_<table>_for(actor, id, field, roles, lock)  the account if the
--        actor may reach it: one of roles, staff of its ULB, a STATE_ADMIN,
--        a citizen who holds it; locked FOR UPDATE when lock. One it may
--        not reach is answered as one that does not exist (NRNFD on field)
--   <prefix>_advance_of(p_<table>)  the account's credit (head ADVANCE)
--   <prefix>_account_visible(actor, p_<table>, field)  refuses an account
--        the actor may not reach, for any role that may read it
--   <prefix>_payment_insert(...)  a payment and its allocation lines;
--        answers its Receipt
--   <prefix>_payment_apply(...)  a payment that has its receipt and ledger
--        row (the online callback): locks the account, allocates, inserts
--   and the SECURITY DEFINER entry points <prefix>_dues (anyone who may
--   read the account; "asOf", default today), <prefix>_payment_record (the
--   counter payment: checks, lock, allocation, no overpayment, receipt
--   number and ledger row, payment, in one call), _receipt_get,
--   _payment_reverse, _online_initiate, _online_get, _online_callback.
--
-- The caller's rule file calls rules_grant_entry_points() after it.

-- The names a template may use, from a kind, each checked: {p} prefix,
-- {table}, {column}, {key}, {noun}, {title} (in messages, "no {title} <id>"),
-- {id_pattern} and {id_example} (quoted literals: the account id's form and
-- an example of it), and from "lines" {line_columns} (fy, head, kind),
-- {line_values} (t.fy, t.head, t.kind) and {line_arrays}
-- (p_allocation.fys, p_allocation.heads, p_allocation.kinds).
CREATE OR REPLACE FUNCTION accounts_template_names(p_kind jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_names jsonb := jsonb_build_object(
        'p', rule_id_arg(p_kind->>'prefix', 'prefix', '^[a-z]{1,8}$', 'a rule prefix such as pt'),
        'table', rule_id_arg(p_kind->>'table', 'table', '^[a-z][a-z_]{0,40}$',
                             'a table name such as property'),
        'column', rule_id_arg(p_kind->>'column', 'column', '^[a-z][a-z_]{0,40}$',
                              'a column name such as property_id'),
        'key', rule_id_arg(p_kind->>'key', 'key', '^[a-zA-Z]{1,40}$',
                           'a JSON name such as propertyId'),
        'noun', rule_id_arg(p_kind->>'noun', 'noun', '^[a-z][a-z ]{0,40}$',
                            'a noun such as property'),
        'title', rule_id_arg(p_kind->>'title', 'title', '^[a-z][a-z ]{0,40}$',
                             'a noun such as water connection'),
        'id_pattern', quote_literal(rule_text(p_kind->>'idPattern', 'idPattern', 2, 200)),
        'id_example', quote_literal(rule_text(p_kind->>'idExample', 'idExample', 2, 200)));
    v_line jsonb;
BEGIN
    PERFORM '' ~ (p_kind->>'idPattern');   -- a pattern that does not compile fails here
    IF jsonb_typeof(p_kind->'lines') IS DISTINCT FROM 'array'
       OR jsonb_array_length(p_kind->'lines') NOT BETWEEN 1 AND 8 THEN
        PERFORM rule_fail('NRINV', 'lines', 'lines must list 1 to 8 [column, array] pairs');
    END IF;
    FOR v_line IN SELECT e FROM jsonb_array_elements(p_kind->'lines') e LOOP
        PERFORM rule_id_arg(v_line->>0, 'lines', '^[a-z][a-z_]{0,40}$',
                            'a list of [column, array] pairs such as [["fy", "fys"]]');
        PERFORM rule_id_arg(v_line->>1, 'lines', '^[a-z][a-z_]{0,40}$',
                            'a list of [column, array] pairs such as [["fy", "fys"]]');
    END LOOP;
    RETURN v_names || (SELECT jsonb_build_object(
                               'line_columns', string_agg(e->>0, ', ' ORDER BY n),
                               'line_values', string_agg('t.' || (e->>0), ', ' ORDER BY n),
                               'line_arrays', string_agg('p_allocation.' || (e->>1), ', ' ORDER BY n))
                       FROM jsonb_array_elements(p_kind->'lines') WITH ORDINALITY AS l(e, n));
END
$$;

-- Makes each template (a CREATE OR REPLACE FUNCTION statement) with the
-- kind's names (accounts_template_names).
CREATE OR REPLACE FUNCTION accounts_make(p_kind jsonb, p_templates text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_names jsonb := accounts_template_names(p_kind);
    v_template text;
    v_sql text;
    k text;
BEGIN
    FOREACH v_template IN ARRAY p_templates LOOP
        v_sql := v_template;
        FOR k IN SELECT jsonb_object_keys(v_names) LOOP
            v_sql := replace(v_sql, '{' || k || '}', v_names->>k);
        END LOOP;
        EXECUTE v_sql;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION accounts_define(p_kind jsonb) RETURNS void
LANGUAGE plpgsql AS $define$
BEGIN
    PERFORM accounts_make(p_kind, ARRAY[
$t$
CREATE OR REPLACE FUNCTION {p}_{table}_for(p_actor jsonb, p_id text, p_field text, p_roles text[],
                                           p_lock boolean) RETURNS {table}
LANGUAGE plpgsql AS $f$
DECLARE a {table};
BEGIN
    PERFORM rule_require_role(p_actor, p_roles, 'this');
    PERFORM rule_id_arg(p_id, p_field, {id_pattern}, {id_example});
    IF p_lock THEN
        SELECT * INTO a FROM {table} WHERE {column} = p_id FOR UPDATE;
    ELSE
        SELECT * INTO a FROM {table} WHERE {column} = p_id;
    END IF;
    -- One the actor may not reach is answered as one that does not exist
    -- (rules 003); a citizen reaches what they hold.
    PERFORM rule_check_reach(p_actor, FOUND, a.ulb,
                             CASE WHEN p_actor->>'role' = 'CITIZEN'
                                  THEN {p}_held_by(a, p_actor->>'userId') END,
                             p_field, format('no {title} %s', p_id));
    RETURN a;
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_dues(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $f$
DECLARE
    a {table} := {p}_{table}_for(p_actor, p_req->>'{key}', '{key}',
                                 ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                       'STATE_ADMIN'], false);
    v_as_of date := p_today;
BEGIN
    IF coalesce(p_req->>'asOf', '') <> '' THEN
        v_as_of := rule_parse_date(p_req->>'asOf', 'asOf');
    END IF;
    RETURN {p}_dues_json(a.{column}, a.ulb, v_as_of);
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_advance_of(p_{table} text) RETURNS bigint LANGUAGE plpgsql STABLE AS $f$
BEGIN
    RETURN (SELECT coalesce(sum(amount_paise), 0)::bigint FROM allocation
            WHERE {column} = p_{table} AND head = 'ADVANCE');
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_account_visible(p_actor jsonb, p_{table} text, p_field text)
RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM {p}_{table}_for(p_actor, p_{table}, p_field,
                            ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                  'STATE_ADMIN'], false);
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_payment_insert(p_ulb text, p_{table} text, p_receipt text,
                                              p_counter text, p_mode text, p_ref text,
                                              p_amount bigint, p_today date, p_ledger_seq bigint,
                                              p_recorded_by text, p_allocation {p}_allocation)
RETURNS jsonb LANGUAGE plpgsql AS $f$
DECLARE v_payment bigint;
BEGIN
    INSERT INTO payment (ulb, {column}, receipt_no, counter, mode, instrument_ref, amount_paise,
                         paid_on, ledger_seq, recorded_by, advance_after_paise)
    VALUES (p_ulb, p_{table}, p_receipt, p_counter, p_mode, p_ref, p_amount, p_today, p_ledger_seq,
            p_recorded_by, p_allocation.advance_after)
    RETURNING id INTO v_payment;
    INSERT INTO allocation (payment_id, {column}, ulb, {line_columns}, amount_paise, paid_on)
    SELECT v_payment, p_{table}, p_ulb, {line_values}, t.amount, p_today
    FROM unnest({line_arrays}, p_allocation.amounts)
         WITH ORDINALITY AS t({line_columns}, amount, n)
    ORDER BY t.n;
    RETURN {p}_receipt_json(v_payment);
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_payment_apply(p_recorded_by text, p_{table} text, p_amount bigint,
                                             p_mode text, p_ref text, p_counter text,
                                             p_receipt text, p_ledger_seq bigint, p_today date)
RETURNS jsonb LANGUAGE plpgsql AS $f$
DECLARE v_ulb text;
BEGIN
    SELECT ulb INTO v_ulb FROM {table} WHERE {column} = p_{table} FOR UPDATE;
    RETURN {p}_payment_insert(v_ulb, p_{table}, p_receipt, p_counter, p_mode, p_ref, p_amount,
                              p_today, p_ledger_seq, p_recorded_by,
                              {p}_payment_allocate(p_{table}, v_ulb, p_amount, p_today));
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_payment_record(p_actor jsonb, p_req jsonb, p_today date,
                                              p_ledger_key text)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $f$
DECLARE
    v_prep jsonb := {p}_payment_prepare(p_actor, p_req, p_today);
    v_ulb text := v_prep->>'ulb';
    v_account text := v_prep->>'{key}';
    v_counter text := v_prep->>'counter';
    v_amount bigint := (v_prep->>'amountPaise')::bigint;
    v_allocation {p}_allocation;
    v_receipt text;
    v_seq bigint;
BEGIN
    PERFORM rule_act(p_actor, 'payment.record');
    PERFORM 1 FROM {table} WHERE {column} = v_account FOR UPDATE;
    v_allocation := {p}_payment_allocate(v_account, v_ulb, v_amount, p_today);
    PERFORM accounts_refuse_overpayment(p_req, '{noun} ' || v_account, v_amount,
        v_amount - greatest(v_allocation.advance_after - {p}_advance_of(v_account), 0));
    SELECT t.receipt_no, t.ledger_seq INTO v_receipt, v_seq
        FROM accounts_receipt_and_ledger(
            v_ulb, v_prep->>'fy', v_counter, p_ledger_key, 'PAYMENT', v_account, v_amount,
            jsonb_build_object('mode', v_prep->>'mode', 'instrumentRef', v_prep->>'instrumentRef',
                               'counter', v_counter, 'paidOn', p_today::text,
                               'by', p_actor->>'userId'),
            'idempotencyKey', 'key ' || p_ledger_key) t;
    RETURN v_prep || jsonb_build_object(
        'receipt', {p}_payment_insert(v_ulb, v_account, v_receipt, v_counter, v_prep->>'mode',
                                      v_prep->>'instrumentRef', v_amount, p_today, v_seq,
                                      p_actor->>'userId', v_allocation));
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_receipt_get(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $f$
BEGIN
    RETURN {p}_receipt_json((accounts_receipt_find({p}_account_kind(), p_actor,
                                                   p_req)->>'id')::bigint);
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_payment_reverse(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $f$
BEGIN
    RETURN accounts_payment_reverse('{p}', p_actor, p_req, p_today);
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_online_initiate(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $f$
DECLARE a {table};
BEGIN
    a := {p}_{table}_for(p_actor, p_req->>'{key}', '{key}',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    RETURN accounts_online_initiate('{p}', p_actor, p_req, a.ulb, a.{column},
                                    {p}_payable(a.{column}, a.ulb, p_today));
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_online_get(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $f$
BEGIN
    RETURN accounts_online_get('{p}', p_actor, p_req);
END
$f$
$t$,
$t$
CREATE OR REPLACE FUNCTION {p}_online_callback(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $f$
BEGIN
    RETURN accounts_online_callback('{p}', p_actor, p_req, p_today);
END
$f$
$t$]);
END
$define$;
