-- 001_outbox_demo.sql — the test service of tests/support/outbox_demo.c: a
-- payments table and the standard outbox (common/sql/outbox.sql, copied as
-- every service does).

CREATE TABLE payment (
    id          bigserial PRIMARY KEY,
    ulb         text NOT NULL,
    mobile      text NOT NULL,
    amount      text NOT NULL,
    receipt_no  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

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
