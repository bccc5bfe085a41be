-- accounts 008 — the life of a batch job (a table of batch_job_create, 001:
-- property tax's demand_job, water tax's bill_job), written once: starting
-- one, or answering the one already running for its scope; finding one the
-- actor may read; taking the oldest running job for the next chunk; and
-- moving its cursor and counts after the chunk. What a chunk computes, and
-- which accounts it goes through, stay the service's own
-- (pt_demand_run_chunk, wt_bill_run_chunk); so does a job's JSON.
--
-- requires: rules
--
-- p_job is the job table (a regclass, never input); its scope column (fy,
-- period) is named by the caller and checked as a plain name. Each is one
-- EXECUTE per call: a job start, a status read, or a chunk of hundreds of
-- accounts — never per account.

-- Starts a job of p_job for ULB p_ulb (NULL: every ULB) and p_scope_column
-- = p_scope, going through p_total accounts, audited as p_action with
-- p_detail; or answers the id of the one already running for them. One at
-- a time per scope: the start takes a transaction lock on it (and the
-- table's unique index of running jobs holds against anything else).
-- Read the job (a STABLE function's query) in a statement after this one:
-- in the same statement it would not see the row just made.
CREATE OR REPLACE FUNCTION batch_job_start(p_actor jsonb, p_job regclass, p_scope_column text,
                                           p_ulb text, p_scope anyelement, p_total bigint,
                                           p_action text, p_detail jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_table text := (SELECT c.relname FROM pg_class c WHERE c.oid = p_job);
BEGIN
    IF p_scope_column !~ '^[a-z][a-z_]{0,40}$' THEN
        PERFORM rule_fail('NRINV', 'scope', format('%L is not a column name', p_scope_column));
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(v_table || ':' || coalesce(p_ulb, '*') || ':'
                                           || p_scope::text));
    EXECUTE format('SELECT id FROM %s WHERE coalesce(ulb, '''') = coalesce($1, '''') AND %I = $2 '
                   'AND status = ''RUNNING''', p_job, p_scope_column)
        INTO v_id USING p_ulb, p_scope;
    IF v_id IS NULL THEN
        EXECUTE format('INSERT INTO %s (ulb, %I, status, total, created_by) '
                       'VALUES ($1, $2, ''RUNNING'', $3, $4) RETURNING id', p_job, p_scope_column)
            INTO v_id USING p_ulb, p_scope, p_total, coalesce(p_actor->>'userId', 'system');
        PERFORM rule_audit(p_actor, coalesce(p_ulb, ''), p_action, v_table || ':' || v_id, p_detail);
    END IF;
    RETURN v_id;
END
$$;

-- The id of job p_req.jobId of p_job, for staff who read jobs (a revenue
-- officer, a commissioner, a STATE_ADMIN). A job the actor may not see
-- (another ULB's, or one over every ULB for anyone but a STATE_ADMIN) is
-- answered as a missing one (issue 12): "no <p_noun> <id>".
CREATE OR REPLACE FUNCTION batch_job_find(p_actor jsonb, p_req jsonb, p_job regclass, p_noun text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_ulb text;
BEGIN
    PERFORM rule_require_role(p_actor, ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                              'reading a ' || p_noun);
    EXECUTE format('SELECT id, ulb FROM %s WHERE id = $1', p_job) INTO v_id, v_ulb
        USING rule_int(p_req->'jobId', 'jobId', 1, 9223372036854775807);
    PERFORM rule_check_reach(p_actor, v_id IS NOT NULL, v_ulb, false, 'jobId',
                             format('no %s %s', p_noun, p_req->>'jobId'));
    RETURN v_id;
END
$$;

-- The oldest running job of p_job that no other process holds, locked for
-- this transaction (FOR UPDATE SKIP LOCKED), or NULL when none waits. The
-- chunk acts for whoever started the job ("<p_noun> <id>").
CREATE OR REPLACE FUNCTION batch_job_claim(p_job regclass, p_noun text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_by text;
BEGIN
    EXECUTE format('SELECT id, created_by FROM %s WHERE status = ''RUNNING'' ORDER BY id LIMIT 1 '
                   'FOR UPDATE SKIP LOCKED', p_job) INTO v_id, v_by;
    IF v_id IS NOT NULL THEN
        PERFORM rule_act(jsonb_build_object('userId', v_by, 'role', 'SYSTEM'),
                         format('%s %s', p_noun, v_id));
    END IF;
    RETURN v_id;
END
$$;

-- After a chunk of job p_id that went through accounts p_ids (in order,
-- at most p_limit; NULL or empty: none were left) and matched p_matched of
-- them, creating p_bills bills: the cursor moves to the last of them, the
-- counts grow (the rest are skipped), and the job is DONE when the chunk
-- was not full. Answers whether it is done.
CREATE OR REPLACE FUNCTION batch_job_advance(p_job regclass, p_id bigint, p_limit integer,
                                             p_ids text[], p_matched bigint, p_bills bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := coalesce(cardinality(p_ids), 0);
    v_done boolean := v_count < p_limit;
BEGIN
    EXECUTE format('UPDATE %s SET cursor_id = coalesce($1[$2], cursor_id), '
                   'processed = processed + $2, bills_created = bills_created + $3, '
                   'skipped = skipped + ($2 - $4), chunks = chunks + 1, updated_at = now(), '
                   'status = CASE WHEN $5 THEN ''DONE'' ELSE status END, '
                   'finished_at = CASE WHEN $5 THEN now() END WHERE id = $6', p_job)
        USING p_ids, v_count, p_bills, p_matched, v_done, p_id;
    RETURN v_done;
END
$$;
