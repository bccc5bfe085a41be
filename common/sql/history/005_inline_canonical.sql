-- history 005 — history_canonical is inlined into history_append's
-- statement, as 003 meant it to be: a STRICT SQL function is inlined only
-- when its body is strict too, and format() is not, so since 003 every
-- entry planned the function's body afresh through the SQL-function
-- executor (two entries a payment; with ledger_canonical, ledger 005,
-- about an eighth of a payment's time in the database). The bytes are 003's.
--
-- Called on NULL input now, its only caller never passes one:
-- history_append coalesces who, why and the request to text, its callers
-- pass the rows as text ('' for none), and seq and the time are its own (a
-- NULL ULB finds no chain head and cannot create one, as before).

ALTER FUNCTION history_canonical(text, text, bigint, text, text, text, text, text, text, text,
                                 bigint) CALLED ON NULL INPUT;
