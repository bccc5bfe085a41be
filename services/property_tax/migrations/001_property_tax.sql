-- 001_property_tax.sql — the tables of nagar-property-tax: the register
-- (properties, owners, floors), rates as versioned master data, demand,
-- payments and their apportionment, online orders, self-assessments and
-- mutations. What every service shares — the ledger, receipt counters, the
-- outbox, idempotency records, the audit trail, append-only protection —
-- comes from the modules of common/sql named in ../sql/modules, installed
-- before this file; the rules (tax computation, apportionment, scoping,
-- validation) are the pt_* functions of ../sql/*.sql.
--
-- Runs as property_tax_owner with search_path property_tax.
--
-- Until the shared SQL moved into modules this file also held copies of
-- the ledger, receipt, outbox, idempotency and audit tables, and 002, 010,
-- 011 and 012 held the rules. A database made with those files has these
-- tables already (the modules adopt their copies); the runner records this
-- text in place of the older one and forgets the rule migrations:
--
-- nagar-migrate: replaces c47901ce08e32d9028e4c009814a27fd3b24d04a95da8ffbf6cdd07fc1553a5f
-- nagar-migrate: retires 002_rules.sql a7089a6072a61715a15dc3406995f6668debbc3abcdf8c1954180d40d6a442ff
-- nagar-migrate: retires 010_defaulters_paging.sql 3b906b8c9896cd7f67a8ce5a377579feda93cad192abf0ea55920ace0f77d74f
-- nagar-migrate: retires 011_payment_one_call.sql cbc4bb63ed615091c99020b09139dfcfb0a6bca1241b30fa23a8276283bf0f79
-- nagar-migrate: retires 012_reverse_recheck.sql 1ffdc57331d09d89a6c2a6cefbeccd636fe31e177d68c2cecb9c2b817144a3d2

-- ---- register -------------------------------------------------------------------

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

SELECT master_data_create('rate_version');
ALTER TABLE rate_version
    ADD COLUMN maintenance_bp integer NOT NULL,
    ADD COLUMN slab_mode text NOT NULL CHECK (slab_mode IN ('MARGINAL', 'FLAT')),
    ADD COLUMN education_cess_bp integer NOT NULL,
    ADD COLUMN urban_development_cess_bp integer NOT NULL,
    ADD COLUMN samekit_paise bigint NOT NULL,
    ADD COLUMN rebate_bp integer NOT NULL,
    ADD COLUMN rebate_last_day date,
    ADD COLUMN surcharge_bp_per_month integer NOT NULL,
    ADD COLUMN surcharge_threshold_paise bigint NOT NULL,
    ADD COLUMN self_occupied_rebate_bp integer NOT NULL,
    ADD COLUMN exemption_threshold_paise bigint NOT NULL,
    ADD COLUMN exempt_categories text[] NOT NULL,
    ADD COLUMN mutation_fee_paise bigint NOT NULL;

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
SELECT append_only_protect('rate_slab');
SELECT append_only_protect('alv_rate');

-- ---- demand --------------------------------------------------------------------------

SELECT batch_job_create('demand_job', 'fy', 'integer');

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

-- Payments, their allocations and online orders of properties (the accounts
-- module).
SELECT accounts_install('property_id', 'property');

-- How each payment settled the dues. Heads as in demand plus SURCHARGE;
-- kind REBATE settles a property-tax head without cash; head ADVANCE is
-- the change of the property's credit. For kind CASH the rows of a
-- payment add up to its amount.
ALTER TABLE allocation
    ADD COLUMN fy integer NOT NULL,
    ADD CONSTRAINT allocation_head_check CHECK (head IN ('PROPERTY_TAX', 'EDUCATION_CESS',
        'URBAN_DEVELOPMENT_CESS', 'SAMEKIT', 'MUTATION_FEE', 'SURCHARGE', 'ADVANCE')),
    ADD COLUMN kind text NOT NULL CHECK (kind IN ('CASH', 'REBATE'));
CREATE INDEX allocation_property_idx ON allocation (property_id, fy, head);

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

-- How a payment settles a property's dues (pt_payment_allocate answers it,
-- pt_payment_insert records it): per allocation line the financial year,
-- head, kind and amount, and the property's credit after the payment.
CREATE TYPE pt_allocation AS (fys integer[], heads text[], kinds text[], amounts bigint[],
                              advance_after bigint);
