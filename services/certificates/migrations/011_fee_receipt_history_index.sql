-- 011_fee_receipt_history_index.sql — the fee receipt finds its entry on
-- the history by an index, not by reading the town's whole fee history
-- (issue 14 item 3 follow-up).
--
-- A fee receipt's QR code names the settlement's entry on the hash-chained
-- history (fee_payment.c, fee_receipt.pdf). The lookup filtered the town's
-- fee_settlement entries by a JSON containment on each one's new_rows: a
-- scan of every fee the town ever took, parsing each as JSON, per receipt
-- printed. A settlement is always inserted one row per statement (the rules
-- cert_fee_pay and cert_online_callback), so its entry's first row holds
-- the receipt number: this partial index on (ulb, that receipt number)
-- answers the lookup with one index probe.

CREATE INDEX history_fee_receipt_idx ON certificates.history
    (ulb, ((new_rows::jsonb) -> 0 ->> 'receipt_no'))
    WHERE tbl = 'fee_settlement' AND op = 'INSERT';
