-- 001_witness.sql — the witness store: every signed checkpoint of every
-- hash chain, as nagarctl checkpoint signed it (common/checkpoint.h),
-- append-only. Runs as witness_owner.
--
-- Who may do what (deploy/provision.sh makes the roles): witness_writer
-- (nagarctl checkpoint, with its own password, which no service has)
-- INSERTs; witness_app (nagar-witness, the public route) only reads. No
-- service role of another database can even connect here, so a service's
-- stolen passwords cannot rewrite what was witnessed.

CREATE TABLE witness.checkpoint (
    id           bigserial PRIMARY KEY,
    created_us   bigint NOT NULL UNIQUE,        -- as signed
    signed_text  text NOT NULL CHECK (octet_length(signed_text) <= 16777216),
    stored_at    timestamptz NOT NULL DEFAULT now(),
    stored_by    text NOT NULL DEFAULT session_user
);
SELECT append_only_protect('witness.checkpoint');

REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON witness.checkpoint FROM witness_app;
GRANT SELECT, INSERT ON witness.checkpoint TO witness_writer;
GRANT USAGE ON SEQUENCE witness.checkpoint_id_seq TO witness_writer;
GRANT USAGE ON SCHEMA witness TO witness_writer;
