-- 006_every_owner.sql — an event may name a person of its record who has no
-- account (issue 14 item 4: a property's second owner known only by a
-- mobile on the register was never told the demand notice).
--
-- An event names its record (subject) and at most the person's user id;
-- without one, notifications reached the record's first person only. Now a
-- publisher may instead name the person by the record's own key for them
-- (Recipient.person, e.g. "owner:2"), which its notify.subjects answers
-- beside each person (SubjectPerson.ref). The resolver takes that person's
-- contact from the record, as it does for the first: the key is checked
-- against the record the publisher keeps, so it can only ever reach one of
-- the record's own persons, never a contact written in the event.

ALTER TABLE notifications.event
    ADD COLUMN person text NOT NULL DEFAULT '' CHECK (char_length(person) <= 60);
