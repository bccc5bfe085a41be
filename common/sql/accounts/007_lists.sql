-- accounts 007 — the arguments of the defaulters list, which property tax
-- and water tax each parsed in a copy of their own: the least amount owed
-- that counts, how many a page lists, and where the page starts (keyset
-- paging by account id).
--
-- requires: rules
--
-- accounts_defaulters_page(kind, req) — "minOutstandingPaise" 0..10^12,
--   "limit" 0..1000 (0: 100), "pageToken" the previous page's
--   nextPageToken (the last account id it listed, in the form of the
--   kind's idPattern) or "" for the first page; NRINV naming the field.
--   kind is the service's <prefix>_account_kind() (accounts 003, 005).

CREATE OR REPLACE FUNCTION accounts_defaulters_page(p_kind jsonb, p_req jsonb,
                                                    OUT min_paise bigint, OUT page_size integer,
                                                    OUT page_after text)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    min_paise := rule_int(p_req->'minOutstandingPaise', 'minOutstandingPaise', 0, 1000000000000);
    page_size := coalesce(nullif(rule_int(p_req->'limit', 'limit', 0, 1000), 0), 100);
    page_after := coalesce(p_req->>'pageToken', '');
    IF page_after <> '' AND page_after !~ (p_kind->>'idPattern') THEN
        PERFORM rule_fail('NRINV', 'pageToken',
                          format('pageToken must be the nextPageToken of the previous page (a %s '
                                 'id), or empty for the first page', p_kind->>'noun'));
    END IF;
END
$$;
