-- 008_fee_online.sql — a certificate fee paid online (issue 14 item 3).
--
-- The applicant pays the fee the service computed through the payment
-- provider, as property tax and water charges are paid
-- (common/payment_provider.h; the C flow is common/rules_money.c's
-- nagar_rules_online_*): an order per attempt, signed for the provider's
-- checkout, and the provider's signed callback, which settles the
-- application once (a fee_settlement of mode ONLINE at counter ONLINE, its
-- receipt "<ulb>/<fy>/CFONLINE/<n>" from the gap-free series of the
-- receipt module). A callback for an order whose application was meanwhile
-- settled (at a counter, by a waiver or by another order) or decided
-- settles nothing: the order is REFUND_DUE, with why, for the ULB's
-- accounts to refund.
--
-- Only the rule functions of ../sql/fee.sql (SECURITY DEFINER) write
-- orders; the app role reads them. Every change is on the history.

ALTER TABLE certificates.fee_settlement DROP CONSTRAINT fee_settlement_mode_check;
ALTER TABLE certificates.fee_settlement
    ADD CONSTRAINT fee_settlement_mode_check
    CHECK (mode IN ('CASH', 'CHEQUE', 'DEMAND_DRAFT', 'UPI', 'ONLINE'));

CREATE TABLE certificates.fee_order (
    order_id        text PRIMARY KEY CHECK (order_id ~ '^cf[0-9a-f]{32}$'),
    application_id  text NOT NULL REFERENCES certificates.application (application_id),
    ulb             text NOT NULL CHECK (ulb ~ '^[0-9]{1,10}$'),
    amount_paise    bigint NOT NULL CHECK (amount_paise > 0),
    status          text NOT NULL CHECK (status IN ('CREATED', 'PAID', 'FAILED', 'REFUND_DUE')),
    receipt_no      text NOT NULL DEFAULT '',
    provider_ref    text NOT NULL DEFAULT '',
    note            text NOT NULL DEFAULT '',
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'PAID') = (receipt_no <> ''))
);
CREATE INDEX fee_order_application_idx ON certificates.fee_order (application_id, created_at);

GRANT SELECT ON certificates.fee_order TO certificates_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON certificates.fee_order FROM certificates_app;
SELECT history_track('certificates.fee_order'::regclass);
