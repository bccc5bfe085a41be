-- 017_notice_message_every_owner.sql — every owner of a property with a
-- contact is told its demand notice, not only the first (issue 14 item 4).
--
-- demand_notice_message.person was the owner's user id, or '' for "the
-- record's first reachable owner, without an account". Now an owner without
-- an account is keyed by the mobile on the register ('mobile:<number>'),
-- so a second or third owner known only by a mobile has a row of their own
-- (../sql/notice_messages.sql). The '' rows already written are that first
-- owner's: they are re-keyed to that owner's mobile as the register has it
-- now, so running the same year's messages again does not tell them twice.
-- A '' row whose property's first reachable owner has an account now, or no
-- mobile, is left as it was (the message it records was sent).

UPDATE demand_notice_message m SET person = 'mobile:' || f.mobile
FROM (SELECT DISTINCT ON (o.property_id) o.property_id, o.user_id, o.mobile
      FROM property_owner o
      WHERE o.user_id <> '' OR o.mobile <> ''
      ORDER BY o.property_id, o.ordinal) f
WHERE m.person = '' AND f.property_id = m.property_id AND f.user_id = '' AND f.mobile <> ''
  AND NOT EXISTS (SELECT FROM demand_notice_message d
                  WHERE d.property_id = m.property_id AND d.fy = m.fy
                    AND d.person = 'mobile:' || f.mobile);

COMMENT ON COLUMN demand_notice_message.person IS
    'the owner told: their user id, or mobile:<number> on the register for one without an account';
