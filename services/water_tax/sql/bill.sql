-- bill.sql — the monthly bills: a job per ULB and period, run in chunks by
-- the workers (wt_bill_run_chunk), and one bill as the consumer sees it.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

CREATE OR REPLACE FUNCTION wt_bill_job_json(p_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('jobId', j.id, 'ulb', coalesce(j.ulb, ''),
                              'period', wt_period_text(j.period), 'status', j.status,
                              'total', j.total, 'processed', j.processed,
                              'billsCreated', j.bills_created, 'skipped', j.skipped,
                              'estimated', j.estimated, 'createdAt', rule_ts(j.created_at),
                              'finishedAt', coalesce(rule_ts(j.finished_at), ''), 'chunks', j.chunks)
    FROM bill_job j WHERE j.id = p_id
$$;

-- Which connections a bill run for p_period covers: active (or
-- reconnected) on the last day of the month.
CREATE OR REPLACE FUNCTION wt_billable(c connection, p_period date) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT c.status IN ('ACTIVE', 'RECONNECTED')
           AND c.active_from <= (p_period + interval '1 month' - interval '1 day')::date
$$;

-- Starts a job (or answers with the one already running for the scope and
-- month): accounts 008's batch_job_start.
CREATE OR REPLACE FUNCTION wt_bill_generate(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text;
    v_period date;
    v_id bigint;
BEGIN
    PERFORM rule_act(p_actor, 'bill.generate');
    v_ulb := rule_batch_scope(p_actor, p_req, 'generating water bills',
                              'only a STATE_ADMIN may bill every ULB at once');
    v_period := wt_parse_period(p_req->>'period', 'period');
    IF v_period >= date_trunc('month', p_today)::date THEN
        PERFORM rule_fail('NRINV', 'period', format('period %s has not ended yet (today is %s)',
                                                  wt_period_text(v_period), p_today));
    END IF;
    v_id := batch_job_start(
        p_actor, 'bill_job', 'period', v_ulb, v_period,
        (SELECT count(*) FROM connection c
         WHERE (v_ulb IS NULL OR c.ulb = v_ulb) AND wt_billable(c, v_period)),
        'bill.generate', jsonb_build_object('period', wt_period_text(v_period)));
    RETURN wt_bill_job_json(v_id);   -- a statement of its own: it sees the job just made
END
$$;

CREATE OR REPLACE FUNCTION wt_bill_status(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT wt_bill_job_json(batch_job_find(p_actor, p_req, 'bill_job', 'bill job'))
$$;

-- One chunk of the oldest running job that no other process holds: the
-- next p_limit billable connections after the job's cursor get their bill
-- in one INSERT ... SELECT (estimated readings with it), the cursor moves,
-- and all of it commits together. NULL when no job waits, else
-- {"job": BillJob, "done": bool}. Planned afresh for every chunk
-- (plan_cache_mode), as pt_demand_run_chunk: a generic plan made for ten
-- connections would be kept after five chunks.
CREATE OR REPLACE FUNCTION wt_bill_run_chunk(p_limit integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET plan_cache_mode = force_custom_plan SET search_path FROM CURRENT AS $$
DECLARE
    j bill_job;
    v_job bigint := batch_job_claim('bill_job', 'bill job');   -- acts for its starter
    v_ids text[];
    v_count integer;
    v_first text;
    v_last text;
    v_matched bigint := 0;
    v_bills bigint := 0;
    v_estimated bigint := 0;
    v_done boolean;
    v_fy integer;
    v_bill_date date;
BEGIN
    IF v_job IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO j FROM bill_job WHERE id = v_job;
    v_fy := rule_fy_of(j.period);
    v_bill_date := (j.period + interval '1 month')::date;
    SELECT array_agg(connection_id ORDER BY connection_id) INTO v_ids FROM (
        SELECT c.connection_id FROM connection c
        WHERE (j.ulb IS NULL OR c.ulb = j.ulb) AND c.connection_id > j.cursor_id
          AND wt_billable(c, j.period)
        ORDER BY c.connection_id LIMIT p_limit) s;
    v_count := coalesce(cardinality(v_ids), 0);
    v_first := v_ids[1];
    v_last := v_ids[v_count];
    IF v_count > 0 THEN
        -- Set-based: each input is read for the whole chunk at once and
        -- joined, never queried per connection. Each reads the chunk's id
        -- range (v_first to v_last: one index range scan, estimated from the
        -- histogram) and the chunk is v_ids joined (unnest: estimated by its
        -- length), so a row of another connection in the range (one not
        -- billable) counts for none. "= ANY (v_ids)" made the planner
        -- estimate each of the thousands of ids on its own, for each input.
        -- Sums of bigint are numeric: cast back, as the columns they end in
        -- are bigint (litres and paise), so the slabs and heads are bigint
        -- arithmetic but where basis points divide.
        WITH rd AS (
            SELECT r.connection_id, sum(r.consumption_litres)::bigint AS used FROM meter_reading r
            WHERE r.connection_id BETWEEN v_first AND v_last AND r.period = j.period
              AND r.kind IN ('ACTUAL', 'FINAL')
            GROUP BY r.connection_id
        ), hist AS (
            SELECT h.connection_id, round(avg(h.consumption_litres))::bigint AS avg3 FROM (
                SELECT r.connection_id, r.consumption_litres,
                       row_number() OVER (PARTITION BY r.connection_id ORDER BY r.period DESC) AS rn
                FROM meter_reading r
                WHERE r.connection_id BETWEEN v_first AND v_last AND r.kind = 'ACTUAL'
                  AND r.period < j.period) h
            WHERE h.rn <= 3 GROUP BY h.connection_id
        ), lastr AS (
            SELECT DISTINCT ON (r.connection_id) r.connection_id, r.reading_litres, r.meter_no
            FROM meter_reading r WHERE r.connection_id BETWEEN v_first AND v_last
            ORDER BY r.connection_id, r.reading_date DESC, r.id DESC
        ), owed AS (
            SELECT x.connection_id, sum(x.amount)::bigint AS amount FROM (
                SELECT b.connection_id, b.water_paise - b.rebate_paise + b.sewerage_paise
                       + b.solid_waste_paise + b.surcharge_paise AS amount
                FROM bill b WHERE b.connection_id BETWEEN v_first AND v_last AND b.period < j.period
                UNION ALL
                SELECT f.connection_id, f.amount_paise FROM fee f
                WHERE f.connection_id BETWEEN v_first AND v_last AND f.charged_on < v_bill_date) x
            GROUP BY x.connection_id
        ), al AS (
            SELECT a.connection_id,
                   sum(a.amount_paise) FILTER (WHERE a.head <> 'ADVANCE')::bigint AS settled,
                   sum(a.amount_paise) FILTER (WHERE a.head = 'ADVANCE')::bigint AS advance
            FROM allocation a WHERE a.connection_id BETWEEN v_first AND v_last
            GROUP BY a.connection_id
        ), cand AS MATERIALIZED (
            -- Everything known per connection is joined here, by connection
            -- id, before the tariff: the match with the tariff's version and
            -- rates is estimated at a few rows whatever the chunk, and a
            -- per-connection input joined after it would be read once per
            -- connection (a nested loop over the readings, bills and
            -- allocations; property tax's demand did 20-50 s a chunk so).
            SELECT c.*, rd.connection_id IS NOT NULL AS has_reading, rd.used, hist.avg3,
                   coalesce(owed.amount, 0) - coalesce(al.settled, 0) AS arrear,
                   coalesce(al.advance, 0) AS advance
            FROM unnest(v_ids) AS i(connection_id)
            JOIN connection c ON c.connection_id = i.connection_id
            LEFT JOIN rd ON rd.connection_id = c.connection_id
            LEFT JOIN hist ON hist.connection_id = c.connection_id
            LEFT JOIN owed ON owed.connection_id = c.connection_id
            LEFT JOIN al ON al.connection_id = c.connection_id
            WHERE c.connection_id BETWEEN v_first AND v_last
        ), ver AS (
            SELECT DISTINCT ON (v.ulb) v.* FROM tariff_version v
            WHERE v.fy = v_fy AND v.ulb IN (SELECT DISTINCT cand.ulb FROM cand)
            ORDER BY v.ulb, v.version DESC
        ), base AS (
            SELECT c.connection_id, c.ulb, c.ward, c.metered, c.units, c.category, c.meter_no,
                   v.id AS version_id, v.sewerage_bp, v.surcharge_bp, v.advance_rebate_bp, v.due_days,
                   tf.monthly_paise, tc.metered_minimum_paise, tc.solid_waste_paise,
                   CASE WHEN NOT c.metered THEN 0
                        WHEN c.has_reading THEN c.used
                        ELSE coalesce(c.avg3, v.estimate_default_kl * 1000) END AS litres,
                   c.metered AND NOT c.has_reading AS estimated, c.arrear, c.advance
            FROM cand c
            JOIN ver v ON v.ulb = c.ulb
            LEFT JOIN tariff_flat tf ON tf.version_id = v.id AND tf.category = c.category
                                    AND tf.pipe_size_mm = c.pipe_size_mm
            LEFT JOIN tariff_category tc ON tc.version_id = v.id AND tc.category = c.category
            WHERE c.metered OR tf.monthly_paise IS NOT NULL
        ), water AS (
            -- Metered: the slab the month's litres fall in gives the charge of
            -- the slabs below (base) plus its rate on the part inside it, rounded
            -- once; never below the category's minimum. Unmetered: the flat rate.
            SELECT b.*,
                   CASE WHEN NOT b.metered THEN b.monthly_paise
                        ELSE greatest(coalesce(round((s.base_paise_litres
                                                      + (b.litres - s.lower_litres)::numeric
                                                        * s.rate_paise_per_kl) / 1000)::bigint, 0),
                                      coalesce(b.metered_minimum_paise, 0)) END AS water
            FROM base b
            LEFT JOIN tariff_slab s ON b.metered AND s.version_id = b.version_id
                                   AND s.category = b.category AND b.litres > s.lower_litres
                                   AND (s.upper_litres IS NULL OR b.litres <= s.upper_litres)
        ), heads AS (
            SELECT w.*, round(w.water::numeric * w.sewerage_bp / 10000)::bigint AS sewerage,
                   coalesce(w.solid_waste_paise, 0) * w.units AS solid_waste,
                   CASE WHEN w.arrear - w.advance > 0
                        THEN round((w.arrear - w.advance)::numeric * w.surcharge_bp / 10000)::bigint
                        ELSE 0 END AS surcharge,
                   round(w.water::numeric * w.advance_rebate_bp / 10000)::bigint AS rebate_if_paid
            FROM water w
        ), fin AS (
            -- The advance rebate: when the credit already pays everything,
            -- this bill's charges after the rebate included.
            SELECT h.*,
                   CASE WHEN h.rebate_if_paid > 0 AND h.advance - h.arrear
                             >= h.water + h.sewerage + h.solid_waste + h.surcharge - h.rebate_if_paid
                        THEN h.rebate_if_paid ELSE 0 END AS rebate
            FROM heads h
        ), bills AS (
            INSERT INTO bill (connection_id, period, ulb, ward, tariff_version_id, metered,
                              consumption_litres, estimated, water_paise, sewerage_paise,
                              solid_waste_paise, surcharge_paise, rebate_paise, arrear_paise,
                              advance_paise, bill_date, due_date, job_id)
            SELECT f.connection_id, j.period, f.ulb, f.ward, f.version_id, f.metered, f.litres,
                   f.estimated, f.water, f.sewerage, f.solid_waste, f.surcharge, f.rebate, f.arrear,
                   f.advance, v_bill_date, v_bill_date + f.due_days, j.id
            FROM fin f
            ON CONFLICT (connection_id, period) DO NOTHING
            RETURNING connection_id, estimated, consumption_litres
        ), est AS (
            INSERT INTO meter_reading (connection_id, ulb, period, reading_date, reading_litres,
                                       consumption_litres, kind, meter_no, recorded_by, job_id)
            SELECT b.connection_id, f.ulb, j.period, v_bill_date - 1,
                   coalesce(lr.reading_litres, 0) + b.consumption_litres, b.consumption_litres,
                   'ESTIMATED', coalesce(lr.meter_no, f.meter_no), 'bill_run', j.id
            FROM bills b JOIN fin f ON f.connection_id = b.connection_id
            LEFT JOIN lastr lr ON lr.connection_id = b.connection_id
            WHERE b.estimated
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM fin), (SELECT count(*) FROM bills), (SELECT count(*) FROM est)
            INTO v_matched, v_bills, v_estimated;
    END IF;
    UPDATE bill_job SET estimated = estimated + v_estimated WHERE id = j.id AND v_estimated > 0;
    v_done := batch_job_advance('bill_job', j.id, p_limit, v_ids, v_matched, v_bills);
    RETURN jsonb_build_object('job', wt_bill_job_json(j.id), 'done', v_done);
END
$$;

CREATE OR REPLACE FUNCTION wt_bill_json(p_connection text, p_period date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'billNo', b.connection_id || '/' || wt_period_text(b.period),
        'connectionId', b.connection_id, 'ulb', b.ulb, 'ward', b.ward,
        'period', wt_period_text(b.period), 'billDate', b.bill_date::text,
        'dueDate', b.due_date::text,
        'tariffVersion', (SELECT v.version FROM tariff_version v WHERE v.id = b.tariff_version_id),
        'metered', b.metered, 'consumptionLitres', b.consumption_litres, 'estimated', b.estimated,
        'lines', (SELECT jsonb_agg(jsonb_build_object('head', x.head, 'amountPaise', x.amount)
                                   ORDER BY x.ord)
                  FROM (VALUES ('WATER', b.water_paise, 1), ('SEWERAGE', b.sewerage_paise, 2),
                               ('SOLID_WASTE', b.solid_waste_paise, 3),
                               ('SURCHARGE', b.surcharge_paise, 4),
                               ('ADVANCE_REBATE', -b.rebate_paise, 5)) x(head, amount, ord)
                  WHERE x.amount <> 0 OR x.ord = 1),
        'currentPaise', b.water_paise + b.sewerage_paise + b.solid_waste_paise + b.surcharge_paise
                        - b.rebate_paise,
        'arrearPaise', b.arrear_paise, 'advancePaise', b.advance_paise,
        'totalPaise', greatest(b.water_paise + b.sewerage_paise + b.solid_waste_paise
                               + b.surcharge_paise - b.rebate_paise + b.arrear_paise
                               - b.advance_paise, 0),
        'consumerName', c.consumer_name)
    FROM bill b JOIN connection c ON c.connection_id = b.connection_id
    WHERE b.connection_id = p_connection AND b.period = p_period
$$;

CREATE OR REPLACE FUNCTION wt_bill_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    c connection;
    v_period date := wt_parse_period(p_req->>'period', 'period');
    v jsonb;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId', wt_everyone(), false);
    v := wt_bill_json(c.connection_id, v_period);
    IF v IS NULL THEN
        PERFORM rule_fail('NRNFD', 'period', format('connection %s has no bill for %s', c.connection_id,
                                                  wt_period_text(v_period)));
    END IF;
    RETURN v;
END
$$;

SELECT rules_grant_entry_points();
