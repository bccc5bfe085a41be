-- 014_rules_only_history.sql — the app role writes through the rules only,
-- and every change of connections, readings, bills, fees and the money is
-- on a hash-chained history (common/sql/history).
--
-- water_tax_app keeps SELECT on everything and may still INSERT idempotency
-- records and outbox rows (and mark outbox rows sent): what the C side
-- writes itself. Everything else — connections, tariffs, readings, bills,
-- fees, payments, allocations, online orders, notices, the ledger, receipt
-- and ward numbers, the audit trail — changes only through the SECURITY
-- DEFINER rule functions of ../sql, which check the rule and record actor
-- and reason (rule_act).

SELECT history_track(t::regclass)
    FROM unnest(ARRAY['connection', 'meter_reading', 'bill', 'fee', 'payment', 'allocation',
                      'online_order']) t;

SELECT rules_lockdown();
GRANT INSERT ON idempotency TO water_tax_app;
GRANT INSERT, UPDATE ON outbox TO water_tax_app;
