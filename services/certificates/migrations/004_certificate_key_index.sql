-- 004_certificate_key_index.sql — the certificates signed with each seal
-- key, by day: certificate.keys publishes every key with the first and the
-- last day it signed (services/certificates/keys.c), two index probes per
-- key instead of a scan of the register.

CREATE INDEX IF NOT EXISTS certificate_key_idx ON certificates.certificate (key_id, issued_at);
