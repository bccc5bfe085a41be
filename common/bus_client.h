/*
 * bus_client.h — calling services over the broker.
 *
 * Asynchronous: any number of requests may be in flight on one client
 * (bounded by NAGAR_BUS_CLIENT_MAX_IN_FLIGHT, default 1024). Each request
 * has a deadline; when it passes, the request completes with
 * DEADLINE_EXCEEDED and a late reply is dropped. A reply whose status is
 * retryable (UNAVAILABLE because a worker died or none is connected,
 * RESOURCE_EXHAUSTED because the queue was full) is sent again, with the
 * same request id and idempotency key, up to max_attempts times with
 * exponential back-off, as long as the deadline allows. Except when the
 * broker says a worker had the request (nagar.Reply.may_have_run: it died
 * or was cut off holding it) and the request has no idempotency key and is
 * not repeatable (below): it may have been carried out, so it completes
 * with that UNAVAILABLE at once rather than risk running twice.
 *
 * Replies are matched to requests by the request id that the worker (or
 * the broker, for its own errors) copies into nagar.Reply.
 *
 * Several brokers (NAGAR_BUS_ENDPOINT lists them, bus.h): each attempt goes
 * to a broker that serves, in turn. Each broker is pinged ("mmi.ready",
 * mdp.h) every NAGAR_BUS_PING_MS (500); one whose connection is lost, or
 * that has no connection, or
 * answers nothing for NAGAR_BUS_BROKER_LIVENESS_MS (2000), is down, and
 * one that answers "503" is draining: neither gets new requests. A send
 * never waits for a connection (ZMQ_IMMEDIATE): a broker that refuses it
 * is skipped, and one that had been given requests is down (its lost
 * connection took them), found by the next ping at the latest. What a
 * broker held when it went down, and a request a broker answered
 * UNAVAILABLE or RESOURCE_EXHAUSTED while another broker has not had it,
 * is sent at once to another broker, with the same request id and
 * idempotency key; that fail-over is not an attempt (the deadline still
 * bounds it).
 *
 * A broker's connection lost (bus_watch.h): a broker that restarts, or
 * whose connection drops and comes back, faster than a ping notices has
 * still lost what it held, since a broker answers only the connection
 * that asked. Each broker's connection is watched (nagar_bus_client_watch_fds
 * for a caller that polls in its own loop): when it goes, what the broker
 * held is failed
 * over as above (with one broker: sent to it again once ZeroMQ has
 * connected again). That resend, like every fail-over, happens only when
 * running the request twice is safe, since the broker may have handed it
 * to a worker before it went: the request carries an idempotency key (the
 * service answers the second from its record), or the caller marked it
 * repeatable (a read). Any other is answered UNAVAILABLE at once ("may or
 * may not have been carried out"), never sent twice. Log events:
 * bus.client_broker_down, bus.client_broker_state, bus.client_failover,
 * bus.client_broker_connection_lost, bus.client_lost_requests.
 *
 *   NAGAR_BUS_TIMEOUT_MS            default deadline per request, 5000
 *   NAGAR_BUS_ATTEMPTS              default max attempts, 3
 *   NAGAR_BUS_CLIENT_MAX_IN_FLIGHT  1024
 *   NAGAR_BUS_RETRY_BASE_MS         first back-off, 50; it doubles per attempt
 *                                   (capped at 5 s) with jitter over its upper
 *                                   half. A retry that could not be sent before
 *                                   the deadline is not made: the request
 *                                   completes at once with the failure.
 *
 * A context deadline (deadline_unix_ms, e.g. inherited from the gateway)
 * can only shorten timeout_ms; one already past completes the request with
 * DEADLINE_EXCEEDED at the next dispatch without sending it. A request id
 * given in the context must be unique among the requests in flight.
 * Callbacks may send new requests but must not destroy the client.
 *
 * Not thread-safe: one client per thread. The gateway polls the client's
 * sockets in its own event loop (nagar_bus_client_sockets) and calls
 * nagar_bus_client_dispatch when one is readable or a deadline is due
 * (nagar_bus_client_next_timeout_ms).
 */
#ifndef NAGAR_BUS_CLIENT_H
#define NAGAR_BUS_CLIENT_H

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "bus.h"
#include "status.h"

typedef struct nagar_bus_client_t nagar_bus_client_t;

/* What a request came back with. The result is valid only during the
 * callback (copy what you keep). */
typedef struct {
    nagar_status_code_t code;
    const char *message;        /* never NULL */
    const char *field;          /* never NULL; "" when no field is at fault */
    const char *request_id;
    const uint8_t *payload;     /* the method's reply, serialized; NULL unless OK */
    size_t payload_size;
    bool replayed;              /* answered from the service's idempotency record */
    int attempts;               /* how many times it was sent */
} nagar_bus_result_t;

typedef void (nagar_bus_callback_fn)(const nagar_bus_result_t *result, void *arg);

typedef struct {
    const char *service;            /* e.g. "property_tax" */
    const char *method;             /* e.g. "payment.record" */
    const Nagar__RequestContext *context;  /* may be NULL; request id and deadline are filled in */
    const ProtobufCMessage *request;       /* the method's request message */
    int timeout_ms;                 /* 0 = client default (NAGAR_BUS_TIMEOUT_MS, 5000) */
    int max_attempts;               /* 0 = client default (NAGAR_BUS_ATTEMPTS, 3) */
    bool repeatable;                /* running it twice does no harm (a read): sent again
                                     * after a lost broker connection even without an
                                     * idempotency key (see above) */
} nagar_bus_call_t;

nagar_bus_client_t *nagar_bus_client_new(const nagar_bus_options_t *options,
                                         nagar_config_t *config, char *error, size_t error_size);
void nagar_bus_client_destroy(nagar_bus_client_t **self_p);

/* Queues a request; callback runs exactly once, from dispatch (or from
 * destroy, with UNAVAILABLE, for requests still in flight). Returns -1
 * without calling back when the call is malformed or too many are in
 * flight. */
int nagar_bus_client_send(nagar_bus_client_t *self, const nagar_bus_call_t *call,
                          nagar_bus_callback_fn *callback, void *arg);

/* Reads every reply that has arrived, completes expired requests and sends
 * due retries, without blocking. Returns the number of callbacks run. */
int nagar_bus_client_dispatch(nagar_bus_client_t *self);

/* Blocks up to timeout_ms (or until the next deadline) for replies, then
 * dispatches. For command-line tools and tests. */
int nagar_bus_client_poll(nagar_bus_client_t *self, int timeout_ms);

/* fn(arg) runs each time nagar_bus_client_poll (and so
 * nagar_bus_client_call) waits: a worker that calls other services from a
 * handler or a tick passes its heartbeat (nagar_worker_keepalive), so its
 * brokers do not take the wait for its death. */
void nagar_bus_client_set_wait_hook(nagar_bus_client_t *self, void (*fn)(void *arg), void *arg);

/* Milliseconds until the next deadline, retry or broker ping is due; -1
 * if none. */
int nagar_bus_client_next_timeout_ms(nagar_bus_client_t *self);

/* The sockets to poll for input, one per broker; returns how many (ZMQ_FD
 * is edge-triggered: always call dispatch, which drains, after one fires).
 * Only their file descriptors are for the caller: the client keeps track
 * of what it did on them (nagar_bus_client_has_input). */
int nagar_bus_client_sockets(nagar_bus_client_t *self, zsock_t **sockets, int max);

/* The descriptors of the brokers' connection watches (bus_watch.h), one
 * per broker; returns how many. A caller that polls them in its own loop
 * calls nagar_bus_client_watch_signalled when one is readable (or when its
 * poll failed), and dispatch then reads them; a lost connection is
 * noticed then (without them polled, at the first dispatch a second
 * later at most). nagar_bus_client_poll does this itself. */
int nagar_bus_client_watch_fds(nagar_bus_client_t *self, int *fds, int max);
void nagar_bus_client_watch_signalled(nagar_bus_client_t *self);

/* Whether a message waits on any of them that polling their ZMQ_FD would
 * not announce: asks ZMQ_EVENTS only of a socket the client has sent or
 * received on since ZMQ_EVENTS last said "no input" there (a send can
 * take the edge of a reply that arrived meanwhile); the others cost no
 * system call. Call it just before waiting on the descriptors. */
bool nagar_bus_client_has_input(nagar_bus_client_t *self);

size_t nagar_bus_client_in_flight(nagar_bus_client_t *self);

/* Synchronous convenience: sends and polls until the result is in. On OK,
 * unpacks the payload with reply_type into *reply (free it with
 * protobuf_c_message_free_unpacked). Copies message/field into the
 * optional buffers. */
nagar_status_code_t nagar_bus_client_call(nagar_bus_client_t *self, const nagar_bus_call_t *call,
                                          const ProtobufCMessageDescriptor *reply_type,
                                          ProtobufCMessage **reply, char *message,
                                          size_t message_size, char *field, size_t field_size);

#endif
