-- 006_fee_collection.sql — certificate fees collected, not only computed
-- (issue 14 item 3).
--
-- A late registration's fee (RBD Act s.13, MP RBD Rules 2024 r.9) and the
-- marriage certificate's fee (MP Compulsory Registration of Marriages Rules,
-- 2008) are settled once per application, before it is registered: PAID at
-- a counter, with a receipt number from the gap-free series of the receipt
-- module (receipt_next, "<ulb>/<fy>/CF<counter>/<n>": the CF prefix keeps
-- the series apart from the tax counters of the same name, which other
-- databases number), or WAIVED by the ULB's commissioner with a reason.
-- Registering a fee-bearing application with neither is refused
-- (workflow.c). Rows are never changed or removed; only the rule functions
-- of sql/fee.sql (SECURITY DEFINER) write them, the app role reads them.

CREATE TABLE certificates.fee_settlement (
    application_id  text PRIMARY KEY REFERENCES certificates.application (application_id),
    ulb             text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    status          text NOT NULL CHECK (status IN ('PAID', 'WAIVED')),
    amount_paise    bigint NOT NULL CHECK (amount_paise > 0),
    receipt_no      text UNIQUE,
    mode            text CHECK (mode IN ('CASH', 'CHEQUE', 'DEMAND_DRAFT', 'UPI')),
    instrument_ref  text NOT NULL DEFAULT '',
    counter         text,
    settled_on      date NOT NULL,
    reason          text NOT NULL DEFAULT '',
    recorded_by     text NOT NULL,
    recorded_role   text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'PAID' AND receipt_no IS NOT NULL AND mode IS NOT NULL AND counter IS NOT NULL
            AND reason = '')
           OR (status = 'WAIVED' AND receipt_no IS NULL AND mode IS NULL AND counter IS NULL
               AND reason <> ''))
);
-- The day's collection of a ULB.
CREATE INDEX fee_settlement_day_idx ON certificates.fee_settlement (ulb, settled_on, recorded_at);

SELECT append_only_protect('certificates.fee_settlement');
GRANT SELECT ON certificates.fee_settlement TO certificates_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON certificates.fee_settlement FROM certificates_app;
