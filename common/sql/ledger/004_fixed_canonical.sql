-- ledger 004 — a row's canonical form written by one format() of its nine
-- fields: the same bytes as chain_canonical's (append_only 002, ledger
-- 003), "<byte length>:<bytes>;" each, without chain_canonical's plpgsql
-- loop over a VARIADIC array, which every payment ran once for its ledger
-- row (an SQL function of one expression is inlined into ledger_append's
-- statement instead). The rights 002 set stay: CREATE OR REPLACE keeps them.
--
-- requires: append_only
--
-- tests/system/test_history.py checks it agrees with chain_canonical; the
-- verifier (common/ledger.c) computes the bytes on its own.

CREATE OR REPLACE FUNCTION ledger_canonical(p_ulb text, p_seq bigint, p_key text, p_kind text,
                                            p_account text, p_reference text, p_amount bigint,
                                            p_detail text, p_recorded_us bigint)
RETURNS bytea LANGUAGE sql STABLE STRICT AS $$
    SELECT convert_to(format('%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;%s:%s;',
                             octet_length(p_ulb), p_ulb, octet_length(p_seq::text), p_seq,
                             octet_length(p_key), p_key, octet_length(p_kind), p_kind,
                             octet_length(p_account), p_account,
                             octet_length(p_reference), p_reference,
                             octet_length(p_amount::text), p_amount,
                             octet_length(p_detail), p_detail,
                             octet_length(p_recorded_us::text), p_recorded_us), 'UTF8')
$$;
