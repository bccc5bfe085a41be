-- notice.sql — the demand notice of a property and financial year: how the
-- year's bill was computed, head by head, and what is payable on the
-- notice's date (issue 14: nothing showed an owner how the tax was
-- computed).
--
-- The computation is the bill the annual demand raised (demand_bill: area,
-- ALV, net ALV, heads, and the rate version it used); the slab lines are
-- recomputed from that version's slabs, exactly, and their sum rounded once
-- as the demand rounds it. What is payable comes from the same functions as
-- dues.get (pt_dues_lines, pt_advance_of), so a notice and the dues of its
-- date agree.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- The slabs of a rate version that a net ALV reaches, with the part of it
-- each taxes and the exact tax (numeric: a fraction of a paisa is kept).
CREATE OR REPLACE FUNCTION pt_notice_slabs(p_version bigint, p_mode text, p_net bigint)
RETURNS TABLE (ordinal integer, above_paise bigint, upto_paise bigint, rate_bp integer,
               taxable_paise bigint, tax_exact numeric)
LANGUAGE sql STABLE AS $$
    SELECT s.ordinal, s.lower_paise, coalesce(s.upper_paise, 0), s.rate_bp, x.taxable,
           x.taxable::numeric * s.rate_bp / 10000
    FROM rate_slab s
    CROSS JOIN LATERAL (SELECT CASE WHEN p_mode = 'MARGINAL'
                                    THEN least(p_net, coalesce(s.upper_paise, p_net)) - s.lower_paise
                                    ELSE p_net END AS taxable) x
    WHERE s.version_id = p_version AND p_net > s.lower_paise
      AND (p_mode = 'MARGINAL' OR s.upper_paise IS NULL OR p_net <= s.upper_paise)
    ORDER BY s.ordinal
$$;

-- The notice of property p_property for year p_fy on p_as_of, as the
-- DemandNotice message; NULL when the year has no bill for it.
-- paymentUrl is p_portal || '/property/<id>' ('' without a portal).
CREATE OR REPLACE FUNCTION pt_demand_notice_json(p_property text, p_fy integer, p_as_of date,
                                                 p_portal text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    b demand_bill;
    p property;
    v rate_version;
    r record;
    v_exempt boolean;
    v_below boolean;
    v_slabs jsonb;
    v_slab_tax bigint := 0;
    v_mutation bigint;
    v_year_demand bigint;
    v_year_settled bigint;
    v_pt_settled bigint;
    v_arrear bigint;
    v_surcharge bigint;
    v_advance bigint;
    v_payable bigint;
    v_rebate bigint := 0;
BEGIN
    SELECT * INTO b FROM demand_bill WHERE property_id = p_property AND fy = p_fy;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO p FROM property WHERE property_id = p_property;
    SELECT * INTO v FROM rate_version WHERE id = b.rate_version_id;
    v_exempt := p.exemption = ANY (v.exempt_categories);
    v_below := NOT v_exempt AND b.net_alv_paise <= v.exemption_threshold_paise;
    IF NOT v_exempt AND NOT v_below THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'ordinal', s.ordinal, 'abovePaise', s.above_paise, 'uptoPaise', s.upto_paise,
                   'rateBp', s.rate_bp, 'taxablePaise', s.taxable_paise,
                   'taxExactPaise', trim_scale(s.tax_exact)::text) ORDER BY s.ordinal), '[]'),
               coalesce(round(sum(s.tax_exact))::bigint, 0)
          INTO v_slabs, v_slab_tax
          FROM pt_notice_slabs(v.id, v.slab_mode, b.net_alv_paise) s;
    END IF;

    -- The year's own heads (a mutation fee included) and what settled them.
    SELECT coalesce(sum(d.amount_paise) FILTER (WHERE d.head = 'MUTATION_FEE'), 0),
           coalesce(sum(d.amount_paise), 0)
      INTO v_mutation, v_year_demand
      FROM demand d WHERE d.property_id = p_property AND d.fy = p_fy;
    SELECT coalesce(sum(a.amount_paise) FILTER (WHERE a.head NOT IN ('ADVANCE', 'SURCHARGE')), 0),
           coalesce(sum(a.amount_paise) FILTER (WHERE a.head = 'PROPERTY_TAX'), 0)
      INTO v_year_settled, v_pt_settled
      FROM allocation a WHERE a.property_id = p_property AND a.fy = p_fy;
    -- Earlier years' heads and the surcharge, as dues.get has them on the day.
    SELECT coalesce(sum(l.outstanding_paise) FILTER (WHERE l.fy < p_fy AND l.head <> 'SURCHARGE'), 0),
           coalesce(sum(l.outstanding_paise) FILTER (WHERE l.fy <= p_fy AND l.head = 'SURCHARGE'), 0)
      INTO v_arrear, v_surcharge
      FROM pt_dues_lines(p_property, p_as_of) l;
    v_advance := pt_advance_of(p_property);
    v_payable := greatest(v_year_demand - v_year_settled + v_arrear + v_surcharge - v_advance, 0);

    -- The early-payment rebate of the year (pt_rebate_for's rule, for p_fy):
    -- once a year, on the property-tax head, when everything is paid by the day.
    SELECT * INTO r FROM pt_rate_params(p.ulb, p_fy);
    IF r.rebate_last_day IS NOT NULL AND p_as_of <= r.rebate_last_day
       AND coalesce((SELECT sum(a.amount_paise) FROM allocation a
                     WHERE a.property_id = p_property AND a.fy = p_fy AND a.kind = 'REBATE'), 0) = 0 THEN
        v_rebate := greatest(least(round(b.property_tax_paise::numeric * r.rebate_bp / 10000)::bigint,
                                   b.property_tax_paise - v_pt_settled), 0);
    END IF;

    RETURN jsonb_build_object(
        'noticeNo', p.property_id || '/' || rule_fy_text(p_fy),
        'propertyId', p.property_id, 'ulb', p.ulb, 'ward', p.ward, 'fy', rule_fy_text(p_fy),
        'asOf', p_as_of::text, 'address', p.address, 'zone', p.zone, 'usage', p.usage,
        'construction', p.construction, 'occupancy', p.occupancy, 'exemption', p.exemption,
        'owners', coalesce((SELECT jsonb_agg(jsonb_build_object('name', o.name, 'shareBp', o.share_bp)
                                             ORDER BY o.ordinal)
                            FROM property_owner o WHERE o.property_id = p.property_id), '[]'),
        'floors', coalesce((SELECT jsonb_agg(jsonb_build_object('floor', f.floor, 'areaSqft', f.area_sqft)
                                             ORDER BY f.floor)
                            FROM property_floor f WHERE f.property_id = p.property_id), '[]'),
        'areaSqft', b.area_sqft, 'rateVersion', v.version,
        'alvRatePaisePerSqft', CASE WHEN b.area_sqft > 0 THEN b.alv_paise / b.area_sqft ELSE 0 END,
        'alvPaise', b.alv_paise, 'maintenanceBp', v.maintenance_bp,
        'maintenanceDeductionPaise', b.alv_paise - b.net_alv_paise, 'netAlvPaise', b.net_alv_paise,
        'slabMode', v.slab_mode, 'slabs', coalesce(v_slabs, '[]'), 'slabTaxPaise', v_slab_tax,
        'exempt', v_exempt, 'exemptionThresholdPaise', v.exemption_threshold_paise,
        'belowThreshold', v_below, 'selfOccupiedRebateBp', v.self_occupied_rebate_bp,
        'selfOccupiedRebatePaise', greatest(v_slab_tax - b.property_tax_paise, 0),
        'propertyTaxPaise', b.property_tax_paise, 'educationCessBp', v.education_cess_bp,
        'educationCessPaise', b.education_cess_paise,
        'urbanDevelopmentCessBp', v.urban_development_cess_bp,
        'urbanDevelopmentCessPaise', b.urban_development_cess_paise,
        'samekitPaise', b.samekit_paise, 'mutationFeePaise', v_mutation,
        'yearDemandPaise', v_year_demand, 'yearSettledPaise', v_year_settled,
        'arrearPaise', v_arrear, 'surchargeBpPerMonth', r.surcharge_bp_per_month,
        'surchargePaise', v_surcharge, 'advancePaise', v_advance, 'payablePaise', v_payable,
        'rebateBp', r.rebate_bp, 'rebateLastDay', coalesce(r.rebate_last_day::text, ''),
        'rebatePaise', v_rebate, 'payableWithRebatePaise', greatest(v_payable - v_rebate, 0),
        'dueDate', make_date(p_fy + 1, 3, 31)::text,
        'paymentUrl', CASE WHEN coalesce(p_portal, '') = '' THEN ''
                           ELSE p_portal || '/property/' || p.property_id END);
END
$$;

-- The notice's date: asOf when given, else today or, for a year that has not
-- begun, its first day.
CREATE OR REPLACE FUNCTION pt_notice_as_of(p_req jsonb, p_fy integer, p_today date) RETURNS date
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF coalesce(p_req->>'asOf', '') <> '' THEN
        RETURN rule_parse_date(p_req->>'asOf', 'asOf');
    END IF;
    RETURN greatest(p_today, make_date(p_fy, 4, 1));
END
$$;

-- demand_notice.get and .pdf: staff of the property's ULB, its owners.
-- p_req->>'portalUrl' is the service's setting, added by the C handler.
CREATE OR REPLACE FUNCTION pt_demand_notice_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    p property;
    v_fy integer;
    v jsonb;
BEGIN
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                         false);
    v_fy := rule_parse_fy(p_req->>'fy', 'fy');
    v := pt_demand_notice_json(p.property_id, v_fy, pt_notice_as_of(p_req, v_fy, p_today),
                               p_req->>'portalUrl');
    IF v IS NULL THEN
        PERFORM rule_fail('NRNFD', 'fy', format('no demand for %s has been raised for property %s: '
                                                'run the annual demand first', rule_fy_text(v_fy),
                                                p.property_id));
    END IF;
    RETURN v;
END
$$;

-- demand_notice.ward_pdf: the notices of a ward's properties that have a
-- bill for the year, in property-id order, a page at a time. Staff only.
CREATE OR REPLACE FUNCTION pt_demand_notice_ward(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text;
    v_ward integer := rule_int(p_req->'ward', 'ward', 1, 999);
    v_fy integer := rule_parse_fy(p_req->>'fy', 'fy');
    v_size integer := rule_page_size(p_req, 50, 20);
    v_as_of date;
    v_after text;
    v_ids text[];
BEGIN
    PERFORM rule_require_role(p_actor, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                              'printing a ward''s demand notices');
    v_ulb := rule_ulb_or_own(p_actor, p_req);
    v_as_of := pt_notice_as_of(p_req, v_fy, p_today);
    v_after := rule_page_after(p_req, pt_account_kind()->>'idPattern');
    SELECT array_agg(property_id ORDER BY property_id) INTO v_ids FROM (
        SELECT b.property_id FROM demand_bill b
        WHERE b.ulb = v_ulb AND b.fy = v_fy AND b.ward = v_ward AND b.property_id > v_after
        ORDER BY b.property_id LIMIT v_size + 1) s;
    v_ids := coalesce(v_ids, '{}');
    RETURN jsonb_build_object(
        'notices', coalesce((SELECT jsonb_agg(pt_demand_notice_json(id, v_fy, v_as_of,
                                                                    p_req->>'portalUrl') ORDER BY id)
                             FROM unnest(v_ids[1:v_size]) AS id), '[]'),
        'nextPageToken', rule_page_next(v_ids, v_size));
END
$$;

-- The app role reaches the entry points above (SECURITY DEFINER), nothing else
-- (common/sql/rules 002: rules-only writes).
SELECT rules_grant_entry_points();
