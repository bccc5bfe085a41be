-- 010_defaulters_paging.sql — report.defaulters pages through a whole ULB.
--
-- A reminder campaign (nagar-batch campaign) must reach every defaulter of a
-- ULB, which can be far more than one reply's 1000 rows. The report now
-- pages by keyset on the property id: the request's pageToken is the last
-- property id of the previous page, the reply's nextPageToken the last one
-- of this page ("" when there is nothing after it). The order is by
-- property id, not by the amount owed, because the amount changes while a
-- campaign pages (payments come in) and an order by it would skip or repeat
-- properties between pages; an id never moves. Each page walks the ULB's
-- properties in index order (property_ulb_idx) from the token and stops
-- after limit + 1 defaulters, so a page costs the same at the end of a
-- large ULB as at its start.
--
-- 010 so that it applies after any 00N migration added meanwhile.

CREATE OR REPLACE FUNCTION pt_report_defaulters(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := pt_ulb_arg(p_req->>'ulb', 'ulb');
    v_min bigint := pt_int(p_req->'minOutstandingPaise', 'minOutstandingPaise', 0, 1000000000000);
    v_limit integer := coalesce(nullif(pt_int(p_req->'limit', 'limit', 0, 1000), 0), 100);
    v_after text := coalesce(p_req->>'pageToken', '');
    v_fy integer := pt_fy_of(p_today);
    v_rows jsonb;
    v_next text := '';
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'reading the defaulters');
    PERFORM pt_check_ulb(p_actor, v_ulb);
    IF v_after <> '' AND v_after !~ '^[0-9]{1,10}-[0-9]{3}-[0-9]{6}$' THEN
        PERFORM pt_fail('PTINV', 'pageToken',
                        'pageToken must be the nextPageToken of the previous page (a property id), '
                        || 'or empty for the first page');
    END IF;
    -- A defaulter owes for a year that has ended (arrears), net of advance.
    WITH page AS (
        SELECT p.property_id, p.ward, o.oldest, o.outstanding - pt_advance_of(p.property_id) AS owed
        FROM property p
        CROSS JOIN LATERAL (
            SELECT min(d.fy) FILTER (WHERE d.amount_paise > coalesce(s.settled, 0)) AS oldest,
                   sum(d.amount_paise - coalesce(s.settled, 0)) AS outstanding
            FROM demand d
            LEFT JOIN LATERAL (SELECT sum(a.amount_paise) AS settled FROM allocation a
                               WHERE a.property_id = d.property_id AND a.fy = d.fy
                                 AND a.head = d.head) s ON true
            WHERE d.property_id = p.property_id AND d.fy < v_fy) o
        WHERE p.ulb = v_ulb AND p.property_id > v_after
          AND o.outstanding IS NOT NULL
          AND o.outstanding - pt_advance_of(p.property_id) > greatest(v_min, 0)
        ORDER BY p.property_id
        LIMIT v_limit + 1
    ), numbered AS (
        SELECT page.*, row_number() OVER (ORDER BY page.property_id) AS n FROM page
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'propertyId', x.property_id, 'ward', x.ward,
               'ownerName', coalesce(ow.name, ''), 'ownerMobile', coalesce(ow.mobile, ''),
               'outstandingPaise', x.owed, 'oldestFy', pt_fy_text(x.oldest))
               ORDER BY x.property_id) FILTER (WHERE x.n <= v_limit), '[]'),
           CASE WHEN count(*) > v_limit
                THEN max(x.property_id) FILTER (WHERE x.n <= v_limit) ELSE '' END
      INTO v_rows, v_next
      FROM numbered x
      LEFT JOIN property_owner ow ON ow.property_id = x.property_id AND ow.ordinal = 1;
    RETURN jsonb_build_object('ulb', v_ulb, 'defaulters', v_rows, 'nextPageToken', v_next);
END
$$;
