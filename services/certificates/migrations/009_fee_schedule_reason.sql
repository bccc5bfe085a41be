-- 009_fee_schedule_reason.sql — why each version of a fee schedule was
-- saved (issue 15: rates and water tariffs record a reason with every
-- version; the certificate fees did not, so the staff app could show who
-- changed a fee and when, never why).
--
-- fees.set requires a reason of 1 to 500 characters (services/certificates/
-- fees.c); fees.get answers it, for the version in force or any version
-- asked for. Versions saved before this migration keep '': the table is
-- append-only (no UPDATE, even for the owner), and what they were saved for
-- was never recorded.

ALTER TABLE certificates.fee_schedule
    ADD COLUMN reason text NOT NULL DEFAULT ''
        CHECK (char_length(reason) <= 500 AND reason !~ '[[:cntrl:]]');
