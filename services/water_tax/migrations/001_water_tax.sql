-- 001_water_tax.sql — schema of nagar-water-tax: connections and their
-- history, tariffs as versioned master data, meter readings, the monthly
-- bill batch, fees, payments and their apportionment, online orders,
-- disconnection notices, the audit trail, idempotency records, and the
-- shared pieces from common/sql (outbox, ledger, receipt counters) copied
-- in below.
--
-- Runs as water_tax_owner with search_path water_tax; the app role gets
-- DML through provision.sh's default privileges, minus what the
-- append-only tables revoke. The rules (charges, apportionment, reach,
-- validation) are the wt_* functions of 002_rules.sql, so the bill batch,
-- a payment and a dues query compute with the same set-based SQL.

-- ---- common/sql/outbox.sql ----------------------------------------------------

CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    event_type  text NOT NULL CHECK (char_length(event_type) BETWEEN 1 AND 64),
    ulb         text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    payload     bytea NOT NULL CHECK (octet_length(payload) <= 65536),  -- nagar.notifications.Event
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    sent_at     timestamptz,
    outcome     text
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE sent_at IS NULL;

-- ---- common/sql/ledger.sql ----------------------------------------------------

CREATE TABLE ledger_head (
    ulb   text PRIMARY KEY CHECK (ulb ~ '^[0-9]{1,10}$'),
    seq   bigint NOT NULL CHECK (seq >= 0),
    hash  bytea NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE TABLE ledger (
    ulb              text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    seq              bigint NOT NULL CHECK (seq >= 1),
    idempotency_key  text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 300),
    kind             text NOT NULL CHECK (kind ~ '^[A-Z_]{1,32}$'),
    account          text NOT NULL CHECK (char_length(account) BETWEEN 1 AND 64),
    reference        text NOT NULL CHECK (char_length(reference) <= 64),
    amount_paise     bigint NOT NULL,
    detail           text NOT NULL CHECK (octet_length(detail) <= 4096),
    recorded_us      bigint NOT NULL,          -- microseconds since 1970-01-01 UTC
    hash             bytea NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (ulb, seq),
    UNIQUE (ulb, idempotency_key)
);

CREATE FUNCTION ledger_canonical(p_ulb text, p_seq bigint, p_key text, p_kind text,
                                 p_account text, p_reference text, p_amount bigint,
                                 p_detail text, p_recorded_us bigint)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
    -- One expression, so the planner inlines it into ledger_append.
    SELECT convert_to(
        octet_length(p_ulb) || ':' || p_ulb || ';' ||
        octet_length(p_seq::text) || ':' || p_seq::text || ';' ||
        octet_length(p_key) || ':' || p_key || ';' ||
        octet_length(p_kind) || ':' || p_kind || ';' ||
        octet_length(p_account) || ':' || p_account || ';' ||
        octet_length(p_reference) || ':' || p_reference || ';' ||
        octet_length(p_amount::text) || ':' || p_amount::text || ';' ||
        octet_length(p_detail) || ':' || p_detail || ';' ||
        octet_length(p_recorded_us::text) || ':' || p_recorded_us::text || ';', 'UTF8')
$$;

CREATE FUNCTION ledger_append(p_ulb text, p_key text, p_kind text, p_account text,
                              p_reference text, p_amount bigint, p_detail text)
RETURNS TABLE (entry_seq bigint, entry_hash bytea, entry_recorded_us bigint, created boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_head_seq bigint;
    v_head_hash bytea;
    v_seq bigint;
    v_us bigint;
    v_hash bytea;
    v_old ledger%ROWTYPE;
BEGIN
    IF p_ulb IS NULL OR p_key IS NULL OR p_kind IS NULL OR p_account IS NULL
       OR p_reference IS NULL OR p_amount IS NULL OR p_detail IS NULL THEN
        RAISE EXCEPTION 'ledger_append: every argument is required'
            USING ERRCODE = '22004';
    END IF;
    INSERT INTO ledger_head (ulb, seq, hash) VALUES (p_ulb, 0, decode(repeat('00', 32), 'hex'))
        ON CONFLICT (ulb) DO NOTHING;
    -- The chain head lock serialises appends of one ULB: sequence numbers
    -- are gap-free and each hash covers its predecessor.
    SELECT h.seq, h.hash INTO v_head_seq, v_head_hash
        FROM ledger_head h WHERE h.ulb = p_ulb FOR UPDATE;
    SELECT * INTO v_old FROM ledger l WHERE l.ulb = p_ulb AND l.idempotency_key = p_key;
    IF FOUND THEN
        IF v_old.kind <> p_kind OR v_old.account <> p_account OR v_old.amount_paise <> p_amount THEN
            RAISE EXCEPTION 'ledger key "%" of ULB % already records % of % paise on %',
                p_key, p_ulb, v_old.kind, v_old.amount_paise, v_old.account
                USING ERRCODE = 'LGCON',
                      HINT = 'use a new idempotency key for a new money movement';
        END IF;
        RETURN QUERY SELECT v_old.seq, v_old.hash, v_old.recorded_us, false;
        RETURN;
    END IF;
    v_seq := v_head_seq + 1;
    v_us := floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    v_hash := sha256(v_head_hash || ledger_canonical(p_ulb, v_seq, p_key, p_kind, p_account,
                                                     p_reference, p_amount, p_detail, v_us));
    INSERT INTO ledger (ulb, seq, idempotency_key, kind, account, reference, amount_paise,
                        detail, recorded_us, hash)
        VALUES (p_ulb, v_seq, p_key, p_kind, p_account, p_reference, p_amount, p_detail,
                v_us, v_hash);
    UPDATE ledger_head SET seq = v_seq, hash = v_hash WHERE ulb = p_ulb;
    RETURN QUERY SELECT v_seq, v_hash, v_us, true;
END
$$;

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = '42501',
              HINT = 'record a reversing entry instead of changing or removing one';
END
$$;

CREATE TRIGGER ledger_no_update_delete BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_head_no_delete BEFORE DELETE ON ledger_head
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_head_no_truncate BEFORE TRUNCATE ON ledger_head
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

DO $$
BEGIN
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ledger, ledger_head FROM %I',
                   regexp_replace(current_user, '_owner$', '_app'));
END
$$;

-- ---- common/sql/receipt.sql ----------------------------------------------------

CREATE TABLE receipt_counter (
    ulb      text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    fy       text NOT NULL CHECK (fy ~ '^[0-9]{4}-[0-9]{2}$'),
    counter  text NOT NULL CHECK (counter ~ '^[A-Z0-9]{1,16}$'),
    last_no  bigint NOT NULL CHECK (last_no >= 0),
    PRIMARY KEY (ulb, fy, counter)
);
DO $$
BEGIN
    EXECUTE format('REVOKE DELETE, TRUNCATE ON receipt_counter FROM %I',
                   regexp_replace(current_user, '_owner$', '_app'));
END
$$;

-- ---- idempotency records and audit -------------------------------------------

CREATE TABLE idempotency (
    actor         text NOT NULL,
    key           text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 128),
    method        text NOT NULL,
    request_hash  bytea NOT NULL,
    reply         bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);

-- Every change of a connection (and of master data, jobs, notices): who,
-- when, what. A connection's history is its audit rows.
CREATE TABLE audit (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    role      text NOT NULL,
    ulb       text NOT NULL,
    action    text NOT NULL,
    subject   text NOT NULL,
    detail    jsonb NOT NULL
);
CREATE INDEX audit_subject_idx ON audit (subject, id);
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- ---- connections ---------------------------------------------------------------

-- Gap-free connection numbers per ULB and ward (locked while a connection
-- is created, so a rolled-back application gives its number back).
CREATE TABLE ward_counter (
    ulb      text NOT NULL,
    ward     integer NOT NULL,
    last_no  integer NOT NULL,
    PRIMARY KEY (ulb, ward)
);

CREATE TABLE connection (
    connection_id         text PRIMARY KEY,
    ulb                   text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    ward                  integer NOT NULL CHECK (ward BETWEEN 1 AND 999),
    number                integer NOT NULL,
    property_id           text NOT NULL,     -- property tax's id: text, not a key (another database)
    consumer_name         text NOT NULL,
    mobile                text NOT NULL DEFAULT '',
    user_id               text NOT NULL DEFAULT '',
    address               text NOT NULL,
    category              text NOT NULL CHECK (category IN ('DOMESTIC', 'COMMERCIAL', 'INDUSTRIAL',
                                                            'INSTITUTIONAL')),
    pipe_size_mm          integer NOT NULL CHECK (pipe_size_mm BETWEEN 10 AND 600),
    metered               boolean NOT NULL,
    meter_no              text NOT NULL DEFAULT '',
    units                 integer NOT NULL CHECK (units BETWEEN 1 AND 10000),
    status                text NOT NULL CHECK (status IN ('APPLIED', 'REJECTED', 'ACTIVE',
                                                          'DISCONNECTED', 'RECONNECTED')),
    connection_fee_paise  bigint NOT NULL DEFAULT 0,
    applied_on            date NOT NULL,
    active_from           date,
    decision_reason       text NOT NULL DEFAULT '',
    created_by            text NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ulb, ward, number)
);
CREATE INDEX connection_ulb_idx ON connection (ulb, connection_id);
CREATE INDEX connection_user_idx ON connection (user_id) WHERE user_id <> '';

-- ---- tariffs ----------------------------------------------------------------------

CREATE TABLE tariff_version (
    id                       bigserial PRIMARY KEY,
    ulb                      text NOT NULL,
    fy                       integer NOT NULL,
    version                  integer NOT NULL CHECK (version >= 1),
    sewerage_bp              integer NOT NULL,
    surcharge_bp             integer NOT NULL,
    advance_rebate_bp        integer NOT NULL,
    due_days                 integer NOT NULL,
    max_monthly_kl           bigint NOT NULL,
    estimate_default_kl      bigint NOT NULL,
    disconnection_fee_paise  bigint NOT NULL,
    reconnection_fee_paise   bigint NOT NULL,
    reason                   text NOT NULL,
    created_by               text NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ulb, fy, version)
);

CREATE TABLE tariff_flat (
    version_id     bigint NOT NULL REFERENCES tariff_version,
    category       text NOT NULL,
    pipe_size_mm   integer NOT NULL,
    monthly_paise  bigint NOT NULL,
    PRIMARY KEY (version_id, category, pipe_size_mm)
);

-- Metered slabs per category, in litres; base = the charge (paise x litres
-- per kl) of all the slabs below, so a bill is one lookup of its slab.
CREATE TABLE tariff_slab (
    version_id         bigint NOT NULL REFERENCES tariff_version,
    category           text NOT NULL,
    ordinal            integer NOT NULL,
    lower_litres       bigint NOT NULL,
    upper_litres       bigint,               -- NULL = no upper bound
    rate_paise_per_kl  bigint NOT NULL,
    base_paise_litres  numeric NOT NULL,
    PRIMARY KEY (version_id, category, ordinal)
);

CREATE TABLE tariff_category (
    version_id             bigint NOT NULL REFERENCES tariff_version,
    category               text NOT NULL,
    metered_minimum_paise  bigint NOT NULL,
    solid_waste_paise      bigint NOT NULL,
    PRIMARY KEY (version_id, category)
);

CREATE TABLE tariff_connection_fee (
    version_id    bigint NOT NULL REFERENCES tariff_version,
    category      text NOT NULL,
    pipe_size_mm  integer NOT NULL,
    fee_paise     bigint NOT NULL,
    PRIMARY KEY (version_id, category, pipe_size_mm)
);

CREATE TRIGGER tariff_version_append_only BEFORE UPDATE OR DELETE ON tariff_version
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER tariff_flat_append_only BEFORE UPDATE OR DELETE ON tariff_flat
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER tariff_slab_append_only BEFORE UPDATE OR DELETE ON tariff_slab
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER tariff_category_append_only BEFORE UPDATE OR DELETE ON tariff_category
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER tariff_connection_fee_append_only BEFORE UPDATE OR DELETE ON tariff_connection_fee
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- ---- meter readings ------------------------------------------------------------------

CREATE TABLE meter_reading (
    id                  bigserial PRIMARY KEY,
    connection_id       text NOT NULL,
    ulb                 text NOT NULL,
    period              date NOT NULL,        -- first day of the month
    reading_date        date NOT NULL,
    reading_litres      bigint NOT NULL CHECK (reading_litres >= 0),
    consumption_litres  bigint NOT NULL CHECK (consumption_litres >= 0),
    kind                text NOT NULL CHECK (kind IN ('ACTUAL', 'ESTIMATED', 'INITIAL', 'FINAL')),
    meter_no            text NOT NULL,
    recorded_by         text NOT NULL,
    job_id              bigint,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meter_reading_connection_idx ON meter_reading (connection_id, reading_date, id);
-- One reading (actual or estimated) per connection and month.
CREATE UNIQUE INDEX meter_reading_period_idx ON meter_reading (connection_id, period)
    WHERE kind IN ('ACTUAL', 'ESTIMATED');
CREATE TRIGGER meter_reading_append_only BEFORE UPDATE OR DELETE ON meter_reading
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- ---- bills -------------------------------------------------------------------------------

CREATE TABLE bill_job (
    id             bigserial PRIMARY KEY,
    ulb            text,                  -- NULL = every ULB
    period         date NOT NULL,
    status         text NOT NULL CHECK (status IN ('RUNNING', 'DONE')),
    cursor_id      text NOT NULL DEFAULT '',
    total          bigint NOT NULL,
    processed      bigint NOT NULL DEFAULT 0,
    bills_created  bigint NOT NULL DEFAULT 0,
    skipped        bigint NOT NULL DEFAULT 0,
    estimated      bigint NOT NULL DEFAULT 0,
    chunks         integer NOT NULL DEFAULT 0,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
CREATE UNIQUE INDEX bill_job_running_idx ON bill_job (coalesce(ulb, ''), period)
    WHERE status = 'RUNNING';

-- One bill per connection and month, with every head as a column (the bill
-- run inserts one row per connection and nothing else; dues read the heads
-- through charge_line). No foreign keys: the batch inserts from a join with
-- connection, and connections are never deleted.
CREATE TABLE bill (
    connection_id       text NOT NULL,
    period              date NOT NULL,
    ulb                 text NOT NULL,
    ward                integer NOT NULL,
    tariff_version_id   bigint NOT NULL,
    metered             boolean NOT NULL,
    consumption_litres  bigint NOT NULL,
    estimated           boolean NOT NULL,
    water_paise         bigint NOT NULL,
    sewerage_paise      bigint NOT NULL,
    solid_waste_paise   bigint NOT NULL,
    surcharge_paise     bigint NOT NULL,
    rebate_paise        bigint NOT NULL,     -- advance rebate, off the water charge
    arrear_paise        bigint NOT NULL,
    advance_paise       bigint NOT NULL,
    bill_date           date NOT NULL,
    due_date            date NOT NULL,
    job_id              bigint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, period)
);
CREATE INDEX bill_ulb_idx ON bill (ulb, period, ward);
CREATE TRIGGER bill_append_only BEFORE UPDATE OR DELETE ON bill
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- Connection, disconnection and reconnection fees.
CREATE TABLE fee (
    id             bigserial PRIMARY KEY,
    connection_id  text NOT NULL REFERENCES connection,
    ulb            text NOT NULL,
    head           text NOT NULL CHECK (head IN ('CONNECTION_FEE', 'DISCONNECTION_FEE',
                                                 'RECONNECTION_FEE')),
    amount_paise   bigint NOT NULL CHECK (amount_paise > 0),
    charged_on     date NOT NULL,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fee_connection_idx ON fee (connection_id);
CREATE TRIGGER fee_append_only BEFORE UPDATE OR DELETE ON fee
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- ---- payments ----------------------------------------------------------------------------

CREATE TABLE payment (
    id                  bigserial PRIMARY KEY,
    ulb                 text NOT NULL,
    connection_id       text NOT NULL REFERENCES connection,
    receipt_no          text NOT NULL UNIQUE,
    counter             text NOT NULL,
    mode                text NOT NULL CHECK (mode IN ('CASH', 'CHEQUE', 'DEMAND_DRAFT', 'UPI',
                                                      'ONLINE')),
    instrument_ref      text NOT NULL,
    amount_paise        bigint NOT NULL CHECK (amount_paise <> 0),
    paid_on             date NOT NULL,
    ledger_seq          bigint NOT NULL,
    reverses_payment_id bigint UNIQUE REFERENCES payment,
    reason              text NOT NULL DEFAULT '',
    recorded_by         text NOT NULL,
    advance_after_paise bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ulb, ledger_seq)
);
CREATE INDEX payment_connection_idx ON payment (connection_id, id);
CREATE INDEX payment_day_idx ON payment (ulb, paid_on);

-- How each payment settled the dues: ref is a bill's period ("2025-05") or
-- "FEE:<id>"; charged_on the bill or fee date (for the DCB); head ADVANCE
-- is the change of the connection's credit.
CREATE TABLE allocation (
    id             bigserial PRIMARY KEY,
    payment_id     bigint NOT NULL REFERENCES payment,
    connection_id  text NOT NULL,
    ulb            text NOT NULL,
    ref            text NOT NULL,
    head           text NOT NULL CHECK (head IN ('WATER', 'SEWERAGE', 'SOLID_WASTE', 'SURCHARGE',
                                                 'CONNECTION_FEE', 'DISCONNECTION_FEE',
                                                 'RECONNECTION_FEE', 'ADVANCE')),
    charged_on     date NOT NULL,
    amount_paise   bigint NOT NULL,
    paid_on        date NOT NULL
);
CREATE INDEX allocation_connection_idx ON allocation (connection_id, ref, head);
CREATE INDEX allocation_payment_idx ON allocation (payment_id);

CREATE TRIGGER payment_append_only BEFORE UPDATE OR DELETE ON payment
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER payment_no_truncate BEFORE TRUNCATE ON payment
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER allocation_append_only BEFORE UPDATE OR DELETE ON allocation
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER allocation_no_truncate BEFORE TRUNCATE ON allocation
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE TABLE online_order (
    order_id       text PRIMARY KEY,
    ulb            text NOT NULL,
    connection_id  text NOT NULL REFERENCES connection,
    amount_paise   bigint NOT NULL CHECK (amount_paise > 0),
    status         text NOT NULL CHECK (status IN ('CREATED', 'PAID', 'FAILED')),
    receipt_no     text NOT NULL DEFAULT '',
    provider_ref   text NOT NULL DEFAULT '',
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Disconnection notices sent (one per connection and day at most).
CREATE TABLE notice (
    connection_id      text NOT NULL,
    ulb                text NOT NULL,
    sent_on            date NOT NULL,
    pay_by             date NOT NULL,
    outstanding_paise  bigint NOT NULL,
    sent_by            text NOT NULL,
    PRIMARY KEY (connection_id, sent_on)
);
