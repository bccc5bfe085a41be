-- accounts 010 — the version of versioned master data (property tax's
-- rate_version, water tax's tariff_version: tables master_data_create, 001,
-- made) in force for a ULB's year: its newest saved version. Property tax
-- (pt_rate_version_id) and water tax (wt_tariff_version_id) each had a copy
-- of this lookup; both call this one now.
--
-- requires: rules
--
-- accounts_version_newest(table, ulb, fy) — the id of the newest version
--   saved for the ULB and year, NULL when none is (the caller falls back to
--   its defaults). table is the service's own (a constant in its rule
--   file, never input). One EXECUTE a call: it serves saves, readings and
--   assessments; the counter payment's own lookup (pt_rate_params) and the
--   demand and bill chunks read their versions in static SQL.

CREATE OR REPLACE FUNCTION accounts_version_newest(p_table regclass, p_ulb text, p_fy integer)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE v_id bigint;
BEGIN
    EXECUTE format('SELECT id FROM %s WHERE ulb = $1 AND fy = $2 ORDER BY version DESC LIMIT 1',
                   p_table) INTO v_id USING p_ulb, p_fy;
    RETURN v_id;
END
$$;
