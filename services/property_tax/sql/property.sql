-- property.sql — the register: properties, their owners and floors (create, get,
-- list, CSV import) and the vocabularies they are described with.
-- pt_property_for, the one check of who may see or act on a property, is
-- common/sql/accounts 005's, made in account.sql.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- A zone code: "zone must be a zone code of 1 to 8 of A-Z, 0-9" otherwise.
CREATE OR REPLACE FUNCTION pt_zone_arg(p_value text, p_field text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT rule_id_arg(p_value, p_field, '^[A-Z0-9]{1,8}$', 'a zone code of 1 to 8 of A-Z, 0-9')
$$;

CREATE OR REPLACE FUNCTION pt_usages() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['RESIDENTIAL', 'COMMERCIAL', 'INDUSTRIAL', 'MIXED'] $$;

CREATE OR REPLACE FUNCTION pt_constructions() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['RCC', 'RBC', 'TIN_SHED', 'KACHCHA'] $$;

CREATE OR REPLACE FUNCTION pt_occupancies() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['SELF_OCCUPIED', 'RENTED'] $$;

CREATE OR REPLACE FUNCTION pt_exemptions() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['EXEMPTION_NONE', 'WORSHIP', 'CHARITABLE', 'GOVERNMENT', 'BPL'] $$;

-- 1 to 20 owners {name, mobile, userId, shareBp} whose shares add up to
-- 10000 basis points; the list as stored (absent mobile and userId '').
CREATE OR REPLACE FUNCTION pt_owners(p_owners jsonb, p_field text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    o jsonb;
    f text;
    total integer := 0;
    out jsonb := '[]';
    share integer;
BEGIN
    FOR o, f IN SELECT * FROM rule_list(p_owners, p_field, 1, 20, 'owners') LOOP
        PERFORM rule_text(o->>'name', f || '.name', 1, 100);
        IF coalesce(o->>'mobile', '') !~ '^([6-9][0-9]{9})?$' THEN
            PERFORM rule_fail('NRINV', f || '.mobile', format('%s.mobile must be empty or a 10-digit '
                                                            'mobile number starting with 6 to 9', f));
        END IF;
        IF coalesce(o->>'userId', '') !~ '^(citizen:[A-Za-z0-9-]{1,64})?$' THEN
            PERFORM rule_fail('NRINV', f || '.userId', format('%s.userId must be empty or a citizen '
                                                            'account id (citizen:...)', f));
        END IF;
        share := rule_int(o->'shareBp', f || '.shareBp', 1, 10000);
        total := total + share;
        out := out || jsonb_build_object('name', o->>'name', 'mobile', coalesce(o->>'mobile', ''),
                                         'userId', coalesce(o->>'userId', ''), 'shareBp', share);
    END LOOP;
    IF total <> 10000 THEN
        PERFORM rule_fail('NRINV', p_field, format('the owners'' shares (%s) must add up to 10000 '
                                                 'basis points (100%%), not %s', p_field, total));
    END IF;
    RETURN out;
END
$$;

-- 1 to 50 floors {floor, areaSqft}, each floor once.
CREATE OR REPLACE FUNCTION pt_floors(p_floors jsonb, p_field text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    fl jsonb;
    f text;
    out jsonb := '[]';
    n bigint;
    seen bigint[] := '{}';
BEGIN
    FOR fl, f IN SELECT * FROM rule_list(p_floors, p_field, 1, 50, 'floors') LOOP
        n := rule_int(fl->'floor', f || '.floor', -5, 200);
        IF n = ANY (seen) THEN
            PERFORM rule_fail('NRINV', f || '.floor', format('floor %s is listed twice', n));
        END IF;
        seen := seen || n;
        out := out || jsonb_build_object('floor', n, 'areaSqft',
                                         rule_int(fl->'areaSqft', f || '.areaSqft', 1, 10000000));
    END LOOP;
    RETURN out;
END
$$;

CREATE OR REPLACE FUNCTION pt_property_json(p_id text) RETURNS jsonb LANGUAGE sql STABLE AS $$
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
        'createdAt', rule_ts(p.created_at))
    FROM property p WHERE p.property_id = p_id
$$;

CREATE OR REPLACE FUNCTION pt_replace_owners(p_id text, p_owners jsonb) RETURNS void LANGUAGE sql AS $$
    DELETE FROM property_owner WHERE property_id = p_id;
    INSERT INTO property_owner (property_id, ordinal, name, mobile, user_id, share_bp)
    SELECT p_id, t.i, t.o->>'name', t.o->>'mobile', t.o->>'userId', (t.o->>'shareBp')::integer
    FROM jsonb_array_elements(p_owners) WITH ORDINALITY AS t(o, i);
$$;

CREATE OR REPLACE FUNCTION pt_replace_floors(p_id text, p_floors jsonb) RETURNS void LANGUAGE sql AS $$
    DELETE FROM property_floor WHERE property_id = p_id;
    INSERT INTO property_floor (property_id, floor, area_sqft)
    SELECT p_id, (f->>'floor')::integer, (f->>'areaSqft')::bigint
    FROM jsonb_array_elements(p_floors) AS f;
$$;

-- Validates one property description (a create request or an import row)
-- and inserts it with the next number of its ward. Returns its id.
CREATE OR REPLACE FUNCTION pt_property_insert(p_actor jsonb, p_ulb text, p_req jsonb, p_prefix text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_ward integer := rule_int(p_req->'ward', p_prefix || 'ward', 1, 999);
    v_zone text := pt_zone_arg(p_req->>'zone', p_prefix || 'zone');
    v_address text := rule_text(p_req->>'address', p_prefix || 'address', 1, 300);
    v_usage text := rule_enum(p_req->>'usage', p_prefix || 'usage', pt_usages());
    v_construction text := rule_enum(p_req->>'construction', p_prefix || 'construction', pt_constructions());
    v_occupancy text := rule_enum(p_req->>'occupancy', p_prefix || 'occupancy', pt_occupancies());
    v_exemption text := rule_enum(coalesce(p_req->>'exemption', 'EXEMPTION_NONE'), p_prefix || 'exemption',
                                pt_exemptions());
    v_owners jsonb := pt_owners(p_req->'owners', p_prefix || 'owners');
    v_floors jsonb := pt_floors(p_req->'floors', p_prefix || 'floors');
    v_no integer;
    v_id text;
BEGIN
    v_no := ward_number_next(p_ulb, v_ward);   -- locks the ward's number until commit
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

CREATE OR REPLACE FUNCTION pt_property_create(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE v_ulb text; v_id text;
BEGIN
    PERFORM rule_act(p_actor, 'property.create');
    v_ulb := rule_ulb_scope(p_actor, p_req, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                                  'STATE_ADMIN'], 'registering a property');
    v_id := pt_property_insert(p_actor, v_ulb, p_req, '');
    PERFORM rule_audit(p_actor, v_ulb, 'property.create', v_id, pt_property_json(v_id));
    RETURN pt_property_json(v_id);
END
$$;

CREATE OR REPLACE FUNCTION pt_property_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE p property;
BEGIN
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                         false);
    RETURN pt_property_json(p.property_id);
END
$$;

-- The pages of a list of properties (pt_property_list, the ward's demand
-- notices) start after the last property id of the page before
-- (rule_page_after, rule_page_token: common/sql/rules 005, which replaced
-- this file's pt_page_after and pt_page_token).
DROP FUNCTION IF EXISTS pt_page_after(jsonb);
DROP FUNCTION IF EXISTS pt_page_token(text);

-- Staff list their ULB (optionally one ward); citizens list what they own.
CREATE OR REPLACE FUNCTION pt_property_list(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_size integer := rule_page_size(p_req, 200, 50);
    v_ward integer := rule_int(p_req->'ward', 'ward', 0, 999);
    v_after text;
    v_ulb text;
    v_ids text[];
BEGIN
    PERFORM rule_require_role(p_actor, ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                           'STATE_ADMIN'], 'listing properties');
    v_after := rule_page_after(p_req, pt_account_kind()->>'idPattern');
    IF p_actor->>'role' = 'CITIZEN' THEN
        SELECT array_agg(property_id ORDER BY property_id) INTO v_ids FROM (
            SELECT DISTINCT p.property_id FROM property p JOIN property_owner o USING (property_id)
            WHERE o.user_id = p_actor->>'userId' AND p.property_id > v_after
              AND (v_ward = 0 OR p.ward = v_ward)
            ORDER BY p.property_id LIMIT v_size + 1) s;
    ELSE
        v_ulb := rule_ulb_or_own(p_actor, p_req);
        SELECT array_agg(property_id ORDER BY property_id) INTO v_ids FROM (
            SELECT p.property_id FROM property p
            WHERE p.ulb = v_ulb AND p.property_id > v_after AND (v_ward = 0 OR p.ward = v_ward)
            ORDER BY p.property_id LIMIT v_size + 1) s;
    END IF;
    v_ids := coalesce(v_ids, '{}');
    RETURN jsonb_build_object(
        'properties', coalesce((SELECT jsonb_agg(pt_property_json(id) ORDER BY id)
                                FROM unnest(v_ids[1:v_size]) AS id), '[]'),
        'nextPageToken', rule_page_next(v_ids, v_size));
END
$$;

-- Rows parsed from CSV by the C side: [{"line": n, "ward": ..., ...}].
CREATE OR REPLACE FUNCTION pt_property_import(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text;
    r jsonb;
    v_ids text[] := '{}';
    v_id text;
BEGIN
    PERFORM rule_act(p_actor, 'property.import');
    v_ulb := rule_ulb_scope(p_actor, p_req, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                                  'STATE_ADMIN'], 'importing properties');
    FOR r IN SELECT * FROM jsonb_array_elements(p_req->'rows') LOOP
        BEGIN
            v_id := pt_property_insert(p_actor, v_ulb, r, '');
        EXCEPTION WHEN SQLSTATE 'NRINV' THEN
            DECLARE v_message text; v_detail text;
            BEGIN
                GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
                PERFORM rule_fail('NRINV', 'csv', format('csv line %s: %s', r->>'line', v_message));
            END;
        END;
        v_ids := v_ids || v_id;
    END LOOP;
    PERFORM rule_audit(p_actor, v_ulb, 'property.import', v_ulb,
                     jsonb_build_object('imported', cardinality(v_ids), 'first', v_ids[1],
                                        'last', v_ids[cardinality(v_ids)]));
    RETURN jsonb_build_object('imported', cardinality(v_ids), 'propertyIds', to_jsonb(v_ids));
END
$$;

SELECT rules_grant_entry_points();
