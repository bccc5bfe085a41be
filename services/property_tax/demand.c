/*
 * demand.c — the annual demand batch (demand.h). The computation of every
 * head is pt_demand_run_chunk in sql/demand.sql; here are the methods, the
 * chunk loop driven by the worker's tick, and the completion event.
 */
#include "demand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int property_tax_demand_generate(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg)
{
    pt_t *self = arg;
    int rc = nagar_rules_method(&self->rules, call, request, NULL, "pt_demand_generate",
                                &nagar__property_tax__demand_job__descriptor, true, NULL, NULL);
    self->demand.next_poll_ms = 0;      /* start at the next tick */
    return rc;
}

/* When a ULB's job is done: demand.raised, in the chunk's transaction. */
static int demand_done(nagar_rules_t *rules, json_t *job)
{
    return nagar_rules_batch_raised(rules, job, "demand.raised", "fy",
                                    json_string_value(json_object_get(job, "fy")), NULL);
}

static const char *const DEMAND_LOG_FIELDS[][2] = {
    {"job_id", "jobId"}, {"fy", "fy"}, {"processed", "processed"}, {"total", "total"},
    {"bills_created", "billsCreated"}, {"skipped", "skipped"}, {NULL, NULL}};

void property_tax_demand_batch_init(nagar_rules_batch_t *batch)
{
    *batch = (nagar_rules_batch_t){.name = "demand", .function = "pt_demand_run_chunk",
                                   .log_fields = DEMAND_LOG_FIELDS, .done = demand_done};
}

void property_tax_demand_tick(nagar_worker_t *worker, void *arg)
{
    (void) worker;
    pt_t *self = arg;
    nagar_rules_batch_tick(&self->rules, &self->demand);
    nagar_rules_batch_tick(&self->rules, &self->notice_messages);
}
