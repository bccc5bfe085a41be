-- report.sql — demand-collection-balance, the day's collection, the
-- defaulters (keyset-paged) and the disconnection notices sent to them.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

-- DCB of a financial year by ward (and ward 0 for the ULB): arrear demand =
-- charges dated before 1 April still owed on that day; current demand =
-- charges dated within the year; collections = settlements made within the
-- year against each; balances = demand - collection. Advance is outside it.
CREATE OR REPLACE FUNCTION wt_report_dcb(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE y record;
BEGIN
    SELECT * INTO y FROM rule_ulb_fy_span(p_actor, p_req, wt_staff(), 'reading the DCB');
    RETURN (
    WITH ch AS (
        SELECT c.ward, b.bill_date AS charged_on,
               b.water_paise - b.rebate_paise + b.sewerage_paise + b.solid_waste_paise
               + b.surcharge_paise AS amount
        FROM bill b JOIN connection c USING (connection_id) WHERE b.ulb = y.ulb AND b.bill_date < y.next_starts
        UNION ALL
        SELECT c.ward, f.charged_on, f.amount_paise FROM fee f JOIN connection c USING (connection_id)
        WHERE f.ulb = y.ulb AND f.charged_on < y.next_starts
    ), al AS (
        SELECT c.ward, a.charged_on, a.paid_on, a.amount_paise AS amount
        FROM allocation a JOIN connection c USING (connection_id)
        WHERE a.ulb = y.ulb AND a.head <> 'ADVANCE' AND a.paid_on < y.next_starts
    ), wards AS (
        SELECT ward FROM ch UNION SELECT ward FROM al
    ), w AS (
        SELECT wards.ward,
               coalesce((SELECT sum(amount) FROM ch WHERE ch.ward = wards.ward AND ch.charged_on < y.starts), 0)
             - coalesce((SELECT sum(amount) FROM al WHERE al.ward = wards.ward AND al.charged_on < y.starts
                                                       AND al.paid_on < y.starts), 0) AS arrear_demand,
               coalesce((SELECT sum(amount) FROM ch WHERE ch.ward = wards.ward AND ch.charged_on >= y.starts), 0)
                   AS current_demand,
               coalesce((SELECT sum(amount) FROM al WHERE al.ward = wards.ward AND al.charged_on < y.starts
                                                       AND al.paid_on >= y.starts), 0) AS arrear_collection,
               coalesce((SELECT sum(amount) FROM al WHERE al.ward = wards.ward AND al.charged_on >= y.starts
                                                       AND al.paid_on >= y.starts), 0) AS current_collection
        FROM wards
    ), rows AS (
        SELECT ward, arrear_demand, current_demand, arrear_collection, current_collection FROM w
        UNION ALL
        SELECT 0, coalesce(sum(arrear_demand), 0), coalesce(sum(current_demand), 0),
               coalesce(sum(arrear_collection), 0), coalesce(sum(current_collection), 0) FROM w
    )
    SELECT jsonb_build_object('ulb', y.ulb, 'fy', rule_fy_text(y.fy), 'rows',
        jsonb_agg(jsonb_build_object('ward', ward, 'arrearDemandPaise', arrear_demand,
                                     'currentDemandPaise', current_demand,
                                     'arrearCollectionPaise', arrear_collection,
                                     'currentCollectionPaise', current_collection,
                                     'arrearBalancePaise', arrear_demand - arrear_collection,
                                     'currentBalancePaise', current_demand - current_collection)
                  ORDER BY ward))
    FROM rows);
END
$$;

CREATE OR REPLACE FUNCTION wt_report_daily(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
BEGIN
    RETURN accounts_daily_collection(rule_ulb_scope(p_actor, p_req, wt_staff(),
                                                    'reading the daily collection'),
                                     rule_parse_date(p_req->>'date', 'date'));
END
$$;

-- Connections owing on bills past their due date (and fees), net of
-- advance, largest first.
CREATE OR REPLACE FUNCTION wt_defaulters(p_ulb text, p_min bigint, p_limit integer, p_today date)
RETURNS TABLE (connection_id text, ward integer, consumer_name text, mobile text, user_id text,
               outstanding bigint, oldest_due date, bills_unpaid integer)
LANGUAGE sql STABLE AS $$
    WITH per AS (
        SELECT c.connection_id, c.ward, c.consumer_name, c.mobile, c.user_id,
               (SELECT coalesce(sum(l.outstanding_paise), 0) FROM wt_dues_lines(c.connection_id) l
                WHERE l.due_on < p_today) - wt_advance_of(c.connection_id) AS outstanding,
               (SELECT min(l.due_on) FROM wt_dues_lines(c.connection_id) l
                WHERE l.due_on < p_today AND l.outstanding_paise > 0) AS oldest_due,
               (SELECT count(DISTINCT l.ref) FROM wt_dues_lines(c.connection_id) l
                WHERE l.due_on < p_today AND l.outstanding_paise > 0 AND l.ref !~ '^FEE')::integer AS bills_unpaid
        FROM connection c
        WHERE c.ulb = p_ulb AND c.status IN ('ACTIVE', 'RECONNECTED')
          AND EXISTS (SELECT FROM bill b WHERE b.connection_id = c.connection_id AND b.due_date < p_today
                      UNION ALL SELECT FROM fee f WHERE f.connection_id = c.connection_id)
    )
    SELECT * FROM per WHERE per.outstanding > 0 AND per.outstanding >= p_min
    ORDER BY per.outstanding DESC, per.connection_id LIMIT p_limit
$$;

CREATE OR REPLACE FUNCTION wt_report_defaulters(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text := rule_ulb_scope(p_actor, p_req, wt_staff(), 'reading the defaulters');
    v_page record;   -- minOutstandingPaise, limit, pageToken (accounts 007)
    v_rows jsonb;
    v_next text := '';
BEGIN
    SELECT * INTO v_page FROM accounts_defaulters_page(wt_account_kind(), p_req);
    WITH page AS (
        SELECT d.*, row_number() OVER (ORDER BY d.connection_id) AS n
        FROM wt_defaulters_after(v_ulb, v_page.min_paise, v_page.page_after, v_page.page_size + 1,
                                 p_today) d
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'connectionId', x.connection_id, 'ward', x.ward, 'consumerName', x.consumer_name,
               'mobile', x.mobile, 'outstandingPaise', x.outstanding,
               'oldestDueDate', coalesce(x.oldest_due::text, ''), 'billsUnpaid', x.bills_unpaid)
               ORDER BY x.connection_id) FILTER (WHERE x.n <= v_page.page_size), '[]'),
           CASE WHEN count(*) > v_page.page_size
                THEN max(x.connection_id) FILTER (WHERE x.n <= v_page.page_size) ELSE '' END
      INTO v_rows, v_next
      FROM page x;
    RETURN jsonb_build_object('ulb', v_ulb, 'defaulters', v_rows, 'nextPageToken', v_next);
END
$$;

-- Disconnection notices: one per defaulter and day (a repeat the same day
-- sends nothing new). The C side writes each to the outbox.
CREATE OR REPLACE FUNCTION wt_notices_send(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text;
    v_min bigint;
    v_limit integer;
    v_days integer := coalesce(nullif(rule_int(p_req->'daysToPay', 'daysToPay', 0, 90), 0), 15);
    v_sent jsonb;
BEGIN
    PERFORM rule_act(p_actor, 'notices.send');
    v_ulb := rule_ulb_scope(p_actor, p_req, ARRAY['REVENUE_OFFICER', 'COMMISSIONER'],
                            'sending disconnection notices');
    -- The defaulters as the defaulters list reads them (common/sql/accounts 007).
    SELECT d.min_paise, d.page_size INTO v_min, v_limit
      FROM accounts_defaulters_page(wt_account_kind(), p_req) d;
    WITH ins AS (
        INSERT INTO notice (connection_id, ulb, sent_on, pay_by, outstanding_paise, sent_by)
        SELECT d.connection_id, v_ulb, p_today, p_today + v_days, d.outstanding, p_actor->>'userId'
        FROM wt_defaulters(v_ulb, v_min, v_limit, p_today) d
        ON CONFLICT DO NOTHING
        RETURNING connection_id, outstanding_paise, pay_by
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object('connectionId', i.connection_id,
                                                 'outstandingPaise', i.outstanding_paise,
                                                 'payBy', i.pay_by::text, 'name', c.consumer_name,
                                                 'mobile', c.mobile, 'userId', c.user_id)
                              ORDER BY i.connection_id), '[]')
        INTO v_sent
        FROM ins i JOIN connection c ON c.connection_id = i.connection_id;
    PERFORM rule_audit(p_actor, v_ulb, 'notices.send', 'notices:' || v_ulb,
                     jsonb_build_object('notices', jsonb_array_length(v_sent)));
    RETURN jsonb_build_object('notices', v_sent, 'payBy', (p_today + v_days)::text);
END
$$;

CREATE OR REPLACE FUNCTION wt_defaulters_after(p_ulb text, p_min bigint, p_after text,
                                               p_limit integer, p_today date)
RETURNS TABLE (connection_id text, ward integer, consumer_name text, mobile text, user_id text,
               outstanding bigint, oldest_due date, bills_unpaid integer)
LANGUAGE sql STABLE AS $$
    SELECT c.connection_id, c.ward, c.consumer_name, c.mobile, c.user_id,
           o.outstanding, o.oldest_due, o.bills_unpaid
    FROM connection c
    CROSS JOIN LATERAL (
        SELECT (SELECT coalesce(sum(l.outstanding_paise), 0) FROM wt_dues_lines(c.connection_id) l
                WHERE l.due_on < p_today) - wt_advance_of(c.connection_id) AS outstanding,
               (SELECT min(l.due_on) FROM wt_dues_lines(c.connection_id) l
                WHERE l.due_on < p_today AND l.outstanding_paise > 0) AS oldest_due,
               (SELECT count(DISTINCT l.ref) FROM wt_dues_lines(c.connection_id) l
                WHERE l.due_on < p_today AND l.outstanding_paise > 0
                  AND l.ref !~ '^FEE')::integer AS bills_unpaid) o
    WHERE c.ulb = p_ulb AND c.connection_id > p_after AND c.status IN ('ACTIVE', 'RECONNECTED')
      AND EXISTS (SELECT FROM bill b WHERE b.connection_id = c.connection_id AND b.due_date < p_today
                  UNION ALL SELECT FROM fee f WHERE f.connection_id = c.connection_id)
      AND o.outstanding > 0 AND o.outstanding >= p_min
    ORDER BY c.connection_id
    LIMIT p_limit
$$;

SELECT rules_grant_entry_points();
