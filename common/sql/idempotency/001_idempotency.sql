-- idempotency 001 — the first result of every mutation, per (actor, key).
--
-- A retried request with the same Idempotency-Key answers the stored reply
-- (common/service.h, nagar_idempotency_*): method and a BLAKE2b hash of
-- the request say whether it is the same request, reply holds the encoded
-- reply. idempotency_lookup(actor, key) first takes the key's
-- transaction-scoped advisory lock, so retries racing each other queue and
-- the second finds what the first committed.

CREATE TABLE IF NOT EXISTS idempotency (
    actor         text NOT NULL,
    key           text NOT NULL,
    method        text NOT NULL,
    request_hash  bytea NOT NULL,
    reply         bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);
-- Keys are 1 to 128 characters (the C side refuses others before this).
ALTER TABLE idempotency DROP CONSTRAINT IF EXISTS idempotency_key_check;
ALTER TABLE idempotency ADD CONSTRAINT idempotency_key_check
    CHECK (char_length(key) BETWEEN 1 AND 128);

CREATE OR REPLACE FUNCTION idempotency_lookup(p_actor text, p_key text)
RETURNS TABLE (method text, request_hash text, reply text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_actor || chr(31) || p_key, 7));
    RETURN QUERY SELECT i.method, encode(i.request_hash, 'hex'), encode(i.reply, 'hex')
                 FROM idempotency i WHERE i.actor = p_actor AND i.key = p_key;
END
$$;
