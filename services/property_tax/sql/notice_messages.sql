-- notice_messages.sql — the messages of the demand notices an annual
-- demand job raised: each owner with a contact is told the amount payable
-- and where to see and pay it, once (issue 14 item 1: the annual demand told
-- the town it had run, and no owner their bill).
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. The entry
-- point is SECURITY DEFINER (the rules-only model, common/sql/rules 002):
-- the app role cannot write demand_notice_message or demand_job itself. The
-- table and demand_job's messages_* columns are migration 015; the notice's
-- figures are notice.sql's pt_demand_notice_json.

-- The messages of the notices a demand job raised, a chunk at a time, once
-- the job's bills are all raised (issue 14: the annual demand told the town,
-- not the owners). For each of the next p_limit bills of the job (property
-- ids after its messages cursor) that leave something to pay on p_today,
-- the persons notifications can reach are recorded in demand_notice_message
-- unless already there, and answered, so the C side adds one demand.notice
-- event for each in the same transaction. Every owner with a contact is one
-- person, told once:
--   - an owner with a citizen account: keyed and named by their user id;
--   - an owner without one but with a mobile on the register: keyed
--     'mobile:<number>' (here only, never in the event) and named in the
--     event by the record's own key for them, 'owner:<ordinal>', which
--     notify.subjects answers beside each owner (main.c), so notifications
--     reaches them at the mobile on the register — the second and later
--     owners too, not only the first (issue 14 item 4);
--   - an owner without an account whose register mobile is that of an
--     owner with one on the same property is that person: not told twice.
-- Events name the property and at most a user id or that key, never a
-- contact (common/event_subjects.h). The amount is the notice's total
-- payable on p_today (or the year's first day, before the year begins).
-- Returns NULL when no job waits, else {"job": DemandJob, "done": bool,
-- "messages": [{ulb, propertyId, fy, person, ref, amountPaise, dueDate}]}
-- (person: the user id or ''; ref: the owner's key when person is '').
-- The demand comes first: while any demand job is still running (another
-- ULB's, a chunk at a time on the same workers), no job's messages are
-- taken, so that the towns' bills are raised at the speed they were before
-- notices were sent (issue 13 item 7: the messages' chunks took about a
-- seventh of the workers' time during a run of eight ULBs); they follow as
-- soon as the last job is done.
CREATE OR REPLACE FUNCTION pt_demand_notice_messages_chunk(p_limit integer, p_today date)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    j demand_job;
    v_ids text[];
    v_count integer;
    v_messages jsonb;
    v_done boolean;
BEGIN
    IF EXISTS (SELECT FROM demand_job WHERE status = 'RUNNING') THEN
        RETURN NULL;
    END IF;
    SELECT * INTO j FROM demand_job WHERE status = 'DONE' AND messages_status = 'WAITING'
        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- The job's messages, like its chunks, act for whoever started it.
    PERFORM rule_act(jsonb_build_object('userId', j.created_by, 'role', 'SYSTEM'),
                     format('demand job %s: notice messages', j.id));
    SELECT array_agg(property_id ORDER BY property_id) INTO v_ids FROM (
        SELECT b.property_id FROM demand_bill b
        WHERE b.job_id = j.id AND b.fy = j.fy AND b.property_id > j.messages_cursor
        ORDER BY b.property_id LIMIT p_limit) s;
    v_count := coalesce(cardinality(v_ids), 0);
    WITH owners AS (
        SELECT o.property_id, o.ordinal, o.user_id, o.mobile,
               CASE WHEN o.user_id <> '' THEN o.user_id ELSE 'mobile:' || o.mobile END AS person,
               CASE WHEN o.user_id <> '' THEN '' ELSE 'owner:' || o.ordinal END AS ref
        FROM property_owner o
        WHERE o.property_id = ANY (v_ids) AND (o.user_id <> '' OR o.mobile <> '')
    ), persons AS (
        SELECT DISTINCT ON (w.property_id, w.person) w.property_id, w.person, w.user_id, w.ref
        FROM owners w
        WHERE w.user_id <> '' OR NOT EXISTS (
            SELECT FROM owners a WHERE a.property_id = w.property_id AND a.user_id <> ''
                                   AND a.mobile = w.mobile)
        ORDER BY w.property_id, w.person, w.ordinal
    ), due AS (
        SELECT b.property_id, b.ulb,
               (pt_demand_notice_json(b.property_id, j.fy,
                                      greatest(p_today, make_date(j.fy, 4, 1)), '')
                ->> 'payablePaise')::bigint AS amount
        FROM demand_bill b
        WHERE b.property_id = ANY (v_ids) AND b.fy = j.fy
          AND EXISTS (SELECT FROM persons x WHERE x.property_id = b.property_id)
    ), queued AS (
        INSERT INTO demand_notice_message (property_id, fy, person, ulb, job_id, amount_paise)
        SELECT d.property_id, j.fy, x.person, d.ulb, j.id, d.amount
        FROM due d JOIN persons x ON x.property_id = d.property_id
        WHERE d.amount > 0
        ON CONFLICT (property_id, fy, person) DO NOTHING
        RETURNING property_id, person, ulb, amount_paise
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'ulb', q.ulb, 'propertyId', q.property_id, 'fy', rule_fy_text(j.fy),
               'person', x.user_id, 'ref', x.ref, 'amountPaise', q.amount_paise,
               'dueDate', make_date(j.fy + 1, 3, 31)::text)
               ORDER BY q.property_id, q.person), '[]')
      INTO v_messages
      FROM queued q JOIN persons x ON x.property_id = q.property_id AND x.person = q.person;
    v_done := v_count < p_limit;
    UPDATE demand_job SET
        messages_cursor = CASE WHEN v_count > 0 THEN v_ids[v_count] ELSE messages_cursor END,
        messages_queued = messages_queued + jsonb_array_length(v_messages),
        messages_status = CASE WHEN v_done THEN 'DONE' ELSE messages_status END,
        updated_at = now()
    WHERE id = j.id;
    RETURN jsonb_build_object('job', pt_demand_job_json(j.id), 'done', v_done,
                              'messages', v_messages);
END
$$;

-- The app role reaches the entry point above (SECURITY DEFINER), nothing else.
SELECT rules_grant_entry_points();
