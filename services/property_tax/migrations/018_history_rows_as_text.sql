-- 018_history_rows_as_text.sql — the annual demand's bills and heads are
-- recorded on their history as the rows' text (common/sql/history 004):
-- a chunk of 5,000 bills and 20,000 heads spends half as long on it as on
-- JSON objects. Entries already written keep their form and verify as
-- they are; the rows and chains are unchanged.

SELECT history_rows_as_text('demand_bill'::regclass);
SELECT history_rows_as_text('demand'::regclass);
