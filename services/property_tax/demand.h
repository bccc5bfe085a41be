/*
 * demand.h — the annual demand, a batch over the queue.
 *
 *   demand.generate   GenerateDemandRequest -> DemandJob   REVENUE_OFFICER, COMMISSIONER (own ULB),
 *                                                          STATE_ADMIN (any ULB, or every ULB with ulb "")
 *   demand.status     DemandStatusRequest -> DemandJob     progress
 *
 * generate only records a job (or answers with the one already running for
 * that scope and year). The work happens in chunks from the worker's tick:
 * each chunk is one transaction that computes every head of the next
 * NAGAR_PROPERTY_TAX_DEMAND_CHUNK properties (in property id order) with one
 * INSERT ... SELECT, inserts with ON CONFLICT DO NOTHING on (property, year,
 * head) and moves the job's cursor. A bus call therefore stays short, a
 * killed process loses at most its open chunk (rolled back, redone by
 * whoever runs next), several processes share the work (SKIP LOCKED), and
 * running the demand again inserts nothing new. When a job of one ULB
 * finishes, a demand.raised event goes to the outbox.
 */
#ifndef NAGAR_PROPERTY_TAX_DEMAND_H
#define NAGAR_PROPERTY_TAX_DEMAND_H

#include "property_tax.h"

int property_tax_demand_generate(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);

/* The demand as a batch of common/service_rules (pt_demand_run_chunk,
 * events property_tax.demand_chunk/_done/_chunk_failed); the caller sets
 * chunk and idle_poll_ms from the settings. */
void property_tax_demand_batch_init(nagar_rules_batch_t *batch);

/* The worker's tick: a chunk when a job waits, else a look every
 * NAGAR_PROPERTY_TAX_DEMAND_IDLE_POLL_MS; the same for the messages of the
 * notices of finished jobs (notice.h). */
void property_tax_demand_tick(nagar_worker_t *worker, void *arg);

#endif
