-- 021_account_refs_checked.sql — that a payment's property and an
-- allocation's payment exist is held by the rule functions that write them
-- and checked by the verifier, instead of by foreign keys (as 020 did for
-- their CHECK constraints).
--
-- A foreign key is checked by a query of its own for every row written
-- (PostgreSQL's RI trigger: the referenced row looked up and locked FOR KEY
-- SHARE). payment_property_id_fkey and allocation_payment_id_fkey cost a
-- counter payment 91,000 of its 5,555,000 instructions (callgrind, a
-- single-user backend on a scratch database, the statements of a counter
-- payment as the service sends them, the difference of a 20- and a
-- 120-payment run; apart, 45,000 the payment's and 49,000 its two or three
-- allocation rows'), inside the ULB's ledger lock.
--
-- Nothing else writes these tables: the app role may not (rules_lockdown),
-- the owner could as well drop the keys, and the rules write
--
--   * a payment for a property they have just read and locked FOR UPDATE
--     (pt_payment_record, pt_payment_apply, the reversal's accounts_lock:
--     common/sql/accounts 003, 005), a row no rule deletes;
--   * allocation lines for the payment the same function has just
--     inserted (pt_payment_insert, the reversal), in its transaction.
--
-- nagarctl verify (common/verify.c) names a payment whose property, or an
-- allocation whose payment, is not there, wherever it came from. The other
-- keys stay (a reversal's payment, online orders', the demand's): none is
-- written on a counter payment.

ALTER TABLE payment DROP CONSTRAINT IF EXISTS payment_property_id_fkey;
ALTER TABLE allocation DROP CONSTRAINT IF EXISTS allocation_payment_id_fkey;
