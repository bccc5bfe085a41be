-- 002_event_contract.sql — every event type a service publishes has a row
-- here, and every citizen-facing one has Hindi and English SMS templates.
--
-- Publishers send raw facts (amount_paise, property_id, connection_id, the
-- time it happened); notifications derives the display params the templates
-- read (amount, account, date, ulb_name; services/notifications/README.md,
-- "Event contract"). An event type that is a ULB-wide fact rather than a
-- message to one person (recipient_required = false) may arrive with no
-- address: it is recorded and nothing is sent.

ALTER TABLE notifications.event_type
    ADD COLUMN recipient_required boolean NOT NULL DEFAULT true;

-- Property tax's and water tax's annual/monthly demand runs publish one
-- demand.raised per ULB and job (fy or period, bills, job_id) with no
-- recipient; owners hear of their bills through the due-date campaigns.
-- A per-bill demand.raised with an address is still rendered and sent.
UPDATE notifications.event_type SET recipient_required = false WHERE type = 'demand.raised';

INSERT INTO notifications.event_type (type, placeholders, description) VALUES
  ('payment.reversed', '{ulb_name,account,amount,receipt_no,reversal_no,reason,date}',
   'a payment was reversed (bounced cheque, wrong entry)'),
  ('certificate.application_received', '{ulb_name,kind,application_id,fee,date}',
   'a registration application was received'),
  ('certificate.registered', '{ulb_name,name,kind,registration_number,date}',
   'a birth, death or marriage was registered'),
  ('certificate.rejected', '{ulb_name,name,kind,application_id,reason}',
   'a registration application was rejected'),
  ('water.disconnection_notice', '{ulb_name,name,account,amount,due_date}',
   'water connection to be disconnected unless the arrears are paid');

INSERT INTO notifications.template (type, language, channel, version, subject, body, saved_by) VALUES
  ('payment.reversed', 'hi', 'sms', 1, '',
   '{{ulb_name}}: खाता {{account}} की रसीद {{receipt_no}} (₹{{amount}}) का भुगतान निरस्त किया गया, निरस्तीकरण क्रमांक {{reversal_no}}। कारण: {{reason}}', 'migration'),
  ('payment.reversed', 'en', 'sms', 1, '',
   '{{ulb_name}}: the payment of Rs {{amount}} on receipt {{receipt_no}} for account {{account}} was reversed (reversal no. {{reversal_no}}). Reason: {{reason}}', 'migration'),
  ('certificate.application_received', 'hi', 'sms', 1, '',
   '{{ulb_name}}: आपका {{kind}} पंजीयन आवेदन {{application_id}} प्राप्त हुआ। शुल्क ₹{{fee}}।', 'migration'),
  ('certificate.application_received', 'en', 'sms', 1, '',
   '{{ulb_name}}: your {{kind}} registration application {{application_id}} has been received. Fee: Rs {{fee}}.', 'migration'),
  ('certificate.registered', 'hi', 'sms', 1, '',
   '{{ulb_name}}: {{name}} का {{kind}} पंजीयन क्रमांक {{registration_number}} पर दर्ज हो गया है।', 'migration'),
  ('certificate.registered', 'en', 'sms', 1, '',
   '{{ulb_name}}: the {{kind}} of {{name}} has been registered as no. {{registration_number}}.', 'migration'),
  ('certificate.rejected', 'hi', 'sms', 1, '',
   '{{ulb_name}}: {{name}} के {{kind}} पंजीयन का आवेदन {{application_id}} अस्वीकार किया गया। कारण: {{reason}}', 'migration'),
  ('certificate.rejected', 'en', 'sms', 1, '',
   '{{ulb_name}}: the {{kind}} registration application {{application_id}} for {{name}} was rejected. Reason: {{reason}}', 'migration'),
  ('water.disconnection_notice', 'hi', 'sms', 1, '',
   '{{ulb_name}}: {{name}} जी, जल कनेक्शन {{account}} पर ₹{{amount}} बकाया है। {{due_date}} तक भुगतान न होने पर कनेक्शन काटा जाएगा।', 'migration'),
  ('water.disconnection_notice', 'en', 'sms', 1, '',
   '{{ulb_name}}: dear {{name}}, Rs {{amount}} is due on water connection {{account}}. It will be disconnected unless paid by {{due_date}}.', 'migration');
