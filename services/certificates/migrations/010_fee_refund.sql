-- 010_fee_refund.sql — the refund of an online fee payment that came too
-- late, recorded (issue 14 item 3 follow-up: a REFUND_DUE order had no
-- workflow).
--
-- An online payment that arrives after the fee was settled another way is
-- not taken twice: its order is REFUND_DUE (008). The ULB pays the money
-- back and its staff record that here, once per order: how, the reference,
-- the day, who. A row is written only by the rule function
-- cert_fee_refund_record (../sql/fee.sql, SECURITY DEFINER); the app role
-- reads it; nobody updates or deletes it; every row is on the hash-chained
-- history. The order is not changed: it stays REFUND_DUE with its refund
-- beside it.

CREATE TABLE certificates.fee_refund (
    order_id        text PRIMARY KEY REFERENCES certificates.fee_order (order_id),
    application_id  text NOT NULL REFERENCES certificates.application (application_id),
    ulb             text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    amount_paise    bigint NOT NULL CHECK (amount_paise > 0),
    mode            text NOT NULL CHECK (mode IN ('PROVIDER', 'BANK_TRANSFER', 'CHEQUE', 'CASH')),
    reference       text NOT NULL CHECK (reference ~ '^[A-Za-z0-9/._-]{1,64}$'),
    refunded_on     date NOT NULL,
    recorded_by     text NOT NULL,
    recorded_role   text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

-- A ULB's orders due for a refund, oldest first (fee_refund.list).
CREATE INDEX fee_order_refund_due_idx ON certificates.fee_order (ulb, updated_at, order_id)
    WHERE status = 'REFUND_DUE';

GRANT SELECT ON certificates.fee_refund TO certificates_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON certificates.fee_refund FROM certificates_app;
SELECT append_only_protect('certificates.fee_refund'::regclass);
SELECT history_track('certificates.fee_refund'::regclass);
