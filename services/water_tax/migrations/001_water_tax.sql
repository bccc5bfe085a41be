-- 001_water_tax.sql — the tables of nagar-water-tax: connections, tariffs
-- as versioned master data, meter readings, the monthly bill batch, fees,
-- payments and their apportionment, online orders and disconnection
-- notices. What every service shares — the ledger, receipt counters, the
-- outbox, idempotency records, the audit trail, append-only protection —
-- comes from the modules of common/sql named in ../sql/modules, installed
-- before this file; the rules (charges, apportionment, reach, validation)
-- are the wt_* functions of ../sql/*.sql.
--
-- Runs as water_tax_owner with search_path water_tax.
--
-- Until the shared SQL moved into modules this file also held copies of
-- the ledger, receipt, outbox, idempotency and audit tables, and 002, 010,
-- 011 and 012 held the rules. A database made with those files has these
-- tables already (the modules adopt their copies); the runner records this
-- text in place of the older one and forgets the rule migrations:
--
-- nagar-migrate: replaces 30933aa2578ad65964282049283322394fca1db0ca8b3c247dbb8ce261cc72d6
-- nagar-migrate: retires 002_rules.sql d5c8733b76fbc2c7f7507b774697e3cc8ff372b8ee0c1868f41eed2050b305e6
-- nagar-migrate: retires 010_defaulters_paging.sql 0411891e68e688a9a52ed1362202fe9b155dd167513f2ab372bd90760cbc72eb
-- nagar-migrate: retires 011_payment_one_call.sql 38d772f4a961de546b38cd73cd0ab7c3570fb6f9c01e398a07e230b5c3f86cf7
-- nagar-migrate: retires 012_reverse_recheck.sql a8d478c1edfa487255adeee165c3871bbb1af83c9738649fd0e55e90d1d3f90c

-- ---- connections ---------------------------------------------------------------

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

SELECT master_data_create('tariff_version');
ALTER TABLE tariff_version
    ADD COLUMN sewerage_bp integer NOT NULL,
    ADD COLUMN surcharge_bp integer NOT NULL,
    ADD COLUMN advance_rebate_bp integer NOT NULL,
    ADD COLUMN due_days integer NOT NULL,
    ADD COLUMN max_monthly_kl bigint NOT NULL,
    ADD COLUMN estimate_default_kl bigint NOT NULL,
    ADD COLUMN disconnection_fee_paise bigint NOT NULL,
    ADD COLUMN reconnection_fee_paise bigint NOT NULL;

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

SELECT append_only_protect('tariff_flat');
SELECT append_only_protect('tariff_slab');
SELECT append_only_protect('tariff_category');
SELECT append_only_protect('tariff_connection_fee');

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
SELECT append_only_protect('meter_reading');

-- ---- bills -------------------------------------------------------------------------------

SELECT batch_job_create('bill_job', 'period', 'date');
ALTER TABLE bill_job ADD COLUMN estimated bigint NOT NULL DEFAULT 0;

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
SELECT append_only_protect('bill');

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
SELECT append_only_protect('fee');

-- ---- payments ----------------------------------------------------------------------------

-- Payments, their allocations and online orders of connections (the accounts
-- module).
SELECT accounts_install('connection_id', 'connection');

-- How each payment settled the dues: ref is a bill's period ("2025-05") or
-- "FEE:<id>"; charged_on the bill or fee date (for the DCB); head ADVANCE
-- is the change of the connection's credit.
ALTER TABLE allocation
    ADD COLUMN ref text NOT NULL,
    ADD CONSTRAINT allocation_head_check CHECK (head IN ('WATER', 'SEWERAGE', 'SOLID_WASTE',
        'SURCHARGE', 'CONNECTION_FEE', 'DISCONNECTION_FEE', 'RECONNECTION_FEE', 'ADVANCE')),
    ADD COLUMN charged_on date NOT NULL;
CREATE INDEX allocation_connection_idx ON allocation (connection_id, ref, head);

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

-- How a payment settles a connection's dues (wt_payment_allocate answers
-- it, wt_payment_insert records it): per allocation line the charge, head,
-- date and amount, and the connection's credit after the payment.
CREATE TYPE wt_allocation AS (refs text[], heads text[], dates date[], amounts bigint[],
                              advance_after bigint);
