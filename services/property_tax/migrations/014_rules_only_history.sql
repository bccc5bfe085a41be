-- 014_rules_only_history.sql — the app role writes through the rules only,
-- and every change of the register, the demand and the money is on a
-- hash-chained history (common/sql/history).
--
-- property_tax_app keeps SELECT on everything and may still INSERT
-- idempotency records and outbox rows (and mark outbox rows sent): what
-- the C side writes itself. Everything else — properties and their owners
-- and floors, rates, demand, payments, allocations, online orders,
-- assessments, mutations, the ledger, receipt and ward numbers, the audit
-- trail — changes only through the SECURITY DEFINER rule functions of
-- ../sql, which check the rule and record actor and reason (rule_act).
--
-- Owners and floors carry their property's ULB (the first part of its id),
-- as every row does, so that their history is chained per ULB too.

ALTER TABLE property_owner
    ADD COLUMN ulb text GENERATED ALWAYS AS (split_part(property_id, '-', 1)) STORED;
ALTER TABLE property_floor
    ADD COLUMN ulb text GENERATED ALWAYS AS (split_part(property_id, '-', 1)) STORED;

SELECT history_track(t::regclass)
    FROM unnest(ARRAY['property', 'property_owner', 'property_floor', 'demand_bill', 'demand',
                      'payment', 'allocation', 'online_order', 'assessment', 'mutation']) t;

SELECT rules_lockdown();
GRANT INSERT ON idempotency TO property_tax_app;
GRANT INSERT, UPDATE ON outbox TO property_tax_app;
