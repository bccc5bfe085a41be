-- mutation.sql — a change of ownership: new owners replace the old ones,
-- which the mutation row keeps, and the fee joins the year's dues.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- A recorded mutation as the Mutation message (also inside an approved
-- application, sql/mutation_application.sql).
CREATE OR REPLACE FUNCTION pt_mutation_json(p_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('mutationId', m.id, 'propertyId', m.property_id,
                              'previousOwners', m.previous_owners, 'newOwners', m.new_owners,
                              'feePaise', m.fee_paise, 'fy', rule_fy_text(m.fy),
                              'deedRef', m.deed_ref, 'reason', m.reason,
                              'recordedBy', m.recorded_by, 'recordedAt', rule_ts(m.recorded_at))
    FROM mutation m WHERE m.id = p_id
$$;

-- Transfer of ownership: the owners are replaced, the old ones kept in the
-- mutation row and the audit, and the fee (master data of the current
-- year) is added to the year's dues as head MUTATION_FEE.
CREATE OR REPLACE FUNCTION pt_mutation_record(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    p property;
    v_owners jsonb;
    v_previous jsonb;
    v_fee bigint;
    v_fy integer := rule_fy_of(p_today);
    v_id bigint;
BEGIN
    PERFORM rule_act(p_actor, 'mutation.record: ' || coalesce(p_req->>'reason', ''));
    p := pt_property_for(p_actor, p_req->>'propertyId', 'propertyId',
                         ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], true);
    v_owners := pt_owners(p_req->'newOwners', 'newOwners');
    PERFORM rule_text(p_req->>'deedRef', 'deedRef', 1, 64);
    PERFORM rule_text(p_req->>'reason', 'reason', 3, 300);
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
    PERFORM rule_audit(p_actor, p.ulb, 'mutation.record', p.property_id,
                     jsonb_build_object('mutationId', v_id, 'previousOwners', v_previous,
                                        'newOwners', v_owners, 'feePaise', v_fee,
                                        'deedRef', p_req->>'deedRef', 'reason', p_req->>'reason'));
    RETURN pt_mutation_json(v_id);
END
$$;

SELECT rules_grant_entry_points();
