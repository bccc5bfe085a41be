-- ledger 006 — the rules of a ledger row are checked by ledger_append, the
-- one way a row is written, and by the verifier, instead of by CHECK
-- constraints on the tables.
--
-- requires: append_only
--
-- What a row holds and how it is hashed do not change (001, 004). A CHECK
-- constraint is read back from its stored text and planned afresh at every
-- statement that writes its table: the eleven of ledger and ledger_head
-- cost an append 265,000 of its 637,000 instructions (callgrind, scratch
-- database), once in every counter payment, inside the ULB's ledger lock.
--
-- Nothing else writes these tables: the app role may not (001, 002), rule
-- functions append through ledger_append, and the owner, the one role that
-- could write anything else, could as well drop the constraints. So:
--
--   * ledger_append refuses, as the constraints did (SQLSTATE 23514,
--     check_violation), a ULB that is not 1 to 10 digits, an idempotency key
--     not of 1 to 300 characters, a kind not of 1 to 32 of A-Z and _, an
--     account not of 1 to 64 characters, a reference over 64, a detail over
--     4096 bytes; seq (the head's plus one, from 0) and hash (a sha256) meet
--     theirs by construction;
--   * the verifier (common/verify.c) names a row or a head that breaks any of
--     the rules, wherever it came from; the chain walk (common/ledger.c)
--     recomputes every hash and requires seq 1, 2, ... up to the head, as
--     before.

ALTER TABLE ledger DROP CONSTRAINT IF EXISTS ledger_ulb_check,
                   DROP CONSTRAINT IF EXISTS ledger_seq_check,
                   DROP CONSTRAINT IF EXISTS ledger_idempotency_key_check,
                   DROP CONSTRAINT IF EXISTS ledger_kind_check,
                   DROP CONSTRAINT IF EXISTS ledger_account_check,
                   DROP CONSTRAINT IF EXISTS ledger_reference_check,
                   DROP CONSTRAINT IF EXISTS ledger_detail_check,
                   DROP CONSTRAINT IF EXISTS ledger_hash_check;
ALTER TABLE ledger_head DROP CONSTRAINT IF EXISTS ledger_head_ulb_check,
                        DROP CONSTRAINT IF EXISTS ledger_head_seq_check,
                        DROP CONSTRAINT IF EXISTS ledger_head_hash_check;

-- As 001's, with the rules of its arguments checked first. The rights 002
-- set (SECURITY INVOKER, no EXECUTE for the app role) stay: CREATE OR
-- REPLACE keeps them.
CREATE OR REPLACE FUNCTION ledger_append(p_ulb text, p_key text, p_kind text, p_account text,
                                         p_reference text, p_amount bigint, p_detail text)
RETURNS TABLE (entry_seq bigint, entry_hash bytea, entry_recorded_us bigint, created boolean)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    v_head_seq bigint;
    v_head_hash bytea;
    v_seq bigint;
    v_us bigint;
    v_hash bytea;
    v_old ledger%ROWTYPE;
BEGIN
    -- One test for every rule (each expression of a function is set up
    -- again in every transaction that calls it), the refusal then named.
    IF p_ulb IS NULL OR p_key IS NULL OR p_kind IS NULL OR p_account IS NULL
       OR p_reference IS NULL OR p_amount IS NULL OR p_detail IS NULL
       OR octet_length(p_ulb) NOT BETWEEN 1 AND 10 OR ltrim(p_ulb, '0123456789') <> ''
       OR char_length(p_key) NOT BETWEEN 1 AND 300
       OR octet_length(p_kind) NOT BETWEEN 1 AND 32
       OR ltrim(p_kind, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_') <> ''
       OR char_length(p_account) NOT BETWEEN 1 AND 64 OR char_length(p_reference) > 64
       OR octet_length(p_detail) > 4096 THEN
        IF p_ulb IS NULL OR p_key IS NULL OR p_kind IS NULL OR p_account IS NULL
           OR p_reference IS NULL OR p_amount IS NULL OR p_detail IS NULL THEN
            RAISE EXCEPTION 'ledger_append: every argument is required'
                USING ERRCODE = '22004';
        ELSIF p_ulb !~ '^[0-9]{1,10}$' THEN
            RAISE EXCEPTION 'ledger_append: ulb "%" is not 1 to 10 digits', left(p_ulb, 16)
                USING ERRCODE = '23514';
        ELSIF char_length(p_key) NOT BETWEEN 1 AND 300 THEN
            RAISE EXCEPTION 'ledger_append: the idempotency key is of % characters, not 1 to 300',
                char_length(p_key) USING ERRCODE = '23514';
        ELSIF p_kind !~ '^[A-Z_]{1,32}$' THEN
            RAISE EXCEPTION 'ledger_append: kind "%" is not 1 to 32 of A-Z and _',
                left(p_kind, 40) USING ERRCODE = '23514';
        ELSIF char_length(p_account) NOT BETWEEN 1 AND 64 THEN
            RAISE EXCEPTION 'ledger_append: the account is of % characters, not 1 to 64',
                char_length(p_account) USING ERRCODE = '23514';
        ELSIF char_length(p_reference) > 64 THEN
            RAISE EXCEPTION 'ledger_append: the reference is of % characters, more than 64',
                char_length(p_reference) USING ERRCODE = '23514';
        ELSE
            RAISE EXCEPTION 'ledger_append: the detail is of % bytes, more than 4096',
                octet_length(p_detail) USING ERRCODE = '23514';
        END IF;
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
