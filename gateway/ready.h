/*
 * ready.h — does a broker answer, and has every routed service a worker?
 *
 * With several brokers (NAGAR_BUS_ENDPOINT) each is probed on its own
 * socket; a service counts as served when any broker that answers has a
 * worker for it, which is what the bus client's fail-over makes true.
 *
 * Probes with MMI (ZeroMQ RFC 8: "mmi.service" with the service name as
 * body, answered "200" when a worker is connected, "404" when none is; then
 * Nagar's "mmi.quarantine" about the same service, mdp.h) on
 * a DEALER socket of its own, one service at a time, a round every
 * interval. One probe in flight at a time is what lets a plain MMI reply,
 * which does not repeat the service name, be matched to its question; a
 * probe left unanswered past its timeout marks the broker unreachable and
 * the socket is replaced, so a late answer can never be taken for another
 * service's.
 *
 * /readyz and the per-service availability metric read the results, so a
 * readiness check costs no bus traffic (the answer is at most one interval
 * old).
 */
#ifndef GATEWAY_READY_H
#define GATEWAY_READY_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

typedef struct gateway_ready_t gateway_ready_t;

/* services is NULL-terminated and must outlive the prober. */
gateway_ready_t *gateway_ready_new(const nagar_bus_options_t *options,
                                   const char *const *services, int interval_ms,
                                   int probe_timeout_ms, char *error, size_t error_size);
void gateway_ready_destroy(gateway_ready_t **self_p);

/* The sockets to poll, one per broker (ZMQ_FD semantics: when one fires,
 * call gateway_ready_signalled, then gateway_ready_dispatch; also whenever
 * gateway_ready_next_timeout_ms has passed); returns how many. Only their
 * descriptors are for the caller. */
int gateway_ready_sockets(gateway_ready_t *self, zsock_t **sockets, int max);
/* Whether a message waits on any of them that their descriptors would not
 * announce (ZMQ_EVENTS, asked only of a socket used or signalled since it
 * last said "no input"). Call it just before waiting. */
bool gateway_ready_has_input(gateway_ready_t *self);
/* The caller's wait saw a descriptor of gateway_ready_sockets fire (or
 * cannot tell which fired): the next dispatch reads the sockets. */
void gateway_ready_signalled(gateway_ready_t *self);

/* Reads answers (from the sockets that may have some: used or signalled
 * since they last had none), sends due probes, times out a silent broker.
 * now_ms is monotonic. */
void gateway_ready_dispatch(gateway_ready_t *self, int64_t now_ms);
int gateway_ready_next_timeout_ms(gateway_ready_t *self, int64_t now_ms);

/* Whether some broker answered within the last few rounds. */
bool gateway_ready_broker_reachable(gateway_ready_t *self);
/* Whether a broker has answered a full round, or every broker has ended one. */
bool gateway_ready_known(gateway_ready_t *self);
/* 1 worker present at some answering broker, 0 none, -1 not known yet. */
int gateway_ready_service(gateway_ready_t *self, const char *service);
/* 1 quarantined at some answering broker, 0 at none, -1 not known (not
 * asked yet, no broker answers, or brokers too old for mmi.quarantine). */
int gateway_ready_quarantined(gateway_ready_t *self, const char *service);

#endif
