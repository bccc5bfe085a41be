/*
 * rules_batch.c — batch jobs run in chunks from the worker's tick
 * (service_rules.h, nagar_rules_batch_*): the annual demand, the monthly
 * bills, the demand notices' messages. Each chunk is one transaction, so a
 * killed process loses only its open chunk and several processes share the
 * work.
 */
#include "service_rules.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

typedef struct {
    nagar_rules_t *rules;
    nagar_rules_batch_t *batch;
    json_t *result;
    nagar_outcome_t outcome;
} chunk_work_t;

static int chunk_work(nagar_db_t *db, void *arg)
{
    (void) db;
    chunk_work_t *work = arg;
    json_decref(work->result);
    work->result = NULL;
    nagar_outcome_reset(&work->outcome);
    char limit[32], name[96], sql[160], today[NAGAR_DATE_TEXT_MAX];
    snprintf(limit, sizeof limit, "%ld", work->batch->chunk);
    snprintf(name, sizeof name, "batch_%s", work->batch->function);
    snprintf(sql, sizeof sql,
             work->batch->dated ? "SELECT %s($1::int, $2::date)::text" : "SELECT %s($1::int)::text",
             work->batch->function);
    nagar_rules_today(work->rules, today);
    const char *values[] = {limit, today};
    int rc = nagar_rules_call_json(work->rules, name, sql, work->batch->dated ? 2 : 1, values,
                                   &work->result, &work->outcome);
    if (rc != 0 || !work->result)
        return rc;
    /* The chunk's and the finished job's events, in the same transaction. */
    if (work->batch->each && (rc = work->batch->each(work->rules, work->result)) != 0)
        return rc;
    if (!work->batch->done || !json_is_true(json_object_get(work->result, "done")))
        return 0;
    return work->batch->done(work->rules, json_object_get(work->result, "job"));
}

int nagar_rules_batch_run_chunk(nagar_rules_t *self, nagar_rules_batch_t *batch)
{
    chunk_work_t work = {.rules = self, .batch = batch};
    char event[96], what[64];
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, chunk_work, &work);
    if (rc != 0) {
        snprintf(what, sizeof what, "%s_chunk_failed", batch->name);
        nagar_log_error(nagar_rules_event_name(self, event, what), "a %s chunk failed and was rolled back; "
                        "it will be retried: %s", batch->name,
                        work.outcome.message[0] ? work.outcome.message : nagar_db_error(self->db));
        json_decref(work.result);
        return -1;
    }
    if (!work.result)
        return 0;
    json_t *job = json_object_get(work.result, "job");
    bool done = json_is_true(json_object_get(work.result, "done"));
    json_t *fields = json_object();
    for (size_t i = 0; fields && batch->log_fields[i][0]; i++) {
        json_t *value = json_object_get(job, batch->log_fields[i][1]);
        json_object_set(fields, batch->log_fields[i][0], value ? value : json_null());
    }
    snprintf(what, sizeof what, "%s_%s", batch->name, done ? "done" : "chunk");
    nagar_log_write(done ? NAGAR_LOG_INFO : NAGAR_LOG_DEBUG, nagar_rules_event_name(self, event, what), fields,
                    done ? "%s job finished" : "%s chunk committed", batch->name);
    json_decref(work.result);
    return 1;
}

void nagar_rules_batch_tick(nagar_rules_t *self, nagar_rules_batch_t *batch)
{
    int64_t now = nagar_rules_monotonic_ms();
    if (now < batch->next_poll_ms)
        return;
    /* Work found: the next chunk at the next tick; otherwise look later. */
    batch->next_poll_ms =
        nagar_rules_batch_run_chunk(self, batch) == 1 ? 0 : now + batch->idle_poll_ms;
}
