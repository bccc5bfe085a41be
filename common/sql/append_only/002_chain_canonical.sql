-- append_only 002 — the one canonical form of every hash-chained table: the
-- ledger's rows (common/sql/ledger 003: ledger_canonical) and the history's
-- entries (common/sql/history 002: history_canonical) are both
--
--     hash(n) = SHA-256( hash(n-1) || chain_canonical(fields of n) ),  hash(0) = 32 zero bytes
--
-- chain_canonical(f1, f2, ...) is the fields' UTF-8 text, each written as
-- "<byte length>:<bytes>;" — a netstring-like form with no ambiguity
-- between fields; integers are passed as their decimal text (::text).
-- common/chain.c and common/ledger.c compute the same bytes on their own;
-- the verifier never trusts these functions.
--
-- The canonical text is built by one format() over the fields and their
-- lengths: each field is copied a fixed number of times, however many
-- fields follow it (a history entry of a large statement holds megabytes
-- of JSON; `a || b || c ...` copied the text built so far once per
-- operator, and was most of what an entry cost).

CREATE OR REPLACE FUNCTION chain_canonical(VARIADIC p_fields text[]) RETURNS bytea
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
DECLARE
    v_args text[] := '{}';
    f text;
BEGIN
    FOREACH f IN ARRAY p_fields LOOP
        v_args := v_args || octet_length(f)::text;
        v_args := v_args || f;
    END LOOP;
    RETURN convert_to(format(repeat('%s:%s;', cardinality(p_fields)), VARIADIC v_args), 'UTF8');
END
$$;
