-- receipt 002 — a receipt counter's rules are checked by receipt_next, the
-- one way a counter is written, and by the verifier, instead of by CHECK
-- constraints on the table (as ledger 006 did for the ledger).
--
-- A CHECK constraint is read back from its stored text and planned afresh
-- at every statement that writes its table: the four of receipt_counter
-- cost a counter payment 70,000 of its 5,886,000 instructions (callgrind,
-- a single-user backend on a scratch database, the statements of a counter
-- payment as the service sends them; the difference of a 20- and a
-- 120-payment run), once in every payment, inside the ULB's ledger lock.
--
-- Nothing else writes the table: the app role may not (rules_lockdown),
-- rule functions number receipts through receipt_next, and the owner, the
-- one role that could write anything else, could as well drop the
-- constraints. So:
--
--   * receipt_next refuses, as the constraints did (SQLSTATE 23514,
--     check_violation), a ULB that is not 1 to 10 digits, a financial year
--     not of the form 2026-27 (four digits, a dash, two digits) and a
--     counter not of 1 to 16 of A-Z and 0-9; last_no, 1 for a counter's
--     first receipt and one more at each after, is never below 0;
--   * the verifier (common/verify.c) names a counter row that breaks any
--     of the rules, wherever it came from.
--
-- The format of a receipt number does not change (001).

ALTER TABLE receipt_counter DROP CONSTRAINT IF EXISTS receipt_counter_ulb_check,
                            DROP CONSTRAINT IF EXISTS receipt_counter_fy_check,
                            DROP CONSTRAINT IF EXISTS receipt_counter_counter_check,
                            DROP CONSTRAINT IF EXISTS receipt_counter_last_no_check;

-- As 001's, with the rules of its arguments checked first.
CREATE OR REPLACE FUNCTION receipt_next(p_ulb text, p_fy text, p_counter text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE v_no bigint;
BEGIN
    -- One test for every rule (each expression of a function is set up
    -- again in every transaction that calls it), the refusal then named.
    IF p_ulb IS NULL OR p_fy IS NULL OR p_counter IS NULL
       OR octet_length(p_ulb) NOT BETWEEN 1 AND 10 OR ltrim(p_ulb, '0123456789') <> ''
       OR octet_length(p_fy) <> 7 OR substr(p_fy, 5, 1) <> '-'
       OR ltrim(left(p_fy, 4) || right(p_fy, 2), '0123456789') <> ''
       OR octet_length(p_counter) NOT BETWEEN 1 AND 16
       OR ltrim(p_counter, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789') <> '' THEN
        IF p_ulb IS NULL OR p_fy IS NULL OR p_counter IS NULL THEN
            RAISE EXCEPTION 'receipt_next: every argument is required' USING ERRCODE = '22004';
        ELSIF p_ulb !~ '^[0-9]{1,10}$' THEN
            RAISE EXCEPTION 'receipt_next: ulb "%" is not 1 to 10 digits', left(p_ulb, 16)
                USING ERRCODE = '23514';
        ELSIF p_fy !~ '^[0-9]{4}-[0-9]{2}$' THEN
            RAISE EXCEPTION 'receipt_next: financial year "%" is not of the form 2026-27',
                left(p_fy, 16) USING ERRCODE = '23514';
        ELSE
            RAISE EXCEPTION 'receipt_next: counter "%" is not 1 to 16 of A-Z and 0-9',
                left(p_counter, 20) USING ERRCODE = '23514';
        END IF;
    END IF;
    INSERT INTO receipt_counter AS c (ulb, fy, counter, last_no)
        VALUES (p_ulb, p_fy, p_counter, 1)
        ON CONFLICT (ulb, fy, counter) DO UPDATE SET last_no = c.last_no + 1
        RETURNING last_no INTO v_no;
    RETURN format('%s/%s/%s/%s', p_ulb, p_fy, p_counter,
                  lpad(v_no::text, greatest(6, length(v_no::text)), '0'));
END
$$;
