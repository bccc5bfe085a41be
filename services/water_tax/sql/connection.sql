-- connection.sql — water connections: apply, decide, disconnect and
-- reconnect, get and list; the vocabularies. wt_connection_for, the one
-- check of who may see or act on a connection, is common/sql/accounts
-- 005's, made in account.sql.
--
-- Rule functions of the service (common/service_rules.h), CREATE OR REPLACE
-- only: nagar-migrate applies this file again whenever it changes. A
-- function removed from here must be dropped here too. The helpers rule_*
-- come from common/sql/rules; errors are SQLSTATE NRINV, NRNFD, NRDEN,
-- NRCON, NRPRE with the field's JSON path as DETAIL.

CREATE OR REPLACE FUNCTION wt_categories() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['DOMESTIC', 'COMMERCIAL', 'INDUSTRIAL', 'INSTITUTIONAL'] $$;

CREATE OR REPLACE FUNCTION wt_staff() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'] $$;

CREATE OR REPLACE FUNCTION wt_everyone() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'] $$;

-- "2025-05" -> 2025-05-01.
CREATE OR REPLACE FUNCTION wt_parse_period(p_text text, p_field text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_text IS NULL OR p_text !~ '^20[0-9]{2}-(0[1-9]|1[0-2])$' THEN
        PERFORM rule_fail('NRINV', p_field, format('%s must be a billing month such as 2025-05, not "%s"',
                                                 p_field, coalesce(p_text, '')));
    END IF;
    RETURN (p_text || '-01')::date;
END
$$;

CREATE OR REPLACE FUNCTION wt_period_text(p_period date) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_period, 'YYYY-MM')
$$;

CREATE OR REPLACE FUNCTION wt_connection_json(p_id text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'connectionId', c.connection_id, 'ulb', c.ulb, 'ward', c.ward, 'propertyId', c.property_id,
        'consumerName', c.consumer_name, 'mobile', c.mobile, 'userId', c.user_id,
        'address', c.address, 'category', c.category, 'pipeSizeMm', c.pipe_size_mm,
        'metered', c.metered, 'meterNo', c.meter_no, 'units', c.units, 'status', c.status,
        'connectionFeePaise', c.connection_fee_paise, 'appliedOn', c.applied_on::text,
        'activeFrom', coalesce(c.active_from::text, ''), 'decisionReason', c.decision_reason,
        'history', coalesce((SELECT jsonb_agg(jsonb_build_object('at', rule_ts(a.at), 'action', a.action,
                                                                 'by', a.actor, 'role', a.actor_role,
                                                                 'detail', a.detail::text) ORDER BY a.id)
                             FROM audit a WHERE a.subject = 'connection:' || c.connection_id), '[]'))
    FROM connection c WHERE c.connection_id = p_id
$$;

-- The tariff in force for a ULB's year is accounts 010's
-- accounts_version_newest('tariff_version', ulb, fy).
DROP FUNCTION IF EXISTS wt_tariff_version_id(text, integer);

CREATE OR REPLACE FUNCTION wt_connection_apply(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text := rule_ulb_arg(p_req->>'ulb', 'ulb');
    v_ward integer := rule_int(p_req->'ward', 'ward', 1, 999);
    v_property text := rule_text(p_req->>'propertyId', 'propertyId', 1, 64);
    v_name text := rule_text(p_req->>'consumerName', 'consumerName', 1, 120);
    v_mobile text := coalesce(p_req->>'mobile', '');
    v_address text := rule_text(p_req->>'address', 'address', 1, 300);
    v_category text := rule_enum(p_req->>'category', 'category', wt_categories());
    v_pipe integer := rule_int(p_req->'pipeSizeMm', 'pipeSizeMm', 10, 600);
    v_metered boolean := coalesce((p_req->>'metered')::boolean, false);
    v_meter text := coalesce(p_req->>'meterNo', '');
    v_units integer := greatest(rule_int(p_req->'units', 'units', 0, 10000), 1);
    v_user text := '';
    v_no integer;
    v_id text;
BEGIN
    PERFORM rule_act(p_actor, 'connection.apply');
    PERFORM rule_require_role(p_actor, ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER'],
                            'applying for a water connection');
    IF p_actor->>'role' = 'CITIZEN' THEN
        v_user := p_actor->>'userId';
    ELSE
        PERFORM rule_check_ulb(p_actor, v_ulb);
    END IF;
    IF v_property !~ '^[0-9A-Za-z/-]{1,64}$' THEN
        PERFORM rule_fail('NRINV', 'propertyId', 'propertyId must be the property-tax property id, '
                        'such as 802462-005-000123');
    END IF;
    IF v_mobile <> '' AND v_mobile !~ '^[6-9][0-9]{9}$' THEN
        PERFORM rule_fail('NRINV', 'mobile', 'mobile must be 10 digits starting 6 to 9, or empty');
    END IF;
    IF v_metered AND v_meter !~ '^[A-Za-z0-9/_-]{1,32}$' THEN
        PERFORM rule_fail('NRINV', 'meterNo', 'a metered connection needs meterNo: 1 to 32 of A-Z a-z 0-9 / _ -');
    ELSIF NOT v_metered AND v_meter <> '' THEN
        PERFORM rule_fail('NRINV', 'meterNo', 'an unmetered connection has no meterNo');
    END IF;
    v_no := ward_number_next(v_ulb, v_ward);   -- locks the ward's number until commit
    v_id := v_ulb || '-W' || lpad(v_ward::text, 3, '0') || '-' || lpad(v_no::text, 6, '0');
    INSERT INTO connection (connection_id, ulb, ward, number, property_id, consumer_name, mobile,
                            user_id, address, category, pipe_size_mm, metered, meter_no, units,
                            status, applied_on, created_by)
    VALUES (v_id, v_ulb, v_ward, v_no, v_property, v_name, v_mobile, v_user, v_address, v_category,
            v_pipe, v_metered, v_meter, v_units, 'APPLIED', p_today, p_actor->>'userId');
    PERFORM rule_audit(p_actor, v_ulb, 'apply', 'connection:' || v_id, p_req);
    RETURN wt_connection_json(v_id);
END
$$;

-- Approval charges the connection fee of the tariff in force (category x
-- pipe size) and, for a meter, records its initial reading.
CREATE OR REPLACE FUNCTION wt_connection_decide(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    c connection;
    v_approve boolean := coalesce((p_req->>'approve')::boolean, false);
    v_reason text := rule_text(p_req->>'reason', 'reason', 0, 300);
    v_initial bigint := rule_int(p_req->'initialReadingLitres', 'initialReadingLitres', 0, 1000000000000);
    v_from date := p_today;
    v_version bigint;
    v_fee bigint;
BEGIN
    PERFORM rule_act(p_actor, 'connection.decide: ' || coalesce(p_req->>'reason', ''));
    IF coalesce(p_req->>'activeFrom', '') <> '' THEN
        v_from := rule_parse_date(p_req->>'activeFrom', 'activeFrom');
        IF v_from > p_today THEN
            PERFORM rule_fail('NRINV', 'activeFrom', format('activeFrom %s is after today (%s)', v_from,
                                                          p_today));
        END IF;
    END IF;
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'], true);
    IF c.status <> 'APPLIED' THEN
        PERFORM rule_fail('NRPRE', 'connectionId', format('connection %s is %s; only an application '
                                                        'waiting for a decision can be decided',
                                                        c.connection_id, c.status));
    END IF;
    IF NOT v_approve THEN
        IF char_length(v_reason) < 3 THEN
            PERFORM rule_fail('NRINV', 'reason', 'a rejection needs a reason of 3 to 300 characters');
        END IF;
        UPDATE connection SET status = 'REJECTED', decision_reason = v_reason, updated_at = now()
            WHERE connection_id = c.connection_id;
        PERFORM rule_audit(p_actor, c.ulb, 'reject', 'connection:' || c.connection_id,
                         jsonb_build_object('reason', v_reason));
        RETURN wt_connection_json(c.connection_id);
    END IF;
    v_version := accounts_version_newest('tariff_version', c.ulb, rule_fy_of(p_today));
    SELECT fee_paise INTO v_fee FROM tariff_connection_fee
        WHERE version_id = v_version AND category = c.category AND pipe_size_mm = c.pipe_size_mm;
    IF v_fee IS NULL THEN
        PERFORM rule_fail('NRPRE', 'connectionId',
                        format('ULB %s has no connection fee for %s connections of %s mm in its %s '
                               'tariff; save one (PUT /api/v1/water-tax/tariffs/%s/%s) first',
                               c.ulb, c.category, c.pipe_size_mm, rule_fy_text(rule_fy_of(p_today)),
                               c.ulb, rule_fy_text(rule_fy_of(p_today))));
    END IF;
    UPDATE connection SET status = 'ACTIVE', active_from = v_from, connection_fee_paise = v_fee,
                          decision_reason = v_reason, updated_at = now()
        WHERE connection_id = c.connection_id;
    IF v_fee > 0 THEN
        INSERT INTO fee (connection_id, ulb, head, amount_paise, charged_on, created_by)
        VALUES (c.connection_id, c.ulb, 'CONNECTION_FEE', v_fee, p_today, p_actor->>'userId');
    END IF;
    IF c.metered THEN
        INSERT INTO meter_reading (connection_id, ulb, period, reading_date, reading_litres,
                                   consumption_litres, kind, meter_no, recorded_by)
        VALUES (c.connection_id, c.ulb, date_trunc('month', v_from)::date, v_from, v_initial, 0,
                'INITIAL', c.meter_no, p_actor->>'userId');
    END IF;
    PERFORM rule_audit(p_actor, c.ulb, 'approve', 'connection:' || c.connection_id,
                     jsonb_build_object('feePaise', v_fee, 'tariffVersionId', v_version,
                                        'activeFrom', v_from,
                                        'initialReadingLitres', v_initial, 'reason', v_reason));
    RETURN wt_connection_json(c.connection_id);
END
$$;

-- Disconnection and reconnection, each with its fee from the tariff in force.
CREATE OR REPLACE FUNCTION wt_connection_change(p_actor jsonb, p_req jsonb, p_today date, p_action text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_reason text := rule_text(p_req->>'reason', 'reason', 3, 300);
    v_version bigint;
    v_fee bigint := 0;
BEGIN
    -- Who changes it and why, on the connection's and the fee's history.
    PERFORM rule_act(p_actor, 'connection.' || p_action || ': ' || coalesce(p_req->>'reason', ''));
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'], true);
    IF p_action = 'disconnect' AND c.status NOT IN ('ACTIVE', 'RECONNECTED') THEN
        PERFORM rule_fail('NRPRE', 'connectionId', format('connection %s is %s; only an active '
                                                        'connection can be disconnected',
                                                        c.connection_id, c.status));
    ELSIF p_action = 'reconnect' AND c.status <> 'DISCONNECTED' THEN
        PERFORM rule_fail('NRPRE', 'connectionId', format('connection %s is %s; only a disconnected '
                                                        'connection can be reconnected',
                                                        c.connection_id, c.status));
    END IF;
    v_version := accounts_version_newest('tariff_version', c.ulb, rule_fy_of(p_today));
    IF v_version IS NOT NULL THEN
        SELECT CASE WHEN p_action = 'disconnect' THEN disconnection_fee_paise
                    ELSE reconnection_fee_paise END INTO v_fee
            FROM tariff_version WHERE id = v_version;
    END IF;
    UPDATE connection SET status = CASE WHEN p_action = 'disconnect' THEN 'DISCONNECTED'
                                        ELSE 'RECONNECTED' END,
                          active_from = CASE WHEN p_action = 'reconnect' THEN p_today
                                             ELSE active_from END,
                          updated_at = now()
        WHERE connection_id = c.connection_id;
    IF v_fee > 0 THEN
        INSERT INTO fee (connection_id, ulb, head, amount_paise, charged_on, created_by)
        VALUES (c.connection_id, c.ulb,
                CASE WHEN p_action = 'disconnect' THEN 'DISCONNECTION_FEE' ELSE 'RECONNECTION_FEE' END,
                v_fee, p_today, p_actor->>'userId');
    END IF;
    PERFORM rule_audit(p_actor, c.ulb, p_action, 'connection:' || c.connection_id,
                     jsonb_build_object('reason', v_reason, 'feePaise', v_fee));
    RETURN wt_connection_json(c.connection_id);
END
$$;

CREATE OR REPLACE FUNCTION wt_connection_disconnect(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER
SET search_path FROM CURRENT AS $$ SELECT wt_connection_change(p_actor, p_req, p_today, 'disconnect') $$;

CREATE OR REPLACE FUNCTION wt_connection_reconnect(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER
SET search_path FROM CURRENT AS $$ SELECT wt_connection_change(p_actor, p_req, p_today, 'reconnect') $$;

CREATE OR REPLACE FUNCTION wt_connection_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE c connection;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId', wt_everyone(), false);
    RETURN wt_connection_json(c.connection_id);
END
$$;

CREATE OR REPLACE FUNCTION wt_connection_list(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    v_ulb text := rule_ulb_arg(p_req->>'ulb', 'ulb');
    v_ward integer := rule_int(p_req->'ward', 'ward', 0, 999);
    v_size integer := rule_page_size(p_req, 500, 100);
    v_after text := rule_text(p_req->>'pageToken', 'pageToken', 0, 64);
    v_items jsonb;
    v_last text;
    v_count integer;
BEGIN
    PERFORM rule_require_role(p_actor, wt_everyone(), 'listing connections');
    IF p_actor->>'role' <> 'CITIZEN' THEN
        PERFORM rule_check_ulb(p_actor, v_ulb);
    END IF;
    SELECT coalesce(jsonb_agg(wt_connection_json(s.connection_id) ORDER BY s.connection_id), '[]'),
           max(s.connection_id), count(*)
        INTO v_items, v_last, v_count
        FROM (SELECT c.connection_id FROM connection c
              WHERE c.ulb = v_ulb AND (v_ward = 0 OR c.ward = v_ward) AND c.connection_id > v_after
                AND (p_actor->>'role' <> 'CITIZEN' OR c.user_id = p_actor->>'userId')
              ORDER BY c.connection_id LIMIT v_size) s;
    RETURN jsonb_build_object('connections', v_items,
                              'nextPageToken', CASE WHEN v_count = v_size THEN v_last ELSE '' END);
END
$$;

SELECT rules_grant_entry_points();
