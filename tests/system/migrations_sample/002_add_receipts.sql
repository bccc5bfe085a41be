-- Several statements, a dollar-quoted function body with semicolons in it,
-- and a pause that widens the window the concurrent-runner test relies on.
CREATE TABLE receipts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id),
    amount_paise bigint NOT NULL CHECK (amount_paise > 0),
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION receipts_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'receipts are append-only; record a correction instead';
    RETURN NULL;
END;
$$;

CREATE TRIGGER receipts_append_only
    BEFORE UPDATE OR DELETE ON receipts
    FOR EACH ROW EXECUTE FUNCTION receipts_refuse_change();

SELECT pg_sleep(0.3);
