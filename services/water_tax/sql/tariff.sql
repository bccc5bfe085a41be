-- tariff.sql — tariffs per ULB and financial year: versioned master data (a
-- save is a new version), the defaults, and the charges they set.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- The built-in schedule (version 0), to edit and save; never used to bill.
CREATE OR REPLACE FUNCTION wt_tariff_defaults(p_ulb text, p_fy integer) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'ulb', p_ulb, 'fy', rule_fy_text(p_fy), 'version', 0,
        'flatRates', '[{"category":"DOMESTIC","pipeSizeMm":15,"monthlyPaise":18000},
                       {"category":"DOMESTIC","pipeSizeMm":20,"monthlyPaise":21000},
                       {"category":"COMMERCIAL","pipeSizeMm":15,"monthlyPaise":45000},
                       {"category":"COMMERCIAL","pipeSizeMm":20,"monthlyPaise":60000},
                       {"category":"INDUSTRIAL","pipeSizeMm":25,"monthlyPaise":150000},
                       {"category":"INSTITUTIONAL","pipeSizeMm":20,"monthlyPaise":40000}]'::jsonb,
        'meteredSlabs', '[{"category":"DOMESTIC","uptoKl":10,"ratePaisePerKl":500},
                          {"category":"DOMESTIC","uptoKl":20,"ratePaisePerKl":1000},
                          {"category":"DOMESTIC","uptoKl":0,"ratePaisePerKl":1500},
                          {"category":"COMMERCIAL","uptoKl":0,"ratePaisePerKl":2500},
                          {"category":"INDUSTRIAL","uptoKl":0,"ratePaisePerKl":4000},
                          {"category":"INSTITUTIONAL","uptoKl":0,"ratePaisePerKl":1500}]'::jsonb,
        'meteredMinimum', '[{"category":"DOMESTIC","paise":5000},{"category":"COMMERCIAL","paise":20000},
                            {"category":"INDUSTRIAL","paise":50000},
                            {"category":"INSTITUTIONAL","paise":15000}]'::jsonb,
        'sewerageBp', 3000,
        'solidWaste', '[{"category":"DOMESTIC","paise":3000},{"category":"COMMERCIAL","paise":10000},
                        {"category":"INDUSTRIAL","paise":20000},
                        {"category":"INSTITUTIONAL","paise":10000}]'::jsonb,
        'surchargeBp', 200, 'advanceRebateBp', 500, 'dueDays', 15, 'maxMonthlyKl', 100,
        'estimateDefaultKl', 15,
        'connectionFees', '[{"category":"DOMESTIC","pipeSizeMm":15,"feePaise":200000},
                            {"category":"DOMESTIC","pipeSizeMm":20,"feePaise":300000},
                            {"category":"COMMERCIAL","pipeSizeMm":15,"feePaise":500000},
                            {"category":"COMMERCIAL","pipeSizeMm":20,"feePaise":750000},
                            {"category":"INDUSTRIAL","pipeSizeMm":25,"feePaise":1500000},
                            {"category":"INSTITUTIONAL","pipeSizeMm":20,"feePaise":500000}]'::jsonb,
        'disconnectionFeePaise', 20000, 'reconnectionFeePaise', 50000, 'reason', 'built-in defaults',
        'createdBy', '', 'createdAt', '')
$$;

CREATE OR REPLACE FUNCTION wt_tariff_json(p_version_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'ulb', v.ulb, 'fy', rule_fy_text(v.fy), 'version', v.version,
        'flatRates', coalesce((SELECT jsonb_agg(jsonb_build_object('category', f.category,
                                   'pipeSizeMm', f.pipe_size_mm, 'monthlyPaise', f.monthly_paise)
                                   ORDER BY f.category, f.pipe_size_mm)
                               FROM tariff_flat f WHERE f.version_id = v.id), '[]'),
        'meteredSlabs', coalesce((SELECT jsonb_agg(jsonb_build_object('category', s.category,
                                      'uptoKl', coalesce(s.upper_litres / 1000, 0),
                                      'ratePaisePerKl', s.rate_paise_per_kl)
                                      ORDER BY s.category, s.ordinal)
                                  FROM tariff_slab s WHERE s.version_id = v.id), '[]'),
        'meteredMinimum', coalesce((SELECT jsonb_agg(jsonb_build_object('category', c.category,
                                        'paise', c.metered_minimum_paise) ORDER BY c.category)
                                    FROM tariff_category c WHERE c.version_id = v.id), '[]'),
        'sewerageBp', v.sewerage_bp,
        'solidWaste', coalesce((SELECT jsonb_agg(jsonb_build_object('category', c.category,
                                    'paise', c.solid_waste_paise) ORDER BY c.category)
                                FROM tariff_category c WHERE c.version_id = v.id), '[]'),
        'surchargeBp', v.surcharge_bp, 'advanceRebateBp', v.advance_rebate_bp, 'dueDays', v.due_days,
        'maxMonthlyKl', v.max_monthly_kl, 'estimateDefaultKl', v.estimate_default_kl,
        'connectionFees', coalesce((SELECT jsonb_agg(jsonb_build_object('category', f.category,
                                        'pipeSizeMm', f.pipe_size_mm, 'feePaise', f.fee_paise)
                                        ORDER BY f.category, f.pipe_size_mm)
                                    FROM tariff_connection_fee f WHERE f.version_id = v.id), '[]'),
        'disconnectionFeePaise', v.disconnection_fee_paise,
        'reconnectionFeePaise', v.reconnection_fee_paise, 'reason', v.reason,
        'createdBy', v.created_by, 'createdAt', rule_ts(v.created_at))
    FROM tariff_version v WHERE v.id = p_version_id
$$;

-- The version asked for, or the defaults (common/sql/accounts 006).
CREATE OR REPLACE FUNCTION wt_tariff_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT accounts_version_get(p_actor, p_req, 'tariff_version', 'tariff', 100000, wt_everyone(),
                                'reading a tariff', 'wt_tariff_defaults', 'wt_tariff_json')
$$;

-- A list of {category, paise}, validated: each category at most once.
CREATE OR REPLACE FUNCTION wt_category_charges(p_list jsonb, p_field text)
RETURNS TABLE (category text, paise bigint) LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
    f text;
    v_seen text[] := '{}';
    v_cat text;
BEGIN
    FOR e, f IN SELECT * FROM rule_list(p_list, p_field, 0, cardinality(wt_categories()),
                                        'categories') LOOP
        v_cat := rule_enum(e->>'category', f || '.category', wt_categories());
        IF v_cat = ANY (v_seen) THEN
            PERFORM rule_fail('NRINV', f || '.category', format('%s lists %s twice', p_field, v_cat));
        END IF;
        v_seen := v_seen || v_cat;
        category := v_cat;
        paise := rule_int(e->'paise', f || '.paise', 0, 100000000);
        RETURN NEXT;
    END LOOP;
END
$$;

-- Saves a complete tariff as the next version. Every list is validated
-- with its field path (flatRates and connectionFees up to 500 entries,
-- meteredSlabs up to 100); a category's metered slabs rise and end with an
-- open slab (uptoKl 0).
CREATE OR REPLACE FUNCTION wt_tariff_set(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text;
    v_fy integer;
    v_id bigint;
    v_version integer;
    e jsonb;
    f text;
    v_cat text;
    v_prev_cat text := '';
    v_lower bigint;
    v_upto bigint;
    v_rate bigint;
    v_base numeric;
    v_ord integer;
    v_open boolean;
BEGIN
    SELECT s.ulb, s.fy INTO v_ulb, v_fy FROM accounts_version_scope(p_actor, p_req, 'tariff.set',
                                                                   'saving a water tariff') s;
    v_version := accounts_version_next('tariff_version', v_ulb, v_fy);
    INSERT INTO tariff_version (ulb, fy, version, sewerage_bp, surcharge_bp, advance_rebate_bp,
                                due_days, max_monthly_kl, estimate_default_kl,
                                disconnection_fee_paise, reconnection_fee_paise, reason, created_by)
    VALUES (v_ulb, v_fy, v_version,
            rule_int(p_req->'sewerageBp', 'sewerageBp', 0, 20000),
            rule_int(p_req->'surchargeBp', 'surchargeBp', 0, 5000),
            rule_int(p_req->'advanceRebateBp', 'advanceRebateBp', 0, 5000),
            greatest(rule_int(p_req->'dueDays', 'dueDays', 0, 90), 1),
            rule_int(p_req->'maxMonthlyKl', 'maxMonthlyKl', 1, 10000000),
            rule_int(p_req->'estimateDefaultKl', 'estimateDefaultKl', 0, 10000000),
            rule_int(p_req->'disconnectionFeePaise', 'disconnectionFeePaise', 0, 100000000),
            rule_int(p_req->'reconnectionFeePaise', 'reconnectionFeePaise', 0, 100000000),
            rule_text(p_req->>'reason', 'reason', 3, 300), p_actor->>'userId')
    RETURNING id INTO v_id;
    FOR e, f IN SELECT * FROM rule_list(p_req->'flatRates', 'flatRates', 0, 500, 'flat rates') LOOP
        IF EXISTS (SELECT FROM tariff_flat WHERE version_id = v_id AND category = e->>'category'
                                             AND pipe_size_mm = (e->>'pipeSizeMm')::integer) THEN
            PERFORM rule_fail('NRINV', f || '.pipeSizeMm', format('%s.pipeSizeMm %s of %s is listed twice',
                                                               f, e->>'pipeSizeMm', e->>'category'));
        END IF;
        INSERT INTO tariff_flat VALUES (v_id, rule_enum(e->>'category', f || '.category', wt_categories()),
                                        rule_int(e->'pipeSizeMm', f || '.pipeSizeMm', 10, 600),
                                        rule_int(e->'monthlyPaise', f || '.monthlyPaise', 0, 100000000));
    END LOOP;
    v_open := true;
    FOR e, f IN SELECT * FROM rule_list(p_req->'meteredSlabs', 'meteredSlabs', 0, 100, 'slabs') LOOP
        v_cat := rule_enum(e->>'category', f || '.category', wt_categories());
        v_upto := rule_int(e->'uptoKl', f || '.uptoKl', 0, 10000000);
        v_rate := rule_int(e->'ratePaisePerKl', f || '.ratePaisePerKl', 0, 10000000);
        IF v_cat <> v_prev_cat THEN
            IF NOT v_open THEN
                PERFORM rule_fail('NRINV', f || '.category', format('the slabs of %s must end with an open '
                                'slab (uptoKl 0) before %s starts', v_prev_cat, f || '.category'));
            END IF;
            IF EXISTS (SELECT FROM tariff_slab WHERE version_id = v_id AND category = v_cat) THEN
                PERFORM rule_fail('NRINV', f || '.category', format('the slabs of %s must be listed together', v_cat));
            END IF;
            v_lower := 0; v_base := 0; v_ord := 0; v_prev_cat := v_cat;
        ELSIF v_open THEN
            PERFORM rule_fail('NRINV', f || '.uptoKl', format('%s already has its open slab (uptoKl 0) '
                            'before %s', v_cat, f || '.uptoKl'));
        END IF;
        IF v_upto <> 0 AND v_upto * 1000 <= v_lower THEN
            PERFORM rule_fail('NRINV', f || '.uptoKl', format('%s.uptoKl must rise: %s kl is not above %s kl',
                                                           f, v_upto, v_lower / 1000));
        END IF;
        v_ord := v_ord + 1;
        INSERT INTO tariff_slab VALUES (v_id, v_cat, v_ord, v_lower, nullif(v_upto * 1000, 0), v_rate, v_base);
        v_open := v_upto = 0;
        IF NOT v_open THEN
            v_base := v_base + (v_upto * 1000 - v_lower)::numeric * v_rate;
            v_lower := v_upto * 1000;
        END IF;
    END LOOP;
    IF NOT v_open THEN
        PERFORM rule_fail('NRINV', f || '.uptoKl',
                        format('the slabs of %s must end with an open slab (uptoKl 0)', v_prev_cat));
    END IF;
    -- Metered minimum and solid-waste charge per category (absent = 0).
    INSERT INTO tariff_category (version_id, category, metered_minimum_paise, solid_waste_paise)
    SELECT v_id, c, coalesce(m.paise, 0), coalesce(w.paise, 0)
    FROM unnest(wt_categories()) c
    LEFT JOIN wt_category_charges(p_req->'meteredMinimum', 'meteredMinimum') m ON m.category = c
    LEFT JOIN wt_category_charges(p_req->'solidWaste', 'solidWaste') w ON w.category = c;
    FOR e, f IN SELECT * FROM rule_list(p_req->'connectionFees', 'connectionFees', 0, 500,
                                        'connection fees') LOOP
        IF EXISTS (SELECT FROM tariff_connection_fee WHERE version_id = v_id
                   AND category = e->>'category' AND pipe_size_mm = (e->>'pipeSizeMm')::integer) THEN
            PERFORM rule_fail('NRINV', f || '.pipeSizeMm', format('%s.pipeSizeMm %s of %s is listed twice',
                                                               f, e->>'pipeSizeMm', e->>'category'));
        END IF;
        INSERT INTO tariff_connection_fee VALUES (
            v_id, rule_enum(e->>'category', f || '.category', wt_categories()),
            rule_int(e->'pipeSizeMm', f || '.pipeSizeMm', 10, 600),
            rule_int(e->'feePaise', f || '.feePaise', 0, 100000000));
    END LOOP;
    PERFORM rule_audit(p_actor, v_ulb, 'tariff.set', 'tariff:' || v_ulb || ':' || rule_fy_text(v_fy),
                     jsonb_build_object('version', v_version));
    RETURN wt_tariff_json(v_id);
END
$$;

SELECT rules_grant_entry_points();
