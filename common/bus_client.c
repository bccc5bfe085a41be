/*
 * bus_client.c — asynchronous calls to services over the broker; see
 * bus_client.h.
 *
 * Every request in flight is a pending_t in a hash keyed by request id, so
 * replies may come back in any order and a reply for a request that is no
 * longer pending (it timed out, or an earlier attempt already answered) is
 * dropped. Timers (deadlines and retry back-offs) are not kept in a heap:
 * next_due_ms is a lower bound of the earliest one, and the pending table
 * is scanned only when that bound has passed. A request that completes
 * early leaves the bound stale, which costs one extra scan, never a missed
 * timer; with a steady stream of fast replies this scans about once per
 * timeout rather than once per reply.
 *
 * With NAGAR_BUS_PACKED on (the default) each request leaves as one packed
 * frame (mdp.h) and the broker answers in kind; a reply is accepted in
 * either form, whatever this client sends.
 *
 * Several brokers: one DEALER socket per broker (ZMQ_IMMEDIATE, so a send
 * to a broker with no live connection fails at once instead of queueing),
 * each pinged with "mmi.ready" every NAGAR_BUS_PING_MS. A broker answers
 * "200" when it serves, "503" while it drains or warms up (mdp.h); any
 * other answer (an RFC 8 broker's "501") counts as serving. A broker whose
 * socket has no connection, or that answers nothing for
 * NAGAR_BUS_BROKER_LIVENESS_MS, is down. Each attempt goes to the next
 * serving broker in turn; the requests a broker held when it went down,
 * and an UNAVAILABLE or RESOURCE_EXHAUSTED answer while another broker has
 * not been tried, are sent at once to another broker with the same request
 * id and idempotency key, without counting as an attempt (the deadline
 * still bounds them). With one broker none of this runs: no pings, no
 * ZMQ_IMMEDIATE, exactly as before.
 *
 * What a broker holds is lost with its connection (ZMQ_IMMEDIATE drops the
 * queue, and a broker answers only the connection that asked), so losing
 * the connection of a broker that was given requests is going down, even
 * one that took them before answering its first ping: the next ping (or
 * send) that its socket refuses fails them over. A broker never given a
 * request and never heard from stays "unknown" while it refuses, quietly
 * (still connecting, or a dead address at start), for up to a liveness.
 * An UNAVAILABLE is failed over only to a broker that has not had the
 * request; while such a socket refuses, the request waits a back-off
 * rather than bounce back to the broker that said no.
 *
 * Every broker socket, one or several, has a watch (bus_watch.h): a
 * socket monitor that reports an established connection lost. A broker
 * that restarts, or whose connection drops and comes back, within a ping
 * period answers the next ping as if nothing happened, and a single broker
 * is never pinged; the watch is what tells that its requests are gone.
 * Reading a watch costs a system call, so it is read only when its
 * descriptor fires (nagar_bus_client_poll polls it; a caller with its own
 * loop says so through nagar_bus_client_watch_signalled), or a second
 * after the last reading: the hot path reads none. What a lost connection
 * held is failed over (fail_over_from) if it may run twice, and answered
 * UNAVAILABLE otherwise.
 */
#include "bus_client.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "log.h"
#include "mdp_frames.h"
#include "mdp_pack.h"

#define REQUEST_ID_MAX 64
#define ERROR_MAX 512
/* The back-off between attempts doubles from the base up to this cap. */
#define RETRY_DELAY_CAP_MS 5000
/* The broker connections' watches (bus_watch.h) are read when their
 * descriptors fire, and at a dispatch this long after the last reading
 * whatever the caller polls, so libzmq's monitor queue never fills. */
#define WATCH_READ_MAX_MS 1000

/* What the client knows of one broker. */
typedef enum {
    BROKER_UNKNOWN,     /* not heard from yet */
    BROKER_UP,
    BROKER_DRAINING,    /* answered mmi.ready "503": finishing what it holds, or warming up */
    BROKER_DOWN,
} broker_state_t;

typedef struct {
    char endpoint[NAGAR_BUS_ENDPOINT_MAX];
    zsock_t *socket;
    void *handle;                   /* the libzmq socket inside */
    nagar_bus_watch_t *watch;       /* tells when its connection is lost */
    broker_state_t state;
    int64_t heard_ms;               /* monotonic: last message from it; 0 never */
    int64_t ping_at_ms;             /* monotonic: next ping */
    int64_t ping_sent_ms;           /* monotonic: the ping awaiting its answer; 0 none */
    bool unchecked;                 /* used since ZMQ_EVENTS last said "no input" */
    bool holding;                   /* given a request since its last fail-over: some may
                                     * still wait for its answer */
    int64_t refusing_since_ms;      /* monotonic: first refused send since one was taken; 0 none */
} broker_t;

typedef struct {
    char request_id[REQUEST_ID_MAX + 1];
    char service[MDP_SERVICE_NAME_MAX + 1];
    char *method;
    uint8_t *body;                  /* the packed nagar.Request, resent as is on retry */
    size_t body_size;
    int64_t deadline_ms;            /* monotonic */
    int64_t retry_at_ms;            /* monotonic; 0 while an attempt is outstanding */
    bool retry_counts;              /* the due retry is a new attempt (not a deferred fail-over) */
    int timeout_ms;
    int attempts;
    int max_attempts;
    int broker;                     /* where the outstanding attempt went; -1 none */
    uint32_t tried;                 /* brokers this request has been sent to (bits) */
    bool resendable;                /* has an idempotency key, or the caller said repeatable */
    int lost_at;                    /* the broker whose lost connection took it, not to be
                                     * sent again: answered UNAVAILABLE when due; -1 none */
    nagar_bus_callback_fn *callback;
    void *arg;
} pending_t;

struct nagar_bus_client_t {
    broker_t brokers[NAGAR_BUS_BROKERS_MAX];
    int broker_count;
    unsigned next_broker;           /* round robin */
    long ping_ms;
    long broker_liveness_ms;
    zhashx_t *pending;              /* request id -> pending_t */
    nagar_mdp_packer_t *packer;     /* NULL unless NAGAR_BUS_PACKED */
    int64_t next_due_ms;            /* monotonic lower bound of the next timer; INT64_MAX if none */
    int64_t next_ping_ms;           /* monotonic: next ping or liveness check (several brokers) */
    bool watch_signalled;           /* a watch's descriptor fired: read them */
    int64_t watch_read_ms;          /* monotonic: when they were last read */
    void (*wait_hook)(void *arg);   /* run while nagar_bus_client_poll waits */
    void *wait_hook_arg;
    long default_timeout_ms;
    long default_attempts;
    long max_in_flight;
    long retry_base_ms;
    bool destroying;
    char id_prefix[17];             /* random, for request ids */
    uint64_t id_counter;
};

static void pending_free(pending_t **pending_p)
{
    pending_t *pending = *pending_p;
    if (!pending)
        return;
    free(pending->method);
    free(pending->body);
    free(pending);
    *pending_p = NULL;
}

nagar_bus_client_t *nagar_bus_client_new(const nagar_bus_options_t *options,
                                         nagar_config_t *config, char *error, size_t error_size)
{
    long timeout_ms, attempts, max_in_flight, retry_base_ms, ping_ms, liveness_ms;
    if (nagar_config_get_int(config, "NAGAR_BUS_TIMEOUT_MS", 5000, 1, 3600000, &timeout_ms,
                             error, error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_BUS_PING_MS", 500, 10, 60000, &ping_ms, error,
                             error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_BUS_BROKER_LIVENESS_MS", 2000, 20, 600000,
                             &liveness_ms, error, error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_BUS_ATTEMPTS", 3, 1, 20, &attempts, error,
                             error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_BUS_CLIENT_MAX_IN_FLIGHT", 1024, 1, 1000000,
                             &max_in_flight, error, error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_BUS_RETRY_BASE_MS", 50, 1, 60000, &retry_base_ms,
                             error, error_size) != 0)
        return NULL;
    if (sodium_init() < 0) {
        snprintf(error, error_size, "libsodium could not initialise (no entropy source?)");
        return NULL;
    }
    nagar_bus_client_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory creating the bus client");
        return NULL;
    }
    self->broker_count = nagar_bus_broker_count(options);
    self->ping_ms = ping_ms;
    self->broker_liveness_ms = liveness_ms;
    for (int i = 0; i < self->broker_count; i++) {
        broker_t *broker = &self->brokers[i];
        nagar_bus_broker_endpoint(options, i, broker->endpoint, sizeof broker->endpoint);
        /* With several brokers, sends fail at once to a broker with no
         * connection, so the next broker is tried instead of the request
         * waiting in a queue (set before connecting: libzmq reads it then). */
        broker->socket = nagar_bus_connect_broker_watched(options, i, self->broker_count > 1,
                                                          &broker->watch, error, error_size);
        if (!broker->socket) {
            for (int j = 0; j < i; j++) {
                nagar_bus_watch_destroy(&self->brokers[j].watch);
                zsock_destroy(&self->brokers[j].socket);
            }
            free(self);
            return NULL;
        }
        broker->handle = zsock_resolve(broker->socket);
        broker->unchecked = true;
    }
    if (options->packed && !(self->packer = nagar_mdp_packer_new(0))) {
        for (int i = 0; i < self->broker_count; i++) {
            nagar_bus_watch_destroy(&self->brokers[i].watch);
            zsock_destroy(&self->brokers[i].socket);
        }
        free(self);
        snprintf(error, error_size, "out of memory creating the bus client");
        return NULL;
    }
    self->pending = zhashx_new();
    self->next_due_ms = INT64_MAX;
    self->default_timeout_ms = timeout_ms;
    self->default_attempts = attempts;
    self->max_in_flight = max_in_flight;
    self->retry_base_ms = retry_base_ms;
    char random_id[33];
    nagar_bus_new_id(random_id);
    memcpy(self->id_prefix, random_id, 16);
    self->id_prefix[16] = '\0';
    return self;
}

/* Takes pending out of the table and runs its callback exactly once. */
static void complete(nagar_bus_client_t *self, pending_t *pending, nagar_status_code_t code,
                     const char *message, const char *field, const uint8_t *payload,
                     size_t payload_size, bool replayed)
{
    zhashx_delete(self->pending, pending->request_id);
    nagar_bus_result_t result = {
        .code = code,
        .message = message ? message : "",
        .field = field ? field : "",
        .request_id = pending->request_id,
        .payload = code == NAGAR__STATUS_CODE__OK ? payload : NULL,
        .payload_size = code == NAGAR__STATUS_CODE__OK ? payload_size : 0,
        .replayed = replayed,
        .attempts = pending->attempts,
    };
    if (code == NAGAR__STATUS_CODE__OK && !result.payload)
        result.payload = (const uint8_t *) "";
    pending->callback(&result, pending->arg);
    pending_free(&pending);
}

static void note_timer(nagar_bus_client_t *self, int64_t at_ms)
{
    if (at_ms < self->next_due_ms)
        self->next_due_ms = at_ms;
}

/* Full jitter over the upper half, so a crowd of clients that failed
 * together does not come back together. */
static int64_t retry_delay_ms(nagar_bus_client_t *self, int attempts_so_far)
{
    int64_t delay = self->retry_base_ms;
    for (int i = 1; i < attempts_so_far && delay < RETRY_DELAY_CAP_MS; i++)
        delay *= 2;
    if (delay > RETRY_DELAY_CAP_MS)
        delay = RETRY_DELAY_CAP_MS;
    return delay / 2 + randombytes_uniform((uint32_t) (delay / 2 + 1));
}

/* Decides what a retryable failure does: another attempt after a back-off
 * when attempts and the deadline allow, or completion with the failure.
 * Returns whether the request completed. */
static bool fail_or_retry(nagar_bus_client_t *self, pending_t *pending, nagar_status_code_t code,
                          const char *message, const char *field)
{
    int64_t now = zclock_mono();
    if (pending->attempts < pending->max_attempts && !self->destroying) {
        int64_t retry_at = now + retry_delay_ms(self, pending->attempts);
        if (retry_at < pending->deadline_ms) {
            nagar_log_debug("bus.client_retry", "request %s to service '%s' failed with %s (%s); "
                            "attempt %d of %d in %" PRId64 " ms", pending->request_id,
                            pending->service, nagar_status_name(code), message,
                            pending->attempts + 1, pending->max_attempts, retry_at - now);
            pending->retry_at_ms = retry_at;
            pending->retry_counts = true;
            note_timer(self, retry_at);
            return false;
        }
    }
    complete(self, pending, code, message, field, NULL, 0, false);
    return true;
}

/* Queues one message for a broker without blocking; 0, or -1 when its
 * socket will not take it (no connection to a broker of several, or the
 * high-water mark): errno EAGAIN then. No part is sent blocking: with
 * ZMQ_IMMEDIATE a connection lost between the parts leaves the socket no
 * pipe, and a blocking send would wait for the broker to come back. */
static int send_to(nagar_bus_client_t *self, int index, const char *service, const void *body,
                   size_t body_size)
{
    void *handle = self->brokers[index].handle;
    /* A send may read the socket's command mailbox, taking the ZMQ_FD
     * edge of a reply that came meanwhile: ZMQ_EVENTS must be asked again. */
    self->brokers[index].unchecked = true;
    if (self->packer) {
        nagar_mdp_packer_reset(self->packer);
        nagar_mdp_packer_add(self->packer, "", 0);
        nagar_mdp_packer_add(self->packer, MDP_CLIENT, strlen(MDP_CLIENT));
        nagar_mdp_packer_add(self->packer, service, strlen(service));
        nagar_mdp_packer_add(self->packer, body, body_size);
        return nagar_mdp_packer_send(self->packer, handle, ZMQ_DONTWAIT);
    }
    if (zmq_send(handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
        return -1;
    /* Once the first part is queued the pipe takes the rest (the high-water
     * mark counts whole messages) unless the connection went meanwhile:
     * libzmq then drops the parts or rolls them back (EFAULT), and the
     * message is lost with its pipe, as one refused. */
    if (zmq_send(handle, MDP_CLIENT, strlen(MDP_CLIENT), ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1 ||
        zmq_send(handle, service, strlen(service), ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1 ||
        zmq_send(handle, body, body_size, ZMQ_DONTWAIT) == -1) {
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

/* How much a broker is wanted for a request: lower is better. */
static int broker_rank(const nagar_bus_client_t *self, const pending_t *pending, int index)
{
    static const int by_state[] = {
        [BROKER_UP] = 0, [BROKER_UNKNOWN] = 1, [BROKER_DRAINING] = 4, [BROKER_DOWN] = 6,
    };
    int rank = by_state[self->brokers[index].state];
    if (rank < 4 && (pending->tried & (1u << index)))
        rank += 2;
    return rank;
}

/* The brokers in the order to try them for this request: serving ones not
 * yet tried first, the rest after; equals in turn (round robin). */
static int brokers_in_order(nagar_bus_client_t *self, const pending_t *pending, int *order)
{
    int count = self->broker_count;
    unsigned start = self->next_broker++;
    for (int i = 0; i < count; i++)
        order[i] = (int) ((start + (unsigned) i) % (unsigned) count);
    /* Insertion sort by rank: at most NAGAR_BUS_BROKERS_MAX entries. */
    for (int i = 1; i < count; i++) {
        int value = order[i], rank = broker_rank(self, pending, value), j = i - 1;
        while (j >= 0 && broker_rank(self, pending, order[j]) > rank) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = value;
    }
    return count;
}

static void broker_refused(nagar_bus_client_t *self, int index);

/* Offers the request to one broker: whether its socket took it. counts is
 * false for a fail-over, which resends the same attempt elsewhere. */
static bool offer(nagar_bus_client_t *self, pending_t *pending, int index, bool counts)
{
    if (send_to(self, index, pending->service, pending->body, pending->body_size) == 0) {
        pending->broker = index;
        pending->tried |= 1u << index;
        self->brokers[index].holding = true;
        self->brokers[index].refusing_since_ms = 0;
        if (counts)
            pending->attempts++;
        return true;
    }
    /* With several brokers, a socket that will not take a message has no
     * connection. */
    if (self->broker_count > 1 && zmq_errno() == EAGAIN)
        broker_refused(self, index);
    return false;
}

/* No socket took the request: it is offered again after a back-off,
 * counting an attempt only if this one would have; the deadline bounds how
 * long. */
static void defer(nagar_bus_client_t *self, pending_t *pending, bool counts)
{
    nagar_log_debug("bus.client_send_deferred", "cannot queue request %s for service '%s' "
                    "to a broker yet", pending->request_id, pending->service);
    pending->broker = -1;
    pending->retry_at_ms = zclock_mono() + retry_delay_ms(self, pending->attempts + 1);
    pending->retry_counts = counts;
    note_timer(self, pending->retry_at_ms);
}

/* Whether a broker is worth a fail-over of this request after an
 * UNAVAILABLE or RESOURCE_EXHAUSTED: it serves (or has not said yet) and
 * has not had the request. */
static bool untried(const nagar_bus_client_t *self, const pending_t *pending, int index)
{
    return !(pending->tried & (1u << index)) &&
           (self->brokers[index].state == BROKER_UP ||
            self->brokers[index].state == BROKER_UNKNOWN);
}

/* Sends one attempt to the best broker that takes it (deferred when none
 * does). Never completes the request, so callbacks only ever run from
 * dispatch. */
static void send_attempt(nagar_bus_client_t *self, pending_t *pending, bool counts)
{
    pending->retry_at_ms = 0;
    pending->broker = -1;       /* not held anywhere until sent: no fail-over of it meanwhile */
    int order[NAGAR_BUS_BROKERS_MAX];
    int count = brokers_in_order(self, pending, order);
    for (int i = 0; i < count; i++)
        if (offer(self, pending, order[i], counts))
            return;
    defer(self, pending, counts);
}

/* The fail-over of an UNAVAILABLE or RESOURCE_EXHAUSTED answer: to an
 * untried broker, never straight back to one that said no. While every
 * untried socket refuses (still connecting, or dead and not known so yet)
 * it waits a back-off rather than bounce between the refusing socket and a
 * broker that says no; a dead one is down within a liveness
 * (broker_refused), and the answer then stands. */
static void send_elsewhere(nagar_bus_client_t *self, pending_t *pending)
{
    pending->retry_at_ms = 0;
    pending->broker = -1;
    int order[NAGAR_BUS_BROKERS_MAX];
    int count = brokers_in_order(self, pending, order);
    for (int i = 0; i < count; i++)
        if (untried(self, pending, order[i]) && offer(self, pending, order[i], false))
            return;
    defer(self, pending, false);
}

/* Sends again every request whose attempt a broker that went down, or
 * whose connection was lost, was holding: elsewhere when there is another
 * broker, else to the same one once it is connected again. Only what is
 * safe to run twice is sent again (the broker may have handed it to a
 * worker before it went): a request with an idempotency key, which the
 * service answers from its record the second time, or one its caller
 * marked repeatable. Any other is answered UNAVAILABLE at the next
 * dispatch (callbacks run only from there). */
static void fail_over_from(nagar_bus_client_t *self, int index)
{
    /* Cleared first: a resend this socket refuses again finds nothing to
     * move, so fail-overs nest at most once per broker. */
    self->brokers[index].holding = false;
    zlistx_t *held = zlistx_new();
    for (pending_t *pending = zhashx_first(self->pending); pending;
         pending = zhashx_next(self->pending))
        if (pending->broker == index && pending->retry_at_ms == 0)
            zlistx_add_end(held, pending);
    int moved = 0, refused = 0;
    int64_t now = zclock_mono();
    for (pending_t *pending = zlistx_first(held); pending; pending = zlistx_next(held)) {
        /* A nested fail-over (another broker found down while sending) may
         * have moved it already. */
        if (pending->broker != index || pending->retry_at_ms != 0)
            continue;
        if (!pending->resendable) {
            /* Not held anywhere now, and a late answer is dropped
             * (handle_reply ignores a request awaiting its retry time). */
            pending->broker = -1;
            pending->lost_at = index;
            pending->retry_at_ms = now;
            note_timer(self, now);
            refused++;
            continue;
        }
        send_attempt(self, pending, false);
        if (pending->broker != index || self->broker_count == 1)
            moved++;
    }
    if (moved)
        nagar_log_info("bus.client_failover", "%d request%s held by the broker at %s sent %s "
                       "with the same request ids and idempotency keys", moved,
                       moved == 1 ? "" : "s", self->brokers[index].endpoint,
                       self->broker_count > 1 ? "to another broker" : "again");
    if (refused)
        nagar_log_warn("bus.client_lost_requests", "%d request%s held by the broker at %s "
                       "answered UNAVAILABLE: without an idempotency key they are not sent "
                       "twice", refused, refused == 1 ? "" : "s", self->brokers[index].endpoint);
    zlistx_destroy(&held);
}

static void broker_set_state(nagar_bus_client_t *self, int index, broker_state_t state,
                             const char *why)
{
    broker_t *broker = &self->brokers[index];
    if (broker->state == state)
        return;
    static const char *const names[] = {
        [BROKER_UNKNOWN] = "unknown", [BROKER_UP] = "serving", [BROKER_DRAINING] = "draining",
        [BROKER_DOWN] = "down",
    };
    broker_state_t was = broker->state;
    broker->state = state;
    if (state == BROKER_DOWN)
        nagar_log_warn("bus.client_broker_down", "the broker at %s is down (%s; was %s); "
                       "requests go to the others", broker->endpoint, why, names[was]);
    else if (was != BROKER_UNKNOWN || state != BROKER_UP)
        nagar_log_info("bus.client_broker_state", "the broker at %s is %s (was %s)",
                       broker->endpoint, names[state], names[was]);
}

/* The broker is down: silent for a liveness, or its connection gone. What
 * it was given went with it (a broker answers only the connection that
 * asked, and ZMQ_IMMEDIATE drops a lost connection's queue), so that is
 * sent elsewhere now, whatever state the broker was in before: one that
 * took requests before answering its first ping, or while down, holds
 * them as surely as one known to serve. */
static void broker_lost(nagar_bus_client_t *self, int index, const char *why)
{
    broker_set_state(self, index, BROKER_DOWN, why);
    if (self->brokers[index].holding)
        fail_over_from(self, index);
}

/* A send to the broker failed for want of a connection. It is lost at
 * once if it was known, or had been given requests; one never heard from
 * and never given a request (still connecting, or a dead address) stays
 * unknown, quietly, for a liveness, then it is down too. */
static void broker_refused(nagar_bus_client_t *self, int index)
{
    broker_t *broker = &self->brokers[index];
    int64_t now = zclock_mono();
    if (!broker->refusing_since_ms)
        broker->refusing_since_ms = now;
    if (broker->state != BROKER_UNKNOWN || broker->holding)
        broker_lost(self, index, "no connection");
    else if (now - broker->refusing_since_ms >= self->broker_liveness_ms) {
        char why[96];
        snprintf(why, sizeof why, "no connection for %ld ms", self->broker_liveness_ms);
        broker_lost(self, index, why);
    }
}

/* The watch saw the broker's connection go (bus_watch.h): restarted, or
 * the network broke, perhaps too briefly for a ping to notice. ZeroMQ
 * connects again by itself, but what the broker was given went with the
 * connection (it answers only the connection that asked). */
static void broker_connection_lost(nagar_bus_client_t *self, int index)
{
    broker_t *broker = &self->brokers[index];
    if (self->broker_count > 1) {
        /* Asked again at once: the ping on the lost connection will never
         * be answered, and a restarted broker says whether it serves. */
        broker->ping_sent_ms = 0;
        broker->ping_at_ms = 0;
        self->next_ping_ms = 0;
        broker_lost(self, index, "its connection was lost");
        return;
    }
    nagar_log_warn("bus.client_broker_connection_lost", "the connection to the broker at %s "
                   "was lost; what it held is sent again or answered", broker->endpoint);
    if (broker->holding)
        fail_over_from(self, index);
}

/* Reads the brokers' watches when one has signalled, or when they have
 * not been read for a while. */
static void watch_brokers(nagar_bus_client_t *self, int64_t now)
{
    if (!self->watch_signalled && now - self->watch_read_ms < WATCH_READ_MAX_MS)
        return;
    self->watch_signalled = false;
    self->watch_read_ms = now;
    for (int i = 0; i < self->broker_count; i++)
        if (nagar_bus_watch_lost(self->brokers[i].watch) > 0)
            broker_connection_lost(self, i);
}

/* Pings each broker that is due; declares down one that answered nothing
 * within the liveness. Only with several brokers. Returns the next time a
 * ping or a liveness check is due. */
static int64_t ping_brokers(nagar_bus_client_t *self, int64_t now)
{
    int64_t next = INT64_MAX;
    if (self->broker_count < 2)
        return next;
    for (int i = 0; i < self->broker_count; i++) {
        broker_t *broker = &self->brokers[i];
        if (broker->ping_sent_ms && now - broker->ping_sent_ms >= self->broker_liveness_ms &&
            now - broker->heard_ms >= self->broker_liveness_ms) {
            char why[96];
            snprintf(why, sizeof why, "no answer for %ld ms", self->broker_liveness_ms);
            broker->ping_sent_ms = 0;
            broker_lost(self, i, why);
        }
        if (now >= broker->ping_at_ms) {
            broker->ping_at_ms = now + self->ping_ms;
            if (!broker->ping_sent_ms) {
                if (send_to(self, i, MMI_READY, "", 0) == 0) {
                    broker->ping_sent_ms = now;
                    broker->refusing_since_ms = 0;
                } else if (zmq_errno() == EAGAIN)
                    broker_refused(self, i);
            }
        }
        if (broker->ping_at_ms < next)
            next = broker->ping_at_ms;
        if (broker->ping_sent_ms && broker->ping_sent_ms + self->broker_liveness_ms < next)
            next = broker->ping_sent_ms + self->broker_liveness_ms;
    }
    return next;
}

/* 16 random hex digits drawn once per client, then 16 of a counter: as
 * unique as nagar_bus_new_id's, without a getrandom() system call per
 * request (5% of the client's time in the benchmark's profile). */
static void request_id_next(nagar_bus_client_t *self, char out[33])
{
    static const char digits[] = "0123456789abcdef";
    memcpy(out, self->id_prefix, 16);
    uint64_t counter = ++self->id_counter;
    for (int i = 31; i >= 16; i--, counter >>= 4)
        out[i] = digits[counter & 15];
    out[32] = '\0';
}

static bool request_id_is_valid(const char *id)
{
    size_t length = strlen(id);
    if (length == 0 || length > REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < length; i++)
        if (id[i] < 0x21 || id[i] > 0x7e)
            return false;
    return true;
}

int nagar_bus_client_send(nagar_bus_client_t *self, const nagar_bus_call_t *call,
                          nagar_bus_callback_fn *callback, void *arg)
{
    const char *refusal = NULL;
    if (self->destroying)
        refusal = "the client is being destroyed";
    else if (!call || !callback || !call->request)
        refusal = "call, request message and callback are required";
    else if (!call->service || !call->service[0] || strlen(call->service) > MDP_SERVICE_NAME_MAX)
        refusal = "the service name is empty or longer than 64 characters";
    else if (!call->method || !call->method[0])
        refusal = "the method name is empty";
    else if (zhashx_size(self->pending) >= (size_t) self->max_in_flight)
        refusal = "too many requests in flight (NAGAR_BUS_CLIENT_MAX_IN_FLIGHT)";
    else if (call->context && call->context->request_id && call->context->request_id[0] &&
             !request_id_is_valid(call->context->request_id))
        refusal = "the context's request id is longer than 64 characters or not printable";
    if (refusal) {
        nagar_log_warn("bus.client_send_refused", "not sending request to service '%s' method "
                       "'%s': %s", call && call->service ? call->service : "",
                       call && call->method ? call->method : "", refusal);
        return -1;
    }

    pending_t *pending = calloc(1, sizeof *pending);
    if (!pending)
        return -1;
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    if (call->context)
        context = *call->context;
    if (context.request_id && context.request_id[0])
        snprintf(pending->request_id, sizeof pending->request_id, "%s", context.request_id);
    else
        request_id_next(self, pending->request_id);
    if (zhashx_lookup(self->pending, pending->request_id)) {
        nagar_log_warn("bus.client_send_refused", "not sending request %s to service '%s': a "
                       "request with that id is already in flight", pending->request_id,
                       call->service);
        free(pending);
        return -1;
    }
    context.request_id = pending->request_id;

    int64_t now_wall = nagar_bus_now_ms();
    int64_t timeout_ms = call->timeout_ms > 0 ? call->timeout_ms : self->default_timeout_ms;
    /* A deadline the caller inherited (the gateway's) can only shorten ours. */
    if (context.deadline_unix_ms > 0 && context.deadline_unix_ms - now_wall < timeout_ms)
        timeout_ms = context.deadline_unix_ms - now_wall;
    context.deadline_unix_ms = now_wall + timeout_ms;

    snprintf(pending->service, sizeof pending->service, "%s", call->service);
    pending->method = strdup(call->method);
    size_t payload_size = protobuf_c_message_get_packed_size(call->request);
    uint8_t *payload = malloc(payload_size ? payload_size : 1);
    if (pending->method && payload) {
        protobuf_c_message_pack(call->request, payload);
        pending->body = nagar_envelope_request_pack(call->method, &context, payload, payload_size,
                                                    &pending->body_size);
    }
    free(payload);
    if (!pending->body) {
        pending_free(&pending);
        return -1;
    }
    pending->timeout_ms = (int) (timeout_ms > 0 ? timeout_ms : 0);
    pending->deadline_ms = zclock_mono() + (timeout_ms > 0 ? timeout_ms : 0);
    pending->max_attempts = call->max_attempts > 0 ? call->max_attempts
                                                   : (int) self->default_attempts;
    pending->callback = callback;
    pending->arg = arg;
    pending->broker = -1;
    pending->lost_at = -1;
    pending->resendable = call->repeatable || (context.idempotency_key &&
                                                context.idempotency_key[0]);
    zhashx_insert(self->pending, pending->request_id, pending);
    note_timer(self, pending->deadline_ms);
    /* Already past its deadline: dispatch answers it without bothering a
     * worker. */
    if (timeout_ms > 0)
        send_attempt(self, pending, true);
    return 0;
}

/* Whether a serving broker has not been given this request yet. */
static bool untried_broker_left(const nagar_bus_client_t *self, const pending_t *pending)
{
    for (int i = 0; i < self->broker_count; i++)
        if (untried(self, pending, i))
            return true;
    return false;
}

static int handle_reply(nagar_bus_client_t *self, int index, const nagar_mdp_part_t *frames,
                        int count)
{
    char error[ERROR_MAX];
    nagar_mdp_part_t service, body;
    if (nagar_mdp_client_reply_parse_parts(frames, count, &service, &body, error,
                                           sizeof error) != 0) {
        nagar_log_warn("bus.client_bad_reply", "dropping a message from the broker: %s", error);
        return 0;
    }
    if (service.size == strlen(MMI_READY) && memcmp(service.data, MMI_READY, service.size) == 0) {
        broker_t *broker = &self->brokers[index];
        broker->ping_sent_ms = 0;
        bool draining = body.size == 3 && memcmp(body.data, "503", 3) == 0;
        broker_set_state(self, index, draining ? BROKER_DRAINING : BROKER_UP, "");
        return 0;
    }
    Nagar__Reply *reply = nagar_envelope_reply_unpack(body.data, body.size);
    if (!reply) {
        nagar_log_warn("bus.client_bad_reply", "dropping a reply of %zu bytes that is not a "
                       "nagar.Reply", body.size);
        return 0;
    }
    pending_t *pending = zhashx_lookup(self->pending, reply->request_id);
    if (!pending || pending->retry_at_ms != 0) {
        /* Timed out already, or a stray answer to an earlier attempt. */
        nagar_log_debug("bus.client_late_reply", "dropping reply for request %s, which is no "
                        "longer waiting for one", reply->request_id);
        nagar__reply__free_unpacked(reply, NULL);
        return 0;
    }
    nagar_status_code_t code = nagar_envelope_reply_code(reply);
    const char *text = reply->status ? reply->status->message : "";
    const char *field = reply->status ? reply->status->field : "";
    int completed = 0;
    if (code == NAGAR__STATUS_CODE__UNAVAILABLE && reply->may_have_run && !pending->resendable) {
        /* A worker had it and was lost: sent again it might run twice. */
        char message[ERROR_MAX];
        snprintf(message, sizeof message, "%s; it may or may not have been carried out, and "
                 "without an idempotency key it is not sent again", text);
        complete(self, pending, code, message, field, NULL, 0, false);
        completed = 1;
    } else if ((code == NAGAR__STATUS_CODE__UNAVAILABLE ||
                code == NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED) &&
               untried_broker_left(self, pending)) {
        /* Another broker may have a worker, or room: ask it now. */
        nagar_log_debug("bus.client_failover", "request %s to service '%s': %s from %s (%s); "
                        "sending it to another broker", pending->request_id, pending->service,
                        nagar_status_name(code), self->brokers[index].endpoint, text);
        send_elsewhere(self, pending);
    } else if (code == NAGAR__STATUS_CODE__UNAVAILABLE ||
               code == NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED) {
        completed = fail_or_retry(self, pending, code, text, field);
    } else {
        complete(self, pending, code, text, field, reply->payload.data, reply->payload.len,
                 reply->replayed);
        completed = 1;
    }
    nagar__reply__free_unpacked(reply, NULL);
    return completed;
}

/* Completes expired requests and sends due retries; recomputes next_due. */
static int run_timers(nagar_bus_client_t *self)
{
    int64_t now = zclock_mono();
    if (now < self->next_due_ms)
        return 0;
    /* Collect first: callbacks may send new requests into the table. */
    zlistx_t *expired = zlistx_new();
    zlistx_t *due = zlistx_new();
    int64_t next = INT64_MAX;
    for (pending_t *pending = zhashx_first(self->pending); pending;
         pending = zhashx_next(self->pending)) {
        if (pending->deadline_ms <= now)
            zlistx_add_end(expired, pending);
        else if (pending->retry_at_ms && pending->retry_at_ms <= now)
            zlistx_add_end(due, pending);
        else {
            int64_t at = pending->retry_at_ms ? pending->retry_at_ms : pending->deadline_ms;
            if (at < next)
                next = at;
        }
    }
    self->next_due_ms = next;
    int completed = 0;
    for (pending_t *pending = zlistx_first(due); pending; pending = zlistx_next(due)) {
        if (pending->lost_at >= 0) {
            char message[ERROR_MAX];
            snprintf(message, sizeof message, "the broker at %s was lost (it went down or "
                     "restarted, or its connection broke) while it held the request to service "
                     "'%s' (method '%s'): it may or may not have been carried out, and without "
                     "an idempotency key it is not sent twice; retry with an idempotency key, "
                     "or once you know it was not",
                     self->brokers[pending->lost_at].endpoint, pending->service,
                     pending->method);
            complete(self, pending, NAGAR__STATUS_CODE__UNAVAILABLE, message, NULL, NULL, 0,
                     false);
            completed++;
            continue;
        }
        note_timer(self, pending->deadline_ms);
        send_attempt(self, pending, pending->retry_counts);
    }
    for (pending_t *pending = zlistx_first(expired); pending; pending = zlistx_next(expired)) {
        char message[ERROR_MAX];
        snprintf(message, sizeof message, "no reply from service '%s' (method '%s') within "
                 "%d ms after %d attempt%s; the request may or may not have been carried out, "
                 "retry with the same idempotency key", pending->service, pending->method,
                 pending->timeout_ms, pending->attempts, pending->attempts == 1 ? "" : "s");
        complete(self, pending, NAGAR__STATUS_CODE__DEADLINE_EXCEEDED, message, NULL, NULL, 0,
                 false);
        completed++;
    }
    zlistx_destroy(&expired);
    zlistx_destroy(&due);
    return completed;
}

/* One received message, packed or plain, viewed as parts (a packed one
 * unpacked in place): no zmsg, zframe or copy per frame on the way to the
 * callback. */
static int handle_message(nagar_bus_client_t *self, int index, zmq_msg_t *parts, int count)
{
    nagar_mdp_part_t frames[NAGAR_MDP_PACK_MAX_FRAMES];
    char error[ERROR_MAX];
    if (count < 0) {
        nagar_log_warn("bus.client_bad_reply", "dropping a message from the broker: it has "
                       "more than %d frames", NAGAR_MDP_PACK_MAX_FRAMES);
        return 0;
    }
    int frame_count = count;
    if (count == 1 && nagar_mdp_is_packed(zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]))) {
        frame_count = nagar_mdp_unpack_parts(zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]),
                                             frames, error, sizeof error);
        if (frame_count < 0) {
            nagar_log_warn("bus.client_bad_reply", "dropping a packed message from the "
                           "broker: %s", error);
            return 0;
        }
    } else
        for (int i = 0; i < count; i++) {
            frames[i].data = zmq_msg_data(&parts[i]);
            frames[i].size = zmq_msg_size(&parts[i]);
        }
    return handle_reply(self, index, frames, frame_count);
}

int nagar_bus_client_dispatch(nagar_bus_client_t *self)
{
    int completed = 0;
    zmq_msg_t parts[NAGAR_MDP_PACK_MAX_FRAMES];
    /* Non-blocking reads until none is left (ZMQ_EVENTS before each one
     * would be two system calls per reply). ZMQ_FD is edge-triggered and a
     * caller polling it must not miss a message that arrived meanwhile:
     * libzmq answers EAGAIN to a non-blocking recv only after reading the
     * socket's command mailbox and trying again, which re-arms the edge
     * exactly as ZMQ_EVENTS saying "no input" does, so only another
     * failure (EINTR while reading the mailbox) asks ZMQ_EVENTS. */
    for (int index = 0; index < self->broker_count; index++) {
        broker_t *broker = &self->brokers[index];
        for (;;) {
            int count;
            while ((count = nagar_mdp_receive_parts(broker->handle, parts,
                                                    NAGAR_MDP_PACK_MAX_FRAMES)) != 0) {
                broker->heard_ms = zclock_mono();
                completed += handle_message(self, index, parts, count);
                for (int i = 0; i < count; i++)
                    zmq_msg_close(&parts[i]);
            }
            if (zmq_errno() == EAGAIN || !(zsock_events(broker->socket) & ZMQ_POLLIN))
                break;
        }
        broker->unchecked = false;
    }
    int64_t now = zclock_mono();
    watch_brokers(self, now);
    self->next_ping_ms = ping_brokers(self, now);
    completed += run_timers(self);
    return completed;
}

int nagar_bus_client_next_timeout_ms(nagar_bus_client_t *self)
{
    int64_t due = zhashx_size(self->pending) ? self->next_due_ms : INT64_MAX;
    if (self->broker_count > 1 && self->next_ping_ms < due)
        due = self->next_ping_ms;
    if (due == INT64_MAX)
        return -1;
    int64_t wait = due - zclock_mono();
    if (wait < 0)
        return 0;
    return wait > INT_MAX ? INT_MAX : (int) wait;
}

void nagar_bus_client_set_wait_hook(nagar_bus_client_t *self, void (*fn)(void *arg), void *arg)
{
    self->wait_hook = fn;
    self->wait_hook_arg = arg;
}

int nagar_bus_client_poll(nagar_bus_client_t *self, int timeout_ms)
{
    if (self->wait_hook)
        self->wait_hook(self->wait_hook_arg);
    int wait = timeout_ms < 0 ? 0 : timeout_ms;
    int next = nagar_bus_client_next_timeout_ms(self);
    if (next >= 0 && next < wait)
        wait = next;
    /* Each broker's socket, then its watch's descriptor. */
    zmq_pollitem_t items[2 * NAGAR_BUS_BROKERS_MAX];
    int count = self->broker_count;
    for (int i = 0; i < count; i++) {
        items[i] = (zmq_pollitem_t) {.socket = self->brokers[i].handle, .events = ZMQ_POLLIN};
        items[count + i] = (zmq_pollitem_t) {.fd = nagar_bus_watch_fd(self->brokers[i].watch),
                                             .events = ZMQ_POLLIN};
    }
    /* EINTR just means an early return; dispatch does the work either way. */
    if (zmq_poll(items, 2 * count, wait) == -1)
        self->watch_signalled = true;
    for (int i = 0; i < count; i++)
        if (items[count + i].revents)
            self->watch_signalled = true;
    return nagar_bus_client_dispatch(self);
}

int nagar_bus_client_sockets(nagar_bus_client_t *self, zsock_t **sockets, int max)
{
    int count = 0;
    for (int i = 0; i < self->broker_count && count < max; i++)
        sockets[count++] = self->brokers[i].socket;
    return count;
}

int nagar_bus_client_watch_fds(nagar_bus_client_t *self, int *fds, int max)
{
    int count = 0;
    for (int i = 0; i < self->broker_count && count < max; i++)
        fds[count++] = nagar_bus_watch_fd(self->brokers[i].watch);
    return count;
}

void nagar_bus_client_watch_signalled(nagar_bus_client_t *self)
{
    self->watch_signalled = true;
}

bool nagar_bus_client_has_input(nagar_bus_client_t *self)
{
    for (int i = 0; i < self->broker_count; i++)
        if (nagar_bus_socket_has_input(self->brokers[i].socket, &self->brokers[i].unchecked))
            return true;
    return false;
}

size_t nagar_bus_client_in_flight(nagar_bus_client_t *self)
{
    return zhashx_size(self->pending);
}

void nagar_bus_client_destroy(nagar_bus_client_t **self_p)
{
    nagar_bus_client_t *self = *self_p;
    if (!self)
        return;
    self->destroying = true;
    zlistx_t *left = zlistx_new();
    for (pending_t *pending = zhashx_first(self->pending); pending;
         pending = zhashx_next(self->pending))
        zlistx_add_end(left, pending);
    for (pending_t *pending = zlistx_first(left); pending; pending = zlistx_next(left)) {
        char message[ERROR_MAX];
        snprintf(message, sizeof message, "the bus client was closed before service '%s' "
                 "answered; retry with the same idempotency key", pending->service);
        complete(self, pending, NAGAR__STATUS_CODE__UNAVAILABLE, message, NULL, NULL, 0, false);
    }
    zlistx_destroy(&left);
    zhashx_destroy(&self->pending);
    nagar_mdp_packer_destroy(&self->packer);
    for (int i = 0; i < self->broker_count; i++) {
        nagar_bus_watch_destroy(&self->brokers[i].watch);
        zsock_destroy(&self->brokers[i].socket);
    }
    free(self);
    *self_p = NULL;
}

/* What nagar_bus_client_call waits for. */
typedef struct {
    bool done;
    nagar_status_code_t code;
    char *message;
    char *field;
    uint8_t *payload;
    size_t payload_size;
} sync_result_t;

static void sync_callback(const nagar_bus_result_t *result, void *arg)
{
    sync_result_t *sync = arg;
    sync->done = true;
    sync->code = result->code;
    sync->message = strdup(result->message);
    sync->field = strdup(result->field);
    if (result->code == NAGAR__STATUS_CODE__OK) {
        sync->payload = malloc(result->payload_size ? result->payload_size : 1);
        if (sync->payload) {
            memcpy(sync->payload, result->payload, result->payload_size);
            sync->payload_size = result->payload_size;
        }
    }
}

nagar_status_code_t nagar_bus_client_call(nagar_bus_client_t *self, const nagar_bus_call_t *call,
                                          const ProtobufCMessageDescriptor *reply_type,
                                          ProtobufCMessage **reply, char *message,
                                          size_t message_size, char *field, size_t field_size)
{
    if (reply)
        *reply = NULL;
    sync_result_t sync = { 0 };
    if (nagar_bus_client_send(self, call, sync_callback, &sync) != 0) {
        if (message)
            snprintf(message, message_size, "the request to service '%s' was refused before "
                     "sending (malformed call or too many in flight); see the log",
                     call && call->service ? call->service : "");
        if (field)
            snprintf(field, field_size, "%s", "");
        return NAGAR__STATUS_CODE__INVALID_ARGUMENT;
    }
    /* Terminates: every request completes by its deadline at the latest. The
     * wait hook runs at least every 250 ms. */
    while (!sync.done)
        nagar_bus_client_poll(self, self->wait_hook ? 250 : 1000);

    nagar_status_code_t code = sync.code;
    const char *text = sync.message ? sync.message : "";
    char unpack_error[ERROR_MAX] = "";
    if (code == NAGAR__STATUS_CODE__OK && reply && reply_type) {
        if (!sync.payload) {
            code = NAGAR__STATUS_CODE__INTERNAL;
            text = "out of memory copying the reply";
        } else {
            *reply = protobuf_c_message_unpack(reply_type, NULL, sync.payload_size, sync.payload);
            if (!*reply) {
                snprintf(unpack_error, sizeof unpack_error, "the reply of service '%s' is not a "
                         "valid %s", call->service, reply_type->name);
                code = NAGAR__STATUS_CODE__INTERNAL;
                text = unpack_error;
            }
        }
    }
    if (message)
        snprintf(message, message_size, "%s", text);
    if (field)
        snprintf(field, field_size, "%s", sync.field ? sync.field : "");
    free(sync.message);
    free(sync.field);
    free(sync.payload);
    return code;
}
