-- outbox 001 — the transactional outbox (common/outbox.h).
--
-- A row is written in the same transaction as the change it reports
-- (nagar_outbox_add). The relay sends rows with sent_at NULL in id order and
-- sets sent_at when notifications acknowledged the event; outcome says
-- 'delivered', or 'rejected: <reason>' for an event notifications refused as
-- malformed (kept for inspection, never re-sent).

CREATE TABLE IF NOT EXISTS outbox (
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
CREATE INDEX IF NOT EXISTS outbox_pending_idx ON outbox (id) WHERE sent_at IS NULL;
