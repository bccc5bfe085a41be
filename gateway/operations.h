/*
 * operations.h — the operations page (GET /api/v1/operations, state and
 * town admins, read only): the one route whose answer the gateway composes
 * itself, from what it knows (the broker, each routed service's worker, as
 * its readiness prober last saw them) and what the witness answers
 * (checkpoint.summary: the latest signed checkpoint).
 *
 * Quarantines are what the brokers answer to mmi.quarantine (the fact,
 * never the operator's reason). What the gateway cannot know is said in
 * the answer, not guessed (proto/operations.proto): a quarantine no broker
 * has answered about yet is UNKNOWN; a failed verification signs no
 * checkpoint, so it shows as an old one. The
 * witness being down is part of the answer (checkpoint UNAVAILABLE), not
 * an error of the page.
 */
#ifndef GATEWAY_OPERATIONS_H
#define GATEWAY_OPERATIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "bus_client.h"
#include "ready.h"
#include "routes.h"

/* Whether route is the operations page (it answers OperationsStatus). */
bool gateway_operations_route(const gateway_route_t *route);

/* The page as JSON text (malloc'd; NULL when out of memory), from the
 * witness's answer to checkpoint.summary (whatever its status), the
 * prober's state and now (milliseconds since the epoch). */
char *gateway_operations_answer(gateway_ready_t *ready, const nagar_bus_result_t *witness,
                                int64_t now_ms);

#endif
