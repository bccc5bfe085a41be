-- 004_recipients.sql — an event names the record it is about and, at most,
-- the person's user id; notifications resolves the contact itself and keeps
-- the event until it can (issue 12 item 4, issue 14 item 4).
--
-- Accepting an event no longer means it was rendered at once. It is
-- recorded 'pending' with its checked params; the resolver (recipients.c)
-- asks the publisher for the record's persons (notify.subjects), checks the
-- user id against them, asks identity for the verified contact
-- (contact.lookup) and queues the messages ('delivered'). When that cannot
-- be done yet (no contact yet, identity or the publisher not answering, no
-- template) the event stays 'pending' with the reason and is tried again
-- with back-off; staff see it (event.list) and may retry it at once
-- (event.retry). An event whose user id is not a person of its record, or
-- whose record does not exist, is 'refused'; one that could not be
-- delivered for NAGAR_NOTIFY_RESOLVE_GIVE_UP_S is 'undeliverable'. Nothing
-- accepted is dropped unseen.

ALTER TABLE notifications.event
    ADD COLUMN state text NOT NULL DEFAULT 'delivered'
        CHECK (state IN ('pending', 'delivered', 'recorded', 'refused', 'undeliverable')),
    ADD COLUMN subject text NOT NULL DEFAULT '' CHECK (char_length(subject) <= 120),
    ADD COLUMN user_id text NOT NULL DEFAULT '' CHECK (char_length(user_id) <= 100),
    ADD COLUMN language text NOT NULL DEFAULT '' CHECK (language IN ('', 'hi', 'en')),
    ADD COLUMN params jsonb,                -- [[name, value], ...] as checked; NULL for direct sends
    ADD COLUMN occurred_at_ms bigint NOT NULL DEFAULT 0,
    ADD COLUMN essential boolean NOT NULL DEFAULT true,
    ADD COLUMN campaign_id bigint,
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN reason text NOT NULL DEFAULT '',
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN seq bigserial;               -- paging for staff, newest first

-- The resolver's queue, and what staff look at.
CREATE INDEX event_pending_idx ON notifications.event (next_attempt_at) WHERE state = 'pending';
CREATE INDEX event_undelivered_idx ON notifications.event (ulb, seq)
    WHERE state IN ('pending', 'refused', 'undeliverable');
CREATE UNIQUE INDEX event_seq_idx ON notifications.event (seq);

-- Campaign recipients are named by their account (and the owner's user id
-- when known), like events; one per account and campaign.
ALTER TABLE notifications.campaign_recipient
    ADD COLUMN subject text NOT NULL DEFAULT '';
