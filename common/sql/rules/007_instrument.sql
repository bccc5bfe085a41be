-- rules 007 — how a payment taken at a counter is made, which the accounts
-- module (a property's or a connection's payment) and certificates (an
-- application's fee) each checked in a copy of their own: its mode, and
-- the number of the instrument it was made with.
--
-- requires: audit
--
-- rule_counter_mode(mode) — the request's "mode": CASH, CHEQUE,
--   DEMAND_DRAFT or UPI (NRINV 'mode' otherwise).
-- rule_instrument_ref(mode, ref) — the instrument's reference (the
--   cheque's, the draft's, the UPI transaction's number) for a payment of
--   that mode: 1 to 64 of A-Z a-z 0-9 / . _ -, empty only for cash (NRINV
--   'instrumentRef' otherwise); answers it ('' for an absent one).

CREATE OR REPLACE FUNCTION rule_counter_mode(p_mode text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN rule_enum(p_mode, 'mode', ARRAY['CASH', 'CHEQUE', 'DEMAND_DRAFT', 'UPI']);
END
$$;

CREATE OR REPLACE FUNCTION rule_instrument_ref(p_mode text, p_ref text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v_ref text := coalesce(p_ref, '');
BEGIN
    IF v_ref !~ '^[A-Za-z0-9/._-]{0,64}$' OR (p_mode <> 'CASH' AND v_ref = '') THEN
        PERFORM rule_fail('NRINV', 'instrumentRef',
                          format('instrumentRef must be 1 to 64 of A-Z a-z 0-9 / . _ - (the %s '
                                 'number)%s', lower(replace(p_mode, '_', ' ')),
                                 CASE WHEN p_mode = 'CASH' THEN ' or empty for cash' ELSE '' END));
    END IF;
    RETURN v_ref;
END
$$;
