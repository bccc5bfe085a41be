-- demand.sql — the annual demand: a job per ULB and year, run in chunks by the
-- workers (pt_demand_run_chunk), each one set-based INSERT ... SELECT.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

CREATE OR REPLACE FUNCTION pt_demand_job_json(p_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('jobId', j.id, 'ulb', coalesce(j.ulb, ''), 'fy', rule_fy_text(j.fy),
                              'status', j.status, 'total', j.total, 'processed', j.processed,
                              'billsCreated', j.bills_created, 'skipped', j.skipped,
                              'createdAt', rule_ts(j.created_at),
                              'finishedAt', coalesce(rule_ts(j.finished_at), ''), 'chunks', j.chunks,
                              'messagesStatus', j.messages_status, 'messagesQueued', j.messages_queued)
    FROM demand_job j WHERE j.id = p_id
$$;

-- Starts a job (or answers with the one already running for the scope and
-- year): accounts 008's batch_job_start.
CREATE OR REPLACE FUNCTION pt_demand_generate(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text;
    v_fy integer;
    v_id bigint;
BEGIN
    PERFORM rule_act(p_actor, 'demand.generate');
    v_ulb := rule_batch_scope(p_actor, p_req, 'generating the annual demand',
                              'only a STATE_ADMIN may generate the demand of every ULB');
    v_fy := rule_parse_fy(p_req->>'fy', 'fy');
    v_id := batch_job_start(
        p_actor, 'demand_job', 'fy', v_ulb, v_fy,
        (SELECT count(*) FROM property WHERE v_ulb IS NULL OR ulb = v_ulb),
        'demand.generate', jsonb_build_object('fy', rule_fy_text(v_fy)));
    RETURN pt_demand_job_json(v_id);   -- a statement of its own: it sees the job just made
END
$$;

CREATE OR REPLACE FUNCTION pt_demand_status(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT pt_demand_job_json(batch_job_find(p_actor, p_req, 'demand_job', 'demand job'))
$$;

-- One chunk of the oldest running job that no other process holds:
-- the next p_limit properties after the job's cursor get their bill and
-- demand heads in one INSERT ... SELECT, the cursor moves, and all of it
-- commits together. Returns NULL when no job is waiting, else
-- {"job": DemandJob, "done": bool, "billsCreated": n}. Planned afresh for
-- every chunk (plan_cache_mode): after five chunks a session would keep one
-- generic plan, made for a chunk of ten properties, that reads the earlier
-- demand once per property (50-100 s a chunk instead of under one).
CREATE OR REPLACE FUNCTION pt_demand_run_chunk(p_limit integer) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET plan_cache_mode = force_custom_plan SET search_path FROM CURRENT AS $$
DECLARE
    j demand_job;
    v_job bigint := batch_job_claim('demand_job', 'demand job');   -- acts for its starter
    v_ids text[];
    v_count integer;
    v_first text;
    v_last text;
    v_matched bigint := 0;
    v_bills bigint := 0;
    v_done boolean;
BEGIN
    IF v_job IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO j FROM demand_job WHERE id = v_job;
    SELECT array_agg(property_id ORDER BY property_id) INTO v_ids FROM (
        SELECT property_id FROM property
        WHERE (j.ulb IS NULL OR ulb = j.ulb) AND property_id > j.cursor_id
        ORDER BY property_id LIMIT p_limit) s;
    v_count := coalesce(cardinality(v_ids), 0);
    v_first := v_ids[1];
    v_last := v_ids[v_count];
    IF v_count > 0 THEN
        -- Set-based throughout: each input is read for the whole chunk at once
        -- and joined, never queried per property. Each reads the chunk's id
        -- range (v_first to v_last: one index range scan, estimated from the
        -- histogram) and the chunk is v_ids joined (unnest: estimated by its
        -- length), so a row of another property in the range counts for
        -- none. "= ANY (v_ids)" made the planner estimate each of the
        -- thousands of ids on its own, for each input (planning was 30-60 ms
        -- of a chunk's 200) and the plan scan every floor, demand head and
        -- allocation of the town (a hashed filter) for every chunk.
        WITH fl AS (
            -- bigint, as ALV (area x rate, under 10^17 within the rules'
            -- bounds) is: numeric only where basis points divide (sum of
            -- bigint is numeric, and made every step after it numeric).
            SELECT f.property_id, sum(f.area_sqft)::bigint AS area FROM property_floor f
            WHERE f.property_id BETWEEN v_first AND v_last
            GROUP BY f.property_id
        ), arr AS (
            SELECT d.property_id, sum(d.amount_paise) AS owed FROM demand d
            WHERE d.property_id BETWEEN v_first AND v_last AND d.fy < j.fy
            GROUP BY d.property_id
        ), al AS (
            SELECT x.property_id,
                   sum(x.amount_paise) FILTER (WHERE x.head NOT IN ('ADVANCE', 'SURCHARGE')
                                                 AND x.fy < j.fy) AS settled,
                   sum(x.amount_paise) FILTER (WHERE x.head = 'ADVANCE') AS advance
            FROM allocation x WHERE x.property_id BETWEEN v_first AND v_last
            GROUP BY x.property_id
        ), cand AS MATERIALIZED (
            -- Everything known per property is joined here, by property id,
            -- before the rates: the match with alv_rate on four columns is
            -- estimated at one row whatever the chunk, and a per-property
            -- input joined after it was read once per property (a nested
            -- loop over the earlier demand: 20-50 s a chunk once the table
            -- held a year, or once ANALYZE had seen it nearly empty).
            SELECT p.property_id, p.ulb, p.ward, p.zone, p.usage, p.construction, p.occupancy,
                   p.exemption, coalesce(fl.area, 0) AS area,
                   coalesce(arr.owed, 0) - coalesce(al.settled, 0) AS arrear,
                   coalesce(al.advance, 0) AS advance
            FROM unnest(v_ids) AS i(property_id) JOIN property p USING (property_id)
                 LEFT JOIN fl USING (property_id) LEFT JOIN arr USING (property_id)
                 LEFT JOIN al USING (property_id)
            WHERE p.property_id BETWEEN v_first AND v_last
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
        ), net AS MATERIALIZED (
            -- Computed once per property: inlined, ALV and net ALV were
            -- computed again wherever used (for each slab in the join below,
            -- and for each head).
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
                   CASE WHEN s.exempt THEN 0 ELSE s.samekit END AS samekit_due
            FROM slab s
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
    v_done := batch_job_advance('demand_job', j.id, p_limit, v_ids, v_matched, v_bills);
    RETURN jsonb_build_object('job', pt_demand_job_json(j.id), 'done', v_done,
                              'billsCreated', v_bills);
END
$$;

SELECT rules_grant_entry_points();
