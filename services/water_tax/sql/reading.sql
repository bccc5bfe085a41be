-- reading.sql — meter readings (one, an import, a meter replacement) and
-- the monthly consumption they give.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

CREATE OR REPLACE FUNCTION wt_reading_json(r meter_reading) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('connectionId', r.connection_id, 'period', wt_period_text(r.period),
                              'readingDate', r.reading_date::text, 'readingLitres', r.reading_litres,
                              'consumptionLitres', r.consumption_litres, 'kind', r.kind,
                              'meterNo', r.meter_no, 'recordedBy', r.recorded_by)
$$;

-- The most a meter may plausibly record in a month: the tariff in force
-- for the reading's year (its newest version), else the default 100 kl.
CREATE OR REPLACE FUNCTION wt_max_monthly_litres(p_ulb text, p_on date) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT v.max_monthly_kl FROM tariff_version v
                     WHERE v.id = accounts_version_newest('tariff_version', p_ulb,
                                                              rule_fy_of(p_on))), 100) * 1000
$$;

-- The day p_on of a reading (or a meter replacement) on a connection,
-- named p_field: not after today nor before the connection's last reading
-- of any kind (an estimate included); NRINV on p_field otherwise. Returns
-- that last reading (all NULL when there is none).
CREATE OR REPLACE FUNCTION wt_reading_day(p_connection text, p_on date, p_today date, p_field text)
RETURNS meter_reading LANGUAGE plpgsql STABLE AS $$
DECLARE v_last meter_reading;
BEGIN
    IF p_on > p_today THEN
        PERFORM rule_fail('NRINV', p_field, format('%s %s is in the future', p_field, p_on));
    END IF;
    SELECT * INTO v_last FROM meter_reading WHERE connection_id = p_connection
        ORDER BY reading_date DESC, id DESC LIMIT 1;
    IF v_last.id IS NOT NULL AND p_on < v_last.reading_date THEN
        PERFORM rule_fail('NRINV', p_field, format('%s %s is before the last reading of %s', p_field,
                                                   p_on, v_last.reading_date));
    END IF;
    RETURN v_last;
END
$$;

-- Records one actual reading of connection c (locked by the caller). The
-- rules: a metered, billable connection; a date not before the last
-- reading nor after today; not lower than the last actual (or initial)
-- reading of the same meter (a replaced meter needs its replacement
-- recorded first); not implying more than the tariff's maxMonthlyKl per
-- month since the last reading; one reading per month. Consumption is
-- measured from the last reading of any kind (an estimate included), never
-- below zero.
CREATE OR REPLACE FUNCTION wt_reading_insert(p_actor jsonb, c connection, p_date date, p_litres bigint,
                                  p_today date) RETURNS meter_reading
LANGUAGE plpgsql AS $$
DECLARE
    v_last meter_reading;
    v_last_any meter_reading;
    v_months integer;
    v_max bigint;
    r meter_reading;
BEGIN
    IF NOT c.metered THEN
        PERFORM rule_fail('NRPRE', 'connectionId', format('connection %s has no meter: it pays the flat rate',
                                                        c.connection_id));
    END IF;
    IF c.status NOT IN ('ACTIVE', 'RECONNECTED') THEN
        PERFORM rule_fail('NRPRE', 'connectionId', format('connection %s is %s; readings are taken of '
                                                        'active connections', c.connection_id, c.status));
    END IF;
    v_last_any := wt_reading_day(c.connection_id, p_date, p_today, 'readingDate');
    IF p_litres < 0 OR p_litres > 1000000000000 THEN
        PERFORM rule_fail('NRINV', 'readingLitres', 'readingLitres must be from 0 to 1000000000000');
    END IF;
    SELECT * INTO v_last FROM meter_reading
        WHERE connection_id = c.connection_id AND kind IN ('ACTUAL', 'INITIAL')
        ORDER BY reading_date DESC, id DESC LIMIT 1;
    IF v_last.id IS NOT NULL AND p_litres < v_last.reading_litres THEN
        PERFORM rule_fail('NRINV', 'readingLitres',
                        format('reading %s litres is lower than the last reading %s litres of meter %s '
                               'on %s; if the meter was replaced, record the replacement first',
                               p_litres, v_last.reading_litres, v_last.meter_no, v_last.reading_date));
    END IF;
    v_months := greatest(1, (extract(year FROM p_date)::integer * 12 + extract(month FROM p_date)::integer)
                          - (extract(year FROM coalesce(v_last.reading_date, p_date))::integer * 12
                             + extract(month FROM coalesce(v_last.reading_date, p_date))::integer));
    v_max := wt_max_monthly_litres(c.ulb, p_date);
    IF v_last.id IS NOT NULL AND p_litres - v_last.reading_litres > v_max * v_months THEN
        PERFORM rule_fail('NRINV', 'readingLitres',
                        format('reading %s litres implies %s litres in %s month(s) since %s, more than '
                               'the plausible %s litres a month; check the reading (or the tariff''s '
                               'maxMonthlyKl)', p_litres, p_litres - v_last.reading_litres, v_months,
                               v_last.reading_date, v_max));
    END IF;
    IF EXISTS (SELECT FROM meter_reading WHERE connection_id = c.connection_id
                  AND period = date_trunc('month', p_date)::date AND kind IN ('ACTUAL', 'ESTIMATED')) THEN
        PERFORM rule_fail('NRCON', 'readingDate',
                        format('connection %s already has a reading (or an estimate it was billed on) '
                               'for %s; record this one in the next month', c.connection_id,
                               to_char(p_date, 'YYYY-MM')));
    END IF;
    INSERT INTO meter_reading (connection_id, ulb, period, reading_date, reading_litres,
                               consumption_litres, kind, meter_no, recorded_by)
    VALUES (c.connection_id, c.ulb, date_trunc('month', p_date)::date, p_date, p_litres,
            greatest(p_litres - coalesce(v_last_any.reading_litres, p_litres), 0), 'ACTUAL',
            c.meter_no, coalesce(p_actor->>'userId', 'batch'))
    RETURNING * INTO r;
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION wt_reading_record(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE c connection;
BEGIN
    PERFORM rule_act(p_actor, 'reading.record');
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], true);
    RETURN wt_reading_json(wt_reading_insert(p_actor, c, rule_parse_date(p_req->>'readingDate', 'readingDate'),
                                             rule_int(p_req->'readingLitres', 'readingLitres', 0,
                                                    1000000000000), p_today));
END
$$;

-- Rows {line, connectionId, readingDate, readingLitres} (parsed by the C
-- side). Each row is taken or refused on its own; refusals come back with
-- their line, field and reason.
CREATE OR REPLACE FUNCTION wt_reading_import(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text;
    e jsonb;
    c connection;
    v_accepted integer := 0;
    v_rejected jsonb := '[]';
    v_state text;
    v_message text;
    v_field text;
BEGIN
    PERFORM rule_act(p_actor, 'reading.import');
    v_ulb := rule_ulb_scope(p_actor, p_req, wt_staff(), 'importing meter readings');
    FOR e IN SELECT x FROM jsonb_array_elements(p_req->'rows') x LOOP
        BEGIN
            SELECT * INTO c FROM connection WHERE connection_id = e->>'connectionId' FOR UPDATE;
            IF NOT FOUND OR c.ulb <> v_ulb THEN
                PERFORM rule_fail('NRNFD', 'connectionId', format('no water connection %s in ULB %s',
                                                                e->>'connectionId', v_ulb));
            END IF;
            PERFORM wt_reading_insert(p_actor, c, rule_parse_date(e->>'readingDate', 'readingDate'),
                                      rule_int(e->'readingLitres', 'readingLitres', 0, 1000000000000),
                                      p_today);
            v_accepted := v_accepted + 1;
        EXCEPTION WHEN SQLSTATE 'NRINV' OR SQLSTATE 'NRNFD' OR SQLSTATE 'NRPRE' OR SQLSTATE 'NRCON' THEN
            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_field = PG_EXCEPTION_DETAIL;
            v_rejected := v_rejected || jsonb_build_object('line', (e->>'line')::integer,
                                                           'connectionId', coalesce(e->>'connectionId', ''),
                                                           'field', v_field, 'message', v_message);
        END;
    END LOOP;
    PERFORM rule_audit(p_actor, v_ulb, 'readings.import', 'readings:' || v_ulb,
                     jsonb_build_object('accepted', v_accepted, 'rejected', jsonb_array_length(v_rejected)));
    RETURN jsonb_build_object('accepted', v_accepted, 'rejected', v_rejected);
END
$$;

-- A meter replacement: the old meter's final reading (its consumption
-- counts in that month) and the new meter's initial reading; readings of
-- the new meter are then compared with its initial reading.
CREATE OR REPLACE FUNCTION wt_meter_replace(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    c connection;
    v_date date := rule_parse_date(p_req->>'replacedOn', 'replacedOn');
    v_final bigint := rule_int(p_req->'oldMeterFinalLitres', 'oldMeterFinalLitres', 0, 1000000000000);
    v_new text := coalesce(p_req->>'newMeterNo', '');
    v_initial bigint := rule_int(p_req->'newMeterInitialLitres', 'newMeterInitialLitres', 0, 1000000000000);
    v_reason text := rule_text(p_req->>'reason', 'reason', 3, 300);
    v_last meter_reading;
BEGIN
    PERFORM rule_act(p_actor, 'meter.replace');
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], true);
    IF NOT c.metered THEN
        PERFORM rule_fail('NRPRE', 'connectionId', format('connection %s has no meter', c.connection_id));
    END IF;
    IF v_new !~ '^[A-Za-z0-9/_-]{1,32}$' OR v_new = c.meter_no THEN
        PERFORM rule_fail('NRINV', 'newMeterNo', 'newMeterNo must be 1 to 32 of A-Z a-z 0-9 / _ - and '
                        'differ from the old meter''s');
    END IF;
    v_last := wt_reading_day(c.connection_id, v_date, p_today, 'replacedOn');
    IF v_last.id IS NOT NULL AND v_final < v_last.reading_litres THEN
        PERFORM rule_fail('NRINV', 'oldMeterFinalLitres',
                        format('the old meter''s final reading %s is lower than its last reading %s',
                               v_final, v_last.reading_litres));
    END IF;
    INSERT INTO meter_reading (connection_id, ulb, period, reading_date, reading_litres,
                               consumption_litres, kind, meter_no, recorded_by)
    VALUES (c.connection_id, c.ulb, date_trunc('month', v_date)::date, v_date, v_final,
            greatest(v_final - coalesce(v_last.reading_litres, v_final), 0), 'FINAL', c.meter_no,
            p_actor->>'userId'),
           (c.connection_id, c.ulb, date_trunc('month', v_date)::date, v_date, v_initial, 0, 'INITIAL',
            v_new, p_actor->>'userId');
    UPDATE connection SET meter_no = v_new, updated_at = now() WHERE connection_id = c.connection_id;
    PERFORM rule_audit(p_actor, c.ulb, 'replace_meter', 'connection:' || c.connection_id,
                     jsonb_build_object('oldMeterNo', c.meter_no, 'newMeterNo', v_new,
                                        'oldMeterFinalLitres', v_final,
                                        'newMeterInitialLitres', v_initial, 'reason', v_reason));
    RETURN wt_connection_json(c.connection_id);
END
$$;

CREATE OR REPLACE FUNCTION wt_reading_list(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE c connection;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId', wt_everyone(), false);
    RETURN jsonb_build_object('readings', coalesce((SELECT jsonb_agg(wt_reading_json(r)
                                                               ORDER BY r.reading_date, r.id)
                                                    FROM meter_reading r
                                                    WHERE r.connection_id = c.connection_id), '[]'));
END
$$;

SELECT rules_grant_entry_points();
