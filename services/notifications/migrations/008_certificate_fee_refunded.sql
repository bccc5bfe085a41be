-- 008_certificate_fee_refunded.sql — the applicant is told when the ULB
-- has refunded an online payment of a certificate fee that arrived after
-- the fee was settled another way (issue 14 item 4; the refund itself is
-- certificates' fee_refund.record, on its history).
--
-- About the application, naming the applicant's user id; refunded_on is the
-- day staff say the money went back. The refund's reference (a bank UTR, a
-- cheque number) is not sent: no param type admits such digit runs, and the
-- applicant sees it on the order in the portal.

INSERT INTO notifications.event_type (type, placeholders, description, publishers, params,
                                      essential) VALUES
  ('certificate.fee_refunded', '{ulb_name,kind,application_id,amount,refunded_on}',
   'an online payment of a certificate fee that came after the fee was settled was refunded',
   '{"certificates": "application"}',
   '{"application_id": "record_id", "kind": "kind", "amount_paise": "paise",
     "refunded_on": "date"}', true);

INSERT INTO notifications.template (type, language, channel, ulb, version, subject, body,
                                    saved_by) VALUES
  ('certificate.fee_refunded', 'hi', 'sms', '', 1, '',
   '{{ulb_name}}: आवेदन {{application_id}} हेतु आपका अतिरिक्त ऑनलाइन भुगतान ₹{{amount}} दिनांक {{refunded_on}} को लौटा दिया गया है।', 'migration'),
  ('certificate.fee_refunded', 'en', 'sms', '', 1, '',
   '{{ulb_name}}: your extra online payment of Rs {{amount}} for application {{application_id}} was refunded on {{refunded_on}}.', 'migration');
