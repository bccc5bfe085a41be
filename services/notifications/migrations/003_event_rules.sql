-- 003_event_rules.sql — each event type says who may publish it, what record
-- its events are about, and the type of each raw param (issue 12 item 4).
--
-- An outside test found that certificates' bus key could publish a water
-- disconnection notice or a payment receipt with free-text params (a UPI id
-- of the attacker's choosing went out in an official-looking SMS). Now:
--
--   publishers  {"<principal>": "<subject kind>"}: only these keys may
--               publish the type; their events are about a record of that
--               kind ("property", "connection", "application"; "" for a
--               direct send such as identity's OTP, which names its number)
--   params      {"<raw param>": "<param type>"} (services/notifications/
--               param_types.h): any other param is refused, and a value
--               must have its type's shape (no URL, UPI id or phone number)
--   essential   whether the messages ignore opt-out and quiet hours; the
--               type decides, not the publisher
--
-- A new event type is a row here (and its templates) in a new migration.

ALTER TABLE notifications.event_type
    ADD COLUMN publishers jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(publishers) = 'object'),
    ADD COLUMN params jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    ADD COLUMN essential boolean NOT NULL DEFAULT true;

UPDATE notifications.event_type SET
    publishers = '{"identity": ""}',
    params = '{"otp": "otp", "minutes": "count"}'
WHERE type = 'otp.login';

UPDATE notifications.event_type SET
    publishers = '{"property_tax": "property", "water_tax": "connection"}',
    params = '{"receipt_no": "receipt_no", "amount_paise": "paise",
               "property_id": "property_id", "connection_id": "connection_id"}'
WHERE type = 'payment.received';

UPDATE notifications.event_type SET
    publishers = '{"property_tax": "property", "water_tax": "connection"}',
    params = '{"receipt_no": "receipt_no", "reversal_no": "receipt_no", "amount_paise": "paise",
               "reason": "text", "property_id": "property_id", "connection_id": "connection_id"}'
WHERE type = 'payment.reversed';

-- ULB-wide (fy or period and service, bills, job_id) or per bill (the
-- property or connection, amount_paise, due_date, financial_year).
UPDATE notifications.event_type SET
    publishers = '{"property_tax": "property", "water_tax": "connection"}',
    params = '{"fy": "financial_year", "period": "period", "service": "service",
               "bills": "count", "job_id": "count", "property_id": "property_id",
               "connection_id": "connection_id", "amount_paise": "paise", "due_date": "date",
               "financial_year": "financial_year"}'
WHERE type = 'demand.raised';

UPDATE notifications.event_type SET
    publishers = '{"certificates": "application"}',
    params = '{"application_id": "record_id", "kind": "kind", "fee_paise": "paise"}'
WHERE type = 'certificate.application_received';

UPDATE notifications.event_type SET
    publishers = '{"certificates": "application"}',
    params = '{"application_id": "record_id", "registration_number": "registration_no",
               "kind": "kind", "name": "person_name"}'
WHERE type = 'certificate.registered';

UPDATE notifications.event_type SET
    publishers = '{"certificates": "application"}',
    params = '{"application_id": "record_id", "reason": "text", "kind": "kind",
               "name": "person_name"}'
WHERE type = 'certificate.rejected';

UPDATE notifications.event_type SET
    publishers = '{"certificates": "application"}',
    params = '{"application_id": "record_id", "certificate_id": "record_id",
               "registration_number": "registration_no", "certificate_no": "registration_no",
               "kind": "kind", "name": "person_name", "version": "count"}'
WHERE type = 'certificate.issued';

UPDATE notifications.event_type SET
    publishers = '{"water_tax": "connection"}',
    params = '{"name": "person_name", "account": "connection_id", "amount_paise": "paise",
               "due_date": "date"}'
WHERE type = 'water.disconnection_notice';

-- Reminders come through campaigns: the campaign's kind is the publisher.
UPDATE notifications.event_type SET
    publishers = '{"property_tax": "property"}',
    params = '{"name": "person_name", "amount_paise": "paise", "account": "property_id",
               "due_date": "date"}',
    essential = false
WHERE type = 'due.reminder.property_tax';

UPDATE notifications.event_type SET
    publishers = '{"water_tax": "connection"}',
    params = '{"name": "person_name", "amount_paise": "paise", "account": "connection_id",
               "due_date": "date"}',
    essential = false
WHERE type = 'due.reminder.water_tax';

-- Every type has its rules now; a new one must come with them.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM notifications.event_type WHERE publishers = '{}') THEN
        RAISE EXCEPTION 'event types without publishers: %',
            (SELECT string_agg(type, ', ') FROM notifications.event_type WHERE publishers = '{}');
    END IF;
END
$$;
