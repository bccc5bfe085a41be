-- 002_rules.sql — the rules of nagar-water-tax as SQL functions.
--
-- Each method's C handler validates the envelope, opens the transaction,
-- deals with idempotency, receipts and the ledger (common/), and calls one
-- of these functions with the actor ({"userId","role","ulb"}) as vouched
-- for by the gateway, the request in its proto3 JSON form, and the
-- business date. They check the actor's reach, validate every field
-- (raising with the field's JSON path), change the tables and answer with
-- the reply message in proto3 JSON. Keeping the rules next to the data
-- lets the monthly bill run be one INSERT ... SELECT per chunk and a payment
-- one round of statements under the connection's lock.
--
-- Errors: SQLSTATE WTINV (invalid argument), WTNFD (not found), WTDEN
-- (permission denied), WTCON (conflict), WTPRE (failed precondition); the
-- DETAIL is the field path. common/service_rules.c maps
-- them to nagar.StatusCode.
--
-- Money is bigint paise. Every percentage is in basis points and every
-- rounding is round(numeric) — to the nearest paisa, half away from zero —
-- applied once per head as the README documents.

-- ---- errors, dates, validation ------------------------------------------------

CREATE FUNCTION wt_fail(p_code text, p_field text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', p_message USING ERRCODE = p_code, DETAIL = coalesce(p_field, '');
END
$$;

CREATE FUNCTION wt_fy_text(p_fy integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT p_fy::text || '-' || lpad(((p_fy + 1) % 100)::text, 2, '0')
$$;

CREATE FUNCTION wt_fy_of(p_date date) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN extract(month FROM p_date) >= 4 THEN extract(year FROM p_date)::integer
                ELSE extract(year FROM p_date)::integer - 1 END
$$;

CREATE FUNCTION wt_parse_fy(p_text text, p_field text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v integer;
BEGIN
    IF p_text IS NULL OR p_text !~ '^(20[0-9]{2})-[0-9]{2}$' THEN
        PERFORM wt_fail('WTINV', p_field, format('%s must be a financial year such as 2026-27, not "%s"',
                                                 p_field, coalesce(p_text, '')));
    END IF;
    v := substr(p_text, 1, 4)::integer;
    IF substr(p_text, 6, 2) <> lpad(((v + 1) % 100)::text, 2, '0') THEN
        PERFORM wt_fail('WTINV', p_field, format('%s "%s" is not a financial year: after %s comes %s',
                                                 p_field, p_text, v, wt_fy_text(v)));
    END IF;
    RETURN v;
END
$$;

CREATE FUNCTION wt_parse_date(p_text text, p_field text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_text IS NULL OR p_text !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
        PERFORM wt_fail('WTINV', p_field, format('%s must be a date YYYY-MM-DD, not "%s"', p_field,
                                                 coalesce(p_text, '')));
    END IF;
    RETURN p_text::date;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    PERFORM wt_fail('WTINV', p_field, format('%s "%s" is not a calendar date', p_field, p_text));
    RETURN NULL;
END
$$;

-- Text of 0..max characters (min..max when min > 0) without control characters.
CREATE FUNCTION wt_text(p_value text, p_field text, p_min integer, p_max integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v text := coalesce(p_value, '');
BEGIN
    IF char_length(v) < p_min OR char_length(v) > p_max OR v ~ '[[:cntrl:]]' THEN
        PERFORM wt_fail('WTINV', p_field,
                        format('%s must be %s to %s characters without control characters', p_field,
                               p_min, p_max));
    END IF;
    RETURN v;
END
$$;

-- An integer in [min, max]; absent (proto3 default) is 0.
CREATE FUNCTION wt_int(p_value jsonb, p_field text, p_min bigint, p_max bigint) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v numeric;
BEGIN
    IF p_value IS NULL OR p_value = 'null'::jsonb THEN
        v := 0;
    ELSE
        v := (p_value #>> '{}')::numeric;
    END IF;
    IF v <> trunc(v) OR v < p_min OR v > p_max THEN
        PERFORM wt_fail('WTINV', p_field, format('%s must be a whole number from %s to %s, not %s',
                                                 p_field, p_min, p_max, v));
    END IF;
    RETURN v::bigint;
EXCEPTION WHEN invalid_text_representation THEN
    PERFORM wt_fail('WTINV', p_field, format('%s must be a whole number', p_field));
    RETURN NULL;
END
$$;

CREATE FUNCTION wt_enum(p_value text, p_field text, p_allowed text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR NOT p_value = ANY (p_allowed) THEN
        PERFORM wt_fail('WTINV', p_field, format('%s must be one of %s', p_field,
                                                 array_to_string(p_allowed, ', ')));
    END IF;
    RETURN p_value;
END
$$;

CREATE FUNCTION wt_ulb_arg(p_value text, p_field text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR p_value !~ '^[0-9]{1,10}$' THEN
        PERFORM wt_fail('WTINV', p_field, format('%s must be the LGD code of a ULB (1 to 10 digits)',
                                                 p_field));
    END IF;
    RETURN p_value;
END
$$;

CREATE FUNCTION wt_ts(p_at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- ---- actors ----------------------------------------------------------------------

CREATE FUNCTION wt_require_role(p_actor jsonb, p_roles text[], p_what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce(p_actor->>'userId', '') = '' OR NOT coalesce(p_actor->>'role', '') = ANY (p_roles) THEN
        PERFORM wt_fail('WTDEN', NULL, format('%s needs one of the roles %s', p_what,
                                              array_to_string(p_roles, ', ')));
    END IF;
END
$$;

-- Staff act within their own ULB; a STATE_ADMIN anywhere.
CREATE FUNCTION wt_check_ulb(p_actor jsonb, p_ulb text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_actor->>'role' = 'STATE_ADMIN' THEN
        RETURN;
    END IF;
    IF p_actor->>'role' = 'CITIZEN' OR coalesce(p_actor->>'ulb', '') <> p_ulb THEN
        PERFORM wt_fail('WTDEN', NULL, format('a %s of ULB %s may not act on the data of ULB %s',
                                              coalesce(p_actor->>'role', ''),
                                              coalesce(nullif(p_actor->>'ulb', ''), '(none)'), p_ulb));
    END IF;
END
$$;


CREATE FUNCTION wt_audit(p_actor jsonb, p_ulb text, p_action text, p_subject text, p_detail jsonb)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO audit (actor, role, ulb, action, subject, detail)
    VALUES (coalesce(nullif(p_actor->>'userId', ''), 'system'), coalesce(nullif(p_actor->>'role', ''), 'SYSTEM'),
            p_ulb, p_action, p_subject, p_detail)
$$;


CREATE FUNCTION wt_categories() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['DOMESTIC', 'COMMERCIAL', 'INDUSTRIAL', 'INSTITUTIONAL'] $$;

CREATE FUNCTION wt_staff() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'] $$;

CREATE FUNCTION wt_everyone() RETURNS text[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'] $$;

-- "2025-05" -> 2025-05-01.
CREATE FUNCTION wt_parse_period(p_text text, p_field text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_text IS NULL OR p_text !~ '^20[0-9]{2}-(0[1-9]|1[0-2])$' THEN
        PERFORM wt_fail('WTINV', p_field, format('%s must be a billing month such as 2025-05, not "%s"',
                                                 p_field, coalesce(p_text, '')));
    END IF;
    RETURN (p_text || '-01')::date;
END
$$;

CREATE FUNCTION wt_period_text(p_period date) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(p_period, 'YYYY-MM')
$$;

-- ---- connections ----------------------------------------------------------------

-- The connection, if the actor may reach it: staff of its ULB with one of
-- p_roles, a STATE_ADMIN (if listed), or the citizen who holds it (if
-- CITIZEN is listed). Locks it FOR UPDATE when p_lock.
CREATE FUNCTION wt_connection_for(p_actor jsonb, p_id text, p_field text, p_roles text[],
                                  p_lock boolean) RETURNS connection
LANGUAGE plpgsql AS $$
DECLARE c connection;
BEGIN
    PERFORM wt_require_role(p_actor, p_roles, 'this');
    IF p_id IS NULL OR p_id !~ '^[0-9]{1,10}-W[0-9]{3}-[0-9]{6}$' THEN
        PERFORM wt_fail('WTINV', p_field, format('%s must be a connection id such as 802462-W005-000123',
                                                 p_field));
    END IF;
    IF p_lock THEN
        SELECT * INTO c FROM connection WHERE connection_id = p_id FOR UPDATE;
    ELSE
        SELECT * INTO c FROM connection WHERE connection_id = p_id;
    END IF;
    IF NOT FOUND THEN
        PERFORM wt_fail('WTNFD', p_field, format('no water connection %s', p_id));
    END IF;
    IF p_actor->>'role' = 'CITIZEN' THEN
        IF c.user_id <> p_actor->>'userId' THEN
            PERFORM wt_fail('WTDEN', NULL, format('connection %s is not yours: citizens see only '
                                                  'the connections they applied for', p_id));
        END IF;
    ELSE
        PERFORM wt_check_ulb(p_actor, c.ulb);
    END IF;
    RETURN c;
END
$$;

CREATE FUNCTION wt_connection_json(p_id text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'connectionId', c.connection_id, 'ulb', c.ulb, 'ward', c.ward, 'propertyId', c.property_id,
        'consumerName', c.consumer_name, 'mobile', c.mobile, 'userId', c.user_id,
        'address', c.address, 'category', c.category, 'pipeSizeMm', c.pipe_size_mm,
        'metered', c.metered, 'meterNo', c.meter_no, 'units', c.units, 'status', c.status,
        'connectionFeePaise', c.connection_fee_paise, 'appliedOn', c.applied_on::text,
        'activeFrom', coalesce(c.active_from::text, ''), 'decisionReason', c.decision_reason,
        'history', coalesce((SELECT jsonb_agg(jsonb_build_object('at', wt_ts(a.at), 'action', a.action,
                                                                 'by', a.actor, 'role', a.role,
                                                                 'detail', a.detail::text) ORDER BY a.id)
                             FROM audit a WHERE a.subject = 'connection:' || c.connection_id), '[]'))
    FROM connection c WHERE c.connection_id = p_id
$$;

-- The newest saved tariff version of a ULB for a financial year (NULL: none).
CREATE FUNCTION wt_tariff_version_id(p_ulb text, p_fy integer) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT id FROM tariff_version WHERE ulb = p_ulb AND fy = p_fy ORDER BY version DESC LIMIT 1
$$;

CREATE FUNCTION wt_connection_apply(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := wt_ulb_arg(p_req->>'ulb', 'ulb');
    v_ward integer := wt_int(p_req->'ward', 'ward', 1, 999);
    v_property text := wt_text(p_req->>'propertyId', 'propertyId', 1, 64);
    v_name text := wt_text(p_req->>'consumerName', 'consumerName', 1, 120);
    v_mobile text := coalesce(p_req->>'mobile', '');
    v_address text := wt_text(p_req->>'address', 'address', 1, 300);
    v_category text := wt_enum(p_req->>'category', 'category', wt_categories());
    v_pipe integer := wt_int(p_req->'pipeSizeMm', 'pipeSizeMm', 10, 600);
    v_metered boolean := coalesce((p_req->>'metered')::boolean, false);
    v_meter text := coalesce(p_req->>'meterNo', '');
    v_units integer := greatest(wt_int(p_req->'units', 'units', 0, 10000), 1);
    v_user text := '';
    v_no integer;
    v_id text;
BEGIN
    PERFORM wt_require_role(p_actor, ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER'],
                            'applying for a water connection');
    IF p_actor->>'role' = 'CITIZEN' THEN
        v_user := p_actor->>'userId';
    ELSE
        PERFORM wt_check_ulb(p_actor, v_ulb);
    END IF;
    IF v_property !~ '^[0-9A-Za-z/-]{1,64}$' THEN
        PERFORM wt_fail('WTINV', 'propertyId', 'propertyId must be the property-tax property id, '
                        'such as 802462-005-000123');
    END IF;
    IF v_mobile <> '' AND v_mobile !~ '^[6-9][0-9]{9}$' THEN
        PERFORM wt_fail('WTINV', 'mobile', 'mobile must be 10 digits starting 6 to 9, or empty');
    END IF;
    IF v_metered AND v_meter !~ '^[A-Za-z0-9/_-]{1,32}$' THEN
        PERFORM wt_fail('WTINV', 'meterNo', 'a metered connection needs meterNo: 1 to 32 of A-Z a-z 0-9 / _ -');
    ELSIF NOT v_metered AND v_meter <> '' THEN
        PERFORM wt_fail('WTINV', 'meterNo', 'an unmetered connection has no meterNo');
    END IF;
    INSERT INTO ward_counter (ulb, ward, last_no) VALUES (v_ulb, v_ward, 1)
        ON CONFLICT (ulb, ward) DO UPDATE SET last_no = ward_counter.last_no + 1
        RETURNING last_no INTO v_no;
    v_id := v_ulb || '-W' || lpad(v_ward::text, 3, '0') || '-' || lpad(v_no::text, 6, '0');
    INSERT INTO connection (connection_id, ulb, ward, number, property_id, consumer_name, mobile,
                            user_id, address, category, pipe_size_mm, metered, meter_no, units,
                            status, applied_on, created_by)
    VALUES (v_id, v_ulb, v_ward, v_no, v_property, v_name, v_mobile, v_user, v_address, v_category,
            v_pipe, v_metered, v_meter, v_units, 'APPLIED', p_today, p_actor->>'userId');
    PERFORM wt_audit(p_actor, v_ulb, 'apply', 'connection:' || v_id, p_req);
    RETURN wt_connection_json(v_id);
END
$$;

-- Approval charges the connection fee of the tariff in force (category x
-- pipe size) and, for a meter, records its initial reading.
CREATE FUNCTION wt_connection_decide(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_approve boolean := coalesce((p_req->>'approve')::boolean, false);
    v_reason text := wt_text(p_req->>'reason', 'reason', 0, 300);
    v_initial bigint := wt_int(p_req->'initialReadingLitres', 'initialReadingLitres', 0, 1000000000000);
    v_from date := p_today;
    v_version bigint;
    v_fee bigint;
BEGIN
    IF coalesce(p_req->>'activeFrom', '') <> '' THEN
        v_from := wt_parse_date(p_req->>'activeFrom', 'activeFrom');
        IF v_from > p_today THEN
            PERFORM wt_fail('WTINV', 'activeFrom', format('activeFrom %s is after today (%s)', v_from,
                                                          p_today));
        END IF;
    END IF;
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'], true);
    IF c.status <> 'APPLIED' THEN
        PERFORM wt_fail('WTPRE', 'connectionId', format('connection %s is %s; only an application '
                                                        'waiting for a decision can be decided',
                                                        c.connection_id, c.status));
    END IF;
    IF NOT v_approve THEN
        IF char_length(v_reason) < 3 THEN
            PERFORM wt_fail('WTINV', 'reason', 'a rejection needs a reason of 3 to 300 characters');
        END IF;
        UPDATE connection SET status = 'REJECTED', decision_reason = v_reason, updated_at = now()
            WHERE connection_id = c.connection_id;
        PERFORM wt_audit(p_actor, c.ulb, 'reject', 'connection:' || c.connection_id,
                         jsonb_build_object('reason', v_reason));
        RETURN wt_connection_json(c.connection_id);
    END IF;
    v_version := wt_tariff_version_id(c.ulb, wt_fy_of(p_today));
    SELECT fee_paise INTO v_fee FROM tariff_connection_fee
        WHERE version_id = v_version AND category = c.category AND pipe_size_mm = c.pipe_size_mm;
    IF v_fee IS NULL THEN
        PERFORM wt_fail('WTPRE', 'connectionId',
                        format('ULB %s has no connection fee for %s connections of %s mm in its %s '
                               'tariff; save one (PUT /api/v1/water-tax/tariffs/%s/%s) first',
                               c.ulb, c.category, c.pipe_size_mm, wt_fy_text(wt_fy_of(p_today)),
                               c.ulb, wt_fy_text(wt_fy_of(p_today))));
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
    PERFORM wt_audit(p_actor, c.ulb, 'approve', 'connection:' || c.connection_id,
                     jsonb_build_object('feePaise', v_fee, 'tariffVersionId', v_version,
                                        'activeFrom', v_from,
                                        'initialReadingLitres', v_initial, 'reason', v_reason));
    RETURN wt_connection_json(c.connection_id);
END
$$;

-- Disconnection and reconnection, each with its fee from the tariff in force.
CREATE FUNCTION wt_connection_change(p_actor jsonb, p_req jsonb, p_today date, p_action text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_reason text := wt_text(p_req->>'reason', 'reason', 3, 300);
    v_version bigint;
    v_fee bigint := 0;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'], true);
    IF p_action = 'disconnect' AND c.status NOT IN ('ACTIVE', 'RECONNECTED') THEN
        PERFORM wt_fail('WTPRE', 'connectionId', format('connection %s is %s; only an active '
                                                        'connection can be disconnected',
                                                        c.connection_id, c.status));
    ELSIF p_action = 'reconnect' AND c.status <> 'DISCONNECTED' THEN
        PERFORM wt_fail('WTPRE', 'connectionId', format('connection %s is %s; only a disconnected '
                                                        'connection can be reconnected',
                                                        c.connection_id, c.status));
    END IF;
    v_version := wt_tariff_version_id(c.ulb, wt_fy_of(p_today));
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
    PERFORM wt_audit(p_actor, c.ulb, p_action, 'connection:' || c.connection_id,
                     jsonb_build_object('reason', v_reason, 'feePaise', v_fee));
    RETURN wt_connection_json(c.connection_id);
END
$$;

CREATE FUNCTION wt_connection_disconnect(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql AS $$ SELECT wt_connection_change(p_actor, p_req, p_today, 'disconnect') $$;

CREATE FUNCTION wt_connection_reconnect(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE sql AS $$ SELECT wt_connection_change(p_actor, p_req, p_today, 'reconnect') $$;

CREATE FUNCTION wt_connection_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c connection;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId', wt_everyone(), false);
    RETURN wt_connection_json(c.connection_id);
END
$$;

CREATE FUNCTION wt_connection_list(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := wt_ulb_arg(p_req->>'ulb', 'ulb');
    v_ward integer := wt_int(p_req->'ward', 'ward', 0, 999);
    v_size integer := coalesce(nullif(wt_int(p_req->'pageSize', 'pageSize', 0, 500), 0), 100);
    v_after text := wt_text(p_req->>'pageToken', 'pageToken', 0, 64);
    v_items jsonb;
    v_last text;
    v_count integer;
BEGIN
    PERFORM wt_require_role(p_actor, wt_everyone(), 'listing connections');
    IF p_actor->>'role' <> 'CITIZEN' THEN
        PERFORM wt_check_ulb(p_actor, v_ulb);
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

-- ---- tariffs ------------------------------------------------------------------------

-- The built-in schedule (version 0), to edit and save; never used to bill.
CREATE FUNCTION wt_tariff_defaults(p_ulb text, p_fy integer) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'ulb', p_ulb, 'fy', wt_fy_text(p_fy), 'version', 0,
        'flatRates', '[{"category":"DOMESTIC","pipeSizeMm":15,"monthlyPaise":18000},
                       {"category":"DOMESTIC","pipeSizeMm":20,"monthlyPaise":21000},
                       {"category":"COMMERCIAL","pipeSizeMm":15,"monthlyPaise":45000},
                       {"category":"COMMERCIAL","pipeSizeMm":20,"monthlyPaise":60000},
                       {"category":"INDUSTRIAL","pipeSizeMm":25,"monthlyPaise":150000},
                       {"category":"INSTITUTIONAL","pipeSizeMm":20,"monthlyPaise":40000}]'::jsonb,
        'meteredSlabs', '[{"category":"DOMESTIC","uptoKl":10,"ratePaisePerKl":500},
                          {"category":"DOMESTIC","uptoKl":20,"ratePaisePerKl":1000},
                          {"category":"DOMESTIC","uptoKl":0,"ratePaisePerKl":1500},
                          {"category":"COMMERCIAL","uptoKl":0,"ratePaisePerKl":2500},
                          {"category":"INDUSTRIAL","uptoKl":0,"ratePaisePerKl":4000},
                          {"category":"INSTITUTIONAL","uptoKl":0,"ratePaisePerKl":1500}]'::jsonb,
        'meteredMinimum', '[{"category":"DOMESTIC","paise":5000},{"category":"COMMERCIAL","paise":20000},
                            {"category":"INDUSTRIAL","paise":50000},
                            {"category":"INSTITUTIONAL","paise":15000}]'::jsonb,
        'sewerageBp', 3000,
        'solidWaste', '[{"category":"DOMESTIC","paise":3000},{"category":"COMMERCIAL","paise":10000},
                        {"category":"INDUSTRIAL","paise":20000},
                        {"category":"INSTITUTIONAL","paise":10000}]'::jsonb,
        'surchargeBp', 200, 'advanceRebateBp', 500, 'dueDays', 15, 'maxMonthlyKl', 100,
        'estimateDefaultKl', 15,
        'connectionFees', '[{"category":"DOMESTIC","pipeSizeMm":15,"feePaise":200000},
                            {"category":"DOMESTIC","pipeSizeMm":20,"feePaise":300000},
                            {"category":"COMMERCIAL","pipeSizeMm":15,"feePaise":500000},
                            {"category":"COMMERCIAL","pipeSizeMm":20,"feePaise":750000},
                            {"category":"INDUSTRIAL","pipeSizeMm":25,"feePaise":1500000},
                            {"category":"INSTITUTIONAL","pipeSizeMm":20,"feePaise":500000}]'::jsonb,
        'disconnectionFeePaise', 20000, 'reconnectionFeePaise', 50000, 'reason', 'built-in defaults',
        'createdBy', '', 'createdAt', '')
$$;

CREATE FUNCTION wt_tariff_json(p_version_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'ulb', v.ulb, 'fy', wt_fy_text(v.fy), 'version', v.version,
        'flatRates', coalesce((SELECT jsonb_agg(jsonb_build_object('category', f.category,
                                   'pipeSizeMm', f.pipe_size_mm, 'monthlyPaise', f.monthly_paise)
                                   ORDER BY f.category, f.pipe_size_mm)
                               FROM tariff_flat f WHERE f.version_id = v.id), '[]'),
        'meteredSlabs', coalesce((SELECT jsonb_agg(jsonb_build_object('category', s.category,
                                      'uptoKl', coalesce(s.upper_litres / 1000, 0),
                                      'ratePaisePerKl', s.rate_paise_per_kl)
                                      ORDER BY s.category, s.ordinal)
                                  FROM tariff_slab s WHERE s.version_id = v.id), '[]'),
        'meteredMinimum', coalesce((SELECT jsonb_agg(jsonb_build_object('category', c.category,
                                        'paise', c.metered_minimum_paise) ORDER BY c.category)
                                    FROM tariff_category c WHERE c.version_id = v.id), '[]'),
        'sewerageBp', v.sewerage_bp,
        'solidWaste', coalesce((SELECT jsonb_agg(jsonb_build_object('category', c.category,
                                    'paise', c.solid_waste_paise) ORDER BY c.category)
                                FROM tariff_category c WHERE c.version_id = v.id), '[]'),
        'surchargeBp', v.surcharge_bp, 'advanceRebateBp', v.advance_rebate_bp, 'dueDays', v.due_days,
        'maxMonthlyKl', v.max_monthly_kl, 'estimateDefaultKl', v.estimate_default_kl,
        'connectionFees', coalesce((SELECT jsonb_agg(jsonb_build_object('category', f.category,
                                        'pipeSizeMm', f.pipe_size_mm, 'feePaise', f.fee_paise)
                                        ORDER BY f.category, f.pipe_size_mm)
                                    FROM tariff_connection_fee f WHERE f.version_id = v.id), '[]'),
        'disconnectionFeePaise', v.disconnection_fee_paise,
        'reconnectionFeePaise', v.reconnection_fee_paise, 'reason', v.reason,
        'createdBy', v.created_by, 'createdAt', wt_ts(v.created_at))
    FROM tariff_version v WHERE v.id = p_version_id
$$;

CREATE FUNCTION wt_tariff_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := wt_ulb_arg(p_req->>'ulb', 'ulb');
    v_fy integer := wt_parse_fy(p_req->>'fy', 'fy');
    v_version integer := wt_int(p_req->'version', 'version', 0, 100000);
    v_id bigint;
BEGIN
    PERFORM wt_require_role(p_actor, wt_everyone(), 'reading a tariff');
    IF v_version = 0 THEN
        v_id := wt_tariff_version_id(v_ulb, v_fy);
        IF v_id IS NULL THEN
            RETURN wt_tariff_defaults(v_ulb, v_fy);
        END IF;
    ELSE
        SELECT id INTO v_id FROM tariff_version WHERE ulb = v_ulb AND fy = v_fy AND version = v_version;
        IF NOT FOUND THEN
            PERFORM wt_fail('WTNFD', 'version', format('ULB %s has no tariff version %s for %s', v_ulb,
                                                       v_version, wt_fy_text(v_fy)));
        END IF;
    END IF;
    RETURN wt_tariff_json(v_id);
END
$$;

-- A list of {category, paise}, validated: each category at most once.
CREATE FUNCTION wt_category_charges(p_list jsonb, p_field text)
RETURNS TABLE (category text, paise bigint) LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
    i integer := 0;
    v_seen text[] := '{}';
    v_cat text;
BEGIN
    FOR e IN SELECT x FROM jsonb_array_elements(coalesce(p_list, '[]')) x LOOP
        v_cat := wt_enum(e->>'category', format('%s[%s].category', p_field, i), wt_categories());
        IF v_cat = ANY (v_seen) THEN
            PERFORM wt_fail('WTINV', format('%s[%s].category', p_field, i),
                            format('%s lists %s twice', p_field, v_cat));
        END IF;
        v_seen := v_seen || v_cat;
        category := v_cat;
        paise := wt_int(e->'paise', format('%s[%s].paise', p_field, i), 0, 100000000);
        RETURN NEXT;
        i := i + 1;
    END LOOP;
END
$$;

-- Saves a complete tariff as the next version. Every list is validated
-- with its field path; a category's metered slabs rise and end with an
-- open slab (uptoKl 0).
CREATE FUNCTION wt_tariff_set(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := wt_ulb_arg(p_req->>'ulb', 'ulb');
    v_fy integer := wt_parse_fy(p_req->>'fy', 'fy');
    v_id bigint;
    v_version integer;
    e jsonb;
    i integer;
    f text;
    v_cat text;
    v_prev_cat text := '';
    v_lower bigint;
    v_upto bigint;
    v_rate bigint;
    v_base numeric;
    v_ord integer;
    v_open boolean;
BEGIN
    PERFORM wt_require_role(p_actor, ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'saving a water tariff');
    PERFORM wt_check_ulb(p_actor, v_ulb);
    PERFORM pg_advisory_xact_lock(hashtext('wt_tariff:' || v_ulb || ':' || v_fy));
    SELECT coalesce(max(version), 0) + 1 INTO v_version FROM tariff_version
        WHERE ulb = v_ulb AND fy = v_fy;
    INSERT INTO tariff_version (ulb, fy, version, sewerage_bp, surcharge_bp, advance_rebate_bp,
                                due_days, max_monthly_kl, estimate_default_kl,
                                disconnection_fee_paise, reconnection_fee_paise, reason, created_by)
    VALUES (v_ulb, v_fy, v_version,
            wt_int(p_req->'sewerageBp', 'sewerageBp', 0, 20000),
            wt_int(p_req->'surchargeBp', 'surchargeBp', 0, 5000),
            wt_int(p_req->'advanceRebateBp', 'advanceRebateBp', 0, 5000),
            greatest(wt_int(p_req->'dueDays', 'dueDays', 0, 90), 1),
            wt_int(p_req->'maxMonthlyKl', 'maxMonthlyKl', 1, 10000000),
            wt_int(p_req->'estimateDefaultKl', 'estimateDefaultKl', 0, 10000000),
            wt_int(p_req->'disconnectionFeePaise', 'disconnectionFeePaise', 0, 100000000),
            wt_int(p_req->'reconnectionFeePaise', 'reconnectionFeePaise', 0, 100000000),
            wt_text(p_req->>'reason', 'reason', 3, 300), p_actor->>'userId')
    RETURNING id INTO v_id;
    i := 0;
    FOR e IN SELECT x FROM jsonb_array_elements(coalesce(p_req->'flatRates', '[]')) x LOOP
        f := format('flatRates[%s].', i);
        IF EXISTS (SELECT FROM tariff_flat WHERE version_id = v_id AND category = e->>'category'
                                             AND pipe_size_mm = (e->>'pipeSizeMm')::integer) THEN
            PERFORM wt_fail('WTINV', f || 'pipeSizeMm', format('%spipeSizeMm %s of %s is listed twice',
                                                               f, e->>'pipeSizeMm', e->>'category'));
        END IF;
        INSERT INTO tariff_flat VALUES (v_id, wt_enum(e->>'category', f || 'category', wt_categories()),
                                        wt_int(e->'pipeSizeMm', f || 'pipeSizeMm', 10, 600),
                                        wt_int(e->'monthlyPaise', f || 'monthlyPaise', 0, 100000000));
        i := i + 1;
    END LOOP;
    i := 0;
    v_open := true;
    FOR e IN SELECT x FROM jsonb_array_elements(coalesce(p_req->'meteredSlabs', '[]')) x LOOP
        f := format('meteredSlabs[%s].', i);
        v_cat := wt_enum(e->>'category', f || 'category', wt_categories());
        v_upto := wt_int(e->'uptoKl', f || 'uptoKl', 0, 10000000);
        v_rate := wt_int(e->'ratePaisePerKl', f || 'ratePaisePerKl', 0, 10000000);
        IF v_cat <> v_prev_cat THEN
            IF NOT v_open THEN
                PERFORM wt_fail('WTINV', f || 'category', format('the slabs of %s must end with an open '
                                'slab (uptoKl 0) before %s starts', v_prev_cat, f || 'category'));
            END IF;
            IF EXISTS (SELECT FROM tariff_slab WHERE version_id = v_id AND category = v_cat) THEN
                PERFORM wt_fail('WTINV', f || 'category', format('the slabs of %s must be listed together', v_cat));
            END IF;
            v_lower := 0; v_base := 0; v_ord := 0; v_prev_cat := v_cat;
        ELSIF v_open THEN
            PERFORM wt_fail('WTINV', f || 'uptoKl', format('%s already has its open slab (uptoKl 0) '
                            'before %s', v_cat, f || 'uptoKl'));
        END IF;
        IF v_upto <> 0 AND v_upto * 1000 <= v_lower THEN
            PERFORM wt_fail('WTINV', f || 'uptoKl', format('%suptoKl must rise: %s kl is not above %s kl',
                                                           f, v_upto, v_lower / 1000));
        END IF;
        v_ord := v_ord + 1;
        INSERT INTO tariff_slab VALUES (v_id, v_cat, v_ord, v_lower, nullif(v_upto * 1000, 0), v_rate, v_base);
        v_open := v_upto = 0;
        IF NOT v_open THEN
            v_base := v_base + (v_upto * 1000 - v_lower)::numeric * v_rate;
            v_lower := v_upto * 1000;
        END IF;
        i := i + 1;
    END LOOP;
    IF NOT v_open THEN
        PERFORM wt_fail('WTINV', format('meteredSlabs[%s].uptoKl', i - 1),
                        format('the slabs of %s must end with an open slab (uptoKl 0)', v_prev_cat));
    END IF;
    -- Metered minimum and solid-waste charge per category (absent = 0).
    INSERT INTO tariff_category (version_id, category, metered_minimum_paise, solid_waste_paise)
    SELECT v_id, c, coalesce(m.paise, 0), coalesce(w.paise, 0)
    FROM unnest(wt_categories()) c
    LEFT JOIN wt_category_charges(p_req->'meteredMinimum', 'meteredMinimum') m ON m.category = c
    LEFT JOIN wt_category_charges(p_req->'solidWaste', 'solidWaste') w ON w.category = c;
    i := 0;
    FOR e IN SELECT x FROM jsonb_array_elements(coalesce(p_req->'connectionFees', '[]')) x LOOP
        f := format('connectionFees[%s].', i);
        IF EXISTS (SELECT FROM tariff_connection_fee WHERE version_id = v_id
                   AND category = e->>'category' AND pipe_size_mm = (e->>'pipeSizeMm')::integer) THEN
            PERFORM wt_fail('WTINV', f || 'pipeSizeMm', format('%spipeSizeMm %s of %s is listed twice',
                                                               f, e->>'pipeSizeMm', e->>'category'));
        END IF;
        INSERT INTO tariff_connection_fee VALUES (
            v_id, wt_enum(e->>'category', f || 'category', wt_categories()),
            wt_int(e->'pipeSizeMm', f || 'pipeSizeMm', 10, 600),
            wt_int(e->'feePaise', f || 'feePaise', 0, 100000000));
        i := i + 1;
    END LOOP;
    PERFORM wt_audit(p_actor, v_ulb, 'tariff.set', 'tariff:' || v_ulb || ':' || wt_fy_text(v_fy),
                     jsonb_build_object('version', v_version));
    RETURN wt_tariff_json(v_id);
END
$$;

-- ---- meter readings ------------------------------------------------------------------

CREATE FUNCTION wt_reading_json(r meter_reading) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('connectionId', r.connection_id, 'period', wt_period_text(r.period),
                              'readingDate', r.reading_date::text, 'readingLitres', r.reading_litres,
                              'consumptionLitres', r.consumption_litres, 'kind', r.kind,
                              'meterNo', r.meter_no, 'recordedBy', r.recorded_by)
$$;

-- The most a meter may plausibly record in a month: the tariff in force
-- for the reading's year (its newest version), else the default 100 kl.
CREATE FUNCTION wt_max_monthly_litres(p_ulb text, p_on date) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT v.max_monthly_kl FROM tariff_version v
                     WHERE v.id = wt_tariff_version_id(p_ulb, wt_fy_of(p_on))), 100) * 1000
$$;

-- Records one actual reading of connection c (locked by the caller). The
-- rules: a metered, billable connection; a date not before the last
-- reading nor after today; not lower than the last actual (or initial)
-- reading of the same meter (a replaced meter needs its replacement
-- recorded first); not implying more than the tariff's maxMonthlyKl per
-- month since the last reading; one reading per month. Consumption is
-- measured from the last reading of any kind (an estimate included), never
-- below zero.
CREATE FUNCTION wt_reading_insert(p_actor jsonb, c connection, p_date date, p_litres bigint,
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
        PERFORM wt_fail('WTPRE', 'connectionId', format('connection %s has no meter: it pays the flat rate',
                                                        c.connection_id));
    END IF;
    IF c.status NOT IN ('ACTIVE', 'RECONNECTED') THEN
        PERFORM wt_fail('WTPRE', 'connectionId', format('connection %s is %s; readings are taken of '
                                                        'active connections', c.connection_id, c.status));
    END IF;
    IF p_date > p_today THEN
        PERFORM wt_fail('WTINV', 'readingDate', format('readingDate %s is in the future', p_date));
    END IF;
    IF p_litres < 0 OR p_litres > 1000000000000 THEN
        PERFORM wt_fail('WTINV', 'readingLitres', 'readingLitres must be from 0 to 1000000000000');
    END IF;
    SELECT * INTO v_last FROM meter_reading
        WHERE connection_id = c.connection_id AND kind IN ('ACTUAL', 'INITIAL')
        ORDER BY reading_date DESC, id DESC LIMIT 1;
    SELECT * INTO v_last_any FROM meter_reading
        WHERE connection_id = c.connection_id ORDER BY reading_date DESC, id DESC LIMIT 1;
    IF v_last_any.id IS NOT NULL AND p_date < v_last_any.reading_date THEN
        PERFORM wt_fail('WTINV', 'readingDate', format('readingDate %s is before the last reading of %s',
                                                       p_date, v_last_any.reading_date));
    END IF;
    IF v_last.id IS NOT NULL AND p_litres < v_last.reading_litres THEN
        PERFORM wt_fail('WTINV', 'readingLitres',
                        format('reading %s litres is lower than the last reading %s litres of meter %s '
                               'on %s; if the meter was replaced, record the replacement first',
                               p_litres, v_last.reading_litres, v_last.meter_no, v_last.reading_date));
    END IF;
    v_months := greatest(1, (extract(year FROM p_date)::integer * 12 + extract(month FROM p_date)::integer)
                          - (extract(year FROM coalesce(v_last.reading_date, p_date))::integer * 12
                             + extract(month FROM coalesce(v_last.reading_date, p_date))::integer));
    v_max := wt_max_monthly_litres(c.ulb, p_date);
    IF v_last.id IS NOT NULL AND p_litres - v_last.reading_litres > v_max * v_months THEN
        PERFORM wt_fail('WTINV', 'readingLitres',
                        format('reading %s litres implies %s litres in %s month(s) since %s, more than '
                               'the plausible %s litres a month; check the reading (or the tariff''s '
                               'maxMonthlyKl)', p_litres, p_litres - v_last.reading_litres, v_months,
                               v_last.reading_date, v_max));
    END IF;
    IF EXISTS (SELECT FROM meter_reading WHERE connection_id = c.connection_id
                  AND period = date_trunc('month', p_date)::date AND kind IN ('ACTUAL', 'ESTIMATED')) THEN
        PERFORM wt_fail('WTCON', 'readingDate',
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

CREATE FUNCTION wt_reading_record(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c connection;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], true);
    RETURN wt_reading_json(wt_reading_insert(p_actor, c, wt_parse_date(p_req->>'readingDate', 'readingDate'),
                                             wt_int(p_req->'readingLitres', 'readingLitres', 0,
                                                    1000000000000), p_today));
END
$$;

-- Rows {line, connectionId, readingDate, readingLitres} (parsed by the C
-- side). Each row is taken or refused on its own; refusals come back with
-- their line, field and reason.
CREATE FUNCTION wt_reading_import(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := wt_ulb_arg(p_req->>'ulb', 'ulb');
    e jsonb;
    c connection;
    v_accepted integer := 0;
    v_rejected jsonb := '[]';
    v_state text;
    v_message text;
    v_field text;
BEGIN
    PERFORM wt_require_role(p_actor, ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'importing meter readings');
    PERFORM wt_check_ulb(p_actor, v_ulb);
    FOR e IN SELECT x FROM jsonb_array_elements(p_req->'rows') x LOOP
        BEGIN
            SELECT * INTO c FROM connection WHERE connection_id = e->>'connectionId' FOR UPDATE;
            IF NOT FOUND OR c.ulb <> v_ulb THEN
                PERFORM wt_fail('WTNFD', 'connectionId', format('no water connection %s in ULB %s',
                                                                e->>'connectionId', v_ulb));
            END IF;
            PERFORM wt_reading_insert(p_actor, c, wt_parse_date(e->>'readingDate', 'readingDate'),
                                      wt_int(e->'readingLitres', 'readingLitres', 0, 1000000000000),
                                      p_today);
            v_accepted := v_accepted + 1;
        EXCEPTION WHEN SQLSTATE 'WTINV' OR SQLSTATE 'WTNFD' OR SQLSTATE 'WTPRE' OR SQLSTATE 'WTCON' THEN
            GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_field = PG_EXCEPTION_DETAIL;
            v_rejected := v_rejected || jsonb_build_object('line', (e->>'line')::integer,
                                                           'connectionId', coalesce(e->>'connectionId', ''),
                                                           'field', v_field, 'message', v_message);
        END;
    END LOOP;
    PERFORM wt_audit(p_actor, v_ulb, 'readings.import', 'readings:' || v_ulb,
                     jsonb_build_object('accepted', v_accepted, 'rejected', jsonb_array_length(v_rejected)));
    RETURN jsonb_build_object('accepted', v_accepted, 'rejected', v_rejected);
END
$$;

-- A meter replacement: the old meter's final reading (its consumption
-- counts in that month) and the new meter's initial reading; readings of
-- the new meter are then compared with its initial reading.
CREATE FUNCTION wt_meter_replace(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_date date := wt_parse_date(p_req->>'replacedOn', 'replacedOn');
    v_final bigint := wt_int(p_req->'oldMeterFinalLitres', 'oldMeterFinalLitres', 0, 1000000000000);
    v_new text := coalesce(p_req->>'newMeterNo', '');
    v_initial bigint := wt_int(p_req->'newMeterInitialLitres', 'newMeterInitialLitres', 0, 1000000000000);
    v_reason text := wt_text(p_req->>'reason', 'reason', 3, 300);
    v_last meter_reading;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], true);
    IF NOT c.metered THEN
        PERFORM wt_fail('WTPRE', 'connectionId', format('connection %s has no meter', c.connection_id));
    END IF;
    IF v_new !~ '^[A-Za-z0-9/_-]{1,32}$' OR v_new = c.meter_no THEN
        PERFORM wt_fail('WTINV', 'newMeterNo', 'newMeterNo must be 1 to 32 of A-Z a-z 0-9 / _ - and '
                        'differ from the old meter''s');
    END IF;
    IF v_date > p_today THEN
        PERFORM wt_fail('WTINV', 'replacedOn', format('replacedOn %s is in the future', v_date));
    END IF;
    SELECT * INTO v_last FROM meter_reading WHERE connection_id = c.connection_id
        ORDER BY reading_date DESC, id DESC LIMIT 1;
    IF v_last.id IS NOT NULL AND v_date < v_last.reading_date THEN
        PERFORM wt_fail('WTINV', 'replacedOn', format('replacedOn %s is before the last reading of %s',
                                                      v_date, v_last.reading_date));
    END IF;
    IF v_last.id IS NOT NULL AND v_final < v_last.reading_litres THEN
        PERFORM wt_fail('WTINV', 'oldMeterFinalLitres',
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
    PERFORM wt_audit(p_actor, c.ulb, 'replace_meter', 'connection:' || c.connection_id,
                     jsonb_build_object('oldMeterNo', c.meter_no, 'newMeterNo', v_new,
                                        'oldMeterFinalLitres', v_final,
                                        'newMeterInitialLitres', v_initial, 'reason', v_reason));
    RETURN wt_connection_json(c.connection_id);
END
$$;

CREATE FUNCTION wt_reading_list(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE c connection;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId', wt_everyone(), false);
    RETURN jsonb_build_object('readings', coalesce((SELECT jsonb_agg(wt_reading_json(r)
                                                               ORDER BY r.reading_date, r.id)
                                                    FROM meter_reading r
                                                    WHERE r.connection_id = c.connection_id), '[]'));
END
$$;

-- ---- bills ------------------------------------------------------------------------------

CREATE FUNCTION wt_bill_job_json(p_id bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('jobId', j.id, 'ulb', coalesce(j.ulb, ''),
                              'period', wt_period_text(j.period), 'status', j.status,
                              'total', j.total, 'processed', j.processed,
                              'billsCreated', j.bills_created, 'skipped', j.skipped,
                              'estimated', j.estimated, 'createdAt', wt_ts(j.created_at),
                              'finishedAt', coalesce(wt_ts(j.finished_at), ''), 'chunks', j.chunks)
    FROM bill_job j WHERE j.id = p_id
$$;

-- Which connections a bill run for p_period covers: active (or
-- reconnected) on the last day of the month.
CREATE FUNCTION wt_billable(c connection, p_period date) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT c.status IN ('ACTIVE', 'RECONNECTED')
           AND c.active_from <= (p_period + interval '1 month' - interval '1 day')::date
$$;

CREATE FUNCTION wt_bill_generate(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := nullif(coalesce(p_req->>'ulb', ''), '');
    v_period date;
    v_id bigint;
BEGIN
    PERFORM wt_require_role(p_actor, ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'generating water bills');
    IF v_ulb IS NULL THEN
        IF p_actor->>'role' <> 'STATE_ADMIN' THEN
            PERFORM wt_fail('WTDEN', 'ulb', 'only a STATE_ADMIN may bill every ULB at once');
        END IF;
    ELSE
        PERFORM wt_ulb_arg(v_ulb, 'ulb');
        PERFORM wt_check_ulb(p_actor, v_ulb);
    END IF;
    v_period := wt_parse_period(p_req->>'period', 'period');
    IF v_period >= date_trunc('month', p_today)::date THEN
        PERFORM wt_fail('WTINV', 'period', format('period %s has not ended yet (today is %s)',
                                                  wt_period_text(v_period), p_today));
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('wt_bill:' || coalesce(v_ulb, '*') || ':' || v_period));
    SELECT id INTO v_id FROM bill_job
        WHERE coalesce(ulb, '') = coalesce(v_ulb, '') AND period = v_period AND status = 'RUNNING';
    IF NOT FOUND THEN
        INSERT INTO bill_job (ulb, period, status, total, created_by)
        VALUES (v_ulb, v_period, 'RUNNING',
                (SELECT count(*) FROM connection c
                 WHERE (v_ulb IS NULL OR c.ulb = v_ulb) AND wt_billable(c, v_period)),
                coalesce(p_actor->>'userId', 'system'))
        RETURNING id INTO v_id;
        PERFORM wt_audit(p_actor, coalesce(v_ulb, ''), 'bill.generate', 'bill_job:' || v_id,
                         jsonb_build_object('period', wt_period_text(v_period)));
    END IF;
    RETURN wt_bill_job_json(v_id);
END
$$;

CREATE FUNCTION wt_bill_status(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE j bill_job;
BEGIN
    PERFORM wt_require_role(p_actor, ARRAY['REVENUE_OFFICER', 'COMMISSIONER', 'STATE_ADMIN'],
                            'reading a bill job');
    SELECT * INTO j FROM bill_job WHERE id = wt_int(p_req->'jobId', 'jobId', 1, 9223372036854775807);
    IF NOT FOUND THEN
        PERFORM wt_fail('WTNFD', 'jobId', format('no bill job %s', p_req->>'jobId'));
    END IF;
    IF j.ulb IS NULL AND p_actor->>'role' <> 'STATE_ADMIN' THEN
        PERFORM wt_fail('WTDEN', NULL, 'only a STATE_ADMIN may read a job over every ULB');
    ELSIF j.ulb IS NOT NULL THEN
        PERFORM wt_check_ulb(p_actor, j.ulb);
    END IF;
    RETURN wt_bill_job_json(j.id);
END
$$;

-- One chunk of the oldest running job that no other process holds: the
-- next p_limit billable connections after the job's cursor get their bill
-- in one INSERT ... SELECT (estimated readings with it), the cursor moves,
-- and all of it commits together. NULL when no job waits, else
-- {"job": BillJob, "done": bool}.
CREATE FUNCTION wt_bill_run_chunk(p_limit integer) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    j bill_job;
    v_ids text[];
    v_count integer;
    v_matched bigint := 0;
    v_bills bigint := 0;
    v_estimated bigint := 0;
    v_done boolean;
    v_fy integer;
    v_bill_date date;
BEGIN
    SELECT * INTO j FROM bill_job WHERE status = 'RUNNING' ORDER BY id LIMIT 1
        FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_fy := wt_fy_of(j.period);
    v_bill_date := (j.period + interval '1 month')::date;
    SELECT array_agg(connection_id ORDER BY connection_id) INTO v_ids FROM (
        SELECT c.connection_id FROM connection c
        WHERE (j.ulb IS NULL OR c.ulb = j.ulb) AND c.connection_id > j.cursor_id
          AND wt_billable(c, j.period)
        ORDER BY c.connection_id LIMIT p_limit) s;
    v_count := coalesce(cardinality(v_ids), 0);
    IF v_count > 0 THEN
        -- Set-based: each input is read for the whole chunk (= ANY (v_ids)) and joined.
        WITH cand AS (
            SELECT c.* FROM connection c WHERE c.connection_id = ANY (v_ids)
        ), ver AS (
            SELECT DISTINCT ON (v.ulb) v.* FROM tariff_version v
            WHERE v.fy = v_fy AND v.ulb IN (SELECT DISTINCT cand.ulb FROM cand)
            ORDER BY v.ulb, v.version DESC
        ), rd AS (
            SELECT r.connection_id, sum(r.consumption_litres) AS used FROM meter_reading r
            WHERE r.connection_id = ANY (v_ids) AND r.period = j.period AND r.kind IN ('ACTUAL', 'FINAL')
            GROUP BY r.connection_id
        ), hist AS (
            SELECT h.connection_id, round(avg(h.consumption_litres))::bigint AS avg3 FROM (
                SELECT r.connection_id, r.consumption_litres,
                       row_number() OVER (PARTITION BY r.connection_id ORDER BY r.period DESC) AS rn
                FROM meter_reading r
                WHERE r.connection_id = ANY (v_ids) AND r.kind = 'ACTUAL' AND r.period < j.period) h
            WHERE h.rn <= 3 GROUP BY h.connection_id
        ), lastr AS (
            SELECT DISTINCT ON (r.connection_id) r.connection_id, r.reading_litres, r.meter_no
            FROM meter_reading r WHERE r.connection_id = ANY (v_ids)
            ORDER BY r.connection_id, r.reading_date DESC, r.id DESC
        ), owed AS (
            SELECT x.connection_id, sum(x.amount) AS amount FROM (
                SELECT b.connection_id, b.water_paise - b.rebate_paise + b.sewerage_paise
                       + b.solid_waste_paise + b.surcharge_paise AS amount
                FROM bill b WHERE b.connection_id = ANY (v_ids) AND b.period < j.period
                UNION ALL
                SELECT f.connection_id, f.amount_paise FROM fee f
                WHERE f.connection_id = ANY (v_ids) AND f.charged_on < v_bill_date) x
            GROUP BY x.connection_id
        ), al AS (
            SELECT a.connection_id,
                   sum(a.amount_paise) FILTER (WHERE a.head <> 'ADVANCE') AS settled,
                   sum(a.amount_paise) FILTER (WHERE a.head = 'ADVANCE') AS advance
            FROM allocation a WHERE a.connection_id = ANY (v_ids) GROUP BY a.connection_id
        ), base AS (
            SELECT c.connection_id, c.ulb, c.ward, c.metered, c.units, c.category, c.meter_no,
                   v.id AS version_id, v.sewerage_bp, v.surcharge_bp, v.advance_rebate_bp, v.due_days,
                   tf.monthly_paise, tc.metered_minimum_paise, tc.solid_waste_paise,
                   CASE WHEN NOT c.metered THEN 0
                        WHEN rd.connection_id IS NOT NULL THEN rd.used
                        ELSE coalesce(hist.avg3, v.estimate_default_kl * 1000) END AS litres,
                   c.metered AND rd.connection_id IS NULL AS estimated,
                   coalesce(owed.amount, 0) - coalesce(al.settled, 0) AS arrear,
                   coalesce(al.advance, 0) AS advance
            FROM cand c
            JOIN ver v ON v.ulb = c.ulb
            LEFT JOIN tariff_flat tf ON tf.version_id = v.id AND tf.category = c.category
                                    AND tf.pipe_size_mm = c.pipe_size_mm
            LEFT JOIN tariff_category tc ON tc.version_id = v.id AND tc.category = c.category
            LEFT JOIN rd ON rd.connection_id = c.connection_id
            LEFT JOIN hist ON hist.connection_id = c.connection_id
            LEFT JOIN owed ON owed.connection_id = c.connection_id
            LEFT JOIN al ON al.connection_id = c.connection_id
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
    v_done := v_count < p_limit;
    UPDATE bill_job SET
        cursor_id = CASE WHEN v_count > 0 THEN v_ids[v_count] ELSE cursor_id END,
        processed = processed + v_count, bills_created = bills_created + v_bills,
        skipped = skipped + (v_count - v_matched), estimated = estimated + v_estimated,
        chunks = chunks + 1, updated_at = now(),
        status = CASE WHEN v_done THEN 'DONE' ELSE status END,
        finished_at = CASE WHEN v_done THEN now() END
    WHERE id = j.id;
    RETURN jsonb_build_object('job', wt_bill_job_json(j.id), 'done', v_done);
END
$$;

CREATE FUNCTION wt_bill_json(p_connection text, p_period date) RETURNS jsonb
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

CREATE FUNCTION wt_bill_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_period date := wt_parse_period(p_req->>'period', 'period');
    v jsonb;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId', wt_everyone(), false);
    v := wt_bill_json(c.connection_id, v_period);
    IF v IS NULL THEN
        PERFORM wt_fail('WTNFD', 'period', format('connection %s has no bill for %s', c.connection_id,
                                                  wt_period_text(v_period)));
    END IF;
    RETURN v;
END
$$;

-- ---- dues ---------------------------------------------------------------------------------

CREATE FUNCTION wt_head_order(p_head text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_head WHEN 'SURCHARGE' THEN 0 WHEN 'WATER' THEN 1 WHEN 'SEWERAGE' THEN 2
                       WHEN 'SOLID_WASTE' THEN 3 ELSE 4 END
$$;

-- Every charge of a connection with what is settled and outstanding, in
-- apportionment order: oldest first (a bill on its bill date, a fee on the
-- day it was charged), within a bill SURCHARGE, WATER (after the advance
-- rebate), SEWERAGE, SOLID_WASTE.
CREATE FUNCTION wt_dues_lines(p_connection text)
RETURNS TABLE (ref text, head text, charged_on date, due_on date, ord integer, charged_paise bigint,
               settled_paise bigint, outstanding_paise bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    WITH ch AS (
        SELECT wt_period_text(b.period) AS ref, x.head, b.bill_date AS charged_on, b.due_date AS due_on,
               wt_head_order(x.head) AS ord, x.amount
        FROM bill b
        CROSS JOIN LATERAL (VALUES ('SURCHARGE', b.surcharge_paise),
                                   ('WATER', b.water_paise - b.rebate_paise),
                                   ('SEWERAGE', b.sewerage_paise),
                                   ('SOLID_WASTE', b.solid_waste_paise)) AS x(head, amount)
        WHERE b.connection_id = p_connection AND x.amount <> 0
        UNION ALL
        SELECT 'FEE:' || f.id, f.head, f.charged_on, f.charged_on, 4, f.amount_paise
        FROM fee f WHERE f.connection_id = p_connection
    ), st AS (
        SELECT a.ref, a.head, sum(a.amount_paise) AS amount FROM allocation a
        WHERE a.connection_id = p_connection AND a.head <> 'ADVANCE' GROUP BY a.ref, a.head
    )
    SELECT ch.ref, ch.head, ch.charged_on, ch.due_on, ch.ord, ch.amount::bigint,
           coalesce(st.amount, 0)::bigint, (ch.amount - coalesce(st.amount, 0))::bigint
    FROM ch LEFT JOIN st ON st.ref = ch.ref AND st.head = ch.head
    ORDER BY ch.charged_on, ch.ref, ch.ord;
END
$$;

CREATE FUNCTION wt_advance_of(p_connection text) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(amount_paise), 0)::bigint FROM allocation
            WHERE connection_id = p_connection AND head = 'ADVANCE');
END
$$;

CREATE FUNCTION wt_dues(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_outstanding bigint;
    v_advance bigint;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId', wt_everyone(), false);
    SELECT coalesce(sum(outstanding_paise), 0) INTO v_outstanding FROM wt_dues_lines(c.connection_id);
    v_advance := wt_advance_of(c.connection_id);
    RETURN jsonb_build_object(
        'connectionId', c.connection_id,
        'lines', coalesce((SELECT jsonb_agg(jsonb_build_object('ref', l.ref, 'head', l.head,
                                   'chargedPaise', l.charged_paise, 'settledPaise', l.settled_paise,
                                   'outstandingPaise', l.outstanding_paise)
                                   ORDER BY l.charged_on, l.ref, l.ord)
                           FROM wt_dues_lines(c.connection_id) l), '[]'),
        'outstandingPaise', v_outstanding, 'advancePaise', v_advance,
        'payablePaise', greatest(v_outstanding - v_advance, 0));
END
$$;

-- ---- payments -----------------------------------------------------------------------------

CREATE FUNCTION wt_receipt_json(p_payment_id bigint) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
        'receiptNo', p.receipt_no, 'ulb', p.ulb, 'connectionId', p.connection_id,
        'amountPaise', p.amount_paise, 'mode', p.mode, 'instrumentRef', p.instrument_ref,
        'counter', p.counter, 'paidOn', p.paid_on::text,
        'allocations', coalesce((SELECT jsonb_agg(jsonb_build_object('ref', a.ref, 'head', a.head,
                                     'amountPaise', a.amount_paise) ORDER BY a.id)
                                 FROM allocation a WHERE a.payment_id = p.id), '[]'),
        'ledgerSeq', p.ledger_seq,
        'reversesReceiptNo', coalesce((SELECT o.receipt_no FROM payment o
                                       WHERE o.id = p.reverses_payment_id), ''),
        'reversedByReceiptNo', coalesce((SELECT r.receipt_no FROM payment r
                                         WHERE r.reverses_payment_id = p.id), ''),
        'recordedBy', p.recorded_by, 'reason', p.reason, 'advancePaise', p.advance_after_paise)
    FROM payment p WHERE p.id = p_payment_id);
END
$$;

CREATE FUNCTION wt_payment_prepare(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_mode text;
    v_ref text;
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    PERFORM wt_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000);
    v_mode := wt_enum(p_req->>'mode', 'mode', ARRAY['CASH', 'CHEQUE', 'DEMAND_DRAFT', 'UPI']);
    v_ref := coalesce(p_req->>'instrumentRef', '');
    IF v_ref !~ '^[A-Za-z0-9/._-]{0,64}$' OR (v_mode <> 'CASH' AND v_ref = '') THEN
        PERFORM wt_fail('WTINV', 'instrumentRef',
                        format('instrumentRef must be 1 to 64 of A-Z a-z 0-9 / . _ - (the %s number)%s',
                               lower(replace(v_mode, '_', ' ')),
                               CASE WHEN v_mode = 'CASH' THEN ' or empty for cash' ELSE '' END));
    END IF;
    IF coalesce(p_req->>'counter', '') !~ '^[A-Z0-9]{1,16}$' OR p_req->>'counter' = 'ONLINE' THEN
        PERFORM wt_fail('WTINV', 'counter', 'counter must be 1 to 16 of A-Z, 0-9 (ONLINE is reserved)');
    END IF;
    IF c.status IN ('APPLIED', 'REJECTED') THEN
        PERFORM wt_fail('WTPRE', 'connectionId', format('connection %s is %s: nothing to pay yet',
                                                        c.connection_id, c.status));
    END IF;
    RETURN jsonb_build_object('ulb', c.ulb, 'fy', wt_fy_text(wt_fy_of(p_today)),
                              'connectionId', c.connection_id, 'counter', p_req->>'counter',
                              'amountPaise', (p_req->>'amountPaise')::bigint, 'mode', v_mode,
                              'instrumentRef', v_ref, 'mobile', c.mobile, 'userId', c.user_id);
END
$$;

-- Records a payment that has its receipt number and ledger row: the
-- advance credit and the payment settle the dues oldest first; what is
-- left becomes credit (head ADVANCE).
CREATE FUNCTION wt_payment_apply(p_recorded_by text, p_connection text, p_amount bigint, p_mode text,
                                 p_ref text, p_counter text, p_receipt text, p_ledger_seq bigint,
                                 p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_credit bigint;
    v_available bigint;
    v_payment bigint;
    l record;
    v_take bigint;
    v_refs text[] := '{}';
    v_heads text[] := '{}';
    v_dates date[] := '{}';
    v_amounts bigint[] := '{}';
BEGIN
    SELECT * INTO c FROM connection WHERE connection_id = p_connection FOR UPDATE;
    v_credit := wt_advance_of(p_connection);
    v_available := p_amount + v_credit;
    FOR l IN SELECT * FROM wt_dues_lines(p_connection) LOOP
        v_take := least(v_available, l.outstanding_paise);
        IF v_take > 0 THEN
            v_refs := v_refs || l.ref; v_heads := v_heads || l.head;
            v_dates := v_dates || l.charged_on; v_amounts := v_amounts || v_take;
            v_available := v_available - v_take;
        END IF;
    END LOOP;
    IF v_available - v_credit <> 0 THEN
        v_refs := v_refs || 'ADVANCE'::text; v_heads := v_heads || 'ADVANCE'::text;
        v_dates := v_dates || p_today; v_amounts := v_amounts || (v_available - v_credit);
    END IF;
    INSERT INTO payment (ulb, connection_id, receipt_no, counter, mode, instrument_ref, amount_paise,
                         paid_on, ledger_seq, recorded_by, advance_after_paise)
    VALUES (c.ulb, p_connection, p_receipt, p_counter, p_mode, p_ref, p_amount, p_today, p_ledger_seq,
            p_recorded_by, v_available)
    RETURNING id INTO v_payment;
    INSERT INTO allocation (payment_id, connection_id, ulb, ref, head, charged_on, amount_paise, paid_on)
    SELECT v_payment, p_connection, c.ulb, t.ref, t.head, t.charged_on, t.amount, p_today
    FROM unnest(v_refs, v_heads, v_dates, v_amounts) AS t(ref, head, charged_on, amount);
    RETURN wt_receipt_json(v_payment);
END
$$;

CREATE FUNCTION wt_receipt_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v payment;
BEGIN
    SELECT * INTO v FROM payment WHERE receipt_no = wt_text(p_req->>'receiptNo', 'receiptNo', 1, 64);
    IF NOT FOUND THEN
        PERFORM wt_fail('WTNFD', 'receiptNo', format('no receipt %s', p_req->>'receiptNo'));
    END IF;
    PERFORM wt_connection_for(p_actor, v.connection_id, 'receiptNo', wt_everyone(), false);
    RETURN wt_receipt_json(v.id);
END
$$;

CREATE FUNCTION wt_reverse_prepare(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v payment;
    c connection;
BEGIN
    PERFORM wt_require_role(p_actor, ARRAY['REVENUE_OFFICER'], 'reversing a payment');
    SELECT * INTO v FROM payment WHERE receipt_no = wt_text(p_req->>'receiptNo', 'receiptNo', 1, 64);
    IF NOT FOUND THEN
        PERFORM wt_fail('WTNFD', 'receiptNo', format('no receipt %s', p_req->>'receiptNo'));
    END IF;
    PERFORM wt_check_ulb(p_actor, v.ulb);
    PERFORM wt_text(p_req->>'reason', 'reason', 3, 300);
    IF v.reverses_payment_id IS NOT NULL THEN
        PERFORM wt_fail('WTPRE', 'receiptNo', format('%s is itself a reversal; it cannot be reversed',
                                                     v.receipt_no));
    END IF;
    IF EXISTS (SELECT FROM payment r WHERE r.reverses_payment_id = v.id) THEN
        PERFORM wt_fail('WTPRE', 'receiptNo', format('%s has already been reversed', v.receipt_no));
    END IF;
    SELECT * INTO c FROM connection WHERE connection_id = v.connection_id;
    RETURN jsonb_build_object('ulb', v.ulb, 'fy', wt_fy_text(wt_fy_of(p_today)),
                              'connectionId', v.connection_id, 'paymentId', v.id,
                              'amountPaise', -v.amount_paise, 'receiptNo', v.receipt_no,
                              'counter', CASE WHEN v.counter = 'ONLINE' THEN 'REV' ELSE v.counter END,
                              'reason', p_req->>'reason', 'mobile', c.mobile, 'userId', c.user_id);
END
$$;

-- A reversal is a new, negative payment whose allocations negate the
-- original's (advance included): the dues come back exactly.
CREATE FUNCTION wt_reverse_apply(p_actor jsonb, p_payment_id bigint, p_receipt text, p_counter text,
                                 p_ledger_seq bigint, p_reason text, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v payment;
    v_id bigint;
BEGIN
    SELECT * INTO v FROM payment WHERE id = p_payment_id;
    PERFORM 1 FROM connection WHERE connection_id = v.connection_id FOR UPDATE;
    INSERT INTO payment (ulb, connection_id, receipt_no, counter, mode, instrument_ref, amount_paise,
                         paid_on, ledger_seq, reverses_payment_id, reason, recorded_by,
                         advance_after_paise)
    VALUES (v.ulb, v.connection_id, p_receipt, p_counter, v.mode, v.instrument_ref, -v.amount_paise,
            p_today, p_ledger_seq, v.id, p_reason, p_actor->>'userId',
            wt_advance_of(v.connection_id)
              - coalesce((SELECT sum(a.amount_paise) FROM allocation a
                          WHERE a.payment_id = v.id AND a.head = 'ADVANCE'), 0))
    RETURNING id INTO v_id;
    INSERT INTO allocation (payment_id, connection_id, ulb, ref, head, charged_on, amount_paise, paid_on)
    SELECT v_id, a.connection_id, a.ulb, a.ref, a.head, a.charged_on, -a.amount_paise, p_today
    FROM allocation a WHERE a.payment_id = v.id ORDER BY a.id;
    PERFORM wt_audit(p_actor, v.ulb, 'payment.reverse', v.receipt_no,
                     jsonb_build_object('reversal', p_receipt, 'reason', p_reason));
    RETURN wt_receipt_json(v_id);
END
$$;

-- ---- online payments ------------------------------------------------------------------------

CREATE FUNCTION wt_order_json(p_order text) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('orderId', o.order_id, 'connectionId', o.connection_id,
                              'amountPaise', o.amount_paise, 'status', o.status,
                              'receiptNo', o.receipt_no, 'providerRef', o.provider_ref)
    FROM online_order o WHERE o.order_id = p_order
$$;

CREATE FUNCTION wt_online_initiate(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c connection;
    v_order text := 'wt' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    c := wt_connection_for(p_actor, p_req->>'connectionId', 'connectionId',
                           ARRAY['CITIZEN', 'CLERK', 'REVENUE_OFFICER', 'COMMISSIONER'], false);
    INSERT INTO online_order (order_id, ulb, connection_id, amount_paise, status, created_by)
    VALUES (v_order, c.ulb, c.connection_id,
            wt_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000), 'CREATED',
            p_actor->>'userId');
    RETURN wt_order_json(v_order);
END
$$;

CREATE FUNCTION wt_online_get(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE o online_order;
BEGIN
    SELECT * INTO o FROM online_order WHERE order_id = wt_text(p_req->>'orderId', 'orderId', 1, 64);
    IF NOT FOUND THEN
        PERFORM wt_fail('WTNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END IF;
    PERFORM wt_connection_for(p_actor, o.connection_id, 'orderId', wt_everyone(), false);
    RETURN wt_order_json(o.order_id);
END
$$;

-- A verified callback (the C side checked the HMAC): locks the order and
-- answers {"action": "pay" | "done", "order": ..., "ulb", "fy", contact}.
CREATE FUNCTION wt_online_callback_prepare(p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    o online_order;
    c connection;
BEGIN
    SELECT * INTO o FROM online_order WHERE order_id = wt_text(p_req->>'orderId', 'orderId', 1, 64)
        FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM wt_fail('WTNFD', 'orderId', format('no online order %s', p_req->>'orderId'));
    END IF;
    IF o.status <> 'CREATED' THEN
        RETURN jsonb_build_object('action', 'done', 'order', wt_order_json(o.order_id));
    END IF;
    IF wt_int(p_req->'amountPaise', 'amountPaise', 1, 1000000000000) <> o.amount_paise THEN
        PERFORM wt_fail('WTINV', 'amountPaise', format('order %s is for %s paise, not %s', o.order_id,
                                                       o.amount_paise, p_req->>'amountPaise'));
    END IF;
    IF wt_enum(p_req->>'status', 'status', ARRAY['SUCCESS', 'FAILURE']) = 'FAILURE' THEN
        UPDATE online_order SET status = 'FAILED', provider_ref = coalesce(p_req->>'providerRef', ''),
                                updated_at = now()
        WHERE order_id = o.order_id;
        RETURN jsonb_build_object('action', 'done', 'order', wt_order_json(o.order_id));
    END IF;
    SELECT * INTO c FROM connection WHERE connection_id = o.connection_id;
    RETURN jsonb_build_object('action', 'pay', 'order', wt_order_json(o.order_id), 'ulb', o.ulb,
                              'fy', wt_fy_text(wt_fy_of(p_today)), 'mobile', c.mobile,
                              'userId', c.user_id);
END
$$;

CREATE FUNCTION wt_online_mark_paid(p_order text, p_receipt text, p_provider_ref text) RETURNS jsonb
LANGUAGE sql AS $$
    UPDATE online_order SET status = 'PAID', receipt_no = p_receipt, provider_ref = p_provider_ref,
                            updated_at = now()
    WHERE order_id = p_order;
    SELECT wt_order_json(p_order);
$$;

-- ---- reports ----------------------------------------------------------------------------------

-- DCB of a financial year by ward (and ward 0 for the ULB): arrear demand =
-- charges dated before 1 April still owed on that day; current demand =
-- charges dated within the year; collections = settlements made within the
-- year against each; balances = demand - collection. Advance is outside it.
CREATE FUNCTION wt_report_dcb(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := wt_ulb_arg(p_req->>'ulb', 'ulb');
    v_fy integer := wt_parse_fy(p_req->>'fy', 'fy');
    v_start date;
    v_end date;
BEGIN
    PERFORM wt_require_role(p_actor, wt_staff(), 'reading the DCB');
    PERFORM wt_check_ulb(p_actor, v_ulb);
    v_start := make_date(v_fy, 4, 1);
    v_end := make_date(v_fy + 1, 4, 1);
    RETURN (
    WITH ch AS (
        SELECT c.ward, b.bill_date AS charged_on,
               b.water_paise - b.rebate_paise + b.sewerage_paise + b.solid_waste_paise
               + b.surcharge_paise AS amount
        FROM bill b JOIN connection c USING (connection_id) WHERE b.ulb = v_ulb AND b.bill_date < v_end
        UNION ALL
        SELECT c.ward, f.charged_on, f.amount_paise FROM fee f JOIN connection c USING (connection_id)
        WHERE f.ulb = v_ulb AND f.charged_on < v_end
    ), al AS (
        SELECT c.ward, a.charged_on, a.paid_on, a.amount_paise AS amount
        FROM allocation a JOIN connection c USING (connection_id)
        WHERE a.ulb = v_ulb AND a.head <> 'ADVANCE' AND a.paid_on < v_end
    ), wards AS (
        SELECT ward FROM ch UNION SELECT ward FROM al
    ), w AS (
        SELECT wards.ward,
               coalesce((SELECT sum(amount) FROM ch WHERE ch.ward = wards.ward AND ch.charged_on < v_start), 0)
             - coalesce((SELECT sum(amount) FROM al WHERE al.ward = wards.ward AND al.charged_on < v_start
                                                       AND al.paid_on < v_start), 0) AS arrear_demand,
               coalesce((SELECT sum(amount) FROM ch WHERE ch.ward = wards.ward AND ch.charged_on >= v_start), 0)
                   AS current_demand,
               coalesce((SELECT sum(amount) FROM al WHERE al.ward = wards.ward AND al.charged_on < v_start
                                                       AND al.paid_on >= v_start), 0) AS arrear_collection,
               coalesce((SELECT sum(amount) FROM al WHERE al.ward = wards.ward AND al.charged_on >= v_start
                                                       AND al.paid_on >= v_start), 0) AS current_collection
        FROM wards
    ), rows AS (
        SELECT ward, arrear_demand, current_demand, arrear_collection, current_collection FROM w
        UNION ALL
        SELECT 0, coalesce(sum(arrear_demand), 0), coalesce(sum(current_demand), 0),
               coalesce(sum(arrear_collection), 0), coalesce(sum(current_collection), 0) FROM w
    )
    SELECT jsonb_build_object('ulb', v_ulb, 'fy', wt_fy_text(v_fy), 'rows',
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

CREATE FUNCTION wt_report_daily(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := wt_ulb_arg(p_req->>'ulb', 'ulb');
    v_date date := wt_parse_date(p_req->>'date', 'date');
BEGIN
    PERFORM wt_require_role(p_actor, wt_staff(), 'reading the daily collection');
    PERFORM wt_check_ulb(p_actor, v_ulb);
    RETURN (SELECT jsonb_build_object('ulb', v_ulb, 'date', v_date::text,
                'rows', coalesce(jsonb_agg(jsonb_build_object('counter', g.counter, 'mode', g.mode,
                                           'receipts', g.receipts, 'amountPaise', g.amount)
                                           ORDER BY g.counter, g.mode), '[]'),
                'totalPaise', coalesce(sum(g.amount), 0))
            FROM (SELECT p.counter, p.mode, count(*) AS receipts, sum(p.amount_paise) AS amount
                  FROM payment p WHERE p.ulb = v_ulb AND p.paid_on = v_date
                  GROUP BY p.counter, p.mode) g);
END
$$;

-- Connections owing on bills past their due date (and fees), net of
-- advance, largest first.
CREATE FUNCTION wt_defaulters(p_ulb text, p_min bigint, p_limit integer, p_today date)
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

CREATE FUNCTION wt_report_defaulters(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := wt_ulb_arg(p_req->>'ulb', 'ulb');
    v_min bigint := wt_int(p_req->'minOutstandingPaise', 'minOutstandingPaise', 0, 1000000000000);
    v_limit integer := coalesce(nullif(wt_int(p_req->'limit', 'limit', 0, 1000), 0), 100);
BEGIN
    PERFORM wt_require_role(p_actor, wt_staff(), 'reading the defaulters');
    PERFORM wt_check_ulb(p_actor, v_ulb);
    RETURN jsonb_build_object('ulb', v_ulb, 'defaulters', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'connectionId', d.connection_id, 'ward', d.ward, 'consumerName', d.consumer_name,
        'mobile', d.mobile, 'outstandingPaise', d.outstanding,
        'oldestDueDate', coalesce(d.oldest_due::text, ''), 'billsUnpaid', d.bills_unpaid)
        ORDER BY d.outstanding DESC, d.connection_id)
        FROM wt_defaulters(v_ulb, v_min, v_limit, p_today) d), '[]'));
END
$$;

-- Disconnection notices: one per defaulter and day (a repeat the same day
-- sends nothing new). The C side writes each to the outbox.
CREATE FUNCTION wt_notices_send(p_actor jsonb, p_req jsonb, p_today date) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ulb text := wt_ulb_arg(p_req->>'ulb', 'ulb');
    v_min bigint := wt_int(p_req->'minOutstandingPaise', 'minOutstandingPaise', 0, 1000000000000);
    v_limit integer := coalesce(nullif(wt_int(p_req->'limit', 'limit', 0, 1000), 0), 100);
    v_days integer := coalesce(nullif(wt_int(p_req->'daysToPay', 'daysToPay', 0, 90), 0), 15);
    v_sent jsonb;
BEGIN
    PERFORM wt_require_role(p_actor, ARRAY['REVENUE_OFFICER', 'COMMISSIONER'],
                            'sending disconnection notices');
    PERFORM wt_check_ulb(p_actor, v_ulb);
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
    PERFORM wt_audit(p_actor, v_ulb, 'notices.send', 'notices:' || v_ulb,
                     jsonb_build_object('notices', jsonb_array_length(v_sent)));
    RETURN jsonb_build_object('notices', v_sent, 'payBy', (p_today + v_days)::text);
END
$$;

-- ---- idempotency -------------------------------------------------------------------------

-- Takes the key's transaction lock, then reads its record, in one round trip.
CREATE FUNCTION wt_idempotency_lookup(p_actor text, p_key text)
RETURNS TABLE (method text, request_hash text, reply text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_actor || chr(31) || p_key, 11));
    RETURN QUERY SELECT i.method, encode(i.request_hash, 'hex'), encode(i.reply, 'hex')
                 FROM idempotency i WHERE i.actor = p_actor AND i.key = p_key;
END
$$;
