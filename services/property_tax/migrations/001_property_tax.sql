-- 001_property_tax.sql — schema of nagar-property-tax: the register
-- (properties, owners, floors), rates as versioned master data, demand,
-- payments and their apportionment, online orders, self-assessments,
-- mutations, the audit trail, idempotency records, and the shared pieces
-- from common/sql (outbox, ledger, receipt counters) copied in below.
--
-- Runs as property_tax_owner with search_path property_tax; the app role
-- gets DML through provision.sh's default privileges, minus what the
-- append-only tables revoke. The rules themselves (tax computation,
-- apportionment, scoping, validation of requests) are the pt_* functions
-- in 002_rules.sql, so the annual batch and a single payment compute with
-- the same set-based SQL.

-- ---- common/sql/outbox.sql ---------------------------------------------------
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

-- ---- common/sql/ledger.sql ---------------------------------------------------
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

-- The app role reads; it appends only through ledger_append.
DO $$
BEGIN
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ledger, ledger_head FROM %I',
                   regexp_replace(current_user, '_owner$', '_app'));
END
$$;

-- ---- common/sql/receipt.sql --------------------------------------------------
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

-- ---- idempotency records and audit ---------------------------------------------

CREATE TABLE idempotency (
    actor         text NOT NULL,
    key           text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 128),
    method        text NOT NULL,
    request_hash  bytea NOT NULL,
    reply         bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);

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

-- Append-only tables refuse change to everyone (the ledger's trigger function).
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- ---- register -------------------------------------------------------------------

-- Gap-free property numbers per ULB and ward: this row is locked while a
-- property is created, so a rolled-back creation gives its number back.
CREATE TABLE ward_counter (
    ulb      text NOT NULL,
    ward     integer NOT NULL,
    last_no  integer NOT NULL,
    PRIMARY KEY (ulb, ward)
);

CREATE TABLE property (
    property_id   text PRIMARY KEY,
    ulb           text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    ward          integer NOT NULL CHECK (ward BETWEEN 1 AND 999),
    number        integer NOT NULL,
    zone          text NOT NULL CHECK (zone ~ '^[A-Z0-9]{1,8}$'),
    address       text NOT NULL CHECK (char_length(address) BETWEEN 1 AND 300),
    usage         text NOT NULL CHECK (usage IN ('RESIDENTIAL', 'COMMERCIAL', 'INDUSTRIAL', 'MIXED')),
    construction  text NOT NULL CHECK (construction IN ('RCC', 'RBC', 'TIN_SHED', 'KACHCHA')),
    occupancy     text NOT NULL CHECK (occupancy IN ('SELF_OCCUPIED', 'RENTED')),
    exemption     text NOT NULL CHECK (exemption IN ('EXEMPTION_NONE', 'WORSHIP', 'CHARITABLE',
                                                     'GOVERNMENT', 'BPL')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ulb, ward, number)
);
CREATE INDEX property_ulb_idx ON property (ulb, property_id);

CREATE TABLE property_owner (
    property_id  text NOT NULL REFERENCES property ON DELETE CASCADE,
    ordinal      integer NOT NULL,
    name         text NOT NULL,
    mobile       text NOT NULL DEFAULT '',
    user_id      text NOT NULL DEFAULT '',
    share_bp     integer NOT NULL CHECK (share_bp BETWEEN 1 AND 10000),
    PRIMARY KEY (property_id, ordinal)
);
CREATE INDEX property_owner_user_idx ON property_owner (user_id) WHERE user_id <> '';

CREATE TABLE property_floor (
    property_id  text NOT NULL REFERENCES property ON DELETE CASCADE,
    floor        integer NOT NULL,
    area_sqft    bigint NOT NULL CHECK (area_sqft > 0),
    PRIMARY KEY (property_id, floor)
);

-- ---- rates -------------------------------------------------------------------------

CREATE TABLE rate_version (
    id                          bigserial PRIMARY KEY,
    ulb                         text NOT NULL,
    fy                          integer NOT NULL,
    version                     integer NOT NULL CHECK (version >= 1),
    maintenance_bp              integer NOT NULL,
    slab_mode                   text NOT NULL CHECK (slab_mode IN ('MARGINAL', 'FLAT')),
    education_cess_bp           integer NOT NULL,
    urban_development_cess_bp   integer NOT NULL,
    samekit_paise               bigint NOT NULL,
    rebate_bp                   integer NOT NULL,
    rebate_last_day             date,
    surcharge_bp_per_month      integer NOT NULL,
    surcharge_threshold_paise   bigint NOT NULL,
    self_occupied_rebate_bp     integer NOT NULL,
    exemption_threshold_paise   bigint NOT NULL,
    exempt_categories           text[] NOT NULL,
    mutation_fee_paise          bigint NOT NULL,
    reason                      text NOT NULL,
    created_by                  text NOT NULL,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ulb, fy, version)
);

CREATE TABLE rate_slab (
    version_id   bigint NOT NULL REFERENCES rate_version,
    ordinal      integer NOT NULL,
    lower_paise  bigint NOT NULL,
    upper_paise  bigint,                -- NULL = no upper bound
    rate_bp      integer NOT NULL,
    -- The marginal tax (in paise x basis points) of all the slabs below this
    -- one, so a property's tax is one lookup of the slab its net ALV falls in.
    base_paise_bp numeric NOT NULL,
    PRIMARY KEY (version_id, ordinal)
);

CREATE TABLE alv_rate (
    version_id           bigint NOT NULL REFERENCES rate_version,
    zone                 text NOT NULL,
    construction         text NOT NULL,
    usage                text NOT NULL,
    rate_paise_per_sqft  bigint NOT NULL,
    PRIMARY KEY (version_id, zone, construction, usage)
);

-- Saved versions are history: never changed, never removed.
CREATE TRIGGER rate_version_append_only BEFORE UPDATE OR DELETE ON rate_version
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER rate_slab_append_only BEFORE UPDATE OR DELETE ON rate_slab
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER alv_rate_append_only BEFORE UPDATE OR DELETE ON alv_rate
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- ---- demand --------------------------------------------------------------------------

CREATE TABLE demand_job (
    id             bigserial PRIMARY KEY,
    ulb            text,                 -- NULL = every ULB
    fy             integer NOT NULL,
    status         text NOT NULL CHECK (status IN ('RUNNING', 'DONE')),
    cursor_id      text NOT NULL DEFAULT '',   -- last property_id processed
    total          bigint NOT NULL,
    processed      bigint NOT NULL DEFAULT 0,
    bills_created  bigint NOT NULL DEFAULT 0,
    skipped        bigint NOT NULL DEFAULT 0,
    chunks         integer NOT NULL DEFAULT 0,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
-- One running job per scope and year.
CREATE UNIQUE INDEX demand_job_running_idx ON demand_job (coalesce(ulb, ''), fy)
    WHERE status = 'RUNNING';

-- One bill per property and year: what was computed, with the arrears
-- brought forward when it was raised. demand_bill and demand carry no
-- foreign keys: the batch inserts them from a join with property (and the
-- rate version it used), properties are never deleted, and per-row key
-- checks cost the batch a third of its time.
CREATE TABLE demand_bill (
    property_id              text NOT NULL,
    fy                       integer NOT NULL,
    ulb                      text NOT NULL,
    ward                     integer NOT NULL,
    rate_version_id          bigint NOT NULL,
    area_sqft                bigint NOT NULL,
    alv_paise                bigint NOT NULL,
    net_alv_paise            bigint NOT NULL,
    property_tax_paise       bigint NOT NULL,
    education_cess_paise     bigint NOT NULL,
    urban_development_cess_paise bigint NOT NULL,
    samekit_paise            bigint NOT NULL,
    arrear_paise             bigint NOT NULL,
    advance_paise            bigint NOT NULL,
    job_id                   bigint,
    created_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (property_id, fy)
);
CREATE INDEX demand_bill_ulb_idx ON demand_bill (ulb, fy, ward);

-- What is owed, per property, year and head.
CREATE TABLE demand (
    property_id   text NOT NULL,
    fy            integer NOT NULL,
    head          text NOT NULL CHECK (head IN ('PROPERTY_TAX', 'EDUCATION_CESS',
                                                'URBAN_DEVELOPMENT_CESS', 'SAMEKIT',
                                                'MUTATION_FEE')),
    ulb           text NOT NULL,
    amount_paise  bigint NOT NULL CHECK (amount_paise >= 0),
    job_id        bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (property_id, fy, head)
);

-- ---- payments --------------------------------------------------------------------------

CREATE TABLE payment (
    id                  bigserial PRIMARY KEY,
    ulb                 text NOT NULL,
    property_id         text NOT NULL REFERENCES property,
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
CREATE INDEX payment_property_idx ON payment (property_id, id);
CREATE INDEX payment_day_idx ON payment (ulb, paid_on);

-- How each payment settled the dues. Heads as in demand plus SURCHARGE;
-- kind REBATE settles a property-tax head without cash; head ADVANCE is
-- the change of the property's credit. For kind CASH the rows of a
-- payment add up to its amount.
CREATE TABLE allocation (
    id            bigserial PRIMARY KEY,
    payment_id    bigint NOT NULL REFERENCES payment,
    property_id   text NOT NULL,
    ulb           text NOT NULL,
    fy            integer NOT NULL,
    head          text NOT NULL CHECK (head IN ('PROPERTY_TAX', 'EDUCATION_CESS',
                                                'URBAN_DEVELOPMENT_CESS', 'SAMEKIT',
                                                'MUTATION_FEE', 'SURCHARGE', 'ADVANCE')),
    kind          text NOT NULL CHECK (kind IN ('CASH', 'REBATE')),
    amount_paise  bigint NOT NULL,
    paid_on       date NOT NULL
);
CREATE INDEX allocation_property_idx ON allocation (property_id, fy, head);
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
    order_id      text PRIMARY KEY,
    ulb           text NOT NULL,
    property_id   text NOT NULL REFERENCES property,
    amount_paise  bigint NOT NULL CHECK (amount_paise > 0),
    status        text NOT NULL CHECK (status IN ('CREATED', 'PAID', 'FAILED')),
    receipt_no    text NOT NULL DEFAULT '',
    provider_ref  text NOT NULL DEFAULT '',
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- ---- self-assessment and mutation ---------------------------------------------------

CREATE TABLE assessment (
    id            bigserial PRIMARY KEY,
    property_id   text NOT NULL REFERENCES property,
    ulb           text NOT NULL,
    fy            integer NOT NULL,
    revision      integer NOT NULL,
    status        text NOT NULL CHECK (status IN ('FILED', 'REVISED', 'ACCEPTED', 'REASSESSED')),
    zone          text NOT NULL,
    usage         text NOT NULL,
    construction  text NOT NULL,
    occupancy     text NOT NULL,
    floors        jsonb NOT NULL,
    filed_by      text NOT NULL,
    filed_at      timestamptz NOT NULL DEFAULT now(),
    decided_by    text NOT NULL DEFAULT '',
    reason        text NOT NULL DEFAULT '',
    UNIQUE (property_id, fy, revision)
);

CREATE TABLE mutation (
    id               bigserial PRIMARY KEY,
    property_id      text NOT NULL REFERENCES property,
    ulb              text NOT NULL,
    fy               integer NOT NULL,
    previous_owners  jsonb NOT NULL,
    new_owners       jsonb NOT NULL,
    fee_paise        bigint NOT NULL,
    deed_ref         text NOT NULL,
    reason           text NOT NULL,
    recorded_by      text NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
