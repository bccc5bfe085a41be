-- accounts 001 — what a service that keeps accounts (a property, a water
-- connection) shares with the others: the gap-free numbers of its register
-- per ULB and ward, the batch jobs that raise its dues in chunks, and its
-- payments and online orders, whose flow is the same for every account
-- (common/service_rules.h: nagar_rules_payment_*, nagar_rules_online_*).
--
-- requires: append_only
--
-- The tables that name the account are made by accounts_install() and
-- batch_job_create(), which the service's first migration calls once its
-- account table exists; the rules then read and write them by the same
-- names in every service.

-- Gap-free numbers per ULB and ward: ward_number_next() upserts the ward's
-- row, which stays locked until the caller commits, so a rolled-back
-- creation gives its number back.
CREATE TABLE IF NOT EXISTS ward_counter (
    ulb      text NOT NULL,
    ward     integer NOT NULL,
    last_no  integer NOT NULL,
    PRIMARY KEY (ulb, ward)
);

CREATE OR REPLACE FUNCTION ward_number_next(p_ulb text, p_ward integer) RETURNS integer
LANGUAGE sql AS $$
    INSERT INTO ward_counter (ulb, ward, last_no) VALUES (p_ulb, p_ward, 1)
        ON CONFLICT (ulb, ward) DO UPDATE SET last_no = ward_counter.last_no + 1
        RETURNING last_no
$$;

-- A table of versioned master data <p_table> (rates, tariffs): one row per
-- version saved for a ULB and financial year, with who saved it and why;
-- append-only, so what a bill was computed with can always be read back.
-- The service adds the columns its master data has.
CREATE OR REPLACE FUNCTION master_data_create(p_table text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($f$
        CREATE TABLE %I (
            id          bigserial PRIMARY KEY,
            ulb         text NOT NULL,
            fy          integer NOT NULL,
            version     integer NOT NULL CHECK (version >= 1),
            reason      text NOT NULL,
            created_by  text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            UNIQUE (ulb, fy, version))$f$, p_table);
    PERFORM append_only_protect(p_table);
END
$$;

-- A batch job table <p_table>: one job per scope (a ULB, or NULL for every
-- ULB) and p_scope_column (its year or month), run in chunks after
-- cursor_id, with its counts; one running job per scope at a time.
CREATE OR REPLACE FUNCTION batch_job_create(p_table text, p_scope_column text, p_scope_type text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($f$
        CREATE TABLE %1$I (
            id             bigserial PRIMARY KEY,
            ulb            text,                 -- NULL = every ULB
            %2$I           %3$s NOT NULL,
            status         text NOT NULL CHECK (status IN ('RUNNING', 'DONE')),
            cursor_id      text NOT NULL DEFAULT '',   -- the last account processed
            total          bigint NOT NULL,
            processed      bigint NOT NULL DEFAULT 0,
            bills_created  bigint NOT NULL DEFAULT 0,
            skipped        bigint NOT NULL DEFAULT 0,
            chunks         integer NOT NULL DEFAULT 0,
            created_by     text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now(),
            finished_at    timestamptz)$f$, p_table, p_scope_column, p_scope_type);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (coalesce(ulb, %L), %I) WHERE status = %L',
                   p_table || '_running_idx', p_table, '', p_scope_column, 'RUNNING');
END
$$;

-- The payments of accounts kept in p_account_table (column p_account),
-- append-only: a reversal is a new row with a negative amount naming the
-- payment it reverses. Each payment is one ledger row (ulb, ledger_seq).
-- How each payment settled the account's dues, line by line, head by head
-- (allocation: the service adds what a line refers to, a year or a bill,
-- and the heads it knows); head ADVANCE is the change of the account's
-- credit. And the online orders a citizen pays through the payment provider.
CREATE OR REPLACE FUNCTION accounts_install(p_account text, p_account_table regclass)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($f$
        CREATE TABLE payment (
            id                  bigserial PRIMARY KEY,
            ulb                 text NOT NULL,
            %1$I                text NOT NULL REFERENCES %2$s,
            receipt_no          text NOT NULL UNIQUE,
            counter             text NOT NULL,
            mode                text NOT NULL CHECK (mode IN ('CASH', 'CHEQUE', 'DEMAND_DRAFT',
                                                              'UPI', 'ONLINE')),
            instrument_ref      text NOT NULL,
            amount_paise        bigint NOT NULL CHECK (amount_paise <> 0),
            paid_on             date NOT NULL,
            ledger_seq          bigint NOT NULL,
            reverses_payment_id bigint UNIQUE REFERENCES payment,
            reason              text NOT NULL DEFAULT '',
            recorded_by         text NOT NULL,
            advance_after_paise bigint NOT NULL,
            created_at          timestamptz NOT NULL DEFAULT now(),
            UNIQUE (ulb, ledger_seq))$f$, p_account, p_account_table);
    EXECUTE format('CREATE INDEX %I ON payment (%I, id)',
                   'payment_' || replace(p_account, '_id', '') || '_idx', p_account);
    CREATE INDEX payment_day_idx ON payment (ulb, paid_on);
    PERFORM append_only_protect('payment');
    EXECUTE format($f$
        CREATE TABLE allocation (
            id            bigserial PRIMARY KEY,
            payment_id    bigint NOT NULL REFERENCES payment,
            %1$I          text NOT NULL,
            ulb           text NOT NULL,
            head          text NOT NULL,
            amount_paise  bigint NOT NULL,
            paid_on       date NOT NULL)$f$, p_account);
    CREATE INDEX allocation_payment_idx ON allocation (payment_id);
    PERFORM append_only_protect('allocation');
    EXECUTE format($f$
        CREATE TABLE online_order (
            order_id      text PRIMARY KEY,
            ulb           text NOT NULL,
            %1$I          text NOT NULL REFERENCES %2$s,
            amount_paise  bigint NOT NULL CHECK (amount_paise > 0),
            status        text NOT NULL CHECK (status IN ('CREATED', 'PAID', 'FAILED')),
            receipt_no    text NOT NULL DEFAULT '',
            provider_ref  text NOT NULL DEFAULT '',
            created_by    text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now())$f$, p_account, p_account_table);
END
$$;
