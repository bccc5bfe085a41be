-- 007_rules_only_history.sql — the app role writes registrations and
-- certificates through the rules only, and every change of them is on a
-- hash-chained history (common/sql/history).
--
-- Fee settlements (006) are money: on the history too.
--
-- certificates_app keeps SELECT on everything and may still INSERT
-- idempotency records, outbox rows (and mark them sent), audit rows and new
-- versions of the fee schedule (append-only master data): what the C side
-- writes itself. Applications, registrations and their counters, issued
-- certificates and their chain, and corrections change only through the
-- SECURITY DEFINER rule functions of ../sql/registration.sql, which check
-- who may act, in which ULB and from which state, and record actor and
-- reason (rule_act).

SELECT history_track(t::regclass)
    FROM unnest(ARRAY['certificates.application', 'certificates.certificate',
                      'certificates.correction', 'certificates.fee_settlement']) t;

SELECT rules_lockdown();
GRANT INSERT ON certificates.idempotency, certificates.audit, certificates.fee_schedule
    TO certificates_app;
GRANT INSERT, UPDATE ON certificates.outbox TO certificates_app;
