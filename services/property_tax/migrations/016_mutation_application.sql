-- 016_mutation_application.sql — a citizen's application for a mutation
-- (transfer of ownership after a sale, gift, inheritance, partition or a
-- court's order), waiting for an officer (issue 15).
--
-- Until now a mutation was only recorded at the counter (mutation.record).
-- An owner now applies online with the new owners and the references of
-- the documents; the application waits in the ULB's inbox; an officer of
-- the roles that record mutations approves it — which records the mutation
-- through the same rule, pt_mutation_record, so the owners, the fee and the
-- audit are exactly a counter mutation's — or rejects it with a reason.
-- The rules are in ../sql/mutation_application.sql.
--
-- The application is written through those rules only (the app role has
-- SELECT here, as on every table since 014's lockdown) and every change of
-- it is on the hash-chained history, chained per ULB like the mutation.

CREATE TABLE mutation_application (
    id               bigserial PRIMARY KEY,
    property_id      text NOT NULL REFERENCES property,
    ulb              text NOT NULL,
    status           text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
    transfer         text NOT NULL CHECK (transfer IN ('SALE', 'GIFT', 'INHERITANCE', 'PARTITION',
                                                       'COURT_ORDER')),
    owners_at_apply  jsonb NOT NULL,      -- the register's owners when it was filed
    new_owners       jsonb NOT NULL,
    deed_ref         text NOT NULL,
    documents        jsonb NOT NULL,      -- [{"kind": ..., "ref": ...}]
    statement        text NOT NULL,       -- the applicant's own words
    applied_by       text NOT NULL,
    applied_at       timestamptz NOT NULL DEFAULT now(),
    decided_by       text NOT NULL DEFAULT '',
    decided_at       timestamptz,
    decision_reason  text NOT NULL DEFAULT '',
    mutation_id      bigint REFERENCES mutation,
    CHECK ((status = 'PENDING') = (decided_at IS NULL)),
    CHECK ((status = 'APPROVED') = (mutation_id IS NOT NULL))
);
-- One application waits per property at a time: a second would race the first.
CREATE UNIQUE INDEX mutation_application_pending_idx ON mutation_application (property_id)
    WHERE status = 'PENDING';
CREATE INDEX mutation_application_inbox_idx ON mutation_application (ulb, status, id);
CREATE INDEX mutation_application_applicant_idx ON mutation_application (applied_by, id);

SELECT history_track('mutation_application');
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON mutation_application FROM property_tax_app;

-- The inbox of self-assessment returns (assessment.list): a ULB's returns by status.
CREATE INDEX assessment_inbox_idx ON assessment (ulb, status, id);
CREATE INDEX assessment_property_idx ON assessment (property_id, id);
