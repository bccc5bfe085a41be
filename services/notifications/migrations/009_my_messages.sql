-- 009_my_messages.sql — a citizen's own list of the messages sent to them
-- (message.mine, my_messages.c; the portal's "my messages").
--
-- Each event type gets a short title in Hindi and English, shown beside the
-- text; a type added later must bring its titles (checked below). The list
-- reads the messages queued for one user id, newest first: an index on
-- (user_id, id) keeps that one index range scan however many messages the
-- state sends.

ALTER TABLE notifications.event_type
    ADD COLUMN title_hi text NOT NULL DEFAULT '' CHECK (char_length(title_hi) <= 80),
    ADD COLUMN title_en text NOT NULL DEFAULT '' CHECK (char_length(title_en) <= 80);

UPDATE notifications.event_type t SET title_hi = v.hi, title_en = v.en
FROM (VALUES
    ('otp.login', 'लॉगिन ओटीपी', 'Login OTP'),
    ('payment.received', 'भुगतान प्राप्त', 'Payment received'),
    ('payment.reversed', 'भुगतान निरस्त', 'Payment reversed'),
    ('demand.raised', 'कर की मांग', 'Demand raised'),
    ('demand.notice', 'संपत्ति कर मांग-पत्र', 'Property tax demand notice'),
    ('due.reminder.property_tax', 'संपत्ति कर देय स्मरण', 'Property tax due reminder'),
    ('due.reminder.water_tax', 'जल कर देय स्मरण', 'Water charges due reminder'),
    ('water.disconnection_notice', 'जल कनेक्शन विच्छेद सूचना', 'Water disconnection notice'),
    ('certificate.application_received', 'पंजीयन आवेदन प्राप्त',
     'Registration application received'),
    ('certificate.registered', 'पंजीयन हुआ', 'Registered'),
    ('certificate.rejected', 'आवेदन अस्वीकृत', 'Application rejected'),
    ('certificate.issued', 'प्रमाण-पत्र जारी', 'Certificate issued'),
    ('certificate.fee_paid', 'प्रमाण-पत्र शुल्क प्राप्त', 'Certificate fee received'),
    ('certificate.fee_refund_due', 'शुल्क वापसी देय', 'Fee refund due'),
    ('certificate.fee_refunded', 'शुल्क लौटाया गया', 'Fee refunded')
) AS v (type, hi, en)
WHERE t.type = v.type;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM notifications.event_type WHERE title_hi = '' OR title_en = '') THEN
        RAISE EXCEPTION 'event types without titles: %',
            (SELECT string_agg(type, ', ') FROM notifications.event_type
              WHERE title_hi = '' OR title_en = '');
    END IF;
END
$$;

CREATE INDEX message_user_idx ON notifications.message (user_id, id) WHERE user_id <> '';
