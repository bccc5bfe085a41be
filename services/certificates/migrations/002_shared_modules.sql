-- 002_shared_modules.sql — the older layout's trigger names, retired.
--
-- A database made before the shared SQL moved into modules protects its
-- issued certificates and fee schedules with triggers named
-- <table>_no_update_delete; append_only_protect (append_only module) names
-- them <table>_append_only. On a database made with the modules this
-- changes nothing.

DROP TRIGGER IF EXISTS certificate_no_update_delete ON certificates.certificate;
DROP TRIGGER IF EXISTS fee_schedule_no_update_delete ON certificates.fee_schedule;
SELECT append_only_protect('certificates.certificate');
SELECT append_only_protect('certificates.fee_schedule');
