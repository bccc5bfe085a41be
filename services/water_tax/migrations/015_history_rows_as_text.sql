-- 015_history_rows_as_text.sql — the monthly bill run's bills and the
-- readings it estimates are recorded on their history as the rows' text
-- (common/sql/history 004), half the cost of JSON objects for a chunk of
-- thousands. Entries already written keep their form and verify as they
-- are; the rows and chains are unchanged.

SELECT history_rows_as_text('bill'::regclass);
SELECT history_rows_as_text('meter_reading'::regclass);
