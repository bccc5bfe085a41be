/*
 * bill.h — the monthly bill batch over the queue and the bills it makes.
 *
 * bill.generate records a job (ULB or all, and a month) and returns at
 * once; the worker's tick then runs chunks of wt_bill_run_chunk (one
 * transaction, one INSERT ... SELECT each) until the job is done, and puts
 * "demand.raised" in the outbox when a ULB's job finishes. A killed process
 * loses only its open chunk; any process's next tick resumes the job.
 */
#ifndef NAGAR_WATER_TAX_BILL_H
#define NAGAR_WATER_TAX_BILL_H

#include "water_tax.h"

int water_tax_bill_generate(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int water_tax_bill_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

/* The bill run as a batch of common/service_rules (wt_bill_run_chunk,
 * events water_tax.bill_chunk/_done/_chunk_failed); the caller sets chunk
 * and idle_poll_ms from the settings. */
void water_tax_bill_batch_init(nagar_rules_batch_t *batch);

/* The worker's tick: a chunk now and then, more while a job runs. */
void water_tax_bill_tick(nagar_worker_t *worker, void *arg);

#endif
