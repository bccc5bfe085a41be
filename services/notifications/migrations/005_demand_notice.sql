-- 005_demand_notice.sql — the message of a year's demand notice (issue 14
-- item 1: the annual demand told the town it had run, and no owner their
-- bill).
--
-- Once a demand job has raised its bills, property tax sends one
-- demand.notice event per owner it can reach (services/property_tax/
-- sql/notice_messages.sql, pt_demand_notice_messages_chunk): about the property,
-- naming the owner's user id when they have an account, with the notice's
-- amount payable, the year and the due date. {{link}} is derived here
-- (event_params.c): NAGAR_PORTAL_URL/property/<property_id>, the page with
-- the notice and the payment; without a portal, the municipal office. A
-- publisher cannot send a link itself (no param type takes a URL).

INSERT INTO notifications.event_type (type, placeholders, description, publishers, params,
                                      essential) VALUES
  ('demand.notice', '{ulb_name,account,amount,due_date,financial_year,link}',
   'the year''s property tax demand notice: the amount payable and where to see and pay it',
   '{"property_tax": "property"}',
   '{"property_id": "property_id", "financial_year": "financial_year",
     "amount_paise": "paise", "due_date": "date"}', true);

INSERT INTO notifications.template (type, language, channel, ulb, version, subject, body,
                                    saved_by) VALUES
  ('demand.notice', 'hi', 'sms', '', 1, '',
   '{{ulb_name}}: संपत्ति {{account}} का वर्ष {{financial_year}} का संपत्ति कर मांग-पत्र: देय ₹{{amount}}, अंतिम तिथि {{due_date}}। मांग-पत्र देखें व भुगतान करें: {{link}}', 'migration'),
  ('demand.notice', 'en', 'sms', '', 1, '',
   '{{ulb_name}}: property tax demand notice {{financial_year}} for property {{account}}: Rs {{amount}} payable, due by {{due_date}}. See the notice and pay: {{link}}', 'migration');
