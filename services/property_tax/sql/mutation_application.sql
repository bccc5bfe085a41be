-- mutation_application.sql — a citizen applies online for a mutation, an
-- officer approves it (recording the mutation with pt_mutation_record, the
-- counter's own rule) or rejects it with a reason; the citizen follows it.
--
-- Who may do what:
--   apply    a CITIZEN who owns the property on the register (the seller, a
--            co-owner, an heir already on it); buyers and heirs not on the
--            register apply at the counter (mutation.record) as before. The
--            applicant may link only their own account to a new owner: an
--            account that is not theirs would be given the property's data.
--   get      the applicant; CLERK, REVENUE_OFFICER, COMMISSIONER of its
--            ULB; a STATE_ADMIN. Anyone else: no such application.
--   list     a citizen their own applications; staff their ULB's (a STATE_ADMIN
--            any ULB's), by status (PENDING: the inbox) and property.
--   decide   the roles that record mutations (CLERK, REVENUE_OFFICER,
--            COMMISSIONER) of its ULB: APPROVE (reason optional) or REJECT
--            (reason required). Approval is refused when the register's
--            owners changed since the application was filed.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

CREATE OR REPLACE FUNCTION pt_transfers() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['SALE', 'GIFT', 'INHERITANCE', 'PARTITION', 'COURT_ORDER'] $$;

CREATE OR REPLACE FUNCTION pt_document_kinds() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['SALE_DEED', 'GIFT_DEED', 'WILL', 'SUCCESSION_CERTIFICATE', 'DEATH_CERTIFICATE',
                'PARTITION_DEED', 'COURT_ORDER', 'REGISTRY_EXTRACT', 'OTHER'] $$;

-- The documents an application names: 1 to 10 of {kind, ref}, where ref is
-- the document's reference (a registry number, a DigiLocker URI, ...).
CREATE OR REPLACE FUNCTION pt_documents(p_docs jsonb, p_field text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    d jsonb;
    f text;
    out jsonb := '[]';
BEGIN
    FOR d, f IN SELECT * FROM rule_list(p_docs, p_field, 1, 10, 'documents') LOOP
        IF jsonb_typeof(d) <> 'object' THEN
            PERFORM rule_fail('NRINV', f, format('%s must be an object {kind, ref}', f));
        END IF;
        out := out || jsonb_build_object(
            'kind', rule_enum(d->>'kind', f || '.kind', pt_document_kinds()),
            'ref', rule_text(d->>'ref', f || '.ref', 1, 128));
    END LOOP;
    RETURN out;
END
$$;

-- Lists by id: the page token is the last id of the page before
-- (rule_page_after, rule_page_token); NULL for the first page.
CREATE OR REPLACE FUNCTION pt_page_after_id(p_req jsonb) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT nullif(rule_page_after(p_req, '^[1-9][0-9]{0,17}$'), '')::bigint
$$;

-- One page of a list by id (the returns, the mutation applications): the
-- ids of p_table's rows (as "a") that match p_where and the status asked
-- for, after the page token's id (pt_page_after_id), the oldest first when
-- p_oldest_first (a waiting list: first come, first served), else the
-- newest; p_size + 1 of them, for rule_page_next. p_where is the caller's
-- constant SQL over the parameters $1 (p_key: the property, the ULB or the
-- user listed) and $3 (p_filter, one more value, as text); $2 is p_status
-- ('' for any). One query per scope, so that each uses its index.
DROP FUNCTION IF EXISTS pt_page_direction(boolean);
CREATE OR REPLACE FUNCTION pt_page_ids(p_req jsonb, p_table regclass, p_where text, p_key text,
                                       p_status text, p_filter text, p_oldest_first boolean,
                                       p_size integer) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
DECLARE v_ids bigint[];
BEGIN
    EXECUTE format('SELECT array_agg(id ORDER BY id %1$s) FROM ('
                   '    SELECT a.id FROM %2$s a WHERE %3$s AND ($2 = '''' OR a.status = $2)'
                   '       AND ($4::bigint IS NULL OR a.id %4$s $4)'
                   '     ORDER BY a.id %1$s LIMIT $5) s',
                   CASE WHEN p_oldest_first THEN 'ASC' ELSE 'DESC' END, p_table, p_where,
                   CASE WHEN p_oldest_first THEN '>' ELSE '<' END)
        INTO v_ids USING p_key, p_status, p_filter, pt_page_after_id(p_req), p_size + 1;
    RETURN coalesce(v_ids, '{}');
END
$$;

CREATE OR REPLACE FUNCTION pt_mutation_application_json(p_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('applicationId', a.id, 'propertyId', a.property_id, 'ulb', a.ulb,
                              'status', a.status, 'transfer', a.transfer,
                              'ownersAtApply', a.owners_at_apply, 'newOwners', a.new_owners,
                              'deedRef', a.deed_ref, 'documents', a.documents,
                              'statement', a.statement, 'appliedBy', a.applied_by,
                              'appliedAt', rule_ts(a.applied_at), 'decidedBy', a.decided_by,
                              'decidedAt', coalesce(rule_ts(a.decided_at), ''),
                              'decisionReason', a.decision_reason)
           || CASE WHEN a.mutation_id IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object('mutation', pt_mutation_json(a.mutation_id)) END
    FROM mutation_application a WHERE a.id = p_id
$$;

-- The application, if the actor may see it (the header's rules); one the
-- actor may not see is answered as one that does not exist.
CREATE OR REPLACE FUNCTION pt_mutation_application_for(p_actor jsonb, p_req jsonb, p_staff text[],
                                                       p_lock boolean) RETURNS mutation_application
LANGUAGE plpgsql AS $$
DECLARE
    a mutation_application;
    v_id bigint := rule_int(p_req->'applicationId', 'applicationId', 1, 9223372036854775807);
    v_role text := coalesce(p_actor->>'role', '');
BEGIN
    IF coalesce(p_actor->>'userId', '') = '' OR NOT v_role = ANY (p_staff || ARRAY['CITIZEN']) THEN
        PERFORM rule_fail('NRDEN', NULL, format('this needs one of the roles %s',
                                                array_to_string(p_staff || ARRAY['CITIZEN'], ', ')));
    END IF;
    IF p_lock THEN
        SELECT * INTO a FROM mutation_application WHERE id = v_id FOR UPDATE;
    ELSE
        SELECT * INTO a FROM mutation_application WHERE id = v_id;
    END IF;
    IF NOT FOUND
       OR (v_role = 'CITIZEN' AND a.applied_by <> p_actor->>'userId')
       OR (v_role NOT IN ('CITIZEN', 'STATE_ADMIN') AND coalesce(p_actor->>'ulb', '') <> a.ulb) THEN
        PERFORM rule_fail('NRNFD', 'applicationId', format('no mutation application %s', v_id));
    END IF;
    RETURN a;
END
$$;

CREATE OR REPLACE FUNCTION pt_mutation_apply(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    p property;
    v_transfer text;
    v_owners jsonb;
    v_docs jsonb;
    v_pending bigint;
    v_id bigint;
    o jsonb;
    f text;
BEGIN
    PERFORM rule_act(p_actor, 'mutation.apply');
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId', ARRAY['CITIZEN'], true);
    v_transfer := rule_enum(p_req->>'transfer', 'transfer', pt_transfers());
    v_owners := pt_owners(p_req->'newOwners', 'newOwners');
    FOR o, f IN SELECT * FROM rule_list(v_owners, 'newOwners', 1, 20, 'owners') LOOP
        IF o->>'userId' NOT IN ('', p_actor->>'userId') THEN
            PERFORM rule_fail('NRINV', f || '.userId',
                              format('%s.userId must be empty or your own account (%s): '
                                     'other owners link their accounts at the counter', f,
                                     p_actor->>'userId'));
        END IF;
    END LOOP;
    PERFORM rule_text(p_req->>'deedRef', 'deedRef', 1, 64);
    v_docs := pt_documents(p_req->'documents', 'documents');
    PERFORM rule_text(p_req->>'statement', 'statement', 0, 500);
    SELECT id INTO v_pending FROM mutation_application
    WHERE property_id = p.property_id AND status = 'PENDING';
    IF FOUND THEN
        PERFORM rule_fail('NRCON', 'propertyId',
                          format('mutation application %s for property %s is waiting for an officer; '
                                 'wait for its decision', v_pending, p.property_id));
    END IF;
    INSERT INTO mutation_application (property_id, ulb, status, transfer, owners_at_apply, new_owners,
                                      deed_ref, documents, statement, applied_by)
    VALUES (p.property_id, p.ulb, 'PENDING', v_transfer, pt_property_json(p.property_id)->'owners',
            v_owners, p_req->>'deedRef', v_docs, coalesce(p_req->>'statement', ''),
            p_actor->>'userId')
    RETURNING id INTO v_id;
    PERFORM rule_audit(p_actor, p.ulb, 'mutation.apply', p.property_id,
                       jsonb_build_object('applicationId', v_id, 'transfer', v_transfer,
                                          'newOwners', v_owners, 'deedRef', p_req->>'deedRef',
                                          'documents', v_docs));
    RETURN pt_mutation_application_json(v_id);
END
$$;

CREATE OR REPLACE FUNCTION pt_mutation_application_get(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE a mutation_application;
BEGIN
    a := pt_mutation_application_for(p_actor, p_req,
                                      ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                                      false);
    RETURN pt_mutation_application_json(a.id);
END
$$;

-- APPROVE records the mutation with the counter's rule (owners replaced,
-- the old ones kept, the fee joins the year's dues, audited); REJECT needs
-- a reason. Either way the application is decided once.
CREATE OR REPLACE FUNCTION pt_mutation_decide(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    a mutation_application;
    v_decision text;
    v_reason text;
    v_mutation jsonb;
BEGIN
    PERFORM rule_act(p_actor, 'mutation.decide: ' || coalesce(p_req->>'reason', ''));
    PERFORM rule_require_role(p_actor, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'],
                              'deciding a mutation application');
    a := pt_mutation_application_for(p_actor, p_req, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'],
                                      true);
    v_decision := rule_enum(p_req->>'decision', 'decision', ARRAY['APPROVE', 'REJECT']);
    IF a.status <> 'PENDING' THEN
        PERFORM rule_fail('NRPRE', 'applicationId', format('mutation application %s is %s, not waiting '
                                                           'for a decision', a.id, a.status));
    END IF;
    IF v_decision = 'REJECT' THEN
        v_reason := rule_text(p_req->>'reason', 'reason', 3, 500);
        UPDATE mutation_application SET status = 'REJECTED', decided_by = p_actor->>'userId',
                                        decided_at = now(), decision_reason = v_reason
        WHERE id = a.id;
    ELSE
        v_reason := rule_text(p_req->>'reason', 'reason', 0, 500);
        IF (pt_property_json(a.property_id)->'owners') IS DISTINCT FROM a.owners_at_apply THEN
            PERFORM rule_fail('NRPRE', 'applicationId',
                              format('the owners of property %s changed after mutation application %s '
                                     'was filed; reject it (the applicant may apply again)',
                                     a.property_id, a.id));
        END IF;
        v_mutation := pt_mutation_record(p_actor, jsonb_build_object(
            'propertyId', a.property_id, 'newOwners', a.new_owners, 'deedRef', a.deed_ref,
            'reason', left(format('application %s (%s)%s', a.id, a.transfer,
                                  CASE WHEN v_reason = '' THEN '' ELSE ': ' || v_reason END), 300)),
            p_today);
        -- pt_mutation_record named its own reason; the application's row is this decision's.
        PERFORM rule_act(p_actor, 'mutation.decide: ' || v_reason);
        UPDATE mutation_application SET status = 'APPROVED', decided_by = p_actor->>'userId',
                                        decided_at = now(), decision_reason = v_reason,
                                        mutation_id = (v_mutation->>'mutationId')::bigint
        WHERE id = a.id;
    END IF;
    PERFORM rule_audit(p_actor, a.ulb, 'mutation.' || lower(v_decision), a.property_id,
                       jsonb_build_object('applicationId', a.id, 'reason', v_reason,
                                          'mutationId', v_mutation->'mutationId'));
    RETURN pt_mutation_application_json(a.id);
END
$$;

-- A citizen's own applications; staff a ULB's (their own; a STATE_ADMIN's
-- any), optionally one property's and one status. PENDING lists the oldest
-- first (the inbox: first come, first served), others the newest first.
CREATE OR REPLACE FUNCTION pt_mutation_application_list(p_actor jsonb, p_req jsonb, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_size integer := rule_page_size(p_req, 100, 20);
    v_status text := coalesce(p_req->>'status', '');
    v_property text := coalesce(p_req->>'propertyId', '');
    v_citizen boolean;
    v_ulb text := '';
    v_ids bigint[];
BEGIN
    PERFORM rule_require_role(p_actor, ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER',
                                             'STATE_ADMIN'], 'listing mutation applications');
    IF v_status <> '' THEN
        PERFORM rule_enum(v_status, 'status', ARRAY['PENDING', 'APPROVED', 'REJECTED']);
    END IF;
    IF v_property <> '' AND v_property !~ '^[0-9]{1,10}-[0-9]{3}-[0-9]{6}$' THEN
        PERFORM rule_fail('NRINV', 'propertyId', 'propertyId must be empty or a property id such as '
                                                 '802462-005-000123');
    END IF;
    v_citizen := p_actor->>'role' = 'CITIZEN';
    IF NOT v_citizen THEN
        v_ulb := rule_ulb_or_own(p_actor, p_req);
    END IF;
    v_ids := pt_page_ids(p_req, 'mutation_application',
                         CASE WHEN v_citizen THEN 'a.applied_by = $1' ELSE 'a.ulb = $1' END
                         || ' AND ($3 = '''' OR a.property_id = $3)',
                         CASE WHEN v_citizen THEN p_actor->>'userId' ELSE v_ulb END, v_status,
                         v_property, v_status = 'PENDING', v_size);
    RETURN jsonb_build_object(
        'applications', coalesce((SELECT jsonb_agg(pt_mutation_application_json(t.id) ORDER BY t.n)
                                  FROM unnest(v_ids[1:v_size]) WITH ORDINALITY AS t(id, n)), '[]'),
        'nextPageToken', rule_page_next(v_ids, v_size));
END
$$;

SELECT rules_grant_entry_points();
