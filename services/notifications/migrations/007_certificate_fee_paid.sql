-- 007_certificate_fee_paid.sql — the applicant is told when a certificate
-- fee they paid online is received, and when an online payment arrived
-- after the fee had been settled another way (issue 14 item 4: every event
-- of every service reaches its person).
--
-- Certificates publishes these from the provider's verified callback, in
-- its transaction (services/certificates/fee_payment.c): about the
-- application, naming the applicant's user id. The order is REFUND_DUE when
-- the fee was meanwhile paid at a counter, waived, paid by another order or
-- the application decided: the money is not taken twice, the ULB refunds
-- it (staff record the refund, fee_refund.record).

INSERT INTO notifications.event_type (type, placeholders, description, publishers, params,
                                      essential) VALUES
  ('certificate.fee_paid', '{ulb_name,kind,application_id,amount,receipt_no,date}',
   'a certificate fee was paid online: the amount and the receipt',
   '{"certificates": "application"}',
   '{"application_id": "record_id", "kind": "kind", "amount_paise": "paise",
     "receipt_no": "receipt_no"}', true),
  ('certificate.fee_refund_due', '{ulb_name,kind,application_id,amount,date}',
   'an online payment of a certificate fee arrived after the fee was settled another way: '
   'the ULB will refund it',
   '{"certificates": "application"}',
   '{"application_id": "record_id", "kind": "kind", "amount_paise": "paise"}', true);

INSERT INTO notifications.template (type, language, channel, ulb, version, subject, body,
                                    saved_by) VALUES
  ('certificate.fee_paid', 'hi', 'sms', '', 1, '',
   '{{ulb_name}}: आपके {{kind}} पंजीयन आवेदन {{application_id}} का शुल्क ₹{{amount}} ऑनलाइन प्राप्त हुआ। रसीद क्रमांक {{receipt_no}}।', 'migration'),
  ('certificate.fee_paid', 'en', 'sms', '', 1, '',
   '{{ulb_name}}: the fee of Rs {{amount}} for your {{kind}} registration application {{application_id}} was received online. Receipt no. {{receipt_no}}.', 'migration'),
  ('certificate.fee_refund_due', 'hi', 'sms', '', 1, '',
   '{{ulb_name}}: आवेदन {{application_id}} हेतु आपका ऑनलाइन भुगतान ₹{{amount}} {{date}} को मिला, पर शुल्क पहले ही जमा या माफ़ हो चुका था (या आवेदन पर निर्णय हो चुका था)। नगरीय निकाय यह राशि आपको लौटाएगा।', 'migration'),
  ('certificate.fee_refund_due', 'en', 'sms', '', 1, '',
   '{{ulb_name}}: your online payment of Rs {{amount}} for application {{application_id}} arrived on {{date}} after the fee had been settled another way (or the application decided). The ULB will refund it.', 'migration');
