-- rates.sql — rate schedules per ULB and financial year: versioned master data
-- (a save is a new version), the defaults, and the parameters the demand,
-- the dues and the assessments read.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- The built-in defaults, what rates.get answers (version 0) for a ULB and
-- year that has no saved schedule yet. They are a starting point to edit
-- and save; the demand batch computes only with saved versions.
CREATE OR REPLACE FUNCTION pt_rates_defaults(p_ulb text, p_fy integer) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'ulb', p_ulb, 'fy', rule_fy_text(p_fy), 'version', 0,
        'maintenanceBp', 1000, 'slabMode', 'MARGINAL',
        'slabs', jsonb_build_array(jsonb_build_object('uptoPaise', 3600000, 'rateBp', 600),
                                   jsonb_build_object('uptoPaise', 6000000, 'rateBp', 800),
                                   jsonb_build_object('uptoPaise', 0, 'rateBp', 1000)),
        'educationCessBp', 300, 'urbanDevelopmentCessBp', 100, 'samekitPaise', 50000,
        'rebateBp', 600, 'rebateLastDay', (p_fy::text || '-08-31'),
        'surchargeBpPerMonth', 150, 'surchargeThresholdPaise', 0,
        'selfOccupiedRebateBp', 1000, 'exemptionThresholdPaise', 600000,
        'exemptCategories', jsonb_build_array('WORSHIP', 'CHARITABLE', 'GOVERNMENT', 'BPL'),
        'mutationFeePaise', 100000, 'alvRates', '[]'::jsonb,
        'reason', 'built-in defaults (nothing saved yet)', 'createdBy', '', 'createdAt', '')
$$;

CREATE OR REPLACE FUNCTION pt_rates_json(p_version_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'ulb', v.ulb, 'fy', rule_fy_text(v.fy), 'version', v.version,
        'maintenanceBp', v.maintenance_bp, 'slabMode', v.slab_mode,
        'slabs', (SELECT jsonb_agg(jsonb_build_object('uptoPaise', coalesce(s.upper_paise, 0),
                                                      'rateBp', s.rate_bp) ORDER BY s.ordinal)
                  FROM rate_slab s WHERE s.version_id = v.id),
        'educationCessBp', v.education_cess_bp, 'urbanDevelopmentCessBp', v.urban_development_cess_bp,
        'samekitPaise', v.samekit_paise, 'rebateBp', v.rebate_bp,
        'rebateLastDay', coalesce(v.rebate_last_day::text, ''),
        'surchargeBpPerMonth', v.surcharge_bp_per_month,
        'surchargeThresholdPaise', v.surcharge_threshold_paise,
        'selfOccupiedRebateBp', v.self_occupied_rebate_bp,
        'exemptionThresholdPaise', v.exemption_threshold_paise,
        'exemptCategories', to_jsonb(v.exempt_categories),
        'mutationFeePaise', v.mutation_fee_paise,
        'alvRates', coalesce((SELECT jsonb_agg(jsonb_build_object('zone', a.zone,
                                  'construction', a.construction, 'usage', a.usage,
                                  'ratePaisePerSqft', a.rate_paise_per_sqft)
                              ORDER BY a.zone, a.construction, a.usage)
                              FROM alv_rate a WHERE a.version_id = v.id), '[]'),
        'reason', v.reason, 'createdBy', v.created_by, 'createdAt', rule_ts(v.created_at))
    FROM rate_version v WHERE v.id = p_version_id
$$;

-- The version in force for a ULB's year is accounts 010's
-- accounts_version_newest('rate_version', ulb, fy).
DROP FUNCTION IF EXISTS pt_rate_version_id(text, integer);

-- The parameters that apply at payment time to a ULB's year: the newest
-- saved version, else the defaults.
CREATE OR REPLACE FUNCTION pt_rate_params(p_ulb text, p_fy integer,
    OUT rebate_bp integer, OUT rebate_last_day date, OUT surcharge_bp_per_month integer,
    OUT surcharge_threshold_paise bigint, OUT mutation_fee_paise bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE v rate_version; d jsonb;
BEGIN
    SELECT * INTO v FROM rate_version WHERE ulb = p_ulb AND fy = p_fy ORDER BY version DESC LIMIT 1;
    IF FOUND THEN
        rebate_bp := v.rebate_bp; rebate_last_day := v.rebate_last_day;
        surcharge_bp_per_month := v.surcharge_bp_per_month;
        surcharge_threshold_paise := v.surcharge_threshold_paise;
        mutation_fee_paise := v.mutation_fee_paise;
    ELSE
        d := pt_rates_defaults(p_ulb, p_fy);
        rebate_bp := (d->>'rebateBp')::integer; rebate_last_day := (d->>'rebateLastDay')::date;
        surcharge_bp_per_month := (d->>'surchargeBpPerMonth')::integer;
        surcharge_threshold_paise := (d->>'surchargeThresholdPaise')::bigint;
        mutation_fee_paise := (d->>'mutationFeePaise')::bigint;
    END IF;
END
$$;

-- The version asked for, or the defaults (common/sql/accounts 006).
CREATE OR REPLACE FUNCTION pt_rates_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT accounts_version_get(p_actor, p_req, 'rate_version', 'rate', 1000000,
                                ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                      'STATE_ADMIN'], 'reading rates',
                                'pt_rates_defaults', 'pt_rates_json')
$$;

CREATE OR REPLACE FUNCTION pt_rates_set(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text;
    v_fy integer;
    v_id bigint;
    v_version integer;
    s jsonb;
    a jsonb;
    f text;
    v_lower bigint := 0;
    v_upper bigint;
    v_slabs jsonb := coalesce(p_req->'slabs', '[]');
    v_last text;
    v_rebate_day date;
    v_exempt text[] := '{}';
    e jsonb;
BEGIN
    SELECT s.ulb, s.fy INTO v_ulb, v_fy FROM accounts_version_scope(p_actor, p_req, 'rates.set',
                                                                   'changing rates') s;
    PERFORM rule_int(p_req->'maintenanceBp', 'maintenanceBp', 0, 5000);
    PERFORM rule_enum(p_req->>'slabMode', 'slabMode', ARRAY['MARGINAL', 'FLAT']);
    PERFORM rule_int(p_req->'educationCessBp', 'educationCessBp', 0, 10000);
    PERFORM rule_int(p_req->'urbanDevelopmentCessBp', 'urbanDevelopmentCessBp', 0, 10000);
    PERFORM rule_int(p_req->'samekitPaise', 'samekitPaise', 0, 100000000);
    PERFORM rule_int(p_req->'rebateBp', 'rebateBp', 0, 10000);
    IF coalesce(p_req->>'rebateLastDay', '') <> '' THEN
        v_rebate_day := rule_parse_date(p_req->>'rebateLastDay', 'rebateLastDay');
        IF rule_fy_of(v_rebate_day) <> v_fy THEN
            PERFORM rule_fail('NRINV', 'rebateLastDay', format('rebateLastDay %s is not in the financial '
                                                             'year %s', v_rebate_day, rule_fy_text(v_fy)));
        END IF;
    END IF;
    PERFORM rule_int(p_req->'surchargeBpPerMonth', 'surchargeBpPerMonth', 0, 1000);
    PERFORM rule_int(p_req->'surchargeThresholdPaise', 'surchargeThresholdPaise', 0, 1000000000000);
    PERFORM rule_int(p_req->'selfOccupiedRebateBp', 'selfOccupiedRebateBp', 0, 10000);
    PERFORM rule_int(p_req->'exemptionThresholdPaise', 'exemptionThresholdPaise', 0, 1000000000000);
    PERFORM rule_int(p_req->'mutationFeePaise', 'mutationFeePaise', 0, 100000000);
    PERFORM rule_text(p_req->>'reason', 'reason', 1, 500);
    FOR e, f IN SELECT * FROM rule_list(p_req->'exemptCategories', 'exemptCategories', 0, 4,
                                        'categories') LOOP
        v_exempt := v_exempt || rule_enum(e #>> '{}', f,
                                          ARRAY['WORSHIP', 'CHARITABLE', 'GOVERNMENT', 'BPL']);
    END LOOP;
    -- The slabs rise; the last one has no upper bound (uptoPaise 0).
    IF jsonb_typeof(v_slabs) = 'array' THEN
        v_last := format('slabs[%s]', jsonb_array_length(v_slabs) - 1);
    END IF;
    FOR s, f IN SELECT * FROM rule_list(v_slabs, 'slabs', 1, 10, 'tax slabs') LOOP
        v_upper := rule_int(s->'uptoPaise', f || '.uptoPaise', 0, 1000000000000);
        PERFORM rule_int(s->'rateBp', f || '.rateBp', 0, 10000);
        IF f <> v_last AND v_upper <= v_lower THEN
            PERFORM rule_fail('NRINV', f || '.uptoPaise',
                            'each slab''s uptoPaise must be above the previous one''s');
        END IF;
        IF f = v_last AND v_upper <> 0 THEN
            PERFORM rule_fail('NRINV', f || '.uptoPaise',
                            'the last slab has no upper bound: its uptoPaise must be 0');
        END IF;
        v_lower := v_upper;
    END LOOP;
    FOR a, f IN SELECT * FROM rule_list(p_req->'alvRates', 'alvRates', 0, 2000, 'rates') LOOP
        PERFORM pt_zone_arg(a->>'zone', f || '.zone');
        PERFORM rule_enum(a->>'construction', f || '.construction', pt_constructions());
        PERFORM rule_enum(a->>'usage', f || '.usage', pt_usages());
        PERFORM rule_int(a->'ratePaisePerSqft', f || '.ratePaisePerSqft', 0, 10000000);
    END LOOP;

    v_version := accounts_version_next('rate_version', v_ulb, v_fy);
    INSERT INTO rate_version (ulb, fy, version, maintenance_bp, slab_mode, education_cess_bp,
                              urban_development_cess_bp, samekit_paise, rebate_bp, rebate_last_day,
                              surcharge_bp_per_month, surcharge_threshold_paise,
                              self_occupied_rebate_bp, exemption_threshold_paise,
                              exempt_categories, mutation_fee_paise, reason, created_by)
    VALUES (v_ulb, v_fy, v_version, rule_int(p_req->'maintenanceBp', '', 0, 5000), p_req->>'slabMode',
            rule_int(p_req->'educationCessBp', '', 0, 10000),
            rule_int(p_req->'urbanDevelopmentCessBp', '', 0, 10000),
            rule_int(p_req->'samekitPaise', '', 0, 100000000), rule_int(p_req->'rebateBp', '', 0, 10000),
            v_rebate_day, rule_int(p_req->'surchargeBpPerMonth', '', 0, 1000),
            rule_int(p_req->'surchargeThresholdPaise', '', 0, 1000000000000),
            rule_int(p_req->'selfOccupiedRebateBp', '', 0, 10000),
            rule_int(p_req->'exemptionThresholdPaise', '', 0, 1000000000000), v_exempt,
            rule_int(p_req->'mutationFeePaise', '', 0, 100000000), p_req->>'reason',
            p_actor->>'userId')
    RETURNING id INTO v_id;
    INSERT INTO rate_slab (version_id, ordinal, lower_paise, upper_paise, rate_bp, base_paise_bp)
    SELECT v_id, b.i, b.lower_paise, b.upper_paise, b.rate_bp,
           coalesce(sum((b.upper_paise - b.lower_paise)::numeric * b.rate_bp)
                        OVER (ORDER BY b.i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
    FROM (SELECT t.i, coalesce(lag(nullif((t.s->>'uptoPaise')::bigint, 0)) OVER (ORDER BY t.i), 0)
                     AS lower_paise,
                 nullif((t.s->>'uptoPaise')::bigint, 0) AS upper_paise,
                 coalesce((t.s->>'rateBp')::integer, 0) AS rate_bp
          FROM jsonb_array_elements(v_slabs) WITH ORDINALITY AS t(s, i)) b;
    BEGIN
        INSERT INTO alv_rate (version_id, zone, construction, usage, rate_paise_per_sqft)
        SELECT v_id, r->>'zone', r->>'construction', r->>'usage',
               coalesce((r->>'ratePaisePerSqft')::bigint, 0)
        FROM jsonb_array_elements(coalesce(p_req->'alvRates', '[]')) AS r;
    EXCEPTION WHEN unique_violation THEN
        PERFORM rule_fail('NRINV', 'alvRates', 'alvRates lists one zone, construction and usage twice');
    END;
    PERFORM rule_audit(p_actor, v_ulb, 'rates.set', v_ulb || '/' || rule_fy_text(v_fy),
                     jsonb_build_object('version', v_version, 'reason', p_req->>'reason'));
    RETURN pt_rates_json(v_id);
END
$$;

SELECT rules_grant_entry_points();
