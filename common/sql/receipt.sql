-- receipt.sql — gap-free receipt numbers per ULB, financial year and
-- counter (common/receipt.h). Copy into the service's own migration.
--
-- nagar_receipt_next row-locks the counter's row (an upsert that increments
-- it, the lock FOR UPDATE would take) inside the payment transaction: a payment that rolls back gives its number
-- back with it, so numbers never skip, and two payments never share one.

CREATE TABLE receipt_counter (
    ulb      text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    fy       text NOT NULL CHECK (fy ~ '^[0-9]{4}-[0-9]{2}$'),
    counter  text NOT NULL CHECK (counter ~ '^[A-Z0-9]{1,16}$'),
    last_no  bigint NOT NULL CHECK (last_no >= 0),
    PRIMARY KEY (ulb, fy, counter)
);
DO $$
BEGIN
    EXECUTE format('REVOKE DELETE, TRUNCATE ON receipt_counter FROM %I',
                   regexp_replace(current_user, '_owner$', '_app'));
END
$$;
