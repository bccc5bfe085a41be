-- rules 005 — a request's lists and a reply's pages, which the rule
-- functions of property tax, water tax and certificates each checked in a
-- copy of their own: a JSON array of so many items, each named by its JSON
-- path in an error; how many items a page lists; the page token of a list
-- read a page at a time by its key (keyset paging); and the ULB a staff
-- member's list is of.
--
-- requires: audit
--
-- rule_list(value, field, min, max, noun) — the items of the JSON array
--   `value` with their JSON paths (field[0], field[1], ...), in order; an
--   absent list (SQL NULL or JSON null) has no items. NRINV naming `field`
--   when it is not an array or has fewer than min or more than max items:
--   "owners must list 1 to 20 owners", or with min 0 "alvRates may list at
--   most 2000 rates".
-- rule_page_size(req, max, default) — the request's "pageSize", 0..max;
--   0 (or absent) is `default`.
-- rule_page_after(req, pattern) — where the page asked for starts: '' for
--   the first page (no "pageToken"), else the last key of the page before,
--   from the token rule_page_token made of it; NRINV 'pageToken' when the
--   token is not base64 of a key that matches `pattern`.
-- rule_page_token(last) — the "nextPageToken" of a page whose last key is
--   `last` (base64, so that a client takes it as it is).
-- rule_page_next(keys, size) — the "nextPageToken" of a page read as up to
--   size + 1 keys: the token of its last key (keys[size]) when there were
--   more than size, else '' (the last page).
-- rule_ulb_or_own(actor, req) — the request's "ulb", or the actor's own
--   when it names none, checked (rule_ulb_arg) and within the actor's reach
--   (rule_check_ulb: staff of that ULB, or a STATE_ADMIN).

CREATE OR REPLACE FUNCTION rule_list(p_value jsonb, p_field text, p_min integer, p_max integer,
                                     p_noun text, OUT item jsonb, OUT field text)
RETURNS SETOF record LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v jsonb := coalesce(nullif(p_value, 'null'::jsonb), '[]'::jsonb);
BEGIN
    IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) < p_min
       OR jsonb_array_length(v) > p_max THEN
        PERFORM rule_fail('NRINV', p_field,
                          CASE WHEN p_min = 0
                               THEN format('%s may list at most %s %s', p_field, p_max, p_noun)
                               ELSE format('%s must list %s to %s %s', p_field, p_min, p_max,
                                           p_noun) END);
    END IF;
    RETURN QUERY SELECT t.x, format('%s[%s]', p_field, t.n - 1)
                   FROM jsonb_array_elements(v) WITH ORDINALITY AS t(x, n) ORDER BY t.n;
END
$$;

CREATE OR REPLACE FUNCTION rule_page_size(p_req jsonb, p_max integer, p_default integer)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(nullif(rule_int(p_req->'pageSize', 'pageSize', 0, p_max), 0), p_default)::integer
$$;

CREATE OR REPLACE FUNCTION rule_page_after(p_req jsonb, p_pattern text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v_after text;
BEGIN
    IF coalesce(p_req->>'pageToken', '') = '' THEN
        RETURN '';
    END IF;
    BEGIN
        v_after := convert_from(decode(p_req->>'pageToken', 'base64'), 'UTF8');
    EXCEPTION WHEN OTHERS THEN
        PERFORM rule_fail('NRINV', 'pageToken', 'pageToken is not one this service issued');
    END;
    IF v_after !~ p_pattern THEN
        PERFORM rule_fail('NRINV', 'pageToken', 'pageToken is not one this service issued');
    END IF;
    RETURN v_after;
END
$$;

CREATE OR REPLACE FUNCTION rule_page_token(p_last text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(convert_to(p_last, 'UTF8'), 'base64')
$$;

CREATE OR REPLACE FUNCTION rule_page_next(p_keys anyarray, p_size integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cardinality(p_keys) > p_size THEN rule_page_token(p_keys[p_size]::text)
                ELSE '' END
$$;

CREATE OR REPLACE FUNCTION rule_ulb_or_own(p_actor jsonb, p_req jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v_ulb text := rule_ulb_arg(coalesce(nullif(p_req->>'ulb', ''), p_actor->>'ulb'), 'ulb');
BEGIN
    PERFORM rule_check_ulb(p_actor, v_ulb);
    RETURN v_ulb;
END
$$;
