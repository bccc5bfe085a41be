-- 012_reverse_recheck.sql — a reversal checks its payment again once it
-- holds the property's lock (as water tax's 012, where a test found it).
--
-- 011's pt_reverse_prepare checked the receipt (not a reversal, not yet
-- reversed) and then waited for the property's row. Two reversals of one
-- receipt under different Idempotency-Keys both passed the check; the one
-- that waited then met the first one's ledger row (key reversal:<receipt>)
-- and was refused as 409 CONFLICT on idempotencyKey, which names neither
-- the receipt nor the reason. Checked again under the lock (READ
-- COMMITTED: the statement sees what committed while it waited), it is the
-- 422 on receiptNo that a later second reversal gets: "<receipt> has
-- already been reversed".

CREATE OR REPLACE FUNCTION pt_reverse_prepare(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v_prep jsonb := pt_reverse_check(p_actor, p_req, p_today);
BEGIN
    PERFORM 1 FROM property WHERE property_id = v_prep->>'propertyId' FOR UPDATE;
    RETURN pt_reverse_check(p_actor, p_req, p_today);
END
$$;
