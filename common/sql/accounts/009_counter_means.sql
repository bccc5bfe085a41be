-- accounts 009 — a counter payment's fields (003) check its mode and its
-- instrument's number with rules 007 (rule_counter_mode,
-- rule_instrument_ref), the one copy of that rule certificates' fees use
-- too.
--
-- requires: rules

-- A counter payment's own fields, checked: answers amountPaise, mode,
-- instrumentRef and counter.
CREATE OR REPLACE FUNCTION accounts_payment_fields(p_req jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_amount bigint := rule_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000);
    v_mode text := rule_counter_mode(p_req->>'mode');
    v_ref text := rule_instrument_ref(v_mode, p_req->>'instrumentRef');
BEGIN
    PERFORM accounts_check_counter(p_req->>'counter', false);
    RETURN jsonb_build_object('amountPaise', v_amount, 'mode', v_mode, 'instrumentRef', v_ref,
                              'counter', p_req->>'counter');
END
$$;
