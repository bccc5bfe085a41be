-- receipt 001 — gap-free receipt numbers per ULB, financial year and
-- counter, in the one format every service prints:
--
--     <ulb>/<fy>/<counter>/<number, at least 6 digits>    250786/2026-27/C1/000042
--
-- receipt_next() takes the next number inside the payment's own
-- transaction: one upsert that creates the counter's row for the first
-- receipt of the year at that counter, or row-locks it (the lock SELECT
-- ... FOR UPDATE would take, held to commit) and increments it. A payment
-- that rolls back gives its number back with it, so numbers never skip,
-- and two payments never share one. Online payments use counter ONLINE.

CREATE TABLE IF NOT EXISTS receipt_counter (
    ulb      text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    fy       text NOT NULL CHECK (fy ~ '^[0-9]{4}-[0-9]{2}$'),
    counter  text NOT NULL CHECK (counter ~ '^[A-Z0-9]{1,16}$'),
    last_no  bigint NOT NULL CHECK (last_no >= 0),
    PRIMARY KEY (ulb, fy, counter)
);

CREATE OR REPLACE FUNCTION receipt_next(p_ulb text, p_fy text, p_counter text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE v_no bigint;
BEGIN
    INSERT INTO receipt_counter AS c (ulb, fy, counter, last_no)
        VALUES (p_ulb, p_fy, p_counter, 1)
        ON CONFLICT (ulb, fy, counter) DO UPDATE SET last_no = c.last_no + 1
        RETURNING last_no INTO v_no;
    RETURN format('%s/%s/%s/%s', p_ulb, p_fy, p_counter,
                  lpad(v_no::text, greatest(6, length(v_no::text)), '0'));
END
$$;

DO $$
BEGIN
    EXECUTE format('REVOKE DELETE, TRUNCATE ON receipt_counter FROM %I',
                   regexp_replace(current_user, '_owner$', '_app'));
END
$$;
