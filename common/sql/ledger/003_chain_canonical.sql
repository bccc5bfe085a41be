-- ledger 003 — a row's canonical form is chain_canonical's (common/sql/
-- append_only 002), the one the history shares: the same bytes as 001's,
-- written once. ledger_append (001) hashes through it unchanged.
--
-- requires: append_only

CREATE OR REPLACE FUNCTION ledger_canonical(p_ulb text, p_seq bigint, p_key text, p_kind text,
                                            p_account text, p_reference text, p_amount bigint,
                                            p_detail text, p_recorded_us bigint)
RETURNS bytea LANGUAGE sql STABLE STRICT AS $$
    SELECT chain_canonical(p_ulb, p_seq::text, p_key, p_kind, p_account, p_reference,
                           p_amount::text, p_detail, p_recorded_us::text)
$$;
