-- assessment.sql — self-assessment: the owner files (and revises) a
-- declaration, a revenue officer accepts or re-assesses it with a reason.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

CREATE OR REPLACE FUNCTION pt_alv_of(p_ulb text, p_fy integer, p_zone text, p_construction text, p_usage text,
                          p_floors jsonb) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT a.rate_paise_per_sqft FROM alv_rate a
                     WHERE a.version_id = accounts_version_newest('rate_version', p_ulb, p_fy) AND a.zone = p_zone
                       AND a.construction = p_construction AND a.usage = p_usage), 0)
           * coalesce((SELECT sum((f->>'areaSqft')::bigint) FROM jsonb_array_elements(p_floors) f), 0)
$$;

CREATE OR REPLACE FUNCTION pt_assessment_json(p_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('assessmentId', a.id, 'propertyId', a.property_id, 'fy', rule_fy_text(a.fy),
                              'revision', a.revision, 'status', a.status, 'zone', a.zone,
                              'usage', a.usage, 'construction', a.construction,
                              'occupancy', a.occupancy, 'floors', a.floors, 'filedBy', a.filed_by,
                              'filedAt', rule_ts(a.filed_at), 'decidedBy', a.decided_by,
                              'reason', a.reason,
                              'alvPaise', pt_alv_of(a.ulb, a.fy, a.zone, a.construction, a.usage, a.floors))
    FROM assessment a WHERE a.id = p_id
$$;

-- The declared (or re-assessed) description of a property.
CREATE OR REPLACE FUNCTION pt_declaration(p_req jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'zone', pt_zone_arg(p_req->>'zone', 'zone'),
        'usage', rule_enum(p_req->>'usage', 'usage', pt_usages()),
        'construction', rule_enum(p_req->>'construction', 'construction', pt_constructions()),
        'occupancy', rule_enum(p_req->>'occupancy', 'occupancy', pt_occupancies()),
        'floors', pt_floors(p_req->'floors', 'floors'))
$$;

-- A return filed for a property of a ULB (the first, or a revision).
DROP FUNCTION IF EXISTS pt_assessment_insert(jsonb, property, integer, integer, jsonb);
CREATE OR REPLACE FUNCTION pt_assessment_insert(p_actor jsonb, p_property text, p_ulb text, p_fy integer,
                                                p_revision integer, p_decl jsonb) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO assessment (property_id, ulb, fy, revision, status, zone, usage, construction,
                            occupancy, floors, filed_by)
    VALUES (p_property, p_ulb, p_fy, p_revision, 'FILED', p_decl->>'zone', p_decl->>'usage',
            p_decl->>'construction', p_decl->>'occupancy', p_decl->'floors', p_actor->>'userId')
    RETURNING id
$$;

-- The return "assessmentId" names, locked FOR UPDATE when p_lock, if the
-- actor may reach its property as one of p_roles (pt_property_for, which
-- then locks the property too); one that does not exist and one the actor
-- may not reach are answered alike: NRNFD "no assessment N".
CREATE OR REPLACE FUNCTION pt_assessment_for(p_actor jsonb, p_req jsonb, p_roles text[],
                                             p_lock boolean) RETURNS assessment
LANGUAGE plpgsql AS $$
DECLARE
    a assessment;
    v_id bigint := rule_int(p_req->'assessmentId', 'assessmentId', 1, 9223372036854775807);
BEGIN
    IF p_lock THEN
        SELECT * INTO a FROM assessment WHERE id = v_id FOR UPDATE;
    ELSE
        SELECT * INTO a FROM assessment WHERE id = v_id;
    END IF;
    BEGIN
        IF a.id IS NULL THEN
            PERFORM rule_fail('NRNFD', 'assessmentId', 'no such assessment');
        END IF;
        PERFORM pt_property_for(p_actor, a.property_id, 'assessmentId', p_roles, p_lock);
    EXCEPTION WHEN SQLSTATE 'NRNFD' THEN
        PERFORM rule_fail('NRNFD', 'assessmentId', format('no assessment %s', v_id));
    END;
    RETURN a;
END
$$;

CREATE OR REPLACE FUNCTION pt_assessment_file(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    p property;
    v_fy integer;
    v_decl jsonb;
    v_id bigint;
BEGIN
    PERFORM rule_act(p_actor, 'assessment.file');
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER'], true);
    v_fy := rule_parse_fy(p_req->>'fy', 'fy');
    v_decl := pt_declaration(p_req);
    IF EXISTS (SELECT FROM assessment WHERE property_id = p.property_id AND fy = v_fy) THEN
        PERFORM rule_fail('NRCON', 'fy', format('a return for %s %s is on file; revise it instead',
                                              p.property_id, rule_fy_text(v_fy)));
    END IF;
    v_id := pt_assessment_insert(p_actor, p.property_id, p.ulb, v_fy, 1, v_decl);
    PERFORM rule_audit(p_actor, p.ulb, 'assessment.file', p.property_id,
                     jsonb_build_object('assessmentId', v_id, 'fy', rule_fy_text(v_fy), 'declared', v_decl));
    RETURN pt_assessment_json(v_id);
END
$$;

CREATE OR REPLACE FUNCTION pt_assessment_revise(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    a assessment;
    v_decl jsonb;
    v_id bigint;
BEGIN
    PERFORM rule_act(p_actor, 'assessment.revise');
    a := pt_assessment_for(p_actor, p_req, ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER'], true);
    IF a.status <> 'FILED' THEN
        PERFORM rule_fail('NRPRE', 'assessmentId', format('assessment %s is %s; only a return awaiting '
                                                        'decision can be revised', a.id, a.status));
    END IF;
    v_decl := pt_declaration(p_req);
    UPDATE assessment SET status = 'REVISED' WHERE id = a.id;
    v_id := pt_assessment_insert(p_actor, a.property_id, a.ulb, a.fy, a.revision + 1, v_decl);
    PERFORM rule_audit(p_actor, a.ulb, 'assessment.revise', a.property_id,
                     jsonb_build_object('assessmentId', v_id, 'revises', a.id, 'declared', v_decl));
    RETURN pt_assessment_json(v_id);
END
$$;

-- ACCEPT applies the declaration to the register; REASSESS applies the
-- officer's values instead and needs a reason. Either way it is audited
-- and the next demand computed for the property uses the new description.
CREATE OR REPLACE FUNCTION pt_assessment_decide(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    a assessment;
    v_decision text;
    v_decl jsonb;
    v_reason text;
BEGIN
    PERFORM rule_act(p_actor, 'assessment.decide: ' || coalesce(p_req->>'reason', ''));
    PERFORM rule_require_role(p_actor, ARRAY['REVENUE_OFFICER'], 'deciding an assessment');
    a := pt_assessment_for(p_actor, p_req, ARRAY['REVENUE_OFFICER'], true);
    v_decision := rule_enum(p_req->>'decision', 'decision', ARRAY['ACCEPT', 'REASSESS']);
    IF a.status <> 'FILED' THEN
        PERFORM rule_fail('NRPRE', 'assessmentId', format('assessment %s is %s, not awaiting a decision',
                                                        a.id, a.status));
    END IF;
    IF v_decision = 'ACCEPT' THEN
        v_reason := rule_text(p_req->>'reason', 'reason', 0, 500);
        v_decl := jsonb_build_object('zone', a.zone, 'usage', a.usage, 'construction', a.construction,
                                     'occupancy', a.occupancy, 'floors', a.floors);
        UPDATE assessment SET status = 'ACCEPTED', decided_by = p_actor->>'userId', reason = v_reason
        WHERE id = a.id;
    ELSE
        v_reason := rule_text(p_req->>'reason', 'reason', 3, 500);
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
    PERFORM rule_audit(p_actor, a.ulb, 'assessment.' || lower(v_decision), a.property_id,
                     jsonb_build_object('assessmentId', a.id, 'reason', v_reason, 'applied', v_decl,
                                        'declared', jsonb_build_object('zone', a.zone, 'usage', a.usage,
                                            'construction', a.construction, 'occupancy', a.occupancy,
                                            'floors', a.floors)));
    RETURN pt_assessment_json(a.id);
END
$$;

CREATE OR REPLACE FUNCTION pt_assessment_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE a assessment;
BEGIN
    a := pt_assessment_for(p_actor, p_req, ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                                 'STATE_ADMIN'], false);
    RETURN pt_assessment_json(a.id);
END
$$;

-- The returns of one property (its owner, staff of its ULB, a STATE_ADMIN),
-- a citizen's returns of every property they own, or a ULB's returns for
-- staff (their own ULB; a STATE_ADMIN any). Optionally one status (FILED:
-- the returns awaiting an officer's decision, the inbox) and one year.
-- FILED lists the oldest first (first come, first decided), others the
-- newest first; pages as pt_mutation_application_list.
CREATE OR REPLACE FUNCTION pt_assessment_list(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_size integer := rule_page_size(p_req, 100, 20);
    v_status text := coalesce(p_req->>'status', '');
    v_fy integer;
    v_scope text;
    v_key text;
    v_ids bigint[];
BEGIN
    PERFORM rule_require_role(p_actor, ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                             'STATE_ADMIN'], 'listing assessment returns');
    IF v_status <> '' THEN
        PERFORM rule_enum(v_status, 'status', ARRAY['FILED', 'REVISED', 'ACCEPTED', 'REASSESSED']);
    END IF;
    IF coalesce(p_req->>'fy', '') <> '' THEN
        v_fy := rule_parse_fy(p_req->>'fy', 'fy');
    END IF;
    IF coalesce(p_req->>'propertyId', '') <> '' THEN
        v_scope := 'property';
        v_key := (pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                                  ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                        'STATE_ADMIN'], false)).property_id;
    ELSIF p_actor->>'role' = 'CITIZEN' THEN
        v_scope := 'owner';
        v_key := p_actor->>'userId';
    ELSE
        v_scope := 'ulb';
        v_key := rule_ulb_or_own(p_actor, p_req);
    END IF;
    -- One query per scope (a ULB's inbox must not read every ULB's returns).
    v_ids := pt_page_ids(p_req, 'assessment',
                         CASE v_scope WHEN 'property' THEN 'a.property_id = $1'
                                      WHEN 'ulb' THEN 'a.ulb = $1'
                                      ELSE 'a.property_id IN (SELECT o.property_id FROM property_owner o '
                                           'WHERE o.user_id = $1)' END
                         || ' AND ($3::integer IS NULL OR a.fy = $3::integer)',
                         v_key, v_status, v_fy::text, v_status = 'FILED', v_size);
    RETURN jsonb_build_object(
        'assessments', coalesce((SELECT jsonb_agg(pt_assessment_json(t.id) ORDER BY t.n)
                                 FROM unnest(v_ids[1:v_size]) WITH ORDINALITY AS t(id, n)), '[]'),
        'nextPageToken', rule_page_next(v_ids, v_size));
END
$$;

SELECT rules_grant_entry_points();
