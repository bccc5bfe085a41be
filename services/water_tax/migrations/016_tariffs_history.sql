-- 016_tariffs_history.sql — the water tariffs bills are computed from are
-- on the hash-chained history (common/sql/history), like the bills.
--
-- tariff_version and its flat charges, slabs, category charges and
-- connection fees were append-only (001) but on no history: the owner role
-- could disable the append-only trigger, change a charge, put the trigger
-- back, and verify found nothing, while the next bill run charged from it.
-- Now every row is on the history and nagarctl verify compares each with
-- its last entry (a row changed with the triggers off is named: table, key,
-- seq). A version is chained per ULB (history_track); the rows that name
-- only their version, on the chain of that version's ULB (history_track_of,
-- history 007). The rows already saved are recorded as one BASELINE entry
-- per ULB. They change only through wt_tariff_set (../sql/tariff.sql),
-- which names the actor and reason (rule_act).

SELECT history_track('tariff_version'::regclass);
SELECT history_track_of(t::regclass, 'tariff_version'::regclass, 'version_id')
    FROM unnest(ARRAY['tariff_flat', 'tariff_slab', 'tariff_category',
                      'tariff_connection_fee']) t;
