-- 020_payment_rules_checked.sql — a payment's mode and amount and an
-- allocation's head and kind are checked where they are made, by the rule
-- functions, and by the verifier, instead of by CHECK constraints (as
-- common/sql/ledger 006 and receipt 002 did for theirs).
--
-- A CHECK constraint is read back from its stored text and planned afresh
-- at every statement that writes its table. payment's two (mode one of
-- CASH, CHEQUE, DEMAND_DRAFT, UPI, ONLINE; an amount other than 0) and
-- allocation's two (001: a head of the demand's, SURCHARGE or ADVANCE;
-- kind CASH or REBATE) cost a counter payment 142,000 of its 5,706,000
-- instructions (callgrind, a single-user backend on a scratch database,
-- the statements of a counter payment as the service sends them, the
-- difference of a 20- and a 120-payment run): 48,000 payment's, 94,000
-- allocation's, all inside the ULB's ledger lock.
--
-- Nothing else writes these tables: the app role may not (rules_lockdown),
-- the owner could as well drop the constraints, and the rules write them
-- only thus:
--
--   * a counter payment (pt_payment_record, common/sql/accounts 005): its
--     mode rule_counter_mode's (rules 007: CASH, CHEQUE, DEMAND_DRAFT,
--     UPI), its amount rule_int's, 1 to 10^12 paise;
--   * an online payment (the callback, accounts 003): mode ONLINE, the
--     order's amount, which online_order holds above 0;
--   * a reversal (accounts 003): the reversed payment's mode, its amount
--     and its allocation lines negated;
--   * allocation lines from pt_payment_allocate (../sql/payment.sql) only:
--     the property's dues lines (the demand's heads, whose CHECK stays, and
--     SURCHARGE), PROPERTY_TAX for a rebate, ADVANCE for credit; kind CASH
--     or REBATE.
--
-- nagarctl verify (common/verify.c) names a payment whose mode or amount,
-- or an allocation whose head or kind, breaks the rules, wherever it came
-- from.

ALTER TABLE payment DROP CONSTRAINT IF EXISTS payment_mode_check,
                    DROP CONSTRAINT IF EXISTS payment_amount_paise_check;
ALTER TABLE allocation DROP CONSTRAINT IF EXISTS allocation_head_check,
                       DROP CONSTRAINT IF EXISTS allocation_kind_check;
