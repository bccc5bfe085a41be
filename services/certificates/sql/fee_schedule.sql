-- fee_schedule.sql — saving a version of the late-registration windows and
-- fees (certificates.fee_schedule), as a rule function.
--
-- The schedule decides what every applicant of a ULB is charged, so it is
-- written like money: only through this SECURITY DEFINER function (it runs
-- as certificates_owner; certificates_app has SELECT on the table and no
-- INSERT since migration 012), which checks who may set which ULB's fees
-- and the schedule's own rules, names the actor and reason for the history
-- (rule_act; the table is on the history since 012) and appends the next
-- version. Nothing is ever changed: a save is a new version, and what was
-- charged for any application can be read back (fees.get with a version).
--
-- services/certificates/fees.c calls it for fees.set with the request's
-- FeeSchedule in proto3 JSON. Errors are SQLSTATE NRINV, NRDEN (common/sql/
-- rules) with the field's JSON path as DETAIL.

-- Saves p_s (FeeSchedule: ulb, effectiveFrom, freeDays, lateDays,
-- lateFeePaise, permissionDays, permissionFeePaise, orderFeePaise,
-- marriageFeePaise, childNameDays, reason) as the next version of its ULB
-- ('' = the state default): a STATE_ADMIN for any, a COMMISSIONER for
-- their own ULB. The windows satisfy 1 <= freeDays < lateDays <
-- permissionDays <= 3660 (the law's defaults are 21, 30 and 365); each fee
-- is 0 to 10 lakh rupees; the reason 1 to 500 characters. Two saves of one
-- ULB queue on a lock and get two versions. Answers the saved row.
CREATE OR REPLACE FUNCTION cert_fee_schedule_save(p_actor jsonb, p_s jsonb)
RETURNS certificates.fee_schedule LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
AS $$
DECLARE
    v_ulb text := coalesce(p_s->>'ulb', '');
    v_max_paise constant bigint := 100000000;      -- Rs 10 lakh: far above any real fee
    v_from date;
    v_free integer;
    v_late integer;
    v_permission integer;
    v_late_fee bigint;
    v_permission_fee bigint;
    v_order_fee bigint;
    v_marriage_fee bigint;
    v_child_name integer;
    v_reason text;
    v_row certificates.fee_schedule;
BEGIN
    PERFORM rule_act(p_actor, 'fees.set: ' || coalesce(p_s->>'reason', ''));
    PERFORM rule_require_role(p_actor, ARRAY['STATE_ADMIN', 'COMMISSIONER'],
                              'saving fee schedules');
    IF v_ulb <> '' AND v_ulb !~ '^[0-9]{1,10}$' THEN
        PERFORM rule_fail('NRINV', 'schedule.ulb',
                          'schedule.ulb must be empty (the state default) or an LGD code of 1 to '
                          '10 digits');
    END IF;
    IF p_actor->>'role' <> 'STATE_ADMIN' AND p_actor->>'ulb' IS DISTINCT FROM v_ulb THEN
        PERFORM rule_fail('NRDEN', 'schedule.ulb',
                          format('a commissioner sets the fees of ULB %s only',
                                 coalesce(nullif(p_actor->>'ulb', ''), '(none)')));
    END IF;
    v_from := rule_parse_date(p_s->>'effectiveFrom', 'schedule.effectiveFrom');
    v_free := rule_int(p_s->'freeDays', 'schedule.freeDays', 1, 3660);
    v_late := rule_int(p_s->'lateDays', 'schedule.lateDays', 1, 3660);
    v_permission := rule_int(p_s->'permissionDays', 'schedule.permissionDays', 1, 3660);
    IF NOT (v_free < v_late AND v_late < v_permission) THEN
        PERFORM rule_fail('NRINV', 'schedule.freeDays',
                          'the windows must satisfy 1 <= freeDays < lateDays < permissionDays '
                          '<= 3660 (the law''s defaults are 21, 30 and 365)');
    END IF;
    v_late_fee := rule_int(p_s->'lateFeePaise', 'schedule.lateFeePaise', 0, v_max_paise);
    v_permission_fee := rule_int(p_s->'permissionFeePaise', 'schedule.permissionFeePaise', 0,
                                 v_max_paise);
    v_order_fee := rule_int(p_s->'orderFeePaise', 'schedule.orderFeePaise', 0, v_max_paise);
    v_marriage_fee := rule_int(p_s->'marriageFeePaise', 'schedule.marriageFeePaise', 0,
                               v_max_paise);
    v_child_name := rule_int(p_s->'childNameDays', 'schedule.childNameDays', 1, 20 * 366);
    v_reason := rule_text(p_s->>'reason', 'schedule.reason', 1, 500);
    PERFORM pg_advisory_xact_lock(hashtext('fees:' || v_ulb));
    INSERT INTO certificates.fee_schedule (ulb, effective_from, version, free_days, late_days,
        late_fee_paise, permission_days, permission_fee_paise, order_fee_paise,
        marriage_fee_paise, child_name_days, saved_by, reason)
    SELECT v_ulb, v_from, coalesce(max(f.version), 0) + 1, v_free, v_late, v_late_fee,
           v_permission, v_permission_fee, v_order_fee, v_marriage_fee, v_child_name,
           p_actor->>'userId', v_reason
      FROM certificates.fee_schedule f WHERE f.ulb = v_ulb
    RETURNING * INTO v_row;
    RETURN v_row;
END
$$;

-- The app role reaches the entry points (SECURITY DEFINER), nothing else
-- (common/sql/rules 002: rules-only writes).
SELECT rules_grant_entry_points();
