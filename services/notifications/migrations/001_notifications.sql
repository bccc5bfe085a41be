-- 001_notifications.sql — nagar-notifications: event types and templates
-- (versioned master data), accepted events (the de-duplication record),
-- the message queue with its delivery state, opt-outs and reminder
-- campaigns. Runs as notifications_owner; notifications_app gets DML
-- through the default privileges of deploy/provision.sh, minus
-- UPDATE/DELETE on the versioned templates. Idempotency records are the
-- idempotency module of common/sql (../sql/modules).
--
-- This file held a copy of that table until it became a module; a
-- database made with that text has it already (the module adopts it):
--
-- nagar-migrate: replaces 5dada6cbfc893e35c6659cf5853e20fcd47a3df5084f865c01347b0c1943e3c3

-- Which placeholders each event type's templates may use.
CREATE TABLE notifications.event_type (
    type         text PRIMARY KEY CHECK (type ~ '^[a-z][a-z0-9_.]{0,63}$'),
    placeholders text[] NOT NULL,
    description  text NOT NULL
);

-- Every save is a new version; the newest version of (type, language,
-- channel, ulb) is the one used. ulb '' is the state default.
CREATE TABLE notifications.template (
    id              bigserial PRIMARY KEY,
    type            text NOT NULL REFERENCES notifications.event_type (type),
    language        text NOT NULL CHECK (language IN ('hi', 'en')),
    channel         text NOT NULL CHECK (channel IN ('sms', 'email')),
    ulb             text NOT NULL DEFAULT '' CHECK (ulb ~ '^[0-9]{0,10}$'),
    version         integer NOT NULL CHECK (version >= 1),
    subject         text NOT NULL DEFAULT '' CHECK (char_length(subject) <= 200),
    body            text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 5000),
    dlt_template_id text NOT NULL DEFAULT '' CHECK (dlt_template_id ~ '^[0-9]{0,30}$'),
    saved_by        text NOT NULL,
    saved_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (type, language, channel, ulb, version)
);

-- Accepted events and direct sends: the de-duplication record.
CREATE TABLE notifications.event (
    event_id     text PRIMARY KEY CHECK (char_length(event_id) BETWEEN 1 AND 200),
    type         text NOT NULL,
    ulb          text NOT NULL,
    source       text NOT NULL,          -- caller principal
    request_hash bytea,                  -- keyed hash of a direct send, for conflicts
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications.message (
    id                  bigserial PRIMARY KEY,
    event_id            text NOT NULL REFERENCES notifications.event (event_id),
    campaign_id         bigint,
    type                text NOT NULL,
    ulb                 text NOT NULL,
    channel             text NOT NULL CHECK (channel IN ('sms', 'email')),
    address             text NOT NULL,
    user_id             text NOT NULL DEFAULT '',
    language            text NOT NULL,
    essential           boolean NOT NULL,
    subject             text NOT NULL DEFAULT '',
    body                text NOT NULL,   -- secrets replaced by ******
    body_sealed         bytea,           -- the deliverable body of a secret message, until final
    seal_key_id         text,
    dlt_template_id     text NOT NULL DEFAULT '',
    template_version    integer NOT NULL,
    segments            integer NOT NULL DEFAULT 0,
    encoding            text NOT NULL DEFAULT '',
    status              text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sending', 'sent', 'dead', 'suppressed')),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    lease_until         timestamptz,
    expires_at          timestamptz,
    last_error          text NOT NULL DEFAULT '',
    provider_message_id text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    -- a sealed body never outlives the message's delivery
    CHECK (body_sealed IS NULL OR status IN ('queued', 'sending'))
);
CREATE INDEX message_due_idx ON notifications.message (next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX message_lease_idx ON notifications.message (lease_until) WHERE status = 'sending';
CREATE INDEX message_event_idx ON notifications.message (event_id);
CREATE INDEX message_ulb_idx ON notifications.message (ulb, id);
CREATE INDEX message_address_idx ON notifications.message (address, sent_at);
-- Never the same person twice in one campaign, whatever the code does.
CREATE UNIQUE INDEX message_campaign_once ON notifications.message (campaign_id, channel, address)
    WHERE campaign_id IS NOT NULL;

-- Opt-out of non-essential messages. subject: user:<id>, mobile:<n>, email:<e>.
CREATE TABLE notifications.opt_out (
    subject    text PRIMARY KEY,
    opted_out  boolean NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications.campaign (
    id              bigserial PRIMARY KEY,
    ulb             text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    kind            text NOT NULL CHECK (kind IN ('property_tax', 'water_tax')),
    cycle           text NOT NULL CHECK (cycle ~ '^[0-9A-Za-z._-]{1,40}$'),
    per_minute      integer NOT NULL CHECK (per_minute BETWEEN 1 AND 100000),
    params          jsonb NOT NULL DEFAULT '[]',
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'done')),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_enqueue_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ulb, kind, cycle)
);

CREATE TABLE notifications.campaign_recipient (
    id            bigserial PRIMARY KEY,
    campaign_id   bigint NOT NULL REFERENCES notifications.campaign (id),
    recipient_key text NOT NULL,          -- mobile:<n>, else email:<e>: one person, once
    mobile        text NOT NULL DEFAULT '',
    email         text NOT NULL DEFAULT '',
    language      text NOT NULL DEFAULT 'hi',
    user_id       text NOT NULL DEFAULT '',
    params        jsonb NOT NULL DEFAULT '[]',
    queued_at     timestamptz,
    outcome       text NOT NULL DEFAULT '',
    UNIQUE (campaign_id, recipient_key)
);
CREATE INDEX campaign_recipient_pending_idx ON notifications.campaign_recipient (campaign_id, id)
    WHERE queued_at IS NULL;

-- Templates are versioned master data: a change is a new version.
REVOKE UPDATE, DELETE, TRUNCATE ON notifications.template FROM notifications_app;

INSERT INTO notifications.event_type (type, placeholders, description) VALUES
  ('otp.login', '{otp,minutes}', 'one-time password for citizen login'),
  ('payment.received', '{ulb_name,account,amount,receipt_no,date}', 'receipt for a payment'),
  ('certificate.issued', '{ulb_name,name,kind,certificate_no}', 'a certificate is ready'),
  ('demand.raised', '{ulb_name,account,amount,due_date,financial_year}', 'a new bill or demand'),
  ('due.reminder.property_tax', '{ulb_name,name,account,amount,due_date}',
   'property tax due-date reminder (campaign)'),
  ('due.reminder.water_tax', '{ulb_name,name,account,amount,due_date}',
   'water charges due-date reminder (campaign)');

INSERT INTO notifications.template (type, language, channel, version, subject, body, saved_by) VALUES
  ('otp.login', 'hi', 'sms', 1, '',
   'नगर: आपका लॉगिन ओटीपी {{otp}} है, जो {{minutes}} मिनट तक मान्य है। इसे किसी से साझा न करें।', 'migration'),
  ('otp.login', 'en', 'sms', 1, '',
   'Nagar: your login OTP is {{otp}}, valid for {{minutes}} minutes. Do not share it with anyone.', 'migration'),
  ('payment.received', 'hi', 'sms', 1, '',
   '{{ulb_name}}: खाता {{account}} हेतु ₹{{amount}} का भुगतान प्राप्त हुआ। रसीद क्रमांक {{receipt_no}}। धन्यवाद।', 'migration'),
  ('payment.received', 'en', 'sms', 1, '',
   '{{ulb_name}}: payment of Rs {{amount}} received for account {{account}}. Receipt no. {{receipt_no}}. Thank you.', 'migration'),
  ('payment.received', 'hi', 'email', 1, '{{ulb_name}}: भुगतान रसीद {{receipt_no}}',
   'नमस्कार,

खाता {{account}} हेतु ₹{{amount}} का भुगतान {{date}} को प्राप्त हुआ। रसीद क्रमांक {{receipt_no}} है।

धन्यवाद,
{{ulb_name}}', 'migration'),
  ('payment.received', 'en', 'email', 1, '{{ulb_name}}: payment receipt {{receipt_no}}',
   'Hello,

we received your payment of Rs {{amount}} for account {{account}} on {{date}}. The receipt number is {{receipt_no}}.

Thank you,
{{ulb_name}}', 'migration'),
  ('certificate.issued', 'hi', 'sms', 1, '',
   '{{ulb_name}}: {{name}} का {{kind}} प्रमाणपत्र क्रमांक {{certificate_no}} जारी हो गया है।', 'migration'),
  ('certificate.issued', 'en', 'sms', 1, '',
   '{{ulb_name}}: the {{kind}} certificate no. {{certificate_no}} for {{name}} has been issued.', 'migration'),
  ('demand.raised', 'hi', 'sms', 1, '',
   '{{ulb_name}}: खाता {{account}} की वर्ष {{financial_year}} की मांग ₹{{amount}}, अंतिम तिथि {{due_date}}।', 'migration'),
  ('demand.raised', 'en', 'sms', 1, '',
   '{{ulb_name}}: demand for {{financial_year}} on account {{account}} is Rs {{amount}}, due by {{due_date}}.', 'migration'),
  ('due.reminder.property_tax', 'hi', 'sms', 1, '',
   '{{ulb_name}}: {{name}} जी, संपत्ति कर खाता {{account}} पर ₹{{amount}} बकाया है। कृपया {{due_date}} तक भुगतान करें।', 'migration'),
  ('due.reminder.property_tax', 'en', 'sms', 1, '',
   '{{ulb_name}}: dear {{name}}, Rs {{amount}} of property tax is due on account {{account}}. Please pay by {{due_date}}.', 'migration'),
  ('due.reminder.water_tax', 'hi', 'sms', 1, '',
   '{{ulb_name}}: {{name}} जी, जल कर खाता {{account}} पर ₹{{amount}} बकाया है। कृपया {{due_date}} तक भुगतान करें।', 'migration'),
  ('due.reminder.water_tax', 'en', 'sms', 1, '',
   '{{ulb_name}}: dear {{name}}, Rs {{amount}} of water charges is due on account {{account}}. Please pay by {{due_date}}.', 'migration');
