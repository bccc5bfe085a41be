-- 001_identity.sql — ULB master data, citizens, staff, one-time passwords,
-- sessions and revocations of nagar-identity. Runs as identity_owner;
-- identity_app receives DML through the default privileges set by
-- deploy/provision.sh. Idempotency records and the append-only audit log
-- are the idempotency and audit modules of common/sql (../sql/modules).
--
-- This file held copies of those two tables until they became modules; a
-- database made with that text has them already (the modules adopt them):
--
-- nagar-migrate: replaces dfe1e7740c6972e6395e2b09f4d121bbc25bddc867f640b51c8738aa6c0ac760

CREATE TABLE identity.ulb (
    code            text PRIMARY KEY CHECK (code ~ '^[0-9]{1,10}$'),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    type            smallint NOT NULL CHECK (type BETWEEN 1 AND 3),  -- nagar.identity.UlbType
    district_code   text NOT NULL CHECK (district_code ~ '^[0-9]{1,10}$'),
    district_name   text NOT NULL CHECK (char_length(district_name) BETWEEN 1 AND 100),
    census2011_code text NOT NULL DEFAULT '' CHECK (census2011_code ~ '^[0-9]{0,10}$'),
    source          text NOT NULL CHECK (source IN ('lgd', 'staff')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ulb_name_idx ON identity.ulb (name, code);

CREATE TABLE identity.citizen (
    user_id       text PRIMARY KEY CHECK (user_id LIKE 'citizen:%'),
    mobile        text NOT NULL UNIQUE CHECK (mobile ~ '^[6-9][0-9]{9}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE identity.staff (
    user_id         text PRIMARY KEY CHECK (user_id LIKE 'staff:%'),
    username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,64}$'),
    full_name       text NOT NULL CHECK (char_length(full_name) BETWEEN 1 AND 100),
    role            text NOT NULL CHECK (role IN ('CLERK', 'REGISTRAR', 'REVENUE_OFFICER',
                                                  'COMMISSIONER', 'STATE_ADMIN')),
    ulb             text REFERENCES identity.ulb (code),
    mobile          text NOT NULL DEFAULT '' CHECK (mobile = '' OR mobile ~ '^[6-9][0-9]{9}$'),
    password_hash   text NOT NULL,
    disabled        boolean NOT NULL DEFAULT false,
    disabled_at     timestamptz,
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    -- State admins are state-wide; every other role belongs to one ULB.
    CHECK ((role = 'STATE_ADMIN') = (ulb IS NULL))
);
CREATE INDEX staff_ulb_idx ON identity.staff (ulb, username);

-- One row per code sent; kept (without the code) for the rate limits.
CREATE TABLE identity.otp (
    id          bigserial PRIMARY KEY,
    mobile      text NOT NULL CHECK (mobile ~ '^[6-9][0-9]{9}$'),
    client_ip   text NOT NULL DEFAULT '',
    salt        bytea NOT NULL CHECK (octet_length(salt) = 16),
    code_hash   bytea NOT NULL CHECK (octet_length(code_hash) = 32),  -- keyed BLAKE2b
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    attempts    smallint NOT NULL DEFAULT 0,
    dead        boolean NOT NULL DEFAULT false   -- used, superseded or out of attempts
);
CREATE INDEX otp_mobile_idx ON identity.otp (mobile, created_at);
CREATE INDEX otp_ip_idx ON identity.otp (client_ip, created_at);

CREATE TABLE identity.session (
    session_id            text PRIMARY KEY CHECK (session_id ~ '^[0-9a-f]{32}$'),
    user_id               text NOT NULL,
    role                  text NOT NULL,
    ulb                   text NOT NULL DEFAULT '',
    refresh_hash          bytea NOT NULL,     -- BLAKE2b of the one refresh token now valid
    refresh_issued_at_ms  bigint NOT NULL,
    expires_at            timestamptz NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    client_ip             text NOT NULL DEFAULT '',
    revoked_at            timestamptz,
    revoked_reason        text
);
CREATE INDEX session_user_idx ON identity.session (user_id);

-- What the gateway polls (token.revocations) to honour logout and disabling.
CREATE TABLE identity.revocation (
    id          bigserial PRIMARY KEY,
    session_id  text,
    user_id     text,
    -- identity's clock, as in the tokens' issued_at_ms: a user revocation
    -- covers every token of the user issued before this instant
    revoked_at_ms bigint NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((session_id IS NULL) <> (user_id IS NULL))
);
