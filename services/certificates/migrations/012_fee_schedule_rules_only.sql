-- 012_fee_schedule_rules_only.sql — the certificate fee schedule is
-- written through a rule function only, and is on the hash-chained history.
--
-- The late-registration windows and fees of fee_schedule decide what every
-- applicant is charged. certificates_app inserted new versions itself (007
-- granted it INSERT): any row, with any saved_by, no rule checked in the
-- database. And the table was on no history, so the owner role could
-- change a fee with the append-only trigger off unseen by verify.
--
-- Now a version is saved only by cert_fee_schedule_save (../sql/
-- fee_schedule.sql: SECURITY DEFINER; checks who may set which ULB's fees
-- and the schedule's rules, records the actor and reason with rule_act),
-- and every row is on the history (history_track_of, history 007): chained
-- per ULB, the state default's rows (ulb '') on chain "0". The rows already
-- saved — at least the state default of 001 — are one BASELINE entry per
-- chain. nagarctl verify compares every row with its last entry.

SELECT history_track_of('certificates.fee_schedule'::regclass, NULL, NULL);
REVOKE INSERT ON certificates.fee_schedule FROM certificates_app;
