/*
 * demand.c — the annual demand batch (demand.h). The computation of every
 * head is pt_demand_run_chunk in 002_rules.sql; here are the methods, the
 * chunk loop driven by the worker's tick, and the completion event.
 */
#include "demand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int demand_generate(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    pt_t *self = arg;
    int rc = pt_sql_method(self, call, request, NULL, "pt_demand_generate",
                           &nagar__property_tax__demand_job__descriptor, true, NULL);
    self->demand_next_poll_ms = 0;      /* start at the next tick */
    return rc;
}

int demand_status(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_demand_status",
                         &nagar__property_tax__demand_job__descriptor, false, NULL);
}

typedef struct {
    pt_t *self;
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
    char limit[32];
    snprintf(limit, sizeof limit, "%ld", work->self->demand_chunk);
    const char *values[] = {limit};
    int rc = nagar_rules_call_json(&work->self->rules, "pt_demand_chunk",
                                   "SELECT pt_demand_run_chunk($1::int)::text", 1, values,
                                   &work->result, &work->outcome);
    if (rc != 0 || !work->result)
        return rc;
    if (!json_is_true(json_object_get(work->result, "done")))
        return 0;
    /* The job is finished: tell the ULB's people, in the same transaction. */
    json_t *job = json_object_get(work->result, "job");
    const char *ulb = json_string_value(json_object_get(job, "ulb"));
    if (ulb && ulb[0]) {
        char bills[32], job_id[32];
        snprintf(bills, sizeof bills, "%lld",
                 (long long) json_integer_value(json_object_get(job, "billsCreated")));
        snprintf(job_id, sizeof job_id, "%lld",
                 (long long) json_integer_value(json_object_get(job, "jobId")));
        if (nagar_rules_outbox(&work->self->rules, "demand.raised", ulb, "", "", "fy",
                               json_string_value(json_object_get(job, "fy")), "bills", bills,
                               "job_id", job_id, NULL) != 0)
            return -1;
    }
    return 0;
}

int demand_run_chunk(pt_t *self)
{
    chunk_work_t work = {.self = self};
    int rc = nagar_db_transaction(self->rules.db, NAGAR_DB_READ_COMMITTED, chunk_work, &work);
    if (rc != 0) {
        nagar_log_error("property_tax.demand_chunk_failed", "a demand chunk failed and was rolled "
                        "back; it will be retried: %s",
                        work.outcome.message[0] ? work.outcome.message
                                                : nagar_db_error(self->rules.db));
        json_decref(work.result);
        return -1;
    }
    if (!work.result)
        return 0;
    json_t *job = json_object_get(work.result, "job");
    bool done = json_is_true(json_object_get(work.result, "done"));
    json_t *fields = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "job_id",
                               json_object_get(job, "jobId"), "fy", json_object_get(job, "fy"),
                               "processed", json_object_get(job, "processed"), "total",
                               json_object_get(job, "total"), "bills_created",
                               json_object_get(job, "billsCreated"), "skipped",
                               json_object_get(job, "skipped"));
    nagar_log_write(done ? NAGAR_LOG_INFO : NAGAR_LOG_DEBUG,
                    done ? "property_tax.demand_done" : "property_tax.demand_chunk", fields,
                    done ? "demand job finished" : "demand chunk committed");
    json_decref(work.result);
    return 1;
}

void demand_tick(nagar_worker_t *worker, void *arg)
{
    (void) worker;
    pt_t *self = arg;
    int64_t now = nagar_rules_monotonic_ms();
    if (now < self->demand_next_poll_ms)
        return;
    int rc = demand_run_chunk(self);
    /* Work found: the next chunk at the next tick; otherwise look later. */
    self->demand_next_poll_ms = rc == 1 ? 0 : now + self->demand_idle_poll_ms;
}
