-- 019_schedules_history.sql — the rate schedules the demand is computed
-- from are on the hash-chained history (common/sql/history), like the
-- demand itself.
--
-- rate_version, rate_slab and alv_rate were append-only (001) but on no
-- history: the owner role could disable the append-only trigger, lower a
-- rate (1500 to 1 paise a square foot), put the trigger back, and verify
-- found nothing, while the next demand run billed from the forged rate.
-- Now every row is on the history and nagarctl verify compares each with
-- its last entry (a row changed with the triggers off is named: table, key,
-- seq). A version is chained per ULB (history_track); its slabs and ALV
-- rates, which name only the version, on the chain of that version's ULB
-- (history_track_of, history 007). The rows already saved are recorded as
-- one BASELINE entry per ULB. They change only through pt_rates_set
-- (../sql/rates.sql), which names the actor and reason (rule_act).

SELECT history_track('rate_version'::regclass);
SELECT history_track_of('rate_slab'::regclass, 'rate_version'::regclass, 'version_id');
SELECT history_track_of('alv_rate'::regclass, 'rate_version'::regclass, 'version_id');
