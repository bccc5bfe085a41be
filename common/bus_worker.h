/*
 * bus_worker.h — serving one service on the bus (MDP/0.1 worker side).
 *
 * A worker connects to the broker (to each of them, when NAGAR_BUS_ENDPOINT
 * names several: it serves through all at once, and losing one leaves the
 * others' links as they were), sends READY for its service with its
 * credit (mdp.h: the broker may send it that many requests ahead), and then
 * handles requests one at a time, in the order they arrived. It heartbeats
 * while idle (and whenever a long handler calls
 * nagar_worker_call_keepalive), notices a silent broker after
 * NAGAR_BUS_LIVENESS missed heartbeats and reconnects with exponential
 * back-off up to NAGAR_BUS_RECONNECT_MAX_MS. Asked to stop (SIGTERM,
 * nagar_worker_stop) it drains: it tells every broker DISCONNECT "drain"
 * (mdp.h), answers everything they had already sent it, and leaves when
 * each has said DISCONNECT or NAGAR_BUS_DRAIN_TIMEOUT_MS has passed, so a
 * rolling restart loses and retries nothing. Requests a worker held when it
 * died or lost a broker are answered by that broker (UNAVAILABLE, safe to
 * retry).
 *
 * A broker that restarts, or whose connection drops and comes back, faster
 * than heartbeats notice has forgotten the worker and can route none of
 * its answers. Each link's connection is watched (bus_watch.h): when it is
 * lost the worker works on nothing more that came on it, sends no answer
 * of a request it was working on (both read the watch at most every 50 ms,
 * so a run of quick requests pays no system call for it), and registers
 * again at once with a new socket, whose READY ZeroMQ delivers as soon as
 * the broker is back. Log events bus.worker_connection_lost,
 * bus.worker_reply_dropped.
 *
 *   NAGAR_BUS_HEARTBEAT_MS  default 1000
 *   NAGAR_BUS_LIVENESS      default 5
 *   NAGAR_BUS_RECONNECT_MAX_MS default 8000
 *   NAGAR_BUS_DRAIN_TIMEOUT_MS default 10000: longest drain on stop; 0 stops at
 *                           once with a plain DISCONNECT
 *   NAGAR_BUS_WORKER_CREDIT default 16, 1..256; 1 is plain RFC 7 (no credit
 *                           frame). Higher hides the broker round trip
 *                           between requests; a request may then wait
 *                           behind up to credit - 1 others on this worker
 *                           (the broker prefers workers with more free
 *                           credit, so this only happens under load).
 *
 * The method table says, per method, which request type to decode and
 * which caller principals (from the broker's CURVE authentication) may
 * call it; anything else is refused with PERMISSION_DENIED before the
 * handler runs. A request whose deadline has passed is answered with
 * DEADLINE_EXCEEDED without running the handler.
 *
 * Checks, in order, before the handler:
 *   unknown method          NOT_FOUND, field "method",
 *                           "unknown method 'x' on service 'y'"
 *   caller not listed       PERMISSION_DENIED (log event bus.worker_caller_denied)
 *   deadline passed         DEADLINE_EXCEEDED
 *   payload does not unpack INVALID_ARGUMENT, field "payload"
 *   credential refused      UNAUTHENTICATED (forged, expired, issued in the future,
 *                           wrong audience or type, revoked) or PERMISSION_DENIED (a
 *                           grant for another job or scope); log event
 *                           bus.worker_credential_refused, at most 20 per 10 s
 *
 * Who a call acts for (issue 12): the worker verifies the access token or
 * grant in RequestContext.authorization itself (authority.h) and hands the
 * result to the handler as nagar_worker_call_actor; service.h's
 * nagar_actor_* read only that. A call without a credential acts for
 * nobody. Revocations (logout, disabled accounts) reach the worker by
 * polling identity's token.revocations every NAGAR_REVOCATION_POLL_MS
 * (default 1000) with the worker's own key, so a revoked token stops
 * working here within one poll interval plus one round trip while identity
 * answers; while it does not, at the latest when the token expires (access
 * tokens live at most NAGAR_TOKEN_ACCESS_TTL_MAX_MS, default 3600000, and
 * identity issues 900 s ones; grants at most an hour). Identity itself
 * reads its own table instead (nagar_worker_set_revocations_source).
 *   NAGAR_TOKEN_PUBLIC_KEYS_DIR identity's <key id>.pub files; unset: every
 *                           credential is refused (logged at start)
 *   NAGAR_REVOCATION_POLL_MS  default 1000, 50..600000
 *   NAGAR_REVOCATIONS_MAX     live revocations before a warning, 100000
 *   NAGAR_TOKEN_CACHE_MAX     verified tokens kept, 10000 (then cleared)
 * A handler that returns without answering gets INTERNAL for the caller
 * (log event bus.worker_no_reply). The caller is the principal from the
 * broker's extra REQUEST frame (mdp.h), "anonymous" when there is none (a
 * broker with security off), which only a "*" entry admits. For the length
 * of a call nagar_log_set_request_id holds the request id, so every line it
 * logs carries it. Log events: bus.worker_ready, bus.worker_reconnect,
 * bus.worker_reconnected, bus.worker_drained, bus.worker_drain_done,
 * bus.worker_stopped.
 */
#ifndef NAGAR_BUS_WORKER_H
#define NAGAR_BUS_WORKER_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "authority.h"
#include "bus.h"
#include "status.h"

typedef struct nagar_worker_t nagar_worker_t;
typedef struct nagar_worker_call_t nagar_worker_call_t;

/* Return 0 after nagar_worker_call_reply, or -1 after nagar_worker_call_fail. */
typedef int (nagar_method_fn)(nagar_worker_call_t *call, const ProtobufCMessage *request,
                              void *arg);

typedef struct {
    const char *name;                                   /* "payment.record" */
    const ProtobufCMessageDescriptor *request_type;
    const char *const *callers;                         /* NULL-terminated principal names; "*" = any */
    nagar_method_fn *handler;
} nagar_method_t;

/* methods is terminated by an entry whose name is NULL and must outlive the
 * worker. arg is passed to every handler. */
nagar_worker_t *nagar_worker_new(const nagar_bus_options_t *options, nagar_config_t *config,
                                 const char *service, const nagar_method_t *methods, void *arg,
                                 char *error, size_t error_size);
void nagar_worker_destroy(nagar_worker_t **self_p);

/* Serves until SIGINT/SIGTERM (zsys_interrupted) or nagar_worker_stop.
 * Sends DISCONNECT on the way out. Returns 0 on a clean stop. The socket is
 * created (and certificates read) by nagar_worker_new, so a bad key fails
 * there; a broker that is down is only ever waited for, with back-off. */
int nagar_worker_run(nagar_worker_t *self);
void nagar_worker_stop(nagar_worker_t *self);

/* Called every interval_ms while idle, for periodic work such as the
 * outbox relay. Only one tick function per worker. */
void nagar_worker_set_tick(nagar_worker_t *self, int interval_ms,
                           void (*tick)(nagar_worker_t *worker, void *arg), void *arg);

/* What the handler knows about the call. */
const char *nagar_worker_call_method(nagar_worker_call_t *call);
const char *nagar_worker_call_caller(nagar_worker_call_t *call);   /* principal, "anonymous" if insecure */
const Nagar__RequestContext *nagar_worker_call_context(nagar_worker_call_t *call); /* never NULL */
int64_t nagar_worker_call_deadline_ms(nagar_worker_call_t *call);
/* Whom the call acts for, as verified from its credential (never NULL;
 * every part "" when it acts for nobody). Services read it through
 * service.h's nagar_actor_*. */
const nagar_actor_t *nagar_worker_call_actor(nagar_worker_call_t *call);

/* The worker's verifier (NULL without NAGAR_TOKEN_PUBLIC_KEYS_DIR). */
nagar_authority_t *nagar_worker_authority(nagar_worker_t *self);

/* For identity, which holds the revocations itself: instead of asking
 * identity over the bus, every NAGAR_REVOCATION_POLL_MS the worker calls
 * fetch(worker, after_id, arg), which reads the page after after_id and
 * hands it to nagar_worker_apply_revocations; it returns -1 when it could
 * not read. */
typedef int (nagar_revocations_fetch_fn)(nagar_worker_t *worker, int64_t after_id, void *arg);
void nagar_worker_set_revocations_source(nagar_worker_t *self, nagar_revocations_fetch_fn *fetch,
                                         void *arg);
void nagar_worker_apply_revocations(nagar_worker_t *self,
                                    const Nagar__Identity__ListRevocationsReply *reply);
/* Identity, having just revoked a session or user: read the revocations
 * again as soon as the current handler returns, so the very next request
 * already meets them instead of waiting for the poll. */
void nagar_worker_revocations_changed(nagar_worker_t *self);

/* Answer OK with reply (serialized immediately; the caller keeps ownership).
 * The one answer is sent when the handler returns; a second is refused. */
int nagar_worker_call_reply(nagar_worker_call_t *call, const ProtobufCMessage *reply);

/* Answer with an error. field is the JSON path of the offending field or NULL. */
int nagar_worker_call_fail(nagar_worker_call_t *call, nagar_status_code_t code, const char *field,
                           const char *format, ...) __attribute__((format(printf, 4, 5)));

/* Mark the reply as served from the idempotency record. */
void nagar_worker_call_set_replayed(nagar_worker_call_t *call, bool replayed);

/* Sends a heartbeat now if one is due; long handlers call this between
 * chunks so the broker does not think the worker died. */
void nagar_worker_call_keepalive(nagar_worker_call_t *call);

/* The same outside a call: for waits the worker's own code makes (e.g.
 * the database connection waiting for a new primary, a call to another
 * service from a tick). A worker that is busy reads nothing from its
 * brokers, so this also restarts their liveness window. */
void nagar_worker_keepalive(nagar_worker_t *self);

#endif
