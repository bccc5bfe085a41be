-- 002_rules.sql — the rules of nagar-property-tax as SQL functions.
--
-- Each method's C handler validates the envelope, opens the transaction,
-- deals with idempotency, receipts and the ledger (common/), and calls one
-- of these functions with the actor ({"userId","role","ulb"}) as vouched
-- for by the gateway, the request in its proto3 JSON form, and the
-- business date. They check the actor's reach, validate every field
-- (raising with the field's JSON path), change the tables and answer with
-- the reply message in proto3 JSON. Keeping the rules next to the data
-- lets the annual demand be one INSERT ... SELECT per chunk and a payment
-- one round of statements under the property's lock.
--
-- Errors: SQLSTATE PTINV (invalid argument), PTNFD (not found), PTDEN
-- (permission denied), PTCON (conflict), PTPRE (failed precondition); the
-- DETAIL is the field path. services/property_tax/property_tax.c maps
-- them to nagar.StatusCode.
--
-- Money is bigint paise. Every percentage is in basis points and every
-- rounding is round(numeric) — to the nearest paisa, half away from zero —
-- applied once per head as the README documents.

-- ---- errors, dates, validation ------------------------------------------------

CREATE FUNCTION pt_fail(p_code text, p_field text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', p_message USING ERRCODE = p_code, DETAIL = coalesce(p_field, '');
END
$$;

CREATE FUNCTION pt_fy_text(p_fy integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT p_fy::text || '-' || lpad(((p_fy + 1) % 100)::text, 2, '0')
$$;

CREATE FUNCTION pt_fy_of(p_date date) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN extract(month FROM p_date) >= 4 THEN extract(year FROM p_date)::integer
                ELSE extract(year FROM p_date)::integer - 1 END
$$;

CREATE FUNCTION pt_parse_fy(p_text text, p_field text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v integer;
BEGIN
    IF p_text IS NULL OR p_text !~ '^(20[0-9]{2})-[0-9]{2}$' THEN
        PERFORM pt_fail('PTINV', p_field, format('%s must be a financial year such as 2026-27, not "%s"',
                                                 p_field, coalesce(p_text, '')));
    END IF;
    v := substr(p_text, 1, 4)::integer;
    IF substr(p_text, 6, 2) <> lpad(((v + 1) % 100)::text, 2, '0') THEN
        PERFORM pt_fail('PTINV', p_field, format('%s "%s" is not a financial year: after %s comes %s',
                                                 p_field, p_text, v, pt_fy_text(v)));
    END IF;
    RETURN v;
END
$$;

CREATE FUNCTION pt_parse_date(p_text text, p_field text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_text IS NULL OR p_text !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
        PERFORM pt_fail('PTINV', p_field, format('%s must be a date YYYY-MM-DD, not "%s"', p_field,
                                                 coalesce(p_text, '')));
    END IF;
    RETURN p_text::date;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    PERFORM pt_fail('PTINV', p_field, format('%s "%s" is not a calendar date', p_field, p_text));
    RETURN NULL;
END
$$;

-- Text of 0..max characters (min..max when min > 0) without control characters.
CREATE FUNCTION pt_text(p_value text, p_field text, p_min integer, p_max integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v text := coalesce(p_value, '');
BEGIN
    IF char_length(v) < p_min OR char_length(v) > p_max OR v ~ '[[:cntrl:]]' THEN
        PERFORM pt_fail('PTINV', p_field,
                        format('%s must be %s to %s characters without control characters', p_field,
                               p_min, p_max));
    END IF;
    RETURN v;
END
$$;

-- An integer in [min, max]; absent (proto3 default) is 0.
CREATE FUNCTION pt_int(p_value jsonb, p_field text, p_min bigint, p_max bigint) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v numeric;
BEGIN
    IF p_value IS NULL OR p_value = 'null'::jsonb THEN
        v := 0;
    ELSE
        v := (p_value #>> '{}')::numeric;
    END IF;
    IF v <> trunc(v) OR v < p_min OR v > p_max THEN
        PERFORM pt_fail('PTINV', p_field, format('%s must be a whole number from %s to %s, not %s',
                                                 p_field, p_min, p_max, v));
    END IF;
    RETURN v::bigint;
EXCEPTION WHEN invalid_text_representation THEN
    PERFORM pt_fail('PTINV', p_field, format('%s must be a whole number', p_field));
    RETURN NULL;
END
$$;

CREATE FUNCTION pt_enum(p_value text, p_field text, p_allowed text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR NOT p_value = ANY (p_allowed) THEN
        PERFORM pt_fail('PTINV', p_field, format('%s must be one of %s', p_field,
                                                 array_to_string(p_allowed, ', ')));
    END IF;
    RETURN p_value;
END
$$;

CREATE FUNCTION pt_ulb_arg(p_value text, p_field text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR p_value !~ '^[0-9]{1,10}$' THEN
        PERFORM pt_fail('PTINV', p_field, format('%s must be the LGD code of a ULB (1 to 10 digits)',
                                                 p_field));
    END IF;
    RETURN p_value;
END
$$;

CREATE FUNCTION pt_zone_arg(p_value text, p_field text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR p_value !~ '^[A-Z0-9]{1,8}$' THEN
        PERFORM pt_fail('PTINV', p_field, format('%s must be a zone code of 1 to 8 of A-Z, 0-9',
                                                 p_field));
    END IF;
    RETURN p_value;
END
$$;

CREATE FUNCTION pt_usages() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['RESIDENTIAL', 'COMMERCIAL', 'INDUSTRIAL', 'MIXED'] $$;
CREATE FUNCTION pt_constructions() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['RCC', 'RBC', 'TIN_SHED', 'KACHCHA'] $$;
CREATE FUNCTION pt_occupancies() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['SELF_OCCUPIED', 'RENTED'] $$;
CREATE FUNCTION pt_exemptions() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['EXEMPTION_NONE', 'WORSHIP', 'CHARITABLE', 'GOVERNMENT', 'BPL'] $$;

CREATE FUNCTION pt_ts(p_at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- ---- actors ----------------------------------------------------------------------

CREATE FUNCTION pt_require_role(p_actor jsonb, p_roles text[], p_what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce(p_actor->>'userId', '') = '' OR NOT coalesce(p_actor->>'role', '') = ANY (p_roles) THEN
        PERFORM pt_fail('PTDEN', NULL, format('%s needs one of the roles %s', p_what,
                                              array_to_string(p_roles, ', ')));
    END IF;
END
$$;

-- Staff act within their own ULB; a STATE_ADMIN anywhere.
CREATE FUNCTION pt_check_ulb(p_actor jsonb, p_ulb text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_actor->>'role' = 'STATE_ADMIN' THEN
        RETURN;
    END IF;
    IF p_actor->>'role' = 'CITIZEN' OR coalesce(p_actor->>'ulb', '') <> p_ulb THEN
        PERFORM pt_fail('PTDEN', NULL, format('a %s of ULB %s may not act on the data of ULB %s',
                                              coalesce(p_actor->>'role', ''),
                                              coalesce(nullif(p_actor->>'ulb', ''), '(none)'), p_ulb));
    END IF;
END
$$;

-- The property, if the actor may see it: staff of its ULB with one of
-- p_roles, a STATE_ADMIN (if listed), or a citizen who is one of its owners
-- (if CITIZEN is listed). Locks it FOR UPDATE when p_lock.
CREATE FUNCTION pt_property_for(p_actor jsonb, p_id text, p_field text, p_roles text[],
                                p_lock boolean) RETURNS property
LANGUAGE plpgsql AS $$
DECLARE p property;
BEGIN
    PERFORM pt_require_role(p_actor, p_roles, 'this');
    IF p_id IS NULL OR p_id !~ '^[0-9]{1,10}-[0-9]{3}-[0-9]{6}$' THEN
        PERFORM pt_fail('PTINV', p_field, format('%s must be a property id such as 802462-005-000123',
                                                 p_field));
    END IF;
    IF p_lock THEN
        SELECT * INTO p FROM property WHERE property_id = p_id FOR UPDATE;
    ELSE
        SELECT * INTO p FROM property WHERE property_id = p_id;
    END IF;
    IF NOT FOUND THEN
        PERFORM pt_fail('PTNFD', p_field, format('no property %s', p_id));
    END IF;
    IF p_actor->>'role' = 'CITIZEN' THEN
        IF NOT EXISTS (SELECT FROM property_owner o WHERE o.property_id = p_id
                                                      AND o.user_id = p_actor->>'userId') THEN
            PERFORM pt_fail('PTDEN', NULL, format('property %s is not yours: citizens see only '
                                                  'the properties they own', p_id));
        END IF;
    ELSE
        PERFORM pt_check_ulb(p_actor, p.ulb);
    END IF;
    RETURN p;
END
$$;

CREATE FUNCTION pt_audit(p_actor jsonb, p_ulb text, p_action text, p_subject text, p_detail jsonb)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO audit (actor, role, ulb, action, subject, detail)
    VALUES (coalesce(nullif(p_actor->>'userId', ''), 'system'), coalesce(nullif(p_actor->>'role', ''), 'SYSTEM'),
            p_ulb, p_action, p_subject, p_detail)
$$;

-- ---- register ------------------------------------------------------------------------

CREATE FUNCTION pt_owners(p_owners jsonb, p_field text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    o jsonb;
    i integer := 0;
    total integer := 0;
    out jsonb := '[]';
    f text;
    share integer;
BEGIN
    IF p_owners IS NULL OR jsonb_typeof(p_owners) <> 'array' OR jsonb_array_length(p_owners) = 0
       OR jsonb_array_length(p_owners) > 20 THEN
        PERFORM pt_fail('PTINV', p_field, format('%s must list 1 to 20 owners', p_field));
    END IF;
    FOR o IN SELECT * FROM jsonb_array_elements(p_owners) LOOP
        f := format('%s[%s]', p_field, i);
        PERFORM pt_text(o->>'name', f || '.name', 1, 100);
        IF coalesce(o->>'mobile', '') !~ '^([6-9][0-9]{9})?$' THEN
            PERFORM pt_fail('PTINV', f || '.mobile', format('%s.mobile must be empty or a 10-digit '
                                                            'mobile number starting with 6 to 9', f));
        END IF;
        IF coalesce(o->>'userId', '') !~ '^(citizen:[A-Za-z0-9-]{1,64})?$' THEN
            PERFORM pt_fail('PTINV', f || '.userId', format('%s.userId must be empty or a citizen '
                                                            'account id (citizen:...)', f));
        END IF;
        share := pt_int(o->'shareBp', f || '.shareBp', 1, 10000);
        total := total + share;
        out := out || jsonb_build_object('name', o->>'name', 'mobile', coalesce(o->>'mobile', ''),
                                         'userId', coalesce(o->>'userId', ''), 'shareBp', share);
        i := i + 1;
    END LOOP;
    IF total <> 10000 THEN
        PERFORM pt_fail('PTINV', p_field, format('the owners'' shares (%s) must add up to 10000 '
                                                 'basis points (100%%), not %s', p_field, total));
    END IF;
    RETURN out;
END
$$;

CREATE FUNCTION pt_floors(p_floors jsonb, p_field text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    fl jsonb;
    i integer := 0;
    out jsonb := '[]';
    f text;
    n bigint;
    seen bigint[] := '{}';
BEGIN
    IF p_floors IS NULL OR jsonb_typeof(p_floors) <> 'array' OR jsonb_array_length(p_floors) = 0
       OR jsonb_array_length(p_floors) > 50 THEN
        PERFORM pt_fail('PTINV', p_field, format('%s must list 1 to 50 floors', p_field));
    END IF;
    FOR fl IN SELECT * FROM jsonb_array_elements(p_floors) LOOP
        f := format('%s[%s]', p_field, i);
        n := pt_int(fl->'floor', f || '.floor', -5, 200);
        IF n = ANY (seen) THEN
            PERFORM pt_fail('PTINV', f || '.floor', format('floor %s is listed twice', n));
        END IF;
        seen := seen || n;
        out := out || jsonb_build_object('floor', n, 'areaSqft',
                                         pt_int(fl->'areaSqft', f || '.areaSqft', 1, 10000000));
        i := i + 1;
    END LOOP;
    RETURN out;
END
$$;

CREATE FUNCTION pt_property_json(p_id text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'propertyId', p.property_id, 'ulb', p.ulb, 'ward', p.ward, 'zone', p.zone,
        'address', p.address, 'usage', p.usage, 'construction', p.construction,
        'occupancy', p.occupancy, 'exemption', p.exemption,
        'owners', coalesce((SELECT jsonb_agg(jsonb_build_object('name', o.name, 'mobile', o.mobile,
                                                                'userId', o.user_id, 'shareBp', o.share_bp)
                                             ORDER BY o.ordinal)
                            FROM property_owner o WHERE o.property_id = p.property_id), '[]'),
        'floors', coalesce((SELECT jsonb_agg(jsonb_build_object('floor', f.floor, 'areaSqft', f.area_sqft)
                                             ORDER BY f.floor)
                            FROM property_floor f WHERE f.property_id = p.property_id), '[]'),
        'totalAreaSqft', (SELECT coalesce(sum(f.area_sqft), 0) FROM property_floor f
                          WHERE f.property_id = p.property_id),
        'createdAt', pt_ts(p.created_at))
    FROM property p WHERE p.property_id = p_id
$$;

CREATE FUNCTION pt_replace_owners(p_id text, p_owners jsonb) RETURNS void LANGUAGE sql AS $$
    DELETE FROM property_owner WHERE property_id = p_id;
    INSERT INTO property_owner (property_id, ordinal, name, mobile, user_id, share_bp)
    SELECT p_id, t.i, t.o->>'name', t.o->>'mobile', t.o->>'userId', (t.o->>'shareBp')::integer
    FROM jsonb_array_elements(p_owners) WITH ORDINALITY AS t(o, i);
$$;

CREATE FUNCTION pt_replace_floors(p_id text, p_floors jsonb) RETURNS void LANGUAGE sql AS $$
    DELETE FROM property_floor WHERE property_id = p_id;
    INSERT INTO property_floor (property_id, floor, area_sqft)
    SELECT p_id, (f->>'floor')::integer, (f->>'areaSqft')::bigint
    FROM jsonb_array_elements(p_floors) AS f;
$$;

-- Validates one property description (a create request or an import row)
-- and inserts it with the next number of its ward. Returns its id.
CREATE FUNCTION pt_property_insert(p_actor jsonb, p_ulb text, p_req jsonb, p_prefix text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_ward integer := pt_int(p_req->'ward', p_prefix || 'ward', 1, 999);
    v_zone text := pt_zone_arg(p_req->>'zone', p_prefix || 'zone');
    v_address text := pt_text(p_req->>'address', p_prefix || 'address', 1, 300);
    v_usage text := pt_enum(p_req->>'usage', p_prefix || 'usage', pt_usages());
    v_construction text := pt_enum(p_req->>'construction', p_prefix || 'construction', pt_constructions());
    v_occupancy text := pt_enum(p_req->>'occupancy', p_prefix || 'occupancy', pt_occupancies());
    v_exemption text := pt_enum(coalesce(p_req->>'exemption', 'EXEMPTION_NONE'), p_prefix || 'exemption',
                                pt_exemptions());
    v_owners jsonb := pt_owners(p_req->'owners', p_prefix || 'owners');
    v_floors jsonb := pt_floors(p_req->'floors', p_prefix || 'floors');
    v_no integer;
    v_id text;
BEGIN
    -- The upsert locks the ward's counter row until commit: numbers are gap-free.
    INSERT INTO ward_counter (ulb, ward, last_no) VALUES (p_ulb, v_ward, 1)
        ON CONFLICT (ulb, ward) DO UPDATE SET last_no = ward_counter.last_no + 1
        RETURNING last_no INTO v_no;
    v_id := p_ulb || '-' || lpad(v_ward::text, 3, '0') || '-' || lpad(v_no::text, 6, '0');
    INSERT INTO property (property_id, ulb, ward, number, zone, address, usage, construction,
                          occupancy, exemption, created_by)
    VALUES (v_id, p_ulb, v_ward, v_no, v_zone, v_address, v_usage, v_construction, v_occupancy,
            v_exemption, p_actor->>'userId');
    PERFORM pt_replace_owners(v_id, v_owners);
    PERFORM pt_replace_floors(v_id, v_floors);
    RETURN v_id;
END
$$;

CREATE FUNCTION pt_property_create(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_ulb text; v_id text;
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'registering a property');
    v_ulb := pt_ulb_arg(p_req->>'ulb', 'ulb');
    PERFORM pt_check_ulb(p_actor, v_ulb);
    v_id := pt_property_insert(p_actor, v_ulb, p_req, '');
    PERFORM pt_audit(p_actor, v_ulb, 'property.create', v_id, pt_property_json(v_id));
    RETURN pt_property_json(v_id);
END
$$;

CREATE FUNCTION pt_property_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE p property;
BEGIN
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                         false);
    RETURN pt_property_json(p.property_id);
END
$$;

-- Staff list their ULB (optionally one ward); citizens list what they own.
CREATE FUNCTION pt_property_list(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_size integer := coalesce(nullif(pt_int(p_req->'pageSize', 'pageSize', 0, 200), 0), 50);
    v_ward integer := pt_int(p_req->'ward', 'ward', 0, 999);
    v_after text := '';
    v_ulb text;
    v_ids text[];
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                           'STATE_ADMIN'], 'listing properties');
    IF coalesce(p_req->>'pageToken', '') <> '' THEN
        BEGIN
            v_after := convert_from(decode(p_req->>'pageToken', 'base64'), 'UTF8');
        EXCEPTION WHEN OTHERS THEN
            PERFORM pt_fail('PTINV', 'pageToken', 'pageToken is not one this service issued');
        END;
        IF v_after !~ '^[0-9]{1,10}-[0-9]{3}-[0-9]{6}$' THEN
            PERFORM pt_fail('PTINV', 'pageToken', 'pageToken is not one this service issued');
        END IF;
    END IF;
    IF p_actor->>'role' = 'CITIZEN' THEN
        SELECT array_agg(property_id ORDER BY property_id) INTO v_ids FROM (
            SELECT DISTINCT p.property_id FROM property p JOIN property_owner o USING (property_id)
            WHERE o.user_id = p_actor->>'userId' AND p.property_id > v_after
              AND (v_ward = 0 OR p.ward = v_ward)
            ORDER BY p.property_id LIMIT v_size + 1) s;
    ELSE
        v_ulb := pt_ulb_arg(coalesce(nullif(p_req->>'ulb', ''), p_actor->>'ulb'), 'ulb');
        PERFORM pt_check_ulb(p_actor, v_ulb);
        SELECT array_agg(property_id ORDER BY property_id) INTO v_ids FROM (
            SELECT p.property_id FROM property p
            WHERE p.ulb = v_ulb AND p.property_id > v_after AND (v_ward = 0 OR p.ward = v_ward)
            ORDER BY p.property_id LIMIT v_size + 1) s;
    END IF;
    v_ids := coalesce(v_ids, '{}');
    RETURN jsonb_build_object(
        'properties', coalesce((SELECT jsonb_agg(pt_property_json(id) ORDER BY id)
                                FROM unnest(v_ids[1:v_size]) AS id), '[]'),
        'nextPageToken', CASE WHEN cardinality(v_ids) > v_size
                              THEN encode(convert_to(v_ids[v_size], 'UTF8'), 'base64') ELSE '' END);
END
$$;

-- Rows parsed from CSV by the C side: [{"line": n, "ward": ..., ...}].
CREATE FUNCTION pt_property_import(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text;
    r jsonb;
    v_ids text[] := '{}';
    v_id text;
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'importing properties');
    v_ulb := pt_ulb_arg(p_req->>'ulb', 'ulb');
    PERFORM pt_check_ulb(p_actor, v_ulb);
    FOR r IN SELECT * FROM jsonb_array_elements(p_req->'rows') LOOP
        BEGIN
            v_id := pt_property_insert(p_actor, v_ulb, r, '');
        EXCEPTION WHEN SQLSTATE 'PTINV' THEN
            DECLARE v_message text; v_detail text;
            BEGIN
                GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
                PERFORM pt_fail('PTINV', 'csv', format('csv line %s: %s', r->>'line', v_message));
            END;
        END;
        v_ids := v_ids || v_id;
    END LOOP;
    PERFORM pt_audit(p_actor, v_ulb, 'property.import', v_ulb,
                     jsonb_build_object('imported', cardinality(v_ids), 'first', v_ids[1],
                                        'last', v_ids[cardinality(v_ids)]));
    RETURN jsonb_build_object('imported', cardinality(v_ids), 'propertyIds', to_jsonb(v_ids));
END
$$;

-- ---- rates -------------------------------------------------------------------------------

-- The built-in defaults, what rates.get answers (version 0) for a ULB and
-- year that has no saved schedule yet. They are a starting point to edit
-- and save; the demand batch computes only with saved versions.
CREATE FUNCTION pt_rates_defaults(p_ulb text, p_fy integer) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'ulb', p_ulb, 'fy', pt_fy_text(p_fy), 'version', 0,
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

CREATE FUNCTION pt_rates_json(p_version_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'ulb', v.ulb, 'fy', pt_fy_text(v.fy), 'version', v.version,
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
        'reason', v.reason, 'createdBy', v.created_by, 'createdAt', pt_ts(v.created_at))
    FROM rate_version v WHERE v.id = p_version_id
$$;

CREATE FUNCTION pt_rate_version_id(p_ulb text, p_fy integer) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT id FROM rate_version WHERE ulb = p_ulb AND fy = p_fy ORDER BY version DESC LIMIT 1
$$;

-- The parameters that apply at payment time to a ULB's year: the newest
-- saved version, else the defaults.
CREATE FUNCTION pt_rate_params(p_ulb text, p_fy integer,
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

CREATE FUNCTION pt_rates_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := pt_ulb_arg(p_req->>'ulb', 'ulb');
    v_fy integer := pt_parse_fy(p_req->>'fy', 'fy');
    v_version integer := pt_int(p_req->'version', 'version', 0, 1000000);
    v_id bigint;
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                           'STATE_ADMIN'], 'reading rates');
    IF v_version = 0 THEN
        v_id := pt_rate_version_id(v_ulb, v_fy);
        IF v_id IS NULL THEN
            RETURN pt_rates_defaults(v_ulb, v_fy);
        END IF;
    ELSE
        SELECT id INTO v_id FROM rate_version WHERE ulb = v_ulb AND fy = v_fy AND version = v_version;
        IF NOT FOUND THEN
            PERFORM pt_fail('PTNFD', 'version', format('ULB %s has no rate version %s for %s', v_ulb,
                                                       v_version, pt_fy_text(v_fy)));
        END IF;
    END IF;
    RETURN pt_rates_json(v_id);
END
$$;

CREATE FUNCTION pt_rates_set(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text;
    v_fy integer;
    v_id bigint;
    v_version integer;
    s jsonb;
    a jsonb;
    i integer;
    v_lower bigint := 0;
    v_upper bigint;
    v_slabs jsonb;
    v_count integer;
    v_rebate_day date;
    v_exempt text[] := '{}';
    e jsonb;
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'changing rates');
    v_ulb := pt_ulb_arg(p_req->>'ulb', 'ulb');
    PERFORM pt_check_ulb(p_actor, v_ulb);
    v_fy := pt_parse_fy(p_req->>'fy', 'fy');
    PERFORM pt_int(p_req->'maintenanceBp', 'maintenanceBp', 0, 5000);
    PERFORM pt_enum(p_req->>'slabMode', 'slabMode', ARRAY['MARGINAL', 'FLAT']);
    PERFORM pt_int(p_req->'educationCessBp', 'educationCessBp', 0, 10000);
    PERFORM pt_int(p_req->'urbanDevelopmentCessBp', 'urbanDevelopmentCessBp', 0, 10000);
    PERFORM pt_int(p_req->'samekitPaise', 'samekitPaise', 0, 100000000);
    PERFORM pt_int(p_req->'rebateBp', 'rebateBp', 0, 10000);
    IF coalesce(p_req->>'rebateLastDay', '') <> '' THEN
        v_rebate_day := pt_parse_date(p_req->>'rebateLastDay', 'rebateLastDay');
        IF pt_fy_of(v_rebate_day) <> v_fy THEN
            PERFORM pt_fail('PTINV', 'rebateLastDay', format('rebateLastDay %s is not in the financial '
                                                             'year %s', v_rebate_day, pt_fy_text(v_fy)));
        END IF;
    END IF;
    PERFORM pt_int(p_req->'surchargeBpPerMonth', 'surchargeBpPerMonth', 0, 1000);
    PERFORM pt_int(p_req->'surchargeThresholdPaise', 'surchargeThresholdPaise', 0, 1000000000000);
    PERFORM pt_int(p_req->'selfOccupiedRebateBp', 'selfOccupiedRebateBp', 0, 10000);
    PERFORM pt_int(p_req->'exemptionThresholdPaise', 'exemptionThresholdPaise', 0, 1000000000000);
    PERFORM pt_int(p_req->'mutationFeePaise', 'mutationFeePaise', 0, 100000000);
    PERFORM pt_text(p_req->>'reason', 'reason', 1, 500);
    i := 0;
    FOR e IN SELECT * FROM jsonb_array_elements(coalesce(p_req->'exemptCategories', '[]')) LOOP
        PERFORM pt_enum(e #>> '{}', format('exemptCategories[%s]', i),
                        ARRAY['WORSHIP', 'CHARITABLE', 'GOVERNMENT', 'BPL']);
        v_exempt := v_exempt || (e #>> '{}');
        i := i + 1;
    END LOOP;
    v_slabs := coalesce(p_req->'slabs', '[]');
    v_count := jsonb_array_length(v_slabs);
    IF v_count = 0 OR v_count > 10 THEN
        PERFORM pt_fail('PTINV', 'slabs', 'slabs must list 1 to 10 tax slabs');
    END IF;
    i := 0;
    FOR s IN SELECT * FROM jsonb_array_elements(v_slabs) LOOP
        v_upper := pt_int(s->'uptoPaise', format('slabs[%s].uptoPaise', i), 0, 1000000000000);
        PERFORM pt_int(s->'rateBp', format('slabs[%s].rateBp', i), 0, 10000);
        IF i < v_count - 1 AND v_upper <= v_lower THEN
            PERFORM pt_fail('PTINV', format('slabs[%s].uptoPaise', i),
                            'each slab''s uptoPaise must be above the previous one''s');
        END IF;
        IF i = v_count - 1 AND v_upper <> 0 THEN
            PERFORM pt_fail('PTINV', format('slabs[%s].uptoPaise', i),
                            'the last slab has no upper bound: its uptoPaise must be 0');
        END IF;
        v_lower := v_upper;
        i := i + 1;
    END LOOP;
    IF jsonb_array_length(coalesce(p_req->'alvRates', '[]')) > 2000 THEN
        PERFORM pt_fail('PTINV', 'alvRates', 'alvRates may list at most 2000 rates');
    END IF;
    i := 0;
    FOR a IN SELECT * FROM jsonb_array_elements(coalesce(p_req->'alvRates', '[]')) LOOP
        PERFORM pt_zone_arg(a->>'zone', format('alvRates[%s].zone', i));
        PERFORM pt_enum(a->>'construction', format('alvRates[%s].construction', i), pt_constructions());
        PERFORM pt_enum(a->>'usage', format('alvRates[%s].usage', i), pt_usages());
        PERFORM pt_int(a->'ratePaisePerSqft', format('alvRates[%s].ratePaisePerSqft', i), 0, 10000000);
        i := i + 1;
    END LOOP;

    PERFORM pg_advisory_xact_lock(hashtext('pt_rates:' || v_ulb || ':' || v_fy));
    SELECT coalesce(max(version), 0) + 1 INTO v_version FROM rate_version
        WHERE ulb = v_ulb AND fy = v_fy;
    INSERT INTO rate_version (ulb, fy, version, maintenance_bp, slab_mode, education_cess_bp,
                              urban_development_cess_bp, samekit_paise, rebate_bp, rebate_last_day,
                              surcharge_bp_per_month, surcharge_threshold_paise,
                              self_occupied_rebate_bp, exemption_threshold_paise,
                              exempt_categories, mutation_fee_paise, reason, created_by)
    VALUES (v_ulb, v_fy, v_version, pt_int(p_req->'maintenanceBp', '', 0, 5000), p_req->>'slabMode',
            pt_int(p_req->'educationCessBp', '', 0, 10000),
            pt_int(p_req->'urbanDevelopmentCessBp', '', 0, 10000),
            pt_int(p_req->'samekitPaise', '', 0, 100000000), pt_int(p_req->'rebateBp', '', 0, 10000),
            v_rebate_day, pt_int(p_req->'surchargeBpPerMonth', '', 0, 1000),
            pt_int(p_req->'surchargeThresholdPaise', '', 0, 1000000000000),
            pt_int(p_req->'selfOccupiedRebateBp', '', 0, 10000),
            pt_int(p_req->'exemptionThresholdPaise', '', 0, 1000000000000), v_exempt,
            pt_int(p_req->'mutationFeePaise', '', 0, 100000000), p_req->>'reason',
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
        PERFORM pt_fail('PTINV', 'alvRates', 'alvRates lists one zone, construction and usage twice');
    END;
    PERFORM pt_audit(p_actor, v_ulb, 'rates.set', v_ulb || '/' || pt_fy_text(v_fy),
                     jsonb_build_object('version', v_version, 'reason', p_req->>'reason'));
    RETURN pt_rates_json(v_id);
END
$$;

-- ---- annual demand --------------------------------------------------------------------

CREATE FUNCTION pt_demand_job_json(p_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('jobId', j.id, 'ulb', coalesce(j.ulb, ''), 'fy', pt_fy_text(j.fy),
                              'status', j.status, 'total', j.total, 'processed', j.processed,
                              'billsCreated', j.bills_created, 'skipped', j.skipped,
                              'createdAt', pt_ts(j.created_at),
                              'finishedAt', coalesce(pt_ts(j.finished_at), ''), 'chunks', j.chunks)
    FROM demand_job j WHERE j.id = p_id
$$;

-- Starts a job (or answers with the one already running for the scope and year).
CREATE FUNCTION pt_demand_generate(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := nullif(coalesce(p_req->>'ulb', ''), '');
    v_fy integer;
    v_id bigint;
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'generating the annual demand');
    IF v_ulb IS NULL THEN
        IF p_actor->>'role' <> 'STATE_ADMIN' THEN
            PERFORM pt_fail('PTDEN', 'ulb', 'only a STATE_ADMIN may generate the demand of every ULB');
        END IF;
    ELSE
        PERFORM pt_ulb_arg(v_ulb, 'ulb');
        PERFORM pt_check_ulb(p_actor, v_ulb);
    END IF;
    v_fy := pt_parse_fy(p_req->>'fy', 'fy');
    PERFORM pg_advisory_xact_lock(hashtext('pt_demand:' || coalesce(v_ulb, '*') || ':' || v_fy));
    SELECT id INTO v_id FROM demand_job
        WHERE coalesce(ulb, '') = coalesce(v_ulb, '') AND fy = v_fy AND status = 'RUNNING';
    IF NOT FOUND THEN
        INSERT INTO demand_job (ulb, fy, status, total, created_by)
        VALUES (v_ulb, v_fy, 'RUNNING',
                (SELECT count(*) FROM property WHERE v_ulb IS NULL OR ulb = v_ulb),
                coalesce(p_actor->>'userId', 'system'))
        RETURNING id INTO v_id;
        PERFORM pt_audit(p_actor, coalesce(v_ulb, ''), 'demand.generate', 'demand_job:' || v_id,
                         jsonb_build_object('fy', pt_fy_text(v_fy)));
    END IF;
    RETURN pt_demand_job_json(v_id);
END
$$;

CREATE FUNCTION pt_demand_status(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE j demand_job;
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'reading a demand job');
    SELECT * INTO j FROM demand_job WHERE id = pt_int(p_req->'jobId', 'jobId', 1, 9223372036854775807);
    IF NOT FOUND THEN
        PERFORM pt_fail('PTNFD', 'jobId', format('no demand job %s', p_req->>'jobId'));
    END IF;
    IF j.ulb IS NULL AND p_actor->>'role' <> 'STATE_ADMIN' THEN
        PERFORM pt_fail('PTDEN', NULL, 'only a STATE_ADMIN may read a job over every ULB');
    ELSIF j.ulb IS NOT NULL THEN
        PERFORM pt_check_ulb(p_actor, j.ulb);
    END IF;
    RETURN pt_demand_job_json(j.id);
END
$$;

-- One chunk of the oldest running job that no other process holds:
-- the next p_limit properties after the job's cursor get their bill and
-- demand heads in one INSERT ... SELECT, the cursor moves, and all of it
-- commits together. Returns NULL when no job is waiting, else
-- {"job": DemandJob, "done": bool, "billsCreated": n}.
CREATE FUNCTION pt_demand_run_chunk(p_limit integer) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    j demand_job;
    v_ids text[];
    v_count integer;
    v_matched bigint;
    v_bills bigint;
    v_done boolean;
BEGIN
    SELECT * INTO j FROM demand_job WHERE status = 'RUNNING' ORDER BY id LIMIT 1
        FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(property_id ORDER BY property_id) INTO v_ids FROM (
        SELECT property_id FROM property
        WHERE (j.ulb IS NULL OR ulb = j.ulb) AND property_id > j.cursor_id
        ORDER BY property_id LIMIT p_limit) s;
    v_count := coalesce(cardinality(v_ids), 0);
    v_matched := 0;
    v_bills := 0;
    IF v_count > 0 THEN
        -- Set-based throughout: each input is read for the whole chunk at once
        -- (= ANY (v_ids)) and joined, never queried per property.
        WITH fl AS (
            SELECT f.property_id, sum(f.area_sqft) AS area FROM property_floor f
            WHERE f.property_id = ANY (v_ids) GROUP BY f.property_id
        ), arr AS (
            SELECT d.property_id, sum(d.amount_paise) AS owed FROM demand d
            WHERE d.property_id = ANY (v_ids) AND d.fy < j.fy GROUP BY d.property_id
        ), al AS (
            SELECT x.property_id,
                   sum(x.amount_paise) FILTER (WHERE x.head NOT IN ('ADVANCE', 'SURCHARGE')
                                                 AND x.fy < j.fy) AS settled,
                   sum(x.amount_paise) FILTER (WHERE x.head = 'ADVANCE') AS advance
            FROM allocation x WHERE x.property_id = ANY (v_ids) GROUP BY x.property_id
        ), cand AS (
            SELECT p.property_id, p.ulb, p.ward, p.zone, p.usage, p.construction, p.occupancy,
                   p.exemption, coalesce(fl.area, 0) AS area
            FROM property p LEFT JOIN fl USING (property_id)
            WHERE p.property_id = ANY (v_ids)
        ), ver AS (
            SELECT DISTINCT ON (rv.ulb) rv.*
            FROM rate_version rv
            WHERE rv.fy = j.fy AND rv.ulb IN (SELECT DISTINCT c.ulb FROM cand c)
            ORDER BY rv.ulb, rv.version DESC
        ), base AS (
            SELECT c.*, v.id AS version_id, v.maintenance_bp, v.slab_mode, v.education_cess_bp,
                   v.urban_development_cess_bp, v.samekit_paise AS samekit,
                   v.self_occupied_rebate_bp, v.exemption_threshold_paise,
                   (c.exemption = ANY (v.exempt_categories)) AS exempt,
                   c.area * a.rate_paise_per_sqft AS alv
            FROM cand c
            JOIN ver v ON v.ulb = c.ulb
            JOIN alv_rate a ON a.version_id = v.id AND a.zone = c.zone
                           AND a.construction = c.construction AND a.usage = c.usage
        ), net AS (
            SELECT b.*, b.alv - round(b.alv::numeric * b.maintenance_bp / 10000)::bigint AS net_alv
            FROM base b
        ), slab AS (
            -- The one slab net ALV falls in: marginal tax = the slabs below it
            -- (base_paise_bp) + this slab's rate on the part inside it; flat tax =
            -- this slab's rate on all of it. Net ALV 0 falls in none: no tax.
            SELECT n.*,
                   CASE WHEN n.exempt OR n.net_alv <= n.exemption_threshold_paise OR s.rate_bp IS NULL
                        THEN 0
                        WHEN n.slab_mode = 'MARGINAL'
                        THEN round((s.base_paise_bp + (n.net_alv - s.lower_paise)::numeric * s.rate_bp)
                                   / 10000)::bigint
                        ELSE round(n.net_alv::numeric * s.rate_bp / 10000)::bigint END AS slab_tax
            FROM net n
            LEFT JOIN rate_slab s ON s.version_id = n.version_id AND n.net_alv > s.lower_paise
                                 AND (s.upper_paise IS NULL OR n.net_alv <= s.upper_paise)
        ), heads AS (
            SELECT s.*,
                   CASE WHEN s.occupancy = 'SELF_OCCUPIED'
                        THEN s.slab_tax - round(s.slab_tax::numeric * s.self_occupied_rebate_bp / 10000)::bigint
                        ELSE s.slab_tax END AS property_tax,
                   CASE WHEN s.exempt THEN 0
                        ELSE round(s.alv::numeric * s.education_cess_bp / 10000)::bigint END AS education_cess,
                   CASE WHEN s.exempt THEN 0
                        ELSE round(s.alv::numeric * s.urban_development_cess_bp / 10000)::bigint END AS ud_cess,
                   CASE WHEN s.exempt THEN 0 ELSE s.samekit END AS samekit_due,
                   coalesce(arr.owed, 0) - coalesce(al.settled, 0) AS arrear,
                   coalesce(al.advance, 0) AS advance
            FROM slab s
            LEFT JOIN arr ON arr.property_id = s.property_id
            LEFT JOIN al ON al.property_id = s.property_id
        ), bills AS (
            INSERT INTO demand_bill (property_id, fy, ulb, ward, rate_version_id, area_sqft, alv_paise,
                                     net_alv_paise, property_tax_paise, education_cess_paise,
                                     urban_development_cess_paise, samekit_paise, arrear_paise,
                                     advance_paise, job_id)
            SELECT h.property_id, j.fy, h.ulb, h.ward, h.version_id, h.area, h.alv, h.net_alv,
                   h.property_tax, h.education_cess, h.ud_cess, h.samekit_due, h.arrear, h.advance, j.id
            FROM heads h
            ON CONFLICT (property_id, fy) DO NOTHING
            RETURNING property_id, ulb, property_tax_paise, education_cess_paise,
                      urban_development_cess_paise, samekit_paise
        ), lines AS (
            INSERT INTO demand (property_id, fy, head, ulb, amount_paise, job_id)
            SELECT b.property_id, j.fy, x.head, b.ulb, x.amount, j.id
            FROM bills b
            CROSS JOIN LATERAL (VALUES ('PROPERTY_TAX', b.property_tax_paise),
                                       ('EDUCATION_CESS', b.education_cess_paise),
                                       ('URBAN_DEVELOPMENT_CESS', b.urban_development_cess_paise),
                                       ('SAMEKIT', b.samekit_paise)) AS x(head, amount)
            -- No ON CONFLICT here: these heads come only with a bill this very
            -- statement inserted, so none of them can exist yet (the bill's
            -- ON CONFLICT (property_id, fy) is the gate; skipping a second
            -- speculative insert per head halves the cost of this insert).
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM heads), (SELECT count(*) FROM bills) INTO v_matched, v_bills;
    END IF;
    v_done := v_count < p_limit;
    UPDATE demand_job SET
        cursor_id = CASE WHEN v_count > 0 THEN v_ids[v_count] ELSE cursor_id END,
        processed = processed + v_count, bills_created = bills_created + v_bills,
        skipped = skipped + (v_count - v_matched), chunks = chunks + 1, updated_at = now(),
        status = CASE WHEN v_done THEN 'DONE' ELSE status END,
        finished_at = CASE WHEN v_done THEN now() END
    WHERE id = j.id;
    RETURN jsonb_build_object('job', pt_demand_job_json(j.id), 'done', v_done,
                              'billsCreated', v_bills);
END
$$;

-- ---- dues -------------------------------------------------------------------------------

CREATE FUNCTION pt_head_order(p_head text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_head WHEN 'SURCHARGE' THEN 0 WHEN 'PROPERTY_TAX' THEN 1
                       WHEN 'EDUCATION_CESS' THEN 2 WHEN 'URBAN_DEVELOPMENT_CESS' THEN 3
                       WHEN 'SAMEKIT' THEN 4 WHEN 'MUTATION_FEE' THEN 5 ELSE 9 END
$$;

-- Every head a property owes on p_as_of, oldest year first and, within a
-- year, in apportionment order. A year before the current one carries a
-- SURCHARGE line: its outstanding heads (above the year's threshold) times
-- the monthly rate times the whole months since the year ended (1 April),
-- rounded once, less surcharge already paid for that year.
CREATE FUNCTION pt_dues_lines(p_property text, p_as_of date)
RETURNS TABLE (fy integer, head text, ord integer, demand_paise bigint, settled_paise bigint,
               outstanding_paise bigint)
LANGUAGE plpgsql STABLE AS $$
-- plpgsql rather than sql: its plans are cached per session, and this runs
-- on every payment.
BEGIN
    RETURN QUERY
    WITH settled AS (
        SELECT a.fy, a.head, sum(a.amount_paise) AS amount FROM allocation a
        WHERE a.property_id = p_property AND a.head <> 'ADVANCE' GROUP BY a.fy, a.head
    ), h AS (
        SELECT d.fy, d.head, d.amount_paise AS demand, coalesce(st.amount, 0) AS settled
        FROM demand d LEFT JOIN settled st ON st.fy = d.fy AND st.head = d.head
        WHERE d.property_id = p_property
    ), y AS (
        SELECT h.fy, sum(h.demand - h.settled) AS base FROM h
        WHERE h.fy < pt_fy_of(p_as_of) GROUP BY h.fy
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
CREATE FUNCTION pt_rebate_for(p_property text, p_ulb text, p_as_of date) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
    v_fy integer := pt_fy_of(p_as_of);
    v_demand bigint;
    v_paid bigint;
BEGIN
    SELECT * INTO r FROM pt_rate_params(p_ulb, v_fy);
    IF r.rebate_last_day IS NULL OR p_as_of > r.rebate_last_day THEN
        RETURN 0;
    END IF;
    IF coalesce((SELECT sum(a.amount_paise) FROM allocation a
                 WHERE a.property_id = p_property AND a.fy = v_fy AND a.kind = 'REBATE'), 0) <> 0 THEN
        RETURN 0;   -- granted already this year
    END IF;
    SELECT d.amount_paise INTO v_demand FROM demand d
        WHERE d.property_id = p_property AND d.fy = v_fy AND d.head = 'PROPERTY_TAX';
    IF v_demand IS NULL THEN
        RETURN 0;
    END IF;
    SELECT coalesce(sum(a.amount_paise), 0) INTO v_paid FROM allocation a
        WHERE a.property_id = p_property AND a.fy = v_fy AND a.head = 'PROPERTY_TAX';
    RETURN least(round(v_demand::numeric * r.rebate_bp / 10000)::bigint, v_demand - v_paid);
END
$$;

CREATE FUNCTION pt_advance_of(p_property text) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(amount_paise), 0)::bigint FROM allocation
            WHERE property_id = p_property AND head = 'ADVANCE');
END
$$;

CREATE FUNCTION pt_dues(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p property;
    v_as_of date := p_today;
    v_outstanding bigint;
    v_advance bigint;
    v_rebate bigint;
BEGIN
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                         false);
    IF coalesce(p_req->>'asOf', '') <> '' THEN
        v_as_of := pt_parse_date(p_req->>'asOf', 'asOf');
    END IF;
    SELECT coalesce(sum(outstanding_paise), 0) INTO v_outstanding
        FROM pt_dues_lines(p.property_id, v_as_of);
    v_advance := pt_advance_of(p.property_id);
    v_rebate := pt_rebate_for(p.property_id, p.ulb, v_as_of);
    RETURN jsonb_build_object(
        'propertyId', p.property_id, 'asOf', v_as_of::text,
        'lines', coalesce((SELECT jsonb_agg(jsonb_build_object('fy', pt_fy_text(l.fy), 'head', l.head,
                                   'demandPaise', l.demand_paise, 'settledPaise', l.settled_paise,
                                   'outstandingPaise', l.outstanding_paise) ORDER BY l.fy, l.ord)
                           FROM pt_dues_lines(p.property_id, v_as_of) l), '[]'),
        'outstandingPaise', v_outstanding, 'advancePaise', v_advance, 'rebatePaise', v_rebate,
        'payablePaise', greatest(v_outstanding - v_advance - v_rebate, 0));
END
$$;

-- ---- payments -----------------------------------------------------------------------------

CREATE FUNCTION pt_receipt_json(p_payment_id bigint) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
        'receiptNo', p.receipt_no, 'ulb', p.ulb, 'propertyId', p.property_id,
        'amountPaise', p.amount_paise, 'mode', p.mode, 'instrumentRef', p.instrument_ref,
        'counter', p.counter, 'paidOn', p.paid_on::text,
        'allocations', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                     'fy', pt_fy_text(a.fy),
                                     'head', CASE WHEN a.kind = 'REBATE' THEN 'REBATE' ELSE a.head END,
                                     'amountPaise', a.amount_paise) ORDER BY a.id)
                                 FROM allocation a WHERE a.payment_id = p.id), '[]'),
        'ledgerSeq', p.ledger_seq,
        'reversesReceiptNo', coalesce((SELECT o.receipt_no FROM payment o
                                       WHERE o.id = p.reverses_payment_id), ''),
        'reversedByReceiptNo', coalesce((SELECT r.receipt_no FROM payment r
                                         WHERE r.reverses_payment_id = p.id), ''),
        'recordedBy', p.recorded_by, 'reason', p.reason, 'advancePaise', p.advance_after_paise)
    FROM payment p WHERE p.id = p_payment_id);
END
$$;

-- The first owner's mobile and account, for notifications.
CREATE FUNCTION pt_owner_contact(p_property text) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE o property_owner;
BEGIN
    SELECT * INTO o FROM property_owner WHERE property_id = p_property ORDER BY ordinal LIMIT 1;
    RETURN jsonb_build_object('ownerMobile', coalesce(o.mobile, ''), 'ownerUserId', coalesce(o.user_id, ''));
END
$$;

-- Checks a counter payment before its receipt number and ledger row are
-- taken; answers what those need.
CREATE FUNCTION pt_payment_prepare(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p property;
    v_mode text;
    v_ref text;
BEGIN
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    PERFORM pt_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000);
    v_mode := pt_enum(p_req->>'mode', 'mode', ARRAY['CASH', 'CHEQUE', 'DEMAND_DRAFT', 'UPI']);
    v_ref := coalesce(p_req->>'instrumentRef', '');
    IF v_ref !~ '^[A-Za-z0-9/._-]{0,64}$' OR (v_mode <> 'CASH' AND v_ref = '') THEN
        PERFORM pt_fail('PTINV', 'instrumentRef',
                        format('instrumentRef must be 1 to 64 of A-Z a-z 0-9 / . _ - (the %s number)%s',
                               lower(replace(v_mode, '_', ' ')),
                               CASE WHEN v_mode = 'CASH' THEN ' or empty for cash' ELSE '' END));
    END IF;
    IF coalesce(p_req->>'counter', '') !~ '^[A-Z0-9]{1,16}$' OR p_req->>'counter' = 'ONLINE' THEN
        PERFORM pt_fail('PTINV', 'counter', 'counter must be 1 to 16 of A-Z, 0-9 (ONLINE is reserved)');
    END IF;
    RETURN jsonb_build_object('ulb', p.ulb, 'fy', pt_fy_text(pt_fy_of(p_today)),
                              'propertyId', p.property_id, 'counter', p_req->>'counter',
                              'amountPaise', (p_req->>'amountPaise')::bigint, 'mode', v_mode,
                              'instrumentRef', v_ref) || pt_owner_contact(p.property_id);
END
$$;

-- Records a payment that has its receipt number and ledger row: settles
-- the dues as of p_today oldest year first, within a year SURCHARGE,
-- PROPERTY_TAX, EDUCATION_CESS, URBAN_DEVELOPMENT_CESS, SAMEKIT,
-- MUTATION_FEE; advance credit is spent first and whatever is left over
-- becomes credit. The rebate is granted when the payment (with credit)
-- clears everything payable after the rebate.
CREATE FUNCTION pt_payment_apply(p_recorded_by text, p_property text, p_amount bigint, p_mode text,
                                 p_ref text, p_counter text, p_receipt text, p_ledger_seq bigint,
                                 p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p property;
    v_credit bigint;
    v_available bigint;
    v_outstanding bigint := 0;
    v_rebate bigint;
    v_fy integer := pt_fy_of(p_today);
    v_payment bigint;
    v_line_fys integer[];
    v_line_heads text[];
    v_line_dues bigint[];
    i integer;
    v_due bigint;
    v_take bigint;
    v_fys integer[] := '{}';
    v_heads text[] := '{}';
    v_kinds text[] := '{}';
    v_amounts bigint[] := '{}';
BEGIN
    SELECT * INTO p FROM property WHERE property_id = p_property FOR UPDATE;
    SELECT coalesce(array_agg(l.fy ORDER BY l.fy, l.ord), '{}'),
           coalesce(array_agg(l.head ORDER BY l.fy, l.ord), '{}'),
           coalesce(array_agg(l.outstanding_paise ORDER BY l.fy, l.ord), '{}'),
           coalesce(sum(l.outstanding_paise), 0)
        INTO v_line_fys, v_line_heads, v_line_dues, v_outstanding
        FROM pt_dues_lines(p_property, p_today) l;
    v_credit := pt_advance_of(p_property);
    v_available := p_amount + v_credit;
    v_rebate := pt_rebate_for(p_property, p.ulb, p_today);
    IF v_rebate > 0 AND v_available >= v_outstanding - v_rebate THEN
        v_fys := v_fys || v_fy; v_heads := v_heads || 'PROPERTY_TAX'::text;
        v_kinds := v_kinds || 'REBATE'::text; v_amounts := v_amounts || v_rebate;
    ELSE
        v_rebate := 0;
    END IF;
    FOR i IN 1 .. coalesce(cardinality(v_line_fys), 0) LOOP
        v_due := v_line_dues[i];
        IF v_line_fys[i] = v_fy AND v_line_heads[i] = 'PROPERTY_TAX' THEN
            v_due := v_due - v_rebate;
        END IF;
        v_take := least(v_available, v_due);
        IF v_take > 0 THEN
            v_fys := v_fys || v_line_fys[i]; v_heads := v_heads || v_line_heads[i];
            v_kinds := v_kinds || 'CASH'::text; v_amounts := v_amounts || v_take;
            v_available := v_available - v_take;
        END IF;
    END LOOP;
    IF v_available - v_credit <> 0 THEN
        v_fys := v_fys || v_fy; v_heads := v_heads || 'ADVANCE'::text;
        v_kinds := v_kinds || 'CASH'::text; v_amounts := v_amounts || (v_available - v_credit);
    END IF;
    INSERT INTO payment (ulb, property_id, receipt_no, counter, mode, instrument_ref, amount_paise,
                         paid_on, ledger_seq, recorded_by, advance_after_paise)
    VALUES (p.ulb, p_property, p_receipt, p_counter, p_mode, p_ref, p_amount, p_today, p_ledger_seq,
            p_recorded_by, v_available)
    RETURNING id INTO v_payment;
    INSERT INTO allocation (payment_id, property_id, ulb, fy, head, kind, amount_paise, paid_on)
    SELECT v_payment, p_property, p.ulb, t.fy, t.head, t.kind, t.amount, p_today
    FROM unnest(v_fys, v_heads, v_kinds, v_amounts) AS t(fy, head, kind, amount);
    RETURN pt_receipt_json(v_payment);
END
$$;

CREATE FUNCTION pt_receipt_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v payment;
BEGIN
    SELECT * INTO v FROM payment WHERE receipt_no = pt_text(p_req->>'receiptNo', 'receiptNo', 1, 64);
    IF NOT FOUND THEN
        PERFORM pt_fail('PTNFD', 'receiptNo', format('no receipt %s', p_req->>'receiptNo'));
    END IF;
    PERFORM pt_property_for(p_actor, v.property_id, 'receiptNo',
                            ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            false);
    RETURN pt_receipt_json(v.id);
END
$$;

CREATE FUNCTION pt_reverse_prepare(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v payment;
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['REVENUE_OFFICER'], 'reversing a payment');
    SELECT * INTO v FROM payment WHERE receipt_no = pt_text(p_req->>'receiptNo', 'receiptNo', 1, 64);
    IF NOT FOUND THEN
        PERFORM pt_fail('PTNFD', 'receiptNo', format('no receipt %s', p_req->>'receiptNo'));
    END IF;
    PERFORM pt_check_ulb(p_actor, v.ulb);
    PERFORM pt_text(p_req->>'reason', 'reason', 3, 300);
    IF coalesce(p_req->>'counter', '') <> '' AND (p_req->>'counter' !~ '^[A-Z0-9]{1,16}$'
                                                  OR p_req->>'counter' = 'ONLINE') THEN
        PERFORM pt_fail('PTINV', 'counter', 'counter must be 1 to 16 of A-Z, 0-9 (ONLINE is reserved)');
    END IF;
    IF v.reverses_payment_id IS NOT NULL THEN
        PERFORM pt_fail('PTPRE', 'receiptNo', format('%s is itself a reversal; it cannot be reversed',
                                                     v.receipt_no));
    END IF;
    IF EXISTS (SELECT FROM payment r WHERE r.reverses_payment_id = v.id) THEN
        PERFORM pt_fail('PTPRE', 'receiptNo', format('%s has already been reversed', v.receipt_no));
    END IF;
    RETURN jsonb_build_object('ulb', v.ulb, 'fy', pt_fy_text(pt_fy_of(p_today)),
                              'propertyId', v.property_id, 'paymentId', v.id,
                              'amountPaise', -v.amount_paise, 'receiptNo', v.receipt_no,
                              'counter', coalesce(nullif(p_req->>'counter', ''),
                                                  CASE WHEN v.counter = 'ONLINE' THEN 'REV'
                                                       ELSE v.counter END),
                              'reason', p_req->>'reason') || pt_owner_contact(v.property_id);
END
$$;

-- A reversal is a new, negative payment whose allocations negate the
-- original's (rebate and advance included): the dues come back exactly.
CREATE FUNCTION pt_reverse_apply(p_actor jsonb, p_payment_id bigint, p_receipt text, p_counter text,
                                 p_ledger_seq bigint, p_reason text, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v payment;
    v_id bigint;
BEGIN
    SELECT * INTO v FROM payment WHERE id = p_payment_id;
    PERFORM 1 FROM property WHERE property_id = v.property_id FOR UPDATE;
    INSERT INTO payment (ulb, property_id, receipt_no, counter, mode, instrument_ref, amount_paise,
                         paid_on, ledger_seq, reverses_payment_id, reason, recorded_by,
                         advance_after_paise)
    VALUES (v.ulb, v.property_id, p_receipt, p_counter, v.mode, v.instrument_ref, -v.amount_paise,
            p_today, p_ledger_seq, v.id, p_reason, p_actor->>'userId',
            pt_advance_of(v.property_id)
              - coalesce((SELECT sum(a.amount_paise) FROM allocation a
                          WHERE a.payment_id = v.id AND a.head = 'ADVANCE'), 0))
    RETURNING id INTO v_id;
    INSERT INTO allocation (payment_id, property_id, ulb, fy, head, kind, amount_paise, paid_on)
    SELECT v_id, a.property_id, a.ulb, a.fy, a.head, a.kind, -a.amount_paise, p_today
    FROM allocation a WHERE a.payment_id = v.id ORDER BY a.id;
    PERFORM pt_audit(p_actor, v.ulb, 'payment.reverse', v.receipt_no,
                     jsonb_build_object('reversal', p_receipt, 'reason', p_reason));
    RETURN pt_receipt_json(v_id);
END
$$;

-- ---- online payments ------------------------------------------------------------------------

CREATE FUNCTION pt_order_json(p_order text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('orderId', o.order_id, 'propertyId', o.property_id, 'ulb', o.ulb,
                              'amountPaise', o.amount_paise, 'status', o.status,
                              'receiptNo', o.receipt_no, 'providerRef', o.provider_ref)
    FROM online_order o WHERE o.order_id = p_order
$$;

CREATE FUNCTION pt_online_initiate(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p property;
    v_order text := 'pt' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    INSERT INTO online_order (order_id, ulb, property_id, amount_paise, status, created_by)
    VALUES (v_order, p.ulb, p.property_id,
            pt_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000), 'CREATED',
            p_actor->>'userId');
    RETURN pt_order_json(v_order);
END
$$;

CREATE FUNCTION pt_online_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE o online_order;
BEGIN
    SELECT * INTO o FROM online_order WHERE order_id = pt_text(p_req->>'orderId', 'orderId', 1, 64);
    IF NOT FOUND THEN
        PERFORM pt_fail('PTNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END IF;
    PERFORM pt_property_for(p_actor, o.property_id, 'orderId',
                            ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            false);
    RETURN pt_order_json(o.order_id);
END
$$;

-- A verified callback (the C side checked the HMAC): locks the order.
-- Answers {"order": ..., "action": "pay" | "done"} with the fields the
-- receipt and ledger need.
CREATE FUNCTION pt_online_callback_prepare(p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE o online_order;
BEGIN
    SELECT * INTO o FROM online_order WHERE order_id = pt_text(p_req->>'orderId', 'orderId', 1, 64)
        FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pt_fail('PTNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END IF;
    IF o.status <> 'CREATED' THEN
        RETURN jsonb_build_object('action', 'done', 'order', pt_order_json(o.order_id));
    END IF;
    IF pt_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000) <> o.amount_paise THEN
        PERFORM pt_fail('PTINV', 'amountPaise', format('order %s is for %s paise, not %s', o.order_id,
                                                       o.amount_paise, p_req->>'amountPaise'));
    END IF;
    IF pt_enum(p_req->>'status', 'status', ARRAY['SUCCESS', 'FAILURE']) = 'FAILURE' THEN
        UPDATE online_order SET status = 'FAILED', provider_ref = coalesce(p_req->>'providerRef', ''),
                                updated_at = now()
        WHERE order_id = o.order_id;
        RETURN jsonb_build_object('action', 'done', 'order', pt_order_json(o.order_id));
    END IF;
    RETURN jsonb_build_object('action', 'pay', 'order', pt_order_json(o.order_id),
                              'fy', pt_fy_text(pt_fy_of(p_today))) || pt_owner_contact(o.property_id);
END
$$;

CREATE FUNCTION pt_online_mark_paid(p_order text, p_receipt text, p_provider_ref text) RETURNS jsonb
LANGUAGE sql AS $$
    UPDATE online_order SET status = 'PAID', receipt_no = p_receipt, provider_ref = p_provider_ref,
                            updated_at = now()
    WHERE order_id = p_order;
    SELECT pt_order_json(p_order);
$$;

-- ---- self-assessment ------------------------------------------------------------------------

CREATE FUNCTION pt_alv_of(p_ulb text, p_fy integer, p_zone text, p_construction text, p_usage text,
                          p_floors jsonb) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT a.rate_paise_per_sqft FROM alv_rate a
                     WHERE a.version_id = pt_rate_version_id(p_ulb, p_fy) AND a.zone = p_zone
                       AND a.construction = p_construction AND a.usage = p_usage), 0)
           * coalesce((SELECT sum((f->>'areaSqft')::bigint) FROM jsonb_array_elements(p_floors) f), 0)
$$;

CREATE FUNCTION pt_assessment_json(p_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('assessmentId', a.id, 'propertyId', a.property_id, 'fy', pt_fy_text(a.fy),
                              'revision', a.revision, 'status', a.status, 'zone', a.zone,
                              'usage', a.usage, 'construction', a.construction,
                              'occupancy', a.occupancy, 'floors', a.floors, 'filedBy', a.filed_by,
                              'filedAt', pt_ts(a.filed_at), 'decidedBy', a.decided_by,
                              'reason', a.reason,
                              'alvPaise', pt_alv_of(a.ulb, a.fy, a.zone, a.construction, a.usage, a.floors))
    FROM assessment a WHERE a.id = p_id
$$;

-- The declared (or re-assessed) description of a property.
CREATE FUNCTION pt_declaration(p_req jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'zone', pt_zone_arg(p_req->>'zone', 'zone'),
        'usage', pt_enum(p_req->>'usage', 'usage', pt_usages()),
        'construction', pt_enum(p_req->>'construction', 'construction', pt_constructions()),
        'occupancy', pt_enum(p_req->>'occupancy', 'occupancy', pt_occupancies()),
        'floors', pt_floors(p_req->'floors', 'floors'))
$$;

CREATE FUNCTION pt_assessment_insert(p_actor jsonb, p property, p_fy integer, p_revision integer,
                                     p_decl jsonb) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO assessment (property_id, ulb, fy, revision, status, zone, usage, construction,
                            occupancy, floors, filed_by)
    VALUES (p.property_id, p.ulb, p_fy, p_revision, 'FILED', p_decl->>'zone', p_decl->>'usage',
            p_decl->>'construction', p_decl->>'occupancy', p_decl->'floors', p_actor->>'userId')
    RETURNING id
$$;

CREATE FUNCTION pt_assessment_file(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p property;
    v_fy integer;
    v_decl jsonb;
    v_id bigint;
BEGIN
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER'], true);
    v_fy := pt_parse_fy(p_req->>'fy', 'fy');
    v_decl := pt_declaration(p_req);
    IF EXISTS (SELECT FROM assessment WHERE property_id = p.property_id AND fy = v_fy) THEN
        PERFORM pt_fail('PTCON', 'fy', format('a return for %s %s is on file; revise it instead',
                                              p.property_id, pt_fy_text(v_fy)));
    END IF;
    v_id := pt_assessment_insert(p_actor, p, v_fy, 1, v_decl);
    PERFORM pt_audit(p_actor, p.ulb, 'assessment.file', p.property_id,
                     jsonb_build_object('assessmentId', v_id, 'fy', pt_fy_text(v_fy), 'declared', v_decl));
    RETURN pt_assessment_json(v_id);
END
$$;

CREATE FUNCTION pt_assessment_revise(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a assessment;
    p property;
    v_decl jsonb;
    v_id bigint;
BEGIN
    SELECT * INTO a FROM assessment WHERE id = pt_int(p_req->'assessmentId', 'assessmentId', 1,
                                                      9223372036854775807) FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pt_fail('PTNFD', 'assessmentId', format('no assessment %s', p_req->>'assessmentId'));
    END IF;
    p := pt_property_for(p_actor, a.property_id, 'assessmentId',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER'], true);
    IF a.status <> 'FILED' THEN
        PERFORM pt_fail('PTPRE', 'assessmentId', format('assessment %s is %s; only a return awaiting '
                                                        'decision can be revised', a.id, a.status));
    END IF;
    v_decl := pt_declaration(p_req);
    UPDATE assessment SET status = 'REVISED' WHERE id = a.id;
    v_id := pt_assessment_insert(p_actor, p, a.fy, a.revision + 1, v_decl);
    PERFORM pt_audit(p_actor, p.ulb, 'assessment.revise', p.property_id,
                     jsonb_build_object('assessmentId', v_id, 'revises', a.id, 'declared', v_decl));
    RETURN pt_assessment_json(v_id);
END
$$;

-- ACCEPT applies the declaration to the register; REASSESS applies the
-- officer's values instead and needs a reason. Either way it is audited
-- and the next demand computed for the property uses the new description.
CREATE FUNCTION pt_assessment_decide(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a assessment;
    v_decision text;
    v_decl jsonb;
    v_reason text;
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['REVENUE_OFFICER'], 'deciding an assessment');
    SELECT * INTO a FROM assessment WHERE id = pt_int(p_req->'assessmentId', 'assessmentId', 1,
                                                      9223372036854775807) FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pt_fail('PTNFD', 'assessmentId', format('no assessment %s', p_req->>'assessmentId'));
    END IF;
    PERFORM pt_check_ulb(p_actor, a.ulb);
    v_decision := pt_enum(p_req->>'decision', 'decision', ARRAY['ACCEPT', 'REASSESS']);
    IF a.status <> 'FILED' THEN
        PERFORM pt_fail('PTPRE', 'assessmentId', format('assessment %s is %s, not awaiting a decision',
                                                        a.id, a.status));
    END IF;
    IF v_decision = 'ACCEPT' THEN
        v_reason := pt_text(p_req->>'reason', 'reason', 0, 500);
        v_decl := jsonb_build_object('zone', a.zone, 'usage', a.usage, 'construction', a.construction,
                                     'occupancy', a.occupancy, 'floors', a.floors);
        UPDATE assessment SET status = 'ACCEPTED', decided_by = p_actor->>'userId', reason = v_reason
        WHERE id = a.id;
    ELSE
        v_reason := pt_text(p_req->>'reason', 'reason', 3, 500);
        v_decl := pt_declaration(p_req);
        UPDATE assessment SET status = 'REASSESSED', decided_by = p_actor->>'userId', reason = v_reason,
            zone = v_decl->>'zone', usage = v_decl->>'usage', construction = v_decl->>'construction',
            occupancy = v_decl->>'occupancy', floors = v_decl->'floors'
        WHERE id = a.id;
    END IF;
    UPDATE property SET zone = v_decl->>'zone', usage = v_decl->>'usage',
                        construction = v_decl->>'construction', occupancy = v_decl->>'occupancy',
                        updated_at = now()
    WHERE property_id = a.property_id;
    PERFORM pt_replace_floors(a.property_id, v_decl->'floors');
    PERFORM pt_audit(p_actor, a.ulb, 'assessment.' || lower(v_decision), a.property_id,
                     jsonb_build_object('assessmentId', a.id, 'reason', v_reason, 'applied', v_decl,
                                        'declared', jsonb_build_object('zone', a.zone, 'usage', a.usage,
                                            'construction', a.construction, 'occupancy', a.occupancy,
                                            'floors', a.floors)));
    RETURN pt_assessment_json(a.id);
END
$$;

CREATE FUNCTION pt_assessment_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE a assessment;
BEGIN
    SELECT * INTO a FROM assessment WHERE id = pt_int(p_req->'assessmentId', 'assessmentId', 1,
                                                      9223372036854775807);
    IF NOT FOUND THEN
        PERFORM pt_fail('PTNFD', 'assessmentId', format('no assessment %s', p_req->>'assessmentId'));
    END IF;
    PERFORM pt_property_for(p_actor, a.property_id, 'assessmentId',
                            ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            false);
    RETURN pt_assessment_json(a.id);
END
$$;

-- ---- mutation --------------------------------------------------------------------------------

-- Transfer of ownership: the owners are replaced, the old ones kept in the
-- mutation row and the audit, and the fee (master data of the current
-- year) is added to the year's dues as head MUTATION_FEE.
CREATE FUNCTION pt_mutation_record(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p property;
    v_owners jsonb;
    v_previous jsonb;
    v_fee bigint;
    v_fy integer := pt_fy_of(p_today);
    v_id bigint;
BEGIN
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], true);
    v_owners := pt_owners(p_req->'newOwners', 'newOwners');
    PERFORM pt_text(p_req->>'deedRef', 'deedRef', 1, 64);
    PERFORM pt_text(p_req->>'reason', 'reason', 3, 300);
    v_previous := pt_property_json(p.property_id)->'owners';
    SELECT mutation_fee_paise INTO v_fee FROM pt_rate_params(p.ulb, v_fy);
    PERFORM pt_replace_owners(p.property_id, v_owners);
    INSERT INTO mutation (property_id, ulb, fy, previous_owners, new_owners, fee_paise, deed_ref,
                          reason, recorded_by)
    VALUES (p.property_id, p.ulb, v_fy, v_previous, v_owners, v_fee, p_req->>'deedRef',
            p_req->>'reason', p_actor->>'userId')
    RETURNING id INTO v_id;
    IF v_fee > 0 THEN
        INSERT INTO demand (property_id, fy, head, ulb, amount_paise)
        VALUES (p.property_id, v_fy, 'MUTATION_FEE', p.ulb, v_fee)
        ON CONFLICT (property_id, fy, head)
            DO UPDATE SET amount_paise = demand.amount_paise + EXCLUDED.amount_paise;
    END IF;
    PERFORM pt_audit(p_actor, p.ulb, 'mutation.record', p.property_id,
                     jsonb_build_object('mutationId', v_id, 'previousOwners', v_previous,
                                        'newOwners', v_owners, 'feePaise', v_fee,
                                        'deedRef', p_req->>'deedRef', 'reason', p_req->>'reason'));
    RETURN (SELECT jsonb_build_object('mutationId', m.id, 'propertyId', m.property_id,
                                      'previousOwners', m.previous_owners, 'newOwners', m.new_owners,
                                      'feePaise', m.fee_paise, 'fy', pt_fy_text(m.fy),
                                      'deedRef', m.deed_ref, 'reason', m.reason,
                                      'recordedBy', m.recorded_by, 'recordedAt', pt_ts(m.recorded_at))
            FROM mutation m WHERE m.id = v_id);
END
$$;

-- ---- reports -----------------------------------------------------------------------------------

-- Demand, collection and balance of a year by ward and head, and for the
-- whole ULB (ward 0) and every head (TOTAL). Arrear demand is what was
-- still owed on 1 April for earlier years; current demand is the year's
-- own; collections are settlements (cash and rebate) made within the year.
CREATE FUNCTION pt_report_dcb(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := pt_ulb_arg(p_req->>'ulb', 'ulb');
    v_fy integer := pt_parse_fy(p_req->>'fy', 'fy');
    v_start date;
    v_end date;
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'reading the DCB report');
    PERFORM pt_check_ulb(p_actor, v_ulb);
    v_start := make_date(v_fy, 4, 1);
    v_end := make_date(v_fy + 1, 3, 31);
    RETURN jsonb_build_object('ulb', v_ulb, 'fy', pt_fy_text(v_fy), 'rows', coalesce((
        WITH d AS (
            SELECT p.ward, d.head,
                   sum(CASE WHEN d.fy < v_fy THEN d.amount_paise ELSE 0 END) AS arrear_owed,
                   sum(CASE WHEN d.fy = v_fy THEN d.amount_paise ELSE 0 END) AS current_demand
            FROM demand d JOIN property p USING (property_id)
            WHERE d.ulb = v_ulb AND d.fy <= v_fy GROUP BY p.ward, d.head
        ), c AS (
            SELECT p.ward, a.head,
                   sum(CASE WHEN a.fy < v_fy AND a.paid_on < v_start THEN a.amount_paise ELSE 0 END)
                       AS arrear_settled_before,
                   sum(CASE WHEN a.fy < v_fy AND a.paid_on BETWEEN v_start AND v_end
                            THEN a.amount_paise ELSE 0 END) AS arrear_collection,
                   sum(CASE WHEN a.fy = v_fy AND a.paid_on <= v_end THEN a.amount_paise ELSE 0 END)
                       AS current_collection
            FROM allocation a JOIN property p USING (property_id)
            WHERE a.ulb = v_ulb AND a.fy <= v_fy AND a.head NOT IN ('ADVANCE', 'SURCHARGE')
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

CREATE FUNCTION pt_report_daily(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := pt_ulb_arg(p_req->>'ulb', 'ulb');
    v_date date := coalesce(pt_parse_date(nullif(p_req->>'date', ''), 'date'), p_today);
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'reading the daily collection');
    PERFORM pt_check_ulb(p_actor, v_ulb);
    RETURN jsonb_build_object('ulb', v_ulb, 'date', v_date::text,
        'rows', coalesce((SELECT jsonb_agg(jsonb_build_object('counter', counter, 'mode', mode,
                                   'receipts', n, 'amountPaise', total) ORDER BY counter, mode)
                          FROM (SELECT counter, mode, count(*) AS n, sum(amount_paise) AS total
                                FROM payment WHERE ulb = v_ulb AND paid_on = v_date
                                GROUP BY counter, mode) s), '[]'),
        'totalPaise', (SELECT coalesce(sum(amount_paise), 0) FROM payment
                       WHERE ulb = v_ulb AND paid_on = v_date));
END
$$;

CREATE FUNCTION pt_report_defaulters(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := pt_ulb_arg(p_req->>'ulb', 'ulb');
    v_min bigint := pt_int(p_req->'minOutstandingPaise', 'minOutstandingPaise', 0, 1000000000000);
    v_limit integer := coalesce(nullif(pt_int(p_req->'limit', 'limit', 0, 1000), 0), 100);
    v_fy integer := pt_fy_of(p_today);
BEGIN
    PERFORM pt_require_role(p_actor, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'reading the defaulters');
    PERFORM pt_check_ulb(p_actor, v_ulb);
    -- A defaulter owes for a year that has ended (arrears), net of advance.
    RETURN jsonb_build_object('ulb', v_ulb, 'defaulters', coalesce((
        WITH owed AS (
            SELECT d.property_id, min(d.fy) FILTER (WHERE d.amount_paise > coalesce(s.settled, 0)) AS oldest,
                   sum(d.amount_paise - coalesce(s.settled, 0)) AS outstanding
            FROM demand d
            LEFT JOIN LATERAL (SELECT sum(a.amount_paise) AS settled FROM allocation a
                               WHERE a.property_id = d.property_id AND a.fy = d.fy
                                 AND a.head = d.head) s ON true
            WHERE d.ulb = v_ulb AND d.fy < v_fy
            GROUP BY d.property_id
        )
        SELECT jsonb_agg(x ORDER BY (x->>'outstandingPaise')::bigint DESC, x->>'propertyId')
        FROM (SELECT jsonb_build_object('propertyId', o.property_id, 'ward', p.ward,
                         'ownerName', coalesce(ow.name, ''), 'ownerMobile', coalesce(ow.mobile, ''),
                         'outstandingPaise', o.outstanding - pt_advance_of(o.property_id),
                         'oldestFy', pt_fy_text(o.oldest)) AS x
              FROM owed o JOIN property p USING (property_id)
              LEFT JOIN property_owner ow ON ow.property_id = o.property_id AND ow.ordinal = 1
              WHERE o.outstanding - pt_advance_of(o.property_id) > greatest(v_min, 0)
              ORDER BY o.outstanding - pt_advance_of(o.property_id) DESC, o.property_id
              LIMIT v_limit) t), '[]'));
END
$$;

-- ---- idempotency -------------------------------------------------------------------------

-- Takes the key's transaction lock, then reads its record, in one round trip:
-- retries of one request racing each other queue on the lock, and each
-- statement of a plpgsql function reads a fresh snapshot, so the waiter sees
-- the record the first one committed.
CREATE FUNCTION pt_idempotency_lookup(p_actor text, p_key text)
RETURNS TABLE (method text, request_hash text, reply text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_actor || chr(31) || p_key, 7));
    RETURN QUERY SELECT i.method, encode(i.request_hash, 'hex'), encode(i.reply, 'hex')
                 FROM idempotency i WHERE i.actor = p_actor AND i.key = p_key;
END
$$;
