-- 010_defaulters_paging.sql — report.defaulters pages through a whole ULB.
--
-- A reminder campaign (nagar-batch campaign) must reach every defaulter of a
-- ULB, which can be far more than one reply's 1000 rows. The report now
-- pages by keyset on the connection id: the request's pageToken is the last
-- connection id of the previous page, the reply's nextPageToken the last one
-- of this page ("" when there is nothing after it). The order is by
-- connection id, not by the amount owed, because the amount changes while a
-- campaign pages (payments come in) and an order by it would skip or repeat
-- connections between pages; an id never moves. Each page walks the ULB's
-- connections in index order (connection_ulb_idx) from the token and stops
-- after limit + 1 defaulters.
--
-- wt_defaulters (largest first, used by notices.send) is left as it is;
-- wt_defaulters_after applies the same rule in id order from a key.

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

CREATE OR REPLACE FUNCTION wt_report_defaulters(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := wt_ulb_arg(p_req->>'ulb', 'ulb');
    v_min bigint := wt_int(p_req->'minOutstandingPaise', 'minOutstandingPaise', 0, 1000000000000);
    v_limit integer := coalesce(nullif(wt_int(p_req->'limit', 'limit', 0, 1000), 0), 100);
    v_after text := coalesce(p_req->>'pageToken', '');
    v_rows jsonb;
    v_next text := '';
BEGIN
    PERFORM wt_require_role(p_actor, wt_staff(), 'reading the defaulters');
    PERFORM wt_check_ulb(p_actor, v_ulb);
    IF v_after <> '' AND v_after !~ '^[0-9]{1,10}-W[0-9]{3}-[0-9]{6}$' THEN
        PERFORM wt_fail('WTINV', 'pageToken',
                        'pageToken must be the nextPageToken of the previous page (a connection id), '
                        || 'or empty for the first page');
    END IF;
    WITH page AS (
        SELECT d.*, row_number() OVER (ORDER BY d.connection_id) AS n
        FROM wt_defaulters_after(v_ulb, v_min, v_after, v_limit + 1, p_today) d
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'connectionId', x.connection_id, 'ward', x.ward, 'consumerName', x.consumer_name,
               'mobile', x.mobile, 'outstandingPaise', x.outstanding,
               'oldestDueDate', coalesce(x.oldest_due::text, ''), 'billsUnpaid', x.bills_unpaid)
               ORDER BY x.connection_id) FILTER (WHERE x.n <= v_limit), '[]'),
           CASE WHEN count(*) > v_limit
                THEN max(x.connection_id) FILTER (WHERE x.n <= v_limit) ELSE '' END
      INTO v_rows, v_next
      FROM page x;
    RETURN jsonb_build_object('ulb', v_ulb, 'defaulters', v_rows, 'nextPageToken', v_next);
END
$$;
