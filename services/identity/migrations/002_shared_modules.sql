-- 002_shared_modules.sql — the older layout's copy of the append-only
-- trigger function, retired: the audit module protects identity.audit with
-- refuse_change() (append_only module). On a database made with the
-- modules this changes nothing.

DROP FUNCTION IF EXISTS identity.audit_refuse_change();
