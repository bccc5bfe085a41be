-- 001_certificates.sql — birth, death and marriage registration of
-- nagar-certificates: fee schedules (master data), applications, gap-free
-- registration counters, the append-only and chained register of issued
-- certificates and corrections. Runs as certificates_owner;
-- certificates_app receives DML through the default privileges set by
-- deploy/provision.sh and loses UPDATE, DELETE and TRUNCATE on the
-- append-only tables below. Idempotency records, the audit log and the
-- outbox are modules of common/sql (../sql/modules), installed first.
--
-- This file held copies of those tables until they became modules; a
-- database made with that text has them already (the modules adopt them):
--
-- nagar-migrate: replaces 7ae3ddc87ebd8211cba7fde2bd49b741330c5b50699956a4c369147122e5620e

-- Late-registration windows and fees per ULB ('' = the state default),
-- versioned: a save appends a row, nothing is ever changed.
CREATE TABLE certificates.fee_schedule (
    id                    bigserial PRIMARY KEY,
    ulb                   text NOT NULL CHECK (ulb = '' OR ulb ~ '^[0-9]{1,10}$'),
    effective_from        date NOT NULL,
    version               integer NOT NULL CHECK (version >= 1),
    free_days             integer NOT NULL,
    late_days             integer NOT NULL,
    late_fee_paise        bigint NOT NULL CHECK (late_fee_paise >= 0),
    permission_days       integer NOT NULL,
    permission_fee_paise  bigint NOT NULL CHECK (permission_fee_paise >= 0),
    order_fee_paise       bigint NOT NULL CHECK (order_fee_paise >= 0),
    marriage_fee_paise    bigint NOT NULL CHECK (marriage_fee_paise >= 0),
    child_name_days       integer NOT NULL CHECK (child_name_days >= 1),
    saved_by              text NOT NULL,
    saved_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ulb, version),
    CHECK (free_days >= 1 AND free_days < late_days AND late_days < permission_days)
);

-- RBD Act 1969 s.13 as amended 2023 and MP rules 2024: free within 21 days;
-- Rs 20 to 30 days; Rs 50 and the District Registrar's permission to a year;
-- Rs 100 and an executive magistrate's order beyond. MP Compulsory
-- Registration of Marriages Rules 2008: Rs 30 a certificate. The child's
-- name may be entered within 15 years of registration (s.14 and the rules).
INSERT INTO certificates.fee_schedule (ulb, effective_from, version, free_days, late_days,
    late_fee_paise, permission_days, permission_fee_paise, order_fee_paise, marriage_fee_paise,
    child_name_days, saved_by)
VALUES ('', DATE '1970-01-01', 1, 21, 30, 2000, 365, 5000, 10000, 3000, 5475,
        'migration:001_certificates');

CREATE TABLE certificates.application (
    application_id        text PRIMARY KEY,
    seq                   bigserial UNIQUE,
    ulb                   text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    kind                  smallint NOT NULL CHECK (kind BETWEEN 1 AND 3),
    state                 smallint NOT NULL CHECK (state BETWEEN 1 AND 3),
    source                text NOT NULL,
    applicant             text NOT NULL,
    submitted_at          timestamptz NOT NULL DEFAULT now(),
    event_date            date NOT NULL,
    subject_name          text NOT NULL,
    report                jsonb NOT NULL,
    parent_names          text NOT NULL DEFAULT '',
    informant_mobile      text NOT NULL DEFAULT '',
    delay_days            integer NOT NULL,
    late_window           smallint NOT NULL,
    fee_paise             bigint NOT NULL CHECK (fee_paise >= 0),
    permission_required   boolean NOT NULL,
    permission_reference  text NOT NULL DEFAULT '',
    registration_number   text UNIQUE,
    registered_at         timestamptz,
    decided_by            text,
    rejection_reason      text,
    CHECK ((state = 2) = (registration_number IS NOT NULL))
);
CREATE INDEX application_ulb_idx ON certificates.application (ulb, seq);
CREATE INDEX application_applicant_idx ON certificates.application (applicant, seq);

-- The last registration number per ULB, kind and year; incremented in the
-- registering transaction, so numbers are gap-free.
CREATE TABLE certificates.registration_counter (
    ulb          text NOT NULL,
    kind         smallint NOT NULL,
    year         integer NOT NULL,
    last_number  bigint NOT NULL CHECK (last_number >= 1),
    PRIMARY KEY (ulb, kind, year)
);

-- Issued certificates: append-only, signed (qr_payload under key_id),
-- chained per ULB (hash = SHA-256(prev_hash || qr_payload)). A correction is
-- a new row whose supersedes names the previous version; a version is
-- superseded at most once.
CREATE TABLE certificates.certificate (
    certificate_id        text PRIMARY KEY,
    seq                   bigserial UNIQUE,
    application_id        text NOT NULL REFERENCES certificates.application (application_id),
    ulb                   text NOT NULL,
    kind                  smallint NOT NULL CHECK (kind BETWEEN 1 AND 3),
    registration_number   text NOT NULL,
    version               integer NOT NULL CHECK (version >= 1),
    supersedes            text UNIQUE REFERENCES certificates.certificate (certificate_id),
    subject_name          text NOT NULL,
    event_date            date NOT NULL,
    report                jsonb NOT NULL,
    issued_at             timestamptz NOT NULL DEFAULT now(),
    issued_by             text NOT NULL,
    key_id                text NOT NULL,
    qr_payload            text NOT NULL,
    correction_id         text,
    correction_reason     text NOT NULL DEFAULT '',
    prev_hash             bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash                  bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    UNIQUE (registration_number, version),
    CHECK ((version = 1) = (supersedes IS NULL))
);
CREATE INDEX certificate_ulb_idx ON certificates.certificate (ulb, seq);
CREATE INDEX certificate_application_idx ON certificates.certificate (application_id);

CREATE TABLE certificates.certificate_chain (
    ulb        text PRIMARY KEY,
    head_hash  bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),
    length     bigint NOT NULL DEFAULT 0
);

CREATE TABLE certificates.correction (
    correction_id       text PRIMARY KEY,
    seq                 bigserial UNIQUE,
    certificate_id      text NOT NULL REFERENCES certificates.certificate (certificate_id),
    ulb                 text NOT NULL,
    kind                smallint NOT NULL,
    state               smallint NOT NULL CHECK (state BETWEEN 1 AND 3),
    reason              text NOT NULL,
    report              jsonb NOT NULL,
    requested_by        text NOT NULL,
    requested_at        timestamptz NOT NULL DEFAULT now(),
    decided_by          text,
    decided_at          timestamptz,
    decision_note       text NOT NULL DEFAULT '',
    new_certificate_id  text REFERENCES certificates.certificate (certificate_id)
);
-- One pending correction per certificate at a time.
CREATE UNIQUE INDEX correction_pending_idx ON certificates.correction (certificate_id)
    WHERE state = 1;

-- Append-only for everyone: the app role has no UPDATE, DELETE or TRUNCATE,
-- and the triggers refuse them even to the owner.
SELECT append_only_protect('certificates.certificate');
SELECT append_only_protect('certificates.fee_schedule');
REVOKE UPDATE, DELETE, TRUNCATE ON certificates.certificate, certificates.fee_schedule
    FROM certificates_app;
