-- 013_shared_modules.sql — the older layout's copies, retired.
--
-- A database made before the shared SQL moved into modules has its own
-- copies of what the modules now provide: the helpers pt_fail, pt_text,
-- pt_audit, ... (now rule_* of the rules module), pt_idempotency_lookup
-- (idempotency_lookup) and ledger_refuse_change (refuse_change of the
-- append_only module), which the append-only tables' triggers still call.
-- The triggers are attached again through append_only_protect, the copies
-- dropped. On a database made with the modules this changes nothing.

SELECT append_only_protect(t) FROM unnest(ARRAY['rate_version', 'rate_slab', 'alv_rate', 'payment', 'allocation']) t;
DROP FUNCTION IF EXISTS ledger_refuse_change();
SELECT rules_retire_copies('pt');
