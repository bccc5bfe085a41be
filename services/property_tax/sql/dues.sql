-- dues.sql — what a property owes on a day: demand less what allocations
-- settled, the surcharge on arrears, the early-payment rebate, the credit.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

CREATE OR REPLACE FUNCTION pt_head_order(p_head text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_head WHEN 'SURCHARGE' THEN 0 WHEN 'PROPERTY_TAX' THEN 1
                       WHEN 'EDUCATION_CESS' THEN 2 WHEN 'URBAN_DEVELOPMENT_CESS' THEN 3
                       WHEN 'SAMEKIT' THEN 4 WHEN 'MUTATION_FEE' THEN 5 ELSE 9 END
$$;

-- Every head a property owes on p_as_of, oldest year first and, within a
-- year, in apportionment order. A year that has not begun on p_as_of owes
-- nothing yet, though its demand may be raised early (issue 14: March's
-- dues showed April's demand). A year before the current one carries a
-- SURCHARGE line: its outstanding heads (above the year's threshold) times
-- the monthly rate times the whole months since the year ended (1 April),
-- rounded once, less surcharge already paid for that year.
CREATE OR REPLACE FUNCTION pt_dues_lines(p_property text, p_as_of date)
RETURNS TABLE (fy integer, head text, ord integer, demand_paise bigint, settled_paise bigint,
               outstanding_paise bigint)
LANGUAGE plpgsql STABLE AS $$
-- plpgsql rather than sql: its plans are cached per session, and this runs
-- on every payment.
BEGIN
    -- No demand before the current year, so no surcharge line: the lines are
    -- the demand less what settled it. The whole query below costs twice as
    -- much (its surcharge part is set up even when it finds no year).
    IF NOT EXISTS (SELECT FROM demand d
                   WHERE d.property_id = p_property AND d.fy < rule_fy_of(p_as_of)) THEN
        RETURN QUERY
        WITH settled AS (
            SELECT a.fy, a.head, sum(a.amount_paise) AS amount FROM allocation a
            WHERE a.property_id = p_property AND a.head <> 'ADVANCE' GROUP BY a.fy, a.head
        )
        SELECT d.fy, d.head, pt_head_order(d.head), d.amount_paise::bigint,
               coalesce(st.amount, 0)::bigint, (d.amount_paise - coalesce(st.amount, 0))::bigint
        FROM demand d LEFT JOIN settled st ON st.fy = d.fy AND st.head = d.head
        WHERE d.property_id = p_property AND d.fy = rule_fy_of(p_as_of)
        ORDER BY 1, 3;
        RETURN;
    END IF;
    RETURN QUERY
    WITH settled AS (
        SELECT a.fy, a.head, sum(a.amount_paise) AS amount FROM allocation a
        WHERE a.property_id = p_property AND a.head <> 'ADVANCE' GROUP BY a.fy, a.head
    ), h AS (
        SELECT d.fy, d.head, d.amount_paise AS demand, coalesce(st.amount, 0) AS settled
        FROM demand d LEFT JOIN settled st ON st.fy = d.fy AND st.head = d.head
        WHERE d.property_id = p_property AND d.fy <= rule_fy_of(p_as_of)
    ), y AS (
        SELECT h.fy, sum(h.demand - h.settled) AS base FROM h
        WHERE h.fy < rule_fy_of(p_as_of) GROUP BY h.fy
    ), s AS (
        SELECT y.fy,
               CASE WHEN y.base > r.surcharge_threshold_paise AND m.months > 0
                    THEN round(y.base::numeric * r.surcharge_bp_per_month * m.months / 10000)::bigint
                    ELSE 0 END AS due,
               coalesce((SELECT st.amount FROM settled st
                         WHERE st.fy = y.fy AND st.head = 'SURCHARGE'), 0) AS paid
        FROM y
        CROSS JOIN LATERAL pt_rate_params((SELECT p.ulb FROM property p
                                           WHERE p.property_id = p_property), y.fy) r
        CROSS JOIN LATERAL (SELECT (extract(year FROM p_as_of)::integer * 12
                                    + extract(month FROM p_as_of)::integer)
                                   - ((y.fy + 1) * 12 + 4) AS months) m
    )
    SELECT x.fy, x.head, x.ord, x.demand, x.settled, x.outstanding FROM (
        SELECT h.fy, h.head, pt_head_order(h.head) AS ord, h.demand::bigint AS demand,
               h.settled::bigint AS settled, (h.demand - h.settled)::bigint AS outstanding FROM h
        UNION ALL
        SELECT s.fy, 'SURCHARGE', 0, greatest(s.due, s.paid)::bigint, s.paid::bigint,
               greatest(s.due - s.paid, 0)::bigint FROM s
        WHERE s.due > 0 OR s.paid <> 0) x
    ORDER BY x.fy, x.ord;
END
$$;

-- The early-payment rebate available on p_as_of: rebate_bp of the current
-- year's property-tax head, once per year, when paid by the rebate day.
CREATE OR REPLACE FUNCTION pt_rebate_for(p_property text, p_ulb text, p_as_of date) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_fy integer := rule_fy_of(p_as_of);
    v_rebate_bp integer;
    v_last_day date;
    v_demand bigint;
    v_granted bigint;
    v_paid bigint;
BEGIN
    -- The year's newest rate version, read here (pt_rate_params, a call
    -- more, only for the defaults of a year without one): on every payment.
    SELECT v.rebate_bp, v.rebate_last_day INTO v_rebate_bp, v_last_day FROM rate_version v
        WHERE v.ulb = p_ulb AND v.fy = v_fy ORDER BY v.version DESC LIMIT 1;
    IF NOT FOUND THEN
        SELECT r.rebate_bp, r.rebate_last_day INTO v_rebate_bp, v_last_day
            FROM pt_rate_params(p_ulb, v_fy) r;
    END IF;
    IF v_last_day IS NULL OR p_as_of > v_last_day THEN
        RETURN 0;
    END IF;
    -- The year's property-tax demand, the rebate granted and the property tax
    -- paid, in one statement.
    SELECT (SELECT d.amount_paise FROM demand d
             WHERE d.property_id = p_property AND d.fy = v_fy AND d.head = 'PROPERTY_TAX'),
           coalesce(sum(a.amount_paise) FILTER (WHERE a.kind = 'REBATE'), 0),
           coalesce(sum(a.amount_paise) FILTER (WHERE a.head = 'PROPERTY_TAX'), 0)
        INTO v_demand, v_granted, v_paid
        FROM allocation a WHERE a.property_id = p_property AND a.fy = v_fy;
    IF v_granted <> 0 OR v_demand IS NULL THEN
        RETURN 0;   -- granted already this year, or no property tax to rebate
    END IF;
    RETURN least(round(v_demand::numeric * v_rebate_bp / 10000)::bigint, v_demand - v_paid);
END
$$;

-- A property's dues on p_as_of, as dues.get answers them (pt_dues, made in
-- account.sql, checks who asks and "asOf"): year by year, with its credit
-- and the rebate a payment in full would earn.
CREATE OR REPLACE FUNCTION pt_dues_json(p_property text, p_ulb text, p_as_of date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_outstanding bigint := (SELECT coalesce(sum(outstanding_paise), 0)
                             FROM pt_dues_lines(p_property, p_as_of));
    v_advance bigint := pt_advance_of(p_property);
    v_rebate bigint := pt_rebate_for(p_property, p_ulb, p_as_of);
BEGIN
    RETURN jsonb_build_object(
        'propertyId', p_property, 'asOf', p_as_of::text,
        'lines', coalesce((SELECT jsonb_agg(jsonb_build_object('fy', rule_fy_text(l.fy), 'head', l.head,
                                   'demandPaise', l.demand_paise, 'settledPaise', l.settled_paise,
                                   'outstandingPaise', l.outstanding_paise) ORDER BY l.fy, l.ord)
                           FROM pt_dues_lines(p_property, p_as_of) l), '[]'),
        'outstandingPaise', v_outstanding, 'advancePaise', v_advance, 'rebatePaise', v_rebate,
        'payablePaise', greatest(v_outstanding - v_advance - v_rebate, 0));
END
$$;

SELECT rules_grant_entry_points();
