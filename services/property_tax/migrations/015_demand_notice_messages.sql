-- 015_demand_notice_messages.sql — who has been sent the message of a
-- year's demand notice (issue 14: the annual demand told no owner their
-- bill, only the town that it had run).
--
-- Once a demand job has raised its bills, the worker messages its notices
-- in chunks (pt_demand_notice_messages_chunk, ../sql/notice_messages.sql): each
-- owner with a contact — an account, or a mobile on the register — gets one
-- demand.notice event in the outbox, in the chunk's transaction. A row here
-- is that event having been queued; its key makes a second one impossible,
-- however often a chunk or a whole job is run again. demand_job says how
-- far the messages have got. Jobs finished before this migration are not
-- messaged (their owners were never promised a message).

CREATE TABLE demand_notice_message (
    property_id   text NOT NULL,
    fy            integer NOT NULL,
    person        text NOT NULL,       -- the owner's user id; '' the first owner, without one
    ulb           text NOT NULL,
    job_id        bigint NOT NULL,
    amount_paise  bigint NOT NULL,     -- the notice's total payable when it was queued
    queued_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (property_id, fy, person)
);
CREATE INDEX demand_notice_message_job_idx ON demand_notice_message (job_id);

ALTER TABLE demand_job
    ADD COLUMN messages_status text NOT NULL DEFAULT 'WAITING'
        CHECK (messages_status IN ('WAITING', 'DONE')),
    ADD COLUMN messages_cursor text NOT NULL DEFAULT '',
    ADD COLUMN messages_queued bigint NOT NULL DEFAULT 0;
UPDATE demand_job SET messages_status = 'DONE';
