-- report.sql — demand-collection-balance, the day's collection, and the
-- defaulters, keyset-paged by property id.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- Demand, collection and balance of a year by ward and head, and for the
-- whole ULB (ward 0) and every head (TOTAL). Arrear demand is what was
-- still owed on 1 April for earlier years; current demand is the year's
-- own; collections are settlements (cash and rebate) made within the year.
CREATE OR REPLACE FUNCTION pt_report_dcb(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE y record;
BEGIN
    SELECT * INTO y
      FROM rule_ulb_fy_span(p_actor, p_req, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                                 'STATE_ADMIN'], 'reading the DCB report');
    RETURN jsonb_build_object('ulb', y.ulb, 'fy', rule_fy_text(y.fy), 'rows', coalesce((
        WITH d AS (
            SELECT p.ward, d.head,
                   sum(CASE WHEN d.fy < y.fy THEN d.amount_paise ELSE 0 END) AS arrear_owed,
                   sum(CASE WHEN d.fy = y.fy THEN d.amount_paise ELSE 0 END) AS current_demand
            FROM demand d JOIN property p USING (property_id)
            WHERE d.ulb = y.ulb AND d.fy <= y.fy GROUP BY p.ward, d.head
        ), c AS (
            SELECT p.ward, a.head,
                   sum(CASE WHEN a.fy < y.fy AND a.paid_on < y.starts THEN a.amount_paise ELSE 0 END)
                       AS arrear_settled_before,
                   sum(CASE WHEN a.fy < y.fy AND a.paid_on >= y.starts AND a.paid_on < y.next_starts
                            THEN a.amount_paise ELSE 0 END) AS arrear_collection,
                   sum(CASE WHEN a.fy = y.fy AND a.paid_on < y.next_starts THEN a.amount_paise ELSE 0 END)
                       AS current_collection
            FROM allocation a JOIN property p USING (property_id)
            WHERE a.ulb = y.ulb AND a.fy <= y.fy AND a.head NOT IN ('ADVANCE', 'SURCHARGE')
            GROUP BY p.ward, a.head
        ), j AS (
            SELECT coalesce(d.ward, c.ward) AS ward, coalesce(d.head, c.head) AS head,
                   coalesce(d.arrear_owed, 0) - coalesce(c.arrear_settled_before, 0) AS arrear_demand,
                   coalesce(d.current_demand, 0) AS current_demand,
                   coalesce(c.arrear_collection, 0) AS arrear_collection,
                   coalesce(c.current_collection, 0) AS current_collection
            FROM d FULL JOIN c ON c.ward = d.ward AND c.head = d.head
        ), r AS (
            SELECT coalesce(ward, 0) AS ward, coalesce(head, 'TOTAL') AS head,
                   sum(arrear_demand) AS ad, sum(current_demand) AS cd,
                   sum(arrear_collection) AS ac, sum(current_collection) AS cc
            FROM j GROUP BY GROUPING SETS ((ward, head), (ward), (head), ())
        )
        SELECT jsonb_agg(jsonb_build_object('ward', r.ward, 'head', r.head,
                   'arrearDemandPaise', r.ad, 'currentDemandPaise', r.cd,
                   'arrearCollectionPaise', r.ac, 'currentCollectionPaise', r.cc,
                   'arrearBalancePaise', r.ad - r.ac, 'currentBalancePaise', r.cd - r.cc)
                 ORDER BY r.ward, pt_head_order(r.head), r.head)
        FROM r), '[]'));
END
$$;

CREATE OR REPLACE FUNCTION pt_report_daily(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text := rule_ulb_scope(p_actor, p_req, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                                      'STATE_ADMIN'], 'reading the daily collection');
BEGIN
    -- The date is optional here (today's collection).
    RETURN accounts_daily_collection(v_ulb, coalesce(rule_parse_date(nullif(p_req->>'date', ''),
                                                                     'date'), p_today));
END
$$;

CREATE OR REPLACE FUNCTION pt_report_defaulters(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text := rule_ulb_scope(p_actor, p_req, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                                      'STATE_ADMIN'], 'reading the defaulters');
    v_page record;   -- minOutstandingPaise, limit, pageToken (accounts 007)
    v_fy integer := rule_fy_of(p_today);
    v_rows jsonb;
    v_next text := '';
BEGIN
    SELECT * INTO v_page FROM accounts_defaulters_page(pt_account_kind(), p_req);
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
        WHERE p.ulb = v_ulb AND p.property_id > v_page.page_after
          AND o.outstanding IS NOT NULL
          AND o.outstanding - pt_advance_of(p.property_id) > greatest(v_page.min_paise, 0)
        ORDER BY p.property_id
        LIMIT v_page.page_size + 1
    ), numbered AS (
        SELECT page.*, row_number() OVER (ORDER BY page.property_id) AS n FROM page
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'propertyId', x.property_id, 'ward', x.ward,
               'ownerName', coalesce(ow.name, ''), 'ownerMobile', coalesce(ow.mobile, ''),
               'outstandingPaise', x.owed, 'oldestFy', rule_fy_text(x.oldest))
               ORDER BY x.property_id) FILTER (WHERE x.n <= v_page.page_size), '[]'),
           CASE WHEN count(*) > v_page.page_size
                THEN max(x.property_id) FILTER (WHERE x.n <= v_page.page_size) ELSE '' END
      INTO v_rows, v_next
      FROM numbered x
      LEFT JOIN property_owner ow ON ow.property_id = x.property_id AND ow.ordinal = 1;
    RETURN jsonb_build_object('ulb', v_ulb, 'defaulters', v_rows, 'nextPageToken', v_next);
END
$$;

SELECT rules_grant_entry_points();
