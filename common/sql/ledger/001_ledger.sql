-- ledger 001 — the per-ULB, hash-chained, append-only money ledger
-- (common/ledger.h). Property tax and water charges each keep one in their
-- own database.
--
-- requires: append_only
--
-- Every money movement is one row. Rows of a ULB form a chain:
--
--     hash(n) = SHA-256( hash(n-1) || canonical(row n) ),  hash(0) = 32 zero bytes
--
-- canonical(row) is, for the fields ulb, seq, idempotency_key, kind,
-- account, reference, amount_paise, detail, recorded_us in that order, the
-- field's UTF-8 text (integers in decimal) written as
-- "<byte length>:<bytes>;" — a netstring-like form with no ambiguity
-- between fields. common/ledger.c computes the same bytes independently of
-- the database, and its verifier never trusts the functions below.
--
-- Rows are appended only through ledger_append(): it locks the chain head,
-- returns the existing row when the idempotency key was seen before (and
-- refuses the key for a different movement), then inserts with the next
-- sequence number and hash. The chain head is created only when missing:
-- an INSERT ... ON CONFLICT on every append would wait on the head's holder
-- as long as the FOR UPDATE does. Triggers refuse UPDATE, DELETE and
-- TRUNCATE of ledger rows to every role, owner included; a correction is a
-- new (reversing) row that references the old one in its detail.
--
-- SHA-256 is PostgreSQL's built-in sha256(bytea); pgcrypto is not needed.

CREATE TABLE IF NOT EXISTS ledger_head (
    ulb   text PRIMARY KEY CHECK (ulb ~ '^[0-9]{1,10}$'),
    seq   bigint NOT NULL CHECK (seq >= 0),
    hash  bytea NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE TABLE IF NOT EXISTS ledger (
    ulb              text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    seq              bigint NOT NULL CHECK (seq >= 1),
    idempotency_key  text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 300),
    kind             text NOT NULL CHECK (kind ~ '^[A-Z_]{1,32}$'),
    account          text NOT NULL CHECK (char_length(account) BETWEEN 1 AND 64),
    reference        text NOT NULL CHECK (char_length(reference) <= 64),
    amount_paise     bigint NOT NULL,
    detail           text NOT NULL CHECK (octet_length(detail) <= 4096),
    recorded_us      bigint NOT NULL,          -- microseconds since 1970-01-01 UTC
    hash             bytea NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (ulb, seq),
    UNIQUE (ulb, idempotency_key)
);

-- One expression, so the planner inlines it into ledger_append; STABLE
-- because convert_to() is: declared IMMUTABLE over a STABLE body it is
-- never inlined, and then planned afresh for every row.
CREATE OR REPLACE FUNCTION ledger_canonical(p_ulb text, p_seq bigint, p_key text, p_kind text,
                                            p_account text, p_reference text, p_amount bigint,
                                            p_detail text, p_recorded_us bigint)
RETURNS bytea LANGUAGE sql STABLE STRICT AS $$
    SELECT convert_to(
        octet_length(p_ulb) || ':' || p_ulb || ';' ||
        octet_length(p_seq::text) || ':' || p_seq::text || ';' ||
        octet_length(p_key) || ':' || p_key || ';' ||
        octet_length(p_kind) || ':' || p_kind || ';' ||
        octet_length(p_account) || ':' || p_account || ';' ||
        octet_length(p_reference) || ':' || p_reference || ';' ||
        octet_length(p_amount::text) || ':' || p_amount::text || ';' ||
        octet_length(p_detail) || ':' || p_detail || ';' ||
        octet_length(p_recorded_us::text) || ':' || p_recorded_us::text || ';', 'UTF8')
$$;

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

-- Rows never change; a head moves forward but is never removed.
DROP TRIGGER IF EXISTS ledger_no_update_delete ON ledger;
SELECT append_only_protect('ledger');
CREATE OR REPLACE TRIGGER ledger_head_no_delete BEFORE DELETE ON ledger_head
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER ledger_head_no_truncate BEFORE TRUNCATE ON ledger_head
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The app role reads; it appends only through ledger_append.
DO $$
BEGIN
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ledger, ledger_head FROM %I',
                   regexp_replace(current_user, '_owner$', '_app'));
END
$$;
