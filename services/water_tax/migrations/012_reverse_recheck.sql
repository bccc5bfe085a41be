-- 012_reverse_recheck.sql — a reversal checks its payment again once it
-- holds the connection's lock.
--
-- 011's wt_reverse_prepare checked the receipt (not a reversal, not yet
-- reversed) and then waited for the connection's row. Two reversals of one
-- receipt under different Idempotency-Keys both passed the check; the one
-- that waited then met the first one's ledger row (key reversal:<receipt>)
-- and was refused as 409 CONFLICT on idempotencyKey ("the ledger already
-- holds row N for key ..."), which names neither the receipt nor the reason.
-- Checked again under the lock (READ COMMITTED: the statement sees what
-- committed while it waited), it is the 422 on receiptNo that a
-- sequential second reversal gets: "<receipt> has already been reversed".

CREATE OR REPLACE FUNCTION wt_reverse_prepare(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v_prep jsonb := wt_reverse_check(p_actor, p_req, p_today);
BEGIN
    PERFORM 1 FROM connection WHERE connection_id = v_prep->>'connectionId' FOR UPDATE;
    RETURN wt_reverse_check(p_actor, p_req, p_today);
END
$$;
