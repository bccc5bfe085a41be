-- Sample migration set for tests/system/test_migrations.py: a tiny ledger
-- shaped like a real service's first migrations.
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ulb_code text NOT NULL CHECK (ulb_code ~ '^[0-9]{1,10}$'),
    holder text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_ulb_idx ON accounts (ulb_code);
