/*
 * broker.c — the broker's event loop and MDP/0.1 dispatch.
 *
 * Everything happens on one thread around one ROUTER socket:
 *
 *   broker_run ── zpoller_wait(router, monitor, timeout = next timed work)
 *        ├── drain the router: each message is authenticated (User-Id ->
 *        │   key store -> principal, revoked set), then handled as a client
 *        │   request (MDPC01) or a worker command (MDPW01)
 *        ├── drain the socket monitor: failed CURVE handshakes
 *        └── timed work: heartbeats, worker expiry, queued request deadlines
 *
 * A request goes straight to a worker with free credit without being
 * parsed; only when it has to wait, or the broker itself answers it with an
 * error, are the deadline and request id of its nagar.Request read (from
 * the wire format, nothing unpacked or allocated).
 *
 * Messages are received as zmq_msg_t parts. The two that make up nearly
 * all the traffic, a packed client request and a packed worker REPLY, are
 * handled from those parts directly (see "receiving" below); everything
 * else is copied into a zmsg and takes the general path.
 *
 * Credit (mdp.h): an RFC 7 worker holds one request at a time; a libnagar
 * worker announces credit=N in READY and may hold up to N, which it handles
 * in order. Prefetching hides the broker <-> worker round trip that MDP
 * otherwise puts between two requests (measured: 6 thread wake-ups, ~165 us
 * per request per worker, bus at 0.08 of a raw ZeroMQ echo). The broker
 * keeps every held request (client address and body, oldest first) so that
 * whatever happens to the worker, each caller gets an answer promptly
 * instead of waiting for its own deadline, and a REPLY must match the
 * oldest held request of its client address.
 *
 * Plain frames are sent one by one with ZFRAME_REUSE so a body is never
 * copied on its way from client to worker (libzmq shares the buffer); a
 * packed request keeps its body inside the frame it arrived in.
 *
 * Packed peers (mdp.h, mdp_pack.h): a message that arrives as one packed
 * frame is unpacked at the door into the frames a plain peer would have
 * sent, so everything after (authentication, ACLs, the principal frame,
 * credit, quarantine, MMI, admin) is the same code for both. What goes back
 * is packed when the peer it goes to packs: a worker is remembered as
 * packed from its last message, a client by each request it sent (a
 * client's every answer is to one of its requests, or to the message being
 * handled, so no table of client addresses is needed). Everything leaves
 * through out_begin / out_part / out_frame, which either send frame by
 * frame or collect the frames and send one.
 *
 * Stopping (broker_request_stop, SIGTERM): with NAGAR_BROKER_DRAIN_TIMEOUT_MS
 * the broker drains. It answers mmi.ready "503" at once (clients with
 * several brokers stop sending it new requests, bus_client.h), keeps
 * serving for NAGAR_BROKER_DRAIN_GRACE_MS while they notice, then answers
 * any new request UNAVAILABLE (they send it to another broker) while the
 * requests it holds and queues finish; when none is left, or the timeout
 * passes, what remains is answered UNAVAILABLE and the workers are told
 * DISCONNECT. Without it the broker stops at once, as before.
 *
 * A worker that drains (DISCONNECT "drain", mdp.h) gets nothing new, keeps
 * what it holds until it has answered it, then gets DISCONNECT. When it was
 * its service's last worker, requests for the service wait in the queue
 * for NAGAR_BROKER_RETURN_GRACE_MS instead of being refused (a restart
 * brings it back), and mmi.service still answers 200 meanwhile. The same
 * holds when the last worker is presumed dead after missing heartbeats:
 * a worker blocked on a database that is failing over comes back once
 * its connection gives up (tcp_user_timeout) and reconnects.
 */
#include "broker.h"

#include <errno.h>
#include <string.h>

#include "acl.h"
#include "admin.h"
#include "log.h"
#include "mdp.h"
#include "mdp_frames.h"
#include "mdp_pack.h"
#include "principal.h"
#include "proto/envelope.pb-c.h"
#include "state.h"

#define BROKER_MAX_SERVICES 4096
#define BROKER_MAX_FRAMES 64
#define BROKER_REQUEST_ID_MAX 128
#define BROKER_IDENTITY_MAX 255
#define ACL_RELOAD_MIN_INTERVAL_MS 1000
#define ACL_CHANGE_CHECK_MS 5000
#define LOG_LIMIT_PER_SECOND 5

/* At most LOG_LIMIT_PER_SECOND lines a second per kind of noisy event; a
 * flood from a hostile peer must not fill the disk. */
typedef struct {
    int64_t window_start_ms;
    int count;
    uint64_t suppressed;
} log_limit_t;

typedef struct service_t service_t;
typedef struct worker_t worker_t;

typedef struct request_t request_t;
struct request_t {
    /* The hot path allocates nothing per request but this struct (see
     * "Receiving" below): the routing id is kept inline, and a packed
     * request's body stays inside the zmq_msg_t it arrived in (moved, not
     * copied), so body_data points into carrier. A plain request, or one
     * with several body frames, keeps its frames in body instead. */
    uint8_t client[BROKER_IDENTITY_MAX];       /* caller's routing id */
    size_t client_size;
    zmsg_t *body;                              /* body frames, as the caller sent them; or NULL */
    zmq_msg_t carrier;                         /* when body is NULL: the packed frame received */
    const uint8_t *body_data;                  /* when body is NULL: its one body frame */
    size_t body_size;
    request_t *next;                           /* in its request_fifo_t: no node */
    char caller_key[BROKER_KEY_TEXT_MAX + 1];  /* "" with security off */
    char caller[BROKER_PRINCIPAL_MAX + 1];     /* principal; "" with security off */
    int64_t deadline_ms;                       /* monotonic; 0 until queued */
    broker_principal_t *principal;             /* whose share it counts in; NULL until admitted */
    bool packed;                               /* the client sent it packed: answer packed */
    bool orphaned;                             /* its caller was cut off: its answer goes nowhere */
};

/* A FIFO of requests linked through their `next`, allocating nothing. A
 * request is in one at a time: its principal's lane of a service's queue
 * while it waits, then its worker's held list while it is worked on. */
typedef struct {
    request_t *first;
    request_t *last;
} request_fifo_t;

/* One caller principal's waiting requests for one service. A service's
 * queue is a lane per principal, served in turn (queue_pop), so one
 * principal's backlog delays another's next request by at most one
 * request per lane. */
typedef request_fifo_t lane_t;

struct service_t {
    char *name;
    zlistx_t *ready;       /* worker_t * with free credit; least recently used first */
    lane_t *lanes;                             /* by principal index; owned requests */
    size_t lane_count;
    size_t next_lane;                          /* the lane queue_pop serves first */
    size_t queued;                             /* in all lanes */
    uint32_t workers;                          /* registered and not draining */
    uint64_t served;
    uint64_t errors;
    int64_t returning_until_ms;                /* monotonic: its last worker drained; expected back */
};

struct worker_t {
    char *id;                                  /* hex of the routing id; key in broker->workers */
    zframe_t *identity;
    service_t *service;
    char key[BROKER_KEY_TEXT_MAX + 1];
    int64_t expiry_ms;                         /* no message by then: presumed dead */
    int64_t last_sent_ms;                      /* for heartbeats */
    uint32_t credit;                           /* requests it may hold: 1 (RFC 7) .. 256 */
    bool packed;                               /* its last message was packed: send packed */
    bool extended;                             /* announced credit or packs: a libnagar worker */
    bool draining;                             /* said DISCONNECT "drain": nothing new for it */
    uint32_t held_count;
    request_fifo_t held;                       /* held requests, oldest first, owned */
    void *ready_handle;                        /* in service->ready while it has free credit */
};

struct broker_t {
    broker_options_t options;
    zsock_t *router;
    zactor_t *auth;
    zactor_t *monitor;
    zcert_t *cert;
    broker_acl_t *acl;                         /* NULL with security off */
    broker_state_t *state;
    broker_principals_t *principals;           /* fair share and refusal counts */
    zpoller_t *poller;
    zhashx_t *services;                        /* name -> service_t, owned */
    zhashx_t *workers;                         /* id -> worker_t, owned */
    char endpoint[256];
    int64_t started_ms;
    int64_t warm_until_ms;                     /* monotonic: mmi.ready says 503 until then */
    bool stopping;                             /* asked to stop: draining */
    int64_t drain_closed_ms;                   /* monotonic: from then on, new requests are refused */
    int64_t drain_deadline_ms;                 /* monotonic: then whatever is left is failed */
    int64_t next_timer_ms;
    int64_t next_acl_check_ms;
    uint64_t denied;
    uint64_t malformed_packed;                 /* packed frames that did not unpack */
    log_limit_t limit_unknown, limit_revoked, limit_malformed, limit_auth_failed, limit_denied,
        limit_dropped;
    uint64_t dropped;                          /* plain requests dropped unanswered */
    nagar_mdp_packer_t *packer;                /* the message being packed for out_* */
    const void *out_identity;                  /* whom it goes to; NULL when sending plain */
    size_t out_identity_size;
    zmq_msg_t parts[BROKER_MAX_FRAMES];        /* the message being received (broker_run) */
    broker_admin_target_t admin;               /* what nagar.admin acts on (admin.h) */
};

/* Fills in self->admin (defined with the operations, at the end). */
static void admin_target_init(broker_t *self);

/* ---- small helpers ------------------------------------------------------ */

static bool log_limit_allow(log_limit_t *limit, int64_t now_ms)
{
    if (now_ms - limit->window_start_ms >= 1000) {
        limit->window_start_ms = now_ms;
        limit->count = 0;
    }
    if (++limit->count <= LOG_LIMIT_PER_SECOND)
        return true;
    limit->suppressed++;
    return false;
}

/* The suppressed count since the last line, for the line being written. */
static json_int_t log_limit_take(log_limit_t *limit)
{
    json_int_t suppressed = (json_int_t) limit->suppressed;
    limit->suppressed = 0;
    return suppressed;
}

static void hex_encode(const byte *data, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * size] = '\0';
}

/* A frame as a bounded C string (for service names and commands). */
static void frame_to_string(zframe_t *frame, char *out, size_t out_size)
{
    size_t size = frame ? zframe_size(frame) : 0;
    if (size >= out_size)
        size = out_size - 1;
    if (size)
        memcpy(out, zframe_data(frame), size);
    out[size] = '\0';
}

static bool frame_is(zframe_t *frame, const char *text)
{
    size_t length = strlen(text);
    return frame && zframe_size(frame) == length && memcmp(zframe_data(frame), text, length) == 0;
}

/* strlen + memcpy, truncating to out_size - 1: snprintf("%s") costs a
 * format parse per call on the request path. */
static void copy_text(char *out, size_t out_size, const char *text)
{
    size_t length = strlen(text);
    if (length >= out_size)
        length = out_size - 1;
    memcpy(out, text, length);
    out[length] = '\0';
}

/* Printable ASCII, 1..MDP_SERVICE_NAME_MAX: what we accept as a service. */
static bool service_frame_is_valid(zframe_t *frame)
{
    size_t size = zframe_size(frame);
    if (size == 0 || size > MDP_SERVICE_NAME_MAX)
        return false;
    const byte *data = zframe_data(frame);
    for (size_t i = 0; i < size; i++)
        if (data[i] < 0x21 || data[i] > 0x7e)
            return false;
    return true;
}

static void send_memory(broker_t *self, const void *data, size_t size, bool more)
{
    zmq_send(zsock_resolve(self->router), data, size, more ? ZMQ_SNDMORE : 0);
}

static void send_frame_reuse(broker_t *self, zframe_t *frame, bool more)
{
    zframe_send(&frame, self->router, ZFRAME_REUSE | (more ? ZFRAME_MORE : 0));
}

/* Every message the broker sends goes out through these three: out_begin
 * with the peer's routing id, then each MDP frame with out_part or
 * out_frame, the last with more false. Plain, each frame is sent at once;
 * packed, they are collected and leave as one frame after the routing id
 * when the last arrives. identity must stay valid until then. */
static void out_begin(broker_t *self, const void *identity, size_t identity_size, bool packed)
{
    if (packed) {
        nagar_mdp_packer_reset(self->packer);
        self->out_identity = identity;
        self->out_identity_size = identity_size;
    } else {
        self->out_identity = NULL;
        send_memory(self, identity, identity_size, true);
    }
}

static void out_flush(broker_t *self)
{
    size_t size;
    const uint8_t *data = nagar_mdp_packer_data(self->packer, &size);
    if (data) {
        send_memory(self, self->out_identity, self->out_identity_size, true);
        send_memory(self, data, size, false);
    } else
        /* Only a message near NAGAR_MDP_PACK_MAX_BYTES gets here: what the
         * broker accepted it can pack, plus its own few frames. */
        nagar_log_write(NAGAR_LOG_ERROR, "broker.pack_failed",
                        json_pack("{s:i}", "frames",
                                  (int) nagar_mdp_packer_frames(self->packer)),
                        "could not pack a message for a packed peer (too large); it was not "
                        "sent and the peer's caller will see a timeout");
    self->out_identity = NULL;
}

static void out_part(broker_t *self, const void *data, size_t size, bool more)
{
    if (!self->out_identity) {
        send_memory(self, data, size, more);
        return;
    }
    nagar_mdp_packer_add(self->packer, data, size);
    if (!more)
        out_flush(self);
}

static void out_frame(broker_t *self, zframe_t *frame, bool more)
{
    if (!self->out_identity) {
        send_frame_reuse(self, frame, more);
        return;
    }
    nagar_mdp_packer_add_frame(self->packer, frame);
    if (!more)
        out_flush(self);
}

/* A request from client; its body is set by the caller (body, or carrier
 * and body_data). NULL when out of memory. */
static request_t *request_new(const void *client, size_t client_size)
{
    request_t *request = malloc(sizeof *request);
    if (!request)
        return NULL;
    memcpy(request->client, client, client_size);
    request->client_size = client_size;
    request->body = NULL;
    zmq_msg_init(&request->carrier);
    request->body_data = NULL;
    request->body_size = 0;
    request->next = NULL;
    request->deadline_ms = 0;
    request->principal = NULL;
    request->orphaned = false;
    return request;
}

/* Destroying a request is its end: answered, failed or dropped. Its
 * principal's share is returned here, and only here. */
static void request_destroy(request_t **request_p)
{
    if (!*request_p)
        return;
    if ((*request_p)->principal)
        broker_principal_release((*request_p)->principal);
    zmsg_destroy(&(*request_p)->body);
    zmq_msg_close(&(*request_p)->carrier);
    free(*request_p);
    *request_p = NULL;
}

/* The first body frame: the nagar.Request of a libnagar caller. */
static const uint8_t *request_first_body(request_t *request, size_t *size)
{
    if (!request->body) {
        *size = request->body_size;
        return request->body_data;
    }
    zframe_t *first = zmsg_first(request->body);
    *size = first ? zframe_size(first) : 0;
    return first ? zframe_data(first) : NULL;
}

/* ---- request FIFOs (lanes and held lists) ------------------------------- */

static void fifo_push(request_fifo_t *fifo, request_t *request)
{
    request->next = NULL;
    if (fifo->last)
        fifo->last->next = request;
    else
        fifo->first = request;
    fifo->last = request;
}

/* The oldest request, taken out; NULL when the FIFO is empty. */
static request_t *fifo_pop(request_fifo_t *fifo)
{
    request_t *request = fifo->first;
    if (!request)
        return NULL;
    fifo->first = request->next;
    if (!fifo->first)
        fifo->last = NULL;
    request->next = NULL;
    return request;
}

/* Takes request, which follows previous in fifo (or is first: previous
 * NULL), out of it. */
static void fifo_unlink(request_fifo_t *fifo, request_t *previous, request_t *request)
{
    if (previous)
        previous->next = request->next;
    else
        fifo->first = request->next;
    if (fifo->last == request)
        fifo->last = previous;
    request->next = NULL;
}

/* ---- a service's queue ---------------------------------------------------- */

/* Appends request to its principal's lane; false when out of memory. */
static bool queue_push(service_t *service, request_t *request)
{
    size_t index = broker_principal_index(request->principal);
    if (index >= service->lane_count) {
        size_t count = index + 1 > 2 * service->lane_count ? index + 1 : 2 * service->lane_count;
        lane_t *lanes = realloc(service->lanes, count * sizeof *lanes);
        if (!lanes)
            return false;
        memset(lanes + service->lane_count, 0, (count - service->lane_count) * sizeof *lanes);
        service->lanes = lanes;
        service->lane_count = count;
    }
    fifo_push(&service->lanes[index], request);
    service->queued++;
    return true;
}

/* The oldest waiting request of the next lane in turn, taken out of the
 * queue; NULL when none waits. */
static request_t *queue_pop(service_t *service)
{
    if (!service->queued)
        return NULL;
    for (size_t i = 0; i < service->lane_count; i++) {
        size_t at = (service->next_lane + i) % service->lane_count;
        request_t *request = fifo_pop(&service->lanes[at]);
        if (!request)
            continue;
        service->queued--;
        service->next_lane = (at + 1) % service->lane_count;
        return request;
    }
    return NULL;
}

/* Takes request (which follows previous in lane, or is first) out of the
 * queue. */
static void queue_unlink(service_t *service, lane_t *lane, request_t *previous,
                         request_t *request)
{
    fifo_unlink(lane, previous, request);
    service->queued--;
}

/* Whether a queued request is to go; it may answer its caller first. */
typedef bool request_doomed_fn(broker_t *self, service_t *service, request_t *request,
                               void *arg);

/* Takes the requests doomed picks out of every service's queue and frees
 * them; the others keep their order. */
static void queue_drop_if(broker_t *self, request_doomed_fn *doomed, void *arg)
{
    for (service_t *service = zhashx_first(self->services); service;
         service = zhashx_next(self->services)) {
        for (size_t l = 0; service->queued && l < service->lane_count; l++) {
            lane_t *lane = &service->lanes[l];
            request_t *previous = NULL;
            for (request_t *request = lane->first, *following; request; request = following) {
                following = request->next;
                if (doomed(self, service, request, arg)) {
                    queue_unlink(service, lane, previous, request);
                    request_destroy(&request);
                } else
                    previous = request;
            }
        }
    }
}

/* ---- replies to clients ------------------------------------------------- */

/* The request id and deadline of the body's nagar.Request, read from the
 * wire format without unpacking it (nothing is allocated; most requests
 * under load wait in the queue and come here). An opaque body (a plain RFC
 * 7 client) has neither. */
static void request_envelope_read(const uint8_t *body, size_t body_size, char *request_id,
                                  size_t request_id_size, int64_t *deadline_unix_ms)
{
    int64_t deadline = 0;
    if (body)
        nagar_envelope_request_peek(body, body_size, request_id, request_id_size, &deadline);
    else
        request_id[0] = '\0';
    if (deadline_unix_ms)
        *deadline_unix_ms = deadline;
}

static void send_to_client(broker_t *self, const void *client, size_t client_size, bool packed,
                           const char *service, const void *body, size_t body_size)
{
    out_begin(self, client, client_size, packed);
    out_part(self, "", 0, true);
    out_part(self, MDP_CLIENT, strlen(MDP_CLIENT), true);
    out_part(self, service, strlen(service), true);
    out_part(self, body, body_size, false);
}

/* An error the broker itself produced: [""][MDPC01][service][nagar.Reply]
 * to a client that speaks the libnagar extension (it sent its request
 * packed, mdp.h). A plain RFC 7 client would take that body for the
 * service's own answer, so RFC 7's behaviour applies to it instead: what
 * cannot be served is dropped, and logged here (rate-limited). */
static void reply_error(broker_t *self, const void *client, size_t client_size, bool packed,
                        const char *service, const uint8_t *body, size_t body_size,
                        nagar_status_code_t code, const char *message, bool may_have_run)
{
    if (!packed) {
        self->dropped++;
        if (log_limit_allow(&self->limit_dropped, zclock_mono()))
            nagar_log_write(NAGAR_LOG_WARN, "broker.dropped",
                            json_pack("{s:s, s:s, s:s, s:I, s:I}", "service", service, "code",
                                      nagar_status_name(code), "reason", message, "dropped",
                                      (json_int_t) self->dropped, "suppressed",
                                      log_limit_take(&self->limit_dropped)),
                            "dropped a request from a plain RFC 7 client to \"%s\" without an "
                            "answer (%s: %s)", service, nagar_status_name(code), message);
        return;
    }
    char request_id[BROKER_REQUEST_ID_MAX + 1];
    request_envelope_read(body, body_size, request_id, sizeof request_id, NULL);
    Nagar__Status status = NAGAR__STATUS__INIT;
    status.code = code;
    status.message = (char *) message;
    Nagar__Reply reply = NAGAR__REPLY__INIT;
    reply.request_id = request_id;
    reply.status = &status;
    reply.may_have_run = may_have_run;
    size_t size = nagar__reply__get_packed_size(&reply);
    uint8_t *buffer = malloc(size ? size : 1);
    nagar__reply__pack(&reply, buffer);
    send_to_client(self, client, client_size, packed, service, buffer, size);
    free(buffer);
}

/* Answers a request the broker cannot serve; may_have_run when a worker
 * had it (nagar.Reply.may_have_run: only a retry with the same idempotency
 * key is safe). */
static void service_fail_request(broker_t *self, service_t *service, request_t *request,
                                 nagar_status_code_t code, const char *message,
                                 bool may_have_run)
{
    service->errors++;
    if (request->orphaned)
        return;
    size_t body_size;
    const uint8_t *body = request_first_body(request, &body_size);
    reply_error(self, request->client, request->client_size, request->packed, service->name,
                body, body_size, code, message, may_have_run);
}

/* The same for a request no worker has had. */
static void service_fail(broker_t *self, service_t *service, request_t *request,
                         nagar_status_code_t code, const char *message)
{
    service_fail_request(self, service, request, code, message, false);
}

/* ---- services and workers ----------------------------------------------- */

static void service_destroy(service_t **service_p)
{
    service_t *service = *service_p;
    if (!service)
        return;
    zlistx_destroy(&service->ready);
    request_t *request;
    while ((request = queue_pop(service)))
        request_destroy(&request);
    free(service->lanes);
    free(service->name);
    free(service);
    *service_p = NULL;
}

static void service_destructor(void **item)
{
    service_destroy((service_t **) item);
}

/* The service entry, created on first use; NULL past BROKER_MAX_SERVICES. */
static service_t *service_require(broker_t *self, const char *name)
{
    service_t *service = zhashx_lookup(self->services, name);
    if (service || zhashx_size(self->services) >= BROKER_MAX_SERVICES)
        return service;
    service = calloc(1, sizeof *service);
    service->name = strdup(name);
    service->ready = zlistx_new();
    zhashx_insert(self->services, name, service);
    return service;
}

static void worker_send_command(broker_t *self, worker_t *worker, const char *command,
                                bool more)
{
    out_begin(self, zframe_data(worker->identity), zframe_size(worker->identity), worker->packed);
    out_part(self, "", 0, true);
    out_part(self, MDP_WORKER, strlen(MDP_WORKER), true);
    out_part(self, command, 1, more);
    worker->last_sent_ms = zclock_mono();
}

/* DISCONNECT to a peer that is not (or no longer) a worker we track,
 * packed when the message it sent was. */
static void send_disconnect_to(broker_t *self, const void *identity, size_t identity_size,
                               bool packed)
{
    out_begin(self, identity, identity_size, packed);
    out_part(self, "", 0, true);
    out_part(self, MDP_WORKER, strlen(MDP_WORKER), true);
    out_part(self, MDP_DISCONNECT, 1, false);
}

/* The worker to send the next request to: the one holding the fewest
 * requests, then the one with the most free credit, least recently used
 * among equals (service->ready is in LRU order). With equal credits that is
 * simply the most free credit; with mixed credits (an RFC 7 worker beside
 * libnagar ones) an idle worker is never passed over for a busy one with
 * more credit left. NULL when none has free credit. A service has a handful
 * of workers: a scan beats keeping a heap up to date. */
static worker_t *service_pick_worker(service_t *service)
{
    worker_t *best = NULL;
    for (worker_t *worker = zlistx_first(service->ready); worker;
         worker = zlistx_next(service->ready)) {
        if (!best || worker->held_count < best->held_count
            || (worker->held_count == best->held_count
                && worker->credit - worker->held_count > best->credit - best->held_count))
            best = worker;
    }
    return best;
}

static void request_set_deadline(broker_t *self, request_t *request);

static void worker_dispatch(broker_t *self, worker_t *worker, request_t *request)
{
    /* A plain RFC 7 worker does not heartbeat while it works: the held
     * request's own deadline, not the worker's liveness, bounds the wait
     * (run_timers). A libnagar worker keeps prompt detection and never
     * needs it, so the hot path reads nothing. */
    if (!worker->extended && !request->deadline_ms)
        request_set_deadline(self, request);
    fifo_push(&worker->held, request);
    worker->held_count++;
    if (worker->held_count >= worker->credit) {
        zlistx_delete(worker->service->ready, worker->ready_handle);
        worker->ready_handle = NULL;
    } else
        zlistx_move_end(worker->service->ready, worker->ready_handle);

    worker_send_command(self, worker, MDP_REQUEST, true);
    out_part(self, request->client, request->client_size, true);
    out_part(self, "", 0, true);
    bool principal_frame = !self->options.insecure;
    if (!request->body)
        out_part(self, request->body_data, request->body_size, principal_frame);
    for (zframe_t *frame = request->body ? zmsg_first(request->body) : NULL; frame;) {
        zframe_t *next = zmsg_next(request->body);
        out_frame(self, frame, next != NULL || principal_frame);
        frame = next;
    }
    if (principal_frame)
        out_part(self, request->caller, strlen(request->caller), false);
}

/* Hands queued requests to workers with free credit; expired ones get
 * their answer. */
static void service_dispatch(broker_t *self, service_t *service)
{
    if (!service->queued)
        return;
    int64_t now = zclock_mono();
    worker_t *worker;
    while (service->queued && (worker = service_pick_worker(service))) {
        request_t *request = queue_pop(service);
        if (request->deadline_ms && request->deadline_ms <= now) {
            service_fail(self, service, request, NAGAR__STATUS_CODE__DEADLINE_EXCEEDED,
                         "the request waited in the broker's queue past its deadline");
            request_destroy(&request);
            continue;
        }
        worker_dispatch(self, worker, request);
    }
}

/* The worker finished one held request (or just registered): it has free
 * credit again, so it goes back among the ready ones (at the end: the
 * others have waited longer) and the queue moves. */
static void worker_finish_drain(broker_t *self, worker_t *worker);

static void worker_credit_returned(broker_t *self, worker_t *worker)
{
    if (worker->draining) {
        /* Nothing new for it; once it holds nothing it may go. */
        if (worker->held_count == 0)
            worker_finish_drain(self, worker);
        return;
    }
    if (!worker->ready_handle)
        worker->ready_handle = zlistx_add_end(worker->service->ready, worker);
    service_dispatch(self, worker->service);
}

/* Takes the oldest held request of client out of the worker's list; NULL
 * when it holds none for that address. A libnagar worker answers in order,
 * so this is nearly always the first one. */
static request_t *worker_take_held(worker_t *worker, const void *client, size_t client_size)
{
    request_t *previous = NULL;
    for (request_t *request = worker->held.first; request;
         previous = request, request = request->next) {
        if (request->client_size != client_size
            || memcmp(request->client, client, client_size) != 0)
            continue;
        fifo_unlink(&worker->held, previous, request);
        worker->held_count--;
        return request;
    }
    return NULL;
}

static const char WORKER_LOST[] =
    "worker lost while handling the request; retrying with the same idempotency key is safe";

/* Forgets a worker. Every request it holds is answered with message
 * (UNAVAILABLE), oldest first, so no caller waits on a worker that is gone. */
/* When a service has just lost its last worker in a way it comes back from
 * (a drain for a restart, or a worker gone silent while its database fails
 * over), requests for it wait NAGAR_BROKER_RETURN_GRACE_MS in the queue,
 * each within its own deadline, instead of being refused at once. */
static void service_expect_return(broker_t *self, service_t *service)
{
    if (service->workers == 0 && self->options.return_grace_ms > 0)
        service->returning_until_ms = zclock_mono() + self->options.return_grace_ms;
}

static void worker_delete(broker_t *self, worker_t *worker, bool send_disconnect,
                          const char *held_message)
{
    if (send_disconnect)
        worker_send_command(self, worker, MDP_DISCONNECT, false);
    service_t *service = worker->service;
    for (request_t *request; (request = fifo_pop(&worker->held));) {
        service_fail_request(self, service, request, NAGAR__STATUS_CODE__UNAVAILABLE,
                             held_message, true);
        request_destroy(&request);
    }
    worker->held_count = 0;
    if (worker->ready_handle)
        zlistx_delete(service->ready, worker->ready_handle);
    worker->ready_handle = NULL;
    if (!worker->draining)
        service->workers--;
    zhashx_delete(self->workers, worker->id);
}

/* DISCONNECT "drain" (mdp.h): the worker gets nothing new and keeps what it
 * holds until answered. */
static void worker_start_drain(broker_t *self, worker_t *worker)
{
    if (worker->draining)
        return;
    service_t *service = worker->service;
    worker->draining = true;
    if (worker->ready_handle)
        zlistx_delete(service->ready, worker->ready_handle);
    worker->ready_handle = NULL;
    service->workers--;
    service_expect_return(self, service);
    nagar_log_write(NAGAR_LOG_INFO, "broker.worker_draining",
                    json_pack("{s:s, s:i, s:i}", "service", service->name, "held_requests",
                              (int) worker->held_count, "workers", (int) service->workers),
                    "a worker of \"%s\" is draining: it finishes the %u requests it holds and "
                    "gets nothing new", service->name, worker->held_count);
    if (worker->held_count == 0)
        worker_finish_drain(self, worker);
}

/* A draining worker has answered everything: it may go. */
static void worker_finish_drain(broker_t *self, worker_t *worker)
{
    nagar_log_write(NAGAR_LOG_INFO, "broker.worker_drained",
                    json_pack("{s:s}", "service", worker->service->name),
                    "a worker of \"%s\" answered all it held; sent DISCONNECT",
                    worker->service->name);
    worker_delete(self, worker, true, WORKER_LOST);
}

/* Whether requests for service wait for a worker that is expected back
 * (its last one drained a moment ago) rather than being refused. */
static bool service_returning(service_t *service)
{
    return service->workers == 0 && service->returning_until_ms > zclock_mono();
}

static void worker_destructor(void **item)
{
    worker_t *worker = *item;
    if (!worker)
        return;
    for (request_t *request; (request = fifo_pop(&worker->held));)
        request_destroy(&request);
    zframe_destroy(&worker->identity);
    free(worker->id);
    free(worker);
    *item = NULL;
}


/* Disconnects every worker of service, failing what they hold. */
static void service_disconnect_workers(broker_t *self, service_t *service, const char *message)
{
    zlistx_t *doomed = zlistx_new();
    for (worker_t *worker = zhashx_first(self->workers); worker;
         worker = zhashx_next(self->workers))
        if (worker->service == service)
            zlistx_add_end(doomed, worker);
    for (worker_t *worker = zlistx_first(doomed); worker; worker = zlistx_next(doomed))
        worker_delete(self, worker, true, message);
    zlistx_destroy(&doomed);
}

/* ---- MMI (RFC 8) -------------------------------------------------------- */

static void handle_mmi(broker_t *self, zframe_t *sender, bool packed, const char *service_name,
                       zmsg_t *body)
{
    const char *code = "501";
    if (strcmp(service_name, MMI_READY) == 0) {
        /* Nagar's (mdp.h): is this broker taking new requests? */
        code = self->stopping || zclock_mono() < self->warm_until_ms ? "503" : "200";
    } else if (strcmp(service_name, MMI_SERVICE) == 0) {
        /* RFC 8 defines 200, 404 and 501 only: a name no service can have
         * is a service that does not exist. */
        zframe_t *asked = zmsg_first(body);
        if (!asked || !service_frame_is_valid(asked))
            code = "404";
        else {
            char name[MDP_SERVICE_NAME_MAX + 1];
            frame_to_string(asked, name, sizeof name);
            service_t *service = zhashx_lookup(self->services, name);
            code = service && (service->workers > 0 || service_returning(service)) ? "200"
                                                                                   : "404";
        }
    } else if (strcmp(service_name, MMI_QUARANTINE) == 0) {
        zframe_t *asked = zmsg_first(body);
        char name[MDP_SERVICE_NAME_MAX + 1] = "";
        if (asked && service_frame_is_valid(asked))
            frame_to_string(asked, name, sizeof name);
        code = name[0] && broker_state_quarantine_reason(self->state, name) ? "200" : "404";
    }
    send_to_client(self, zframe_data(sender), zframe_size(sender), packed, service_name, code,
                   strlen(code));
}

/* ---- refusals -------------------------------------------------------------- */

/* The principal a request counts against: its key's, or "anonymous" with
 * security off. NULL only past BROKER_PRINCIPALS_MAX. */
static broker_principal_t *share_of(broker_t *self, const broker_key_t *key)
{
    return broker_principals_get(self->principals,
                                 key ? broker_key_principal(key) : "anonymous");
}

/* Why key is cut off while a quarantine lasts: its principal is
 * quarantined by name, or a service it may serve is. NULL when it is not
 * (at once when nothing is quarantined: the hot path's usual case). */
static const char *key_quarantine_reason(broker_t *self, const broker_key_t *key)
{
    if (!key || zhashx_size(broker_state_quarantined(self->state)) == 0)
        return NULL;
    const char *reason = broker_state_quarantine_reason(self->state, broker_key_principal(key));
    for (size_t i = 0; !reason && i < broker_key_serve_count(key); i++)
        reason = broker_state_quarantine_reason(self->state, broker_key_serve(key, i));
    return reason;
}

/* The method of a nagar.Request body, for a log line ("" when it is not
 * one). Unpacks: only for lines that are written, which are rate-limited. */
static void body_method(const uint8_t *body, size_t body_size, char *out, size_t out_size)
{
    out[0] = '\0';
    Nagar__Request *request = body ? nagar_envelope_request_unpack(body, body_size) : NULL;
    if (request && request->method)
        copy_text(out, out_size, request->method);
    if (request)
        nagar__request__free_unpacked(request, NULL);
}

/* Counts a refusal against principal (share may be NULL) and writes one
 * structured line for it (at most a few a second per principal): who
 * (principal), what (service, method) and why (reason, detail). */
static void log_refusal(broker_t *self, broker_principal_t *share, const char *principal,
                        broker_refusal_t kind, const char *event, const char *service,
                        const uint8_t *body, size_t body_size, const char *detail)
{
    if (kind == BROKER_REFUSED_ACL || kind == BROKER_REFUSED_QUARANTINE)
        self->denied++;
    uint64_t suppressed = 0;
    int64_t now = zclock_mono();
    if (share ? !broker_principal_refused(share, kind, now, &suppressed)
              : !log_limit_allow(&self->limit_denied, now))
        return;
    if (!share)
        suppressed = (uint64_t) log_limit_take(&self->limit_denied);
    char method[96];
    body_method(body, body_size, method, sizeof method);
    nagar_log_write(NAGAR_LOG_WARN, event,
                    json_pack("{s:s, s:s, s:s, s:s, s:I}", "principal", principal, "service",
                              service, "method", method, "reason", broker_refusal_name(kind),
                              "suppressed", (json_int_t) suppressed),
                    "refused %s%s%s from \"%s\" to \"%s\": %s", method[0] ? "method \"" : "a "
                    "message", method, method[0] ? "\"" : "", principal, service, detail);
}

static void disconnect_sender(broker_t *self, const void *sender, size_t sender_size,
                              bool packed);

/* A message from a key cut off by a quarantine: refused both ways. Nothing
 * is answered (a quarantined principal hears nothing more); a worker is
 * told DISCONNECT. msg holds what follows [sender][""][header]. */
static void refuse_quarantined(broker_t *self, const broker_key_t *key, zframe_t *sender,
                               zmsg_t *msg, bool is_worker, bool packed)
{
    const char *principal = broker_key_principal(key);
    const char *reason = key_quarantine_reason(self, key);
    char detail[256];
    snprintf(detail, sizeof detail, "it is cut off by a quarantine (%s)", reason ? reason : "");
    char what[MDP_SERVICE_NAME_MAX + 1] = "";
    zframe_t *first = zmsg_first(msg);
    zframe_t *body = zmsg_next(msg);
    if (is_worker)
        snprintf(what, sizeof what, "worker command 0x%02x",
                 first && zframe_size(first) == 1 ? zframe_data(first)[0] : 0);
    else
        frame_to_string(first, what, sizeof what);
    log_refusal(self, share_of(self, key), principal, BROKER_REFUSED_QUARANTINE,
                "acl.quarantined", what, !is_worker && body ? zframe_data(body) : NULL,
                !is_worker && body ? zframe_size(body) : 0, detail);
    if (is_worker)
        disconnect_sender(self, zframe_data(sender), zframe_size(sender), packed);
}

/* ---- client requests ---------------------------------------------------- */

static void log_call_denied(broker_t *self, broker_principal_t *share, const char *principal,
                            const char *service, zmsg_t *msg)
{
    zframe_t *body = zmsg_first(msg);
    log_refusal(self, share, principal, BROKER_REFUSED_ACL, "acl.call_denied", service,
                body ? zframe_data(body) : NULL, body ? zframe_size(body) : 0,
                "its key may not call it");
}

/* reply_error to the sender of msg ([service][body...] popped to [body...]). */
static void reply_error_to(broker_t *self, zframe_t *sender, bool packed, const char *service,
                           zmsg_t *msg, nagar_status_code_t code, const char *message)
{
    zframe_t *first = zmsg_first(msg);
    reply_error(self, zframe_data(sender), zframe_size(sender), packed, service,
                first ? zframe_data(first) : NULL, first ? zframe_size(first) : 0, code,
                message, false);
}

/* Sets request->deadline_ms (monotonic) from its nagar.Request's
 * deadline, or NAGAR_BROKER_REQUEST_TIMEOUT_MS from now when it carries
 * none (every plain RFC 7 client's opaque body). */
static void request_set_deadline(broker_t *self, request_t *request)
{
    char request_id[BROKER_REQUEST_ID_MAX + 1];
    int64_t deadline_unix_ms = 0;
    size_t body_size;
    const uint8_t *body = request_first_body(request, &body_size);
    request_envelope_read(body, body_size, request_id, sizeof request_id, &deadline_unix_ms);
    int64_t now = zclock_mono();
    if (deadline_unix_ms > 0)
        request->deadline_ms = now + (deadline_unix_ms - zclock_time());
    else
        request->deadline_ms = now + self->options.request_timeout_ms;
}

/* A request that passed every check: to worker when one has free credit
 * (then it is never parsed), else into its principal's lane of the queue
 * with its deadline. From here until request_destroy it counts against
 * share's limits. */
static void request_admit(broker_t *self, service_t *service, worker_t *worker,
                          request_t *request, broker_principal_t *share,
                          const broker_key_t *key, const char *caller_key, bool packed)
{
    copy_text(request->caller_key, sizeof request->caller_key, caller_key);
    copy_text(request->caller, sizeof request->caller, key ? broker_principal_name(share) : "");
    request->deadline_ms = 0;
    request->packed = packed;
    request->principal = share;
    broker_principal_charge(share);

    if (worker) {
        worker_dispatch(self, worker, request);
        return;
    }
    /* It must wait: now, and only now, read its deadline (from the wire
     * format, nothing allocated: under load most requests come here). */
    request_set_deadline(self, request);
    int64_t now = zclock_mono();
    if (request->deadline_ms <= now) {
        service_fail(self, service, request, NAGAR__STATUS_CODE__DEADLINE_EXCEEDED,
                     "the request's deadline had passed when it reached the broker");
        request_destroy(&request);
        return;
    }
    if (!queue_push(service, request)) {
        service_fail(self, service, request, NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED,
                     "the broker is out of memory; retry later");
        request_destroy(&request);
        return;
    }
    if (request->deadline_ms < self->next_timer_ms)
        self->next_timer_ms = request->deadline_ms;
}

/* [client][""][MDPC01][service][body...]: sender and the header frames are
 * already popped; msg holds [service][body...] and is consumed. packed: the
 * client sent it as one packed frame, and gets its answer so. */
static void handle_client(broker_t *self, zframe_t **sender_p, zmsg_t **msg_p, bool packed,
                          const broker_key_t *key, const char *caller_key)
{
    zframe_t *sender = *sender_p;
    zmsg_t *msg = *msg_p;
    zframe_t *service_frame = zmsg_pop(msg);
    if (!service_frame || !service_frame_is_valid(service_frame) || zmsg_size(msg) == 0) {
        bool answerable = service_frame && zmsg_size(msg) > 0 && packed;
        if (log_limit_allow(&self->limit_malformed, zclock_mono()))
            nagar_log_write(NAGAR_LOG_WARN, "broker.malformed",
                            json_pack("{s:b, s:I}", "answered", answerable, "suppressed",
                                      log_limit_take(&self->limit_malformed)),
                            "%s a client request without a valid service name and body (a "
                            "service name is 1 to %d printable ASCII characters, no spaces)",
                            answerable ? "refused" : "dropped", MDP_SERVICE_NAME_MAX);
        if (answerable) {
            /* A libnagar client can read a typed answer; name the rule. The
             * name is echoed made printable and bounded. */
            char shown[MDP_SERVICE_NAME_MAX + 1];
            frame_to_string(service_frame, shown, sizeof shown);
            for (char *c = shown; *c; c++)
                if ((unsigned char) *c < 0x21 || (unsigned char) *c > 0x7e)
                    *c = '?';
            char message[256];
            snprintf(message, sizeof message,
                     "service name \"%s\"%s is not valid: a service name is 1 to %d printable "
                     "ASCII characters without spaces", shown,
                     zframe_size(service_frame) > MDP_SERVICE_NAME_MAX ? "..." : "",
                     MDP_SERVICE_NAME_MAX);
            reply_error_to(self, sender, packed, shown, msg,
                           NAGAR__STATUS_CODE__INVALID_ARGUMENT, message);
        }
        zframe_destroy(&service_frame);
        zmsg_destroy(msg_p);
        return;
    }
    char service_name[MDP_SERVICE_NAME_MAX + 1];
    frame_to_string(service_frame, service_name, sizeof service_name);
    zframe_destroy(&service_frame);
    const char *principal = key ? broker_key_principal(key) : "anonymous";
    broker_principal_t *share = share_of(self, key);

    if (strncmp(service_name, "mmi.", 4) == 0) {
        handle_mmi(self, sender, packed, service_name, msg);
        zmsg_destroy(msg_p);
        return;
    }
    if (key && !broker_key_may_call(key, service_name)) {
        log_call_denied(self, share, principal, service_name, msg);
        char message[256];
        snprintf(message, sizeof message, "principal '%s' may not call service '%s'", principal,
                 service_name);
        reply_error_to(self, sender, packed, service_name, msg,
                       NAGAR__STATUS_CODE__PERMISSION_DENIED, message);
        zmsg_destroy(msg_p);
        return;
    }
    if (strcmp(service_name, NAGAR_ADMIN_SERVICE) == 0) {
        zframe_t *reply = broker_admin_handle(&self->admin, principal, caller_key, zmsg_first(msg));
        send_to_client(self, zframe_data(sender), zframe_size(sender), packed, service_name,
                       zframe_data(reply), zframe_size(reply));
        zframe_destroy(&reply);
        zmsg_destroy(msg_p);
        return;
    }

    service_t *service = zhashx_lookup(self->services, service_name);
    char message[256];
    if (self->stopping && zclock_mono() >= self->drain_closed_ms) {
        /* Draining: what it holds finishes, nothing new is taken. */
        reply_error_to(self, sender, packed, service_name, msg, NAGAR__STATUS_CODE__UNAVAILABLE,
                       "this broker is stopping; retrying with the same idempotency key is "
                       "safe (another broker takes it)");
        zmsg_destroy(msg_p);
        return;
    }
    if (broker_state_quarantine_reason(self->state, service_name)) {
        snprintf(message, sizeof message, "service '%s' is quarantined", service_name);
        if (service)
            service->errors++;
        reply_error_to(self, sender, packed, service_name, msg, NAGAR__STATUS_CODE__UNAVAILABLE,
                       message);
        zmsg_destroy(msg_p);
        return;
    }
    /* Its fair share: in flight and rate (principal.h). */
    broker_refusal_t limited = share ? broker_principal_check(share, zclock_mono())
                                     : BROKER_REFUSED_IN_FLIGHT;
    if (limited != BROKER_REFUSED_KINDS) {
        if (limited == BROKER_REFUSED_RATE)
            snprintf(message, sizeof message, "principal '%s' is over its rate of %.0f requests "
                     "a second; retry later", principal, broker_principal_rate(share));
        else if (share)
            snprintf(message, sizeof message, "principal '%s' already has %u requests in "
                     "flight, its limit; retry when some are answered", principal,
                     broker_principal_in_flight(share));
        else
            snprintf(message, sizeof message, "the broker tracks too many principals");
        zframe_t *body = zmsg_first(msg);
        log_refusal(self, share, principal, limited, "broker.principal_limited", service_name,
                    body ? zframe_data(body) : NULL, body ? zframe_size(body) : 0, message);
        if (service)
            service->errors++;
        reply_error_to(self, sender, packed, service_name, msg,
                       NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED, message);
        zmsg_destroy(msg_p);
        return;
    }
    if (!packed && !service)
        /* RFC 7: a request for a service with no worker yet waits for one
         * (until its deadline), so the service's queue must exist. */
        service = service_require(self, service_name);
    if (!service || (packed && service->workers == 0 && !service_returning(service))) {
        /* A libnagar client learns at once that nobody serves it; a plain
         * one reaches this only past BROKER_MAX_SERVICES, and is dropped. */
        snprintf(message, sizeof message,
                 "service '%s' has no workers connected; retry later or start one", service_name);
        if (service)
            service->errors++;
        reply_error_to(self, sender, packed, service_name, msg, NAGAR__STATUS_CODE__UNAVAILABLE,
                       message);
        zmsg_destroy(msg_p);
        return;
    }
    worker_t *worker = service_pick_worker(service);
    if (!worker && service->queued >= (size_t) self->options.max_queue) {
        snprintf(message, sizeof message,
                 "service '%s' is busy: %zu requests are already waiting; retry later",
                 service_name, service->queued);
        service->errors++;
        reply_error_to(self, sender, packed, service_name, msg,
                       NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED, message);
        zmsg_destroy(msg_p);
        return;
    }

    request_t *request = request_new(zframe_data(sender), zframe_size(sender));
    if (!request) {
        zmsg_destroy(msg_p);
        return;
    }
    request->body = msg;
    *msg_p = NULL;
    request_admit(self, service, worker, request, share, key, caller_key, packed);
}

/* ---- worker commands ---------------------------------------------------- */

/* The credit a READY announces: 1 with no frame after the service name
 * (RFC 7), N for one "credit=N" frame (mdp.h); 0 for anything else. */
static uint32_t ready_credit(zmsg_t *msg)
{
    if (zmsg_size(msg) == 1)
        return 1;
    if (zmsg_size(msg) != 2)
        return 0;
    zframe_t *frame = zmsg_last(msg);
    return (uint32_t) nagar_mdp_credit_parse(zframe_data(frame), zframe_size(frame));
}

static void handle_ready(broker_t *self, zframe_t *sender, const char *id, zmsg_t *msg,
                         bool packed, const broker_key_t *key, const char *caller_key)
{
    zframe_t *service_frame = zmsg_first(msg);
    const char *principal = key ? broker_key_principal(key) : "anonymous";
    if (!service_frame || !service_frame_is_valid(service_frame)) {
        send_disconnect_to(self, zframe_data(sender), zframe_size(sender), packed);
        return;
    }
    uint32_t credit = ready_credit(msg);
    if (credit == 0) {
        if (log_limit_allow(&self->limit_malformed, zclock_mono()))
            nagar_log_write(NAGAR_LOG_WARN, "broker.malformed",
                            json_pack("{s:s, s:I}", "principal", principal, "suppressed",
                                      log_limit_take(&self->limit_malformed)),
                            "refused READY from \"%s\": after the service name it may carry "
                            "only one \"credit=N\" frame with N from 1 to %d; sent DISCONNECT",
                            principal, NAGAR_MDP_CREDIT_MAX);
        send_disconnect_to(self, zframe_data(sender), zframe_size(sender), packed);
        return;
    }
    char service_name[MDP_SERVICE_NAME_MAX + 1];
    frame_to_string(service_frame, service_name, sizeof service_name);
    if (strncmp(service_name, "mmi.", 4) == 0 || strcmp(service_name, NAGAR_ADMIN_SERVICE) == 0
        || (key && !broker_key_may_serve(key, service_name))) {
        log_refusal(self, share_of(self, key), principal, BROKER_REFUSED_ACL, "acl.serve_denied",
                    service_name, NULL, 0, "its key may not serve it (READY); sent DISCONNECT");
        send_disconnect_to(self, zframe_data(sender), zframe_size(sender), packed);
        return;
    }
    const char *reason = broker_state_quarantine_reason(self->state, service_name);
    if (reason) {
        nagar_log_write(NAGAR_LOG_WARN, "broker.ready_refused_quarantined",
                        json_pack("{s:s, s:s, s:s}", "principal", principal, "service",
                                  service_name, "reason", reason),
                        "refused READY from \"%s\": service \"%s\" is quarantined (%s)",
                        principal, service_name, reason);
        send_disconnect_to(self, zframe_data(sender), zframe_size(sender), packed);
        return;
    }
    service_t *service = service_require(self, service_name);
    if (!service) {
        nagar_log_write(NAGAR_LOG_ERROR, "broker.too_many_services",
                        json_pack("{s:s}", "service", service_name),
                        "refused READY for \"%s\": the broker already has %d services",
                        service_name, BROKER_MAX_SERVICES);
        send_disconnect_to(self, zframe_data(sender), zframe_size(sender), packed);
        return;
    }
    worker_t *worker = calloc(1, sizeof *worker);
    worker->id = strdup(id);
    worker->identity = zframe_dup(sender);
    worker->service = service;
    snprintf(worker->key, sizeof worker->key, "%s", caller_key);
    worker->expiry_ms = zclock_mono() + self->options.heartbeat_ms * self->options.liveness;
    worker->last_sent_ms = zclock_mono();
    worker->credit = credit;
    worker->packed = packed;
    worker->extended = packed || zmsg_size(msg) == 2;   /* sent a credit frame */
    zhashx_insert(self->workers, id, worker);
    service->workers++;
    nagar_log_write(NAGAR_LOG_INFO, "broker.worker_ready",
                    json_pack("{s:s, s:s, s:i, s:i, s:b}", "principal", principal, "service",
                              service_name, "workers", (int) service->workers, "credit",
                              (int) credit, "packed", packed),
                    "worker of \"%s\" ready for service \"%s\" with credit %u%s", principal,
                    service_name, credit, packed ? ", packed frames" : "");
    worker_credit_returned(self, worker);
}

/* A worker's answer to held: to its caller, unless the caller was cut off
 * meanwhile (quarantined or revoked: the answer goes nowhere). The body is
 * body (one frame) or, when frames is not NULL, every frame of frames. A
 * service's refusal of the caller (PERMISSION_DENIED, UNAUTHENTICATED) is
 * counted against the caller's principal, read from the reply's wire
 * format without unpacking it. */
static void reply_deliver(broker_t *self, worker_t *worker, request_t *held, const uint8_t *body,
                          size_t body_size, zmsg_t *frames)
{
    worker->service->served++;
    if (held->principal && body) {
        int code = nagar_envelope_reply_peek_code(body, body_size);
        if (code == NAGAR__STATUS_CODE__PERMISSION_DENIED
            || code == NAGAR__STATUS_CODE__UNAUTHENTICATED) {
            uint64_t suppressed;
            broker_principal_refused(held->principal, BROKER_REFUSED_BY_SERVICE, zclock_mono(),
                                     &suppressed);
        }
    }
    if (held->orphaned)
        return;
    const char *service_name = worker->service->name;
    out_begin(self, held->client, held->client_size, held->packed);
    out_part(self, "", 0, true);
    out_part(self, MDP_CLIENT, strlen(MDP_CLIENT), true);
    out_part(self, service_name, strlen(service_name), true);
    if (!frames) {
        out_part(self, body, body_size, false);
        return;
    }
    for (zframe_t *frame = zmsg_first(frames); frame;) {
        zframe_t *next = zmsg_next(frames);
        out_frame(self, frame, next != NULL);
        frame = next;
    }
}

static void handle_reply(broker_t *self, worker_t *worker, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    zframe_t *client = zmsg_pop(msg);
    zframe_t *empty = zmsg_pop(msg);
    request_t *held = NULL;
    if (client && empty && zframe_size(empty) == 0 && zmsg_size(msg) > 0)
        held = worker_take_held(worker, zframe_data(client), zframe_size(client));
    if (!held) {
        /* A reply to nobody, or to a client other than the one whose request
         * it holds: a broken or hostile worker. Never forward it. */
        nagar_log_write(NAGAR_LOG_WARN, "broker.unexpected_reply",
                        json_pack("{s:s}", "service", worker->service->name),
                        "dropped a REPLY from a worker of \"%s\" that matches none of the "
                        "requests it holds; disconnecting it", worker->service->name);
        worker_delete(self, worker, true, WORKER_LOST);
    } else {
        zframe_t *first = zmsg_first(msg);
        reply_deliver(self, worker, held, zframe_data(first), zframe_size(first), msg);
        request_destroy(&held);
        worker_credit_returned(self, worker);
    }
    zframe_destroy(&client);
    zframe_destroy(&empty);
    zmsg_destroy(msg_p);
}

/* [worker][""][MDPW01][command][...]: msg holds [command][...], consumed. */
static void handle_worker(broker_t *self, zframe_t *sender, zmsg_t **msg_p, bool packed,
                          const broker_key_t *key, const char *caller_key)
{
    zmsg_t *msg = *msg_p;
    zframe_t *command = zmsg_pop(msg);
    char id[2 * BROKER_IDENTITY_MAX + 1];
    hex_encode(zframe_data(sender), zframe_size(sender), id);
    worker_t *worker = zhashx_lookup(self->workers, id);
    if (worker) {
        worker->expiry_ms = zclock_mono() + self->options.heartbeat_ms * self->options.liveness;
        worker->packed = packed;
        worker->extended |= packed;
    }

    if (frame_is(command, MDP_READY)) {
        if (worker) /* READY twice is a protocol error (RFC 7) */
            worker_delete(self, worker, true, WORKER_LOST);
        else
            handle_ready(self, sender, id, msg, packed, key, caller_key);
    } else if (frame_is(command, MDP_REPLY)) {
        if (worker)
            handle_reply(self, worker, msg_p);
        else
            send_disconnect_to(self, zframe_data(sender), zframe_size(sender), packed);
    } else if (frame_is(command, MDP_HEARTBEAT)) {
        if (!worker)
            send_disconnect_to(self, zframe_data(sender), zframe_size(sender), packed);
    } else if (frame_is(command, MDP_DISCONNECT)) {
        zframe_t *how = zmsg_first(msg);
        if (worker && how && zmsg_size(msg) == 1 && frame_is(how, MDP_DRAIN))
            worker_start_drain(self, worker);
        else if (worker) {
            nagar_log_write(NAGAR_LOG_INFO, "broker.worker_disconnected",
                            json_pack("{s:s}", "service", worker->service->name),
                            "a worker of \"%s\" disconnected", worker->service->name);
            worker_delete(self, worker, false, WORKER_LOST);
        }
    } else {
        if (log_limit_allow(&self->limit_malformed, zclock_mono()))
            nagar_log_write(NAGAR_LOG_WARN, "broker.malformed",
                            json_pack("{s:I}", "suppressed", log_limit_take(&self->limit_malformed)),
                            "dropped a worker message with an unknown command; disconnecting it");
        if (worker)
            worker_delete(self, worker, true, WORKER_LOST);
        else
            send_disconnect_to(self, zframe_data(sender), zframe_size(sender), packed);
    }
    zframe_destroy(&command);
    zmsg_destroy(msg_p);
}

/* ---- authentication of every message ------------------------------------ */

/* DISCONNECT to a worker whose key is no longer good; forgotten if known. */
static void disconnect_sender(broker_t *self, const void *sender, size_t sender_size,
                              bool packed)
{
    char id[2 * BROKER_IDENTITY_MAX + 1];
    hex_encode(sender, sender_size, id);
    worker_t *worker = zhashx_lookup(self->workers, id);
    if (worker)
        worker_delete(self, worker, true, WORKER_LOST);
    else
        send_disconnect_to(self, sender, sender_size, packed);
}

typedef enum {
    AUTH_OK,              /* go on */
    AUTH_DROPPED,         /* no key, revoked or unknown: dropped (and logged) already */
    AUTH_QUARANTINED,     /* a known key cut off by a quarantine: the caller refuses it */
} auth_result_t;

static const char *key_quarantine_reason(broker_t *self, const broker_key_t *key);

/* With CURVE on: the sender's key and its store entry, checked on every
 * message: revoked, unknown and quarantined keys are refused. user_id is
 * the User-Id that rides on each frame the peer sent. */
static auth_result_t authenticate(broker_t *self, const void *sender, size_t sender_size,
                                  const char *user_id, bool packed, bool is_worker,
                                  char *key_text, const broker_key_t **key_out)
{
    *key_out = NULL;
    key_text[0] = '\0';
    if (self->options.insecure)
        return AUTH_OK;
    if (!user_id || strlen(user_id) != BROKER_KEY_TEXT_MAX)
        return AUTH_DROPPED;
    memcpy(key_text, user_id, BROKER_KEY_TEXT_MAX + 1);   /* length checked above */
    int64_t now = zclock_mono();
    if (broker_state_is_revoked(self->state, key_text)) {
        self->denied++;
        if (log_limit_allow(&self->limit_revoked, now))
            nagar_log_write(NAGAR_LOG_WARN, "acl.revoked_key",
                            json_pack("{s:s, s:I}", "public_key", key_text, "suppressed",
                                      log_limit_take(&self->limit_revoked)),
                            "dropped a message from revoked key %s", key_text);
        if (is_worker)
            disconnect_sender(self, sender, sender_size, packed);
        return AUTH_DROPPED;
    }
    const broker_key_t *key = broker_acl_lookup(self->acl, key_text);
    if (!key && broker_acl_reload_limited(self->acl, now, ACL_RELOAD_MIN_INTERVAL_MS))
        key = broker_acl_lookup(self->acl, key_text);
    if (!key) {
        self->denied++;
        if (log_limit_allow(&self->limit_unknown, now))
            nagar_log_write(NAGAR_LOG_WARN, "acl.unknown_key",
                            json_pack("{s:s, s:I}", "public_key", key_text, "suppressed",
                                      log_limit_take(&self->limit_unknown)),
                            "dropped a message from key %s, which is not in the key store",
                            key_text);
        if (is_worker)
            disconnect_sender(self, sender, sender_size, packed);   /* e.g. its certificate was removed */
        return AUTH_DROPPED;
    }
    *key_out = key;
    return key_quarantine_reason(self, key) ? AUTH_QUARANTINED : AUTH_OK;
}

/* [sender][packed frame] becomes [sender][the frames packed inside]; the
 * packed frame itself, which carries the peer's User-Id, goes to
 * *packed_p. Returns false, having logged why, when it does not unpack: the
 * message is then dropped, nothing else happens. */
static bool unpack_at_the_door(broker_t *self, zmsg_t **msg_p, zframe_t **packed_p,
                               const char *user_id)
{
    zframe_t *packed = zmsg_last(*msg_p);
    char error[256];
    nagar_mdp_part_t parts[NAGAR_MDP_PACK_MAX_FRAMES];
    int count = nagar_mdp_unpack_parts(zframe_data(packed), zframe_size(packed), parts, error,
                                       sizeof error);
    if (count < 0) {
        self->malformed_packed++;
        if (log_limit_allow(&self->limit_malformed, zclock_mono())) {
            nagar_log_write(NAGAR_LOG_WARN, "broker.malformed_packed",
                            json_pack("{s:s, s:I, s:I, s:I}", "public_key",
                                      user_id ? user_id : "", "bytes",
                                      (json_int_t) zframe_size(packed), "malformed_packed",
                                      (json_int_t) self->malformed_packed, "suppressed",
                                      log_limit_take(&self->limit_malformed)),
                            "dropped a packed message of %zu bytes that does not unpack: %s",
                            zframe_size(packed), error);
        }
        return false;
    }
    /* The same zmsg, refilled: [sender] then the unpacked frames (copies:
     * the packed frame goes when the message is handled). */
    zframe_t *sender = zmsg_pop(*msg_p);
    *packed_p = zmsg_pop(*msg_p);
    zmsg_append(*msg_p, &sender);
    for (int i = 0; i < count; i++)
        zmsg_addmem(*msg_p, parts[i].data, parts[i].size);
    return true;
}

/* The general path: every message that is not one of broker_run's two
 * fast cases, as a zmsg. user_id: the peer's CURVE key (NULL with security
 * off), read from a frame it sent before the frames were copied. */
static void handle_message(broker_t *self, zmsg_t *msg, const char *user_id)
{
    /* A packed peer's message is [sender][packed frame]; a plain one has at
     * least [sender][""][header], and its second frame is that empty
     * delimiter, so it never starts with the magic. */
    zframe_t *packed = NULL;
    if (zmsg_size(msg) == 2) {
        zframe_t *second = zmsg_last(msg);
        if (nagar_mdp_is_packed(zframe_data(second), zframe_size(second))
            && !unpack_at_the_door(self, &msg, &packed, user_id)) {
            zmsg_destroy(&msg);
            return;
        }
    }
    if (zmsg_size(msg) < 3 || zmsg_size(msg) > BROKER_MAX_FRAMES) {
        zmsg_destroy(&msg);
        zframe_destroy(&packed);
        return;
    }
    zframe_t *sender = zmsg_pop(msg);
    zframe_t *empty = zmsg_pop(msg);
    zframe_t *header = zmsg_pop(msg);
    bool is_client = frame_is(header, MDP_CLIENT);
    bool is_worker = frame_is(header, MDP_WORKER);
    if (zframe_size(sender) > BROKER_IDENTITY_MAX || zframe_size(empty) != 0
        || (!is_client && !is_worker) || zmsg_size(msg) == 0) {
        if (log_limit_allow(&self->limit_malformed, zclock_mono()))
            nagar_log_write(NAGAR_LOG_WARN, "broker.malformed",
                            json_pack("{s:I}", "suppressed", log_limit_take(&self->limit_malformed)),
                            "dropped a message that is not MDP/0.1 ([\"\"][MDPC01|MDPW01]...)");
    } else {
        char key_text[BROKER_KEY_TEXT_MAX + 1];
        const broker_key_t *key = NULL;
        auth_result_t auth = authenticate(self, zframe_data(sender), zframe_size(sender),
                                          user_id, packed != NULL, is_worker, key_text, &key);
        if (auth == AUTH_QUARANTINED)
            refuse_quarantined(self, key, sender, msg, is_worker, packed != NULL);
        else if (auth == AUTH_OK && is_client)
            handle_client(self, &sender, &msg, packed != NULL, key, key_text);
        else if (auth == AUTH_OK)
            handle_worker(self, sender, &msg, packed != NULL, key, key_text);
    }
    zframe_destroy(&sender);
    zframe_destroy(&empty);
    zframe_destroy(&header);
    zframe_destroy(&packed);
    zmsg_destroy(&msg);
}

/* ---- receiving: the two hot cases without zmsg ------------------------------
 *
 * Under load nearly every message is one of two: a packed client request
 * for an ordinary service, or a packed REPLY from a known worker. Those are
 * handled straight from the zmq_msg_t parts they arrived in, viewed through
 * nagar_mdp_unpack_parts: no zmsg, zframe or list node per frame (CZMQ's
 * per-frame objects were 40 % of this thread's time in perf), and a
 * request's body is never copied (its packed frame moves into the
 * request). They run the same checks in the same order as the general
 * path; whenever one of them would do anything but the common thing (an
 * error answer, MMI, admin, a log line) it backs out having changed nothing
 * and the message takes the general path, so every other behaviour has one
 * implementation. */

static bool part_is(const nagar_mdp_part_t *part, const char *text)
{
    size_t length = strlen(text);
    return part->size == length && memcmp(part->data, text, length) == 0;
}

static bool service_part_is_valid(const nagar_mdp_part_t *part)
{
    if (part->size == 0 || part->size > MDP_SERVICE_NAME_MAX)
        return false;
    for (size_t i = 0; i < part->size; i++)
        if (part->data[i] < 0x21 || part->data[i] > 0x7e)
            return false;
    return true;
}

/* [sender] packed([""][MDPC01][service][body]). Returns true when the
 * message was dealt with (dispatched, queued, or dropped by
 * authentication), false when it must take the general path. */
static bool fast_client(broker_t *self, zmq_msg_t *sender, zmq_msg_t *packed,
                        const nagar_mdp_part_t *inner, int count, const char *user_id)
{
    if (count != 4 || inner[0].size != 0 || !part_is(&inner[1], MDP_CLIENT)
        || !service_part_is_valid(&inner[2]))
        return false;
    char service_name[MDP_SERVICE_NAME_MAX + 1];
    memcpy(service_name, inner[2].data, inner[2].size);
    service_name[inner[2].size] = '\0';
    if (strncmp(service_name, "mmi.", 4) == 0 || strcmp(service_name, NAGAR_ADMIN_SERVICE) == 0
        || self->stopping)
        return false;
    char key_text[BROKER_KEY_TEXT_MAX + 1];
    const broker_key_t *key = NULL;
    auth_result_t auth = authenticate(self, zmq_msg_data(sender), zmq_msg_size(sender), user_id,
                                      true, false, key_text, &key);
    if (auth == AUTH_DROPPED)
        return true;
    if (auth != AUTH_OK || (key && !broker_key_may_call(key, service_name)))
        return false;
    if (broker_state_quarantine_reason(self->state, service_name))
        return false;
    broker_principal_t *share = share_of(self, key);
    if (!share || broker_principal_check(share, zclock_mono()) != BROKER_REFUSED_KINDS)
        return false;
    service_t *service = zhashx_lookup(self->services, service_name);
    if (!service || service->workers == 0)
        return false;
    worker_t *worker = service_pick_worker(service);
    if (!worker && service->queued >= (size_t) self->options.max_queue)
        return false;
    request_t *request = request_new(zmq_msg_data(sender), zmq_msg_size(sender));
    if (!request)
        return true;
    /* The body is a view into the packed frame; the frame moves into the
     * request. A very small frame lives inside the zmq_msg_t itself, so the
     * view is re-made from its offset after the move. */
    size_t offset = (size_t) (inner[3].data - (const uint8_t *) zmq_msg_data(packed));
    zmq_msg_move(&request->carrier, packed);
    request->body_data = (const uint8_t *) zmq_msg_data(&request->carrier) + offset;
    request->body_size = inner[3].size;
    request_admit(self, service, worker, request, share, key, key_text, true);
    return true;
}

/* [sender] packed([""][MDPW01][REPLY][client][""][body]) from a registered
 * worker, answering the request it holds for client. Same contract as
 * fast_client. */
static bool fast_reply(broker_t *self, zmq_msg_t *sender, const nagar_mdp_part_t *inner,
                       int count, const char *user_id)
{
    if (count != 6 || inner[0].size != 0 || !part_is(&inner[1], MDP_WORKER)
        || !part_is(&inner[2], MDP_REPLY) || inner[3].size == 0 || inner[4].size != 0)
        return false;
    char id[2 * BROKER_IDENTITY_MAX + 1];
    hex_encode(zmq_msg_data(sender), zmq_msg_size(sender), id);
    worker_t *worker = zhashx_lookup(self->workers, id);
    if (!worker)
        return false;
    char key_text[BROKER_KEY_TEXT_MAX + 1];
    const broker_key_t *key = NULL;
    auth_result_t auth = authenticate(self, zmq_msg_data(sender), zmq_msg_size(sender), user_id,
                                      true, true, key_text, &key);
    if (auth == AUTH_DROPPED)
        return true;
    if (auth != AUTH_OK)
        return false;
    request_t *held = worker_take_held(worker, inner[3].data, inner[3].size);
    if (!held)
        return false;           /* the general path logs it and cuts the worker */
    worker->expiry_ms = zclock_mono() + self->options.heartbeat_ms * self->options.liveness;
    worker->packed = true;
    worker->extended = true;
    reply_deliver(self, worker, held, inner[5].data, inner[5].size, NULL);
    request_destroy(&held);
    worker_credit_returned(self, worker);
    return true;
}

/* One received message: a fast case, else the general path. */
static void handle_parts(broker_t *self, int count)
{
    zmq_msg_t *parts = self->parts;
    /* The peer's key rides on every frame it sent (not on the routing id
     * the ROUTER adds): read it from the last. Copied, because the frames
     * go before the general path looks at it; a value of the wrong length
     * is kept as "" so that authenticate refuses it as before. */
    char user_id_text[BROKER_KEY_TEXT_MAX + 1] = "";
    const char *user_id = NULL;
    if (!self->options.insecure && count >= 2) {
        const char *meta = zmq_msg_gets(&parts[count - 1], "User-Id");
        if (meta) {
            if (strlen(meta) == BROKER_KEY_TEXT_MAX)
                memcpy(user_id_text, meta, BROKER_KEY_TEXT_MAX + 1);
            user_id = user_id_text;
        }
    }
    bool handled = false;
    if (count == 2 && zmq_msg_size(&parts[0]) <= BROKER_IDENTITY_MAX
        && nagar_mdp_is_packed(zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]))) {
        nagar_mdp_part_t inner[NAGAR_MDP_PACK_MAX_FRAMES];
        char error[256];
        int inner_count = nagar_mdp_unpack_parts(zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]),
                                                 inner, error, sizeof error);
        /* One that does not unpack is logged by the general path. */
        if (inner_count > 0)
            handled = fast_client(self, &parts[0], &parts[1], inner, inner_count, user_id)
                      || fast_reply(self, &parts[0], inner, inner_count, user_id);
    }
    zmsg_t *msg = handled ? NULL : zmsg_new();
    for (int i = 0; i < count; i++) {
        if (msg)
            zmsg_addmem(msg, zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i]));
        zmq_msg_close(&parts[i]);
    }
    if (msg)
        handle_message(self, msg, user_id);
}

/* ---- timed work ----------------------------------------------------------- */

typedef struct {
    int64_t now;
    int64_t next;      /* the earliest deadline still waiting */
} timer_sweep_t;

/* A queued request past its deadline is answered DEADLINE_EXCEEDED and goes. */
static bool request_expired(broker_t *self, service_t *service, request_t *request, void *arg)
{
    timer_sweep_t *sweep = arg;
    if (request->deadline_ms <= sweep->now) {
        service_fail(self, service, request, NAGAR__STATUS_CODE__DEADLINE_EXCEEDED,
                     "the request waited in the broker's queue past its deadline; "
                     "no worker became free in time");
        return true;
    }
    if (request->deadline_ms < sweep->next)
        sweep->next = request->deadline_ms;
    return false;
}

static void run_timers(broker_t *self)
{
    int64_t now = zclock_mono();
    int64_t next = now + self->options.heartbeat_ms;

    zlistx_t *expired = zlistx_new();
    for (worker_t *worker = zhashx_first(self->workers); worker;
         worker = zhashx_next(self->workers)) {
        /* A plain RFC 7 worker is silent while it works on a request (it
         * heartbeats only between requests): it is presumed dead only once
         * the request it holds is past its deadline. */
        int64_t busy_until = !worker->extended && worker->held.first
                                 ? worker->held.first->deadline_ms : 0;
        if (worker->expiry_ms <= now && busy_until <= now)
            zlistx_add_end(expired, worker);
        else {
            if (busy_until > now && busy_until < next)
                next = busy_until;
            if (now - worker->last_sent_ms >= self->options.heartbeat_ms)
                worker_send_command(self, worker, MDP_HEARTBEAT, false);
        }
    }
    for (worker_t *worker = zlistx_first(expired); worker; worker = zlistx_next(expired)) {
        if (!worker->extended && worker->held.first) {
            /* Its one request ran out of time rather than its worker of
             * heartbeats: say so to the caller (if it can read it). */
            request_t *request = worker->held.first;
            worker->held = (request_fifo_t) {NULL, NULL};
            worker->held_count = 0;
            service_fail(self, worker->service, request, NAGAR__STATUS_CODE__DEADLINE_EXCEEDED,
                         "the worker did not answer within the request's deadline");
            request_destroy(&request);
            nagar_log_write(NAGAR_LOG_WARN, "broker.worker_expired",
                            json_pack("{s:s, s:b, s:i, s:b}", "service", worker->service->name,
                                      "held_request", true, "held_requests", 1, "plain", true),
                            "a plain worker of \"%s\" did not answer its request within the "
                            "request's deadline; presumed dead", worker->service->name);
        } else
            nagar_log_write(NAGAR_LOG_WARN, "broker.worker_expired",
                            json_pack("{s:s, s:b, s:i, s:b}", "service", worker->service->name,
                                      "held_request", worker->held_count > 0, "held_requests",
                                      (int) worker->held_count, "plain", !worker->extended),
                            "a worker of \"%s\" sent nothing for %ld ms; presumed dead",
                            worker->service->name,
                            self->options.heartbeat_ms * self->options.liveness);
        service_t *service = worker->service;
        worker_delete(self, worker, true, WORKER_LOST);
        service_expect_return(self, service);
    }
    zlistx_destroy(&expired);

    timer_sweep_t sweep = {.now = now, .next = next};
    queue_drop_if(self, request_expired, &sweep);
    self->next_timer_ms = sweep.next;

    if (self->acl && now >= self->next_acl_check_ms) {
        self->next_acl_check_ms = now + ACL_CHANGE_CHECK_MS;
        broker_acl_reload_if_changed(self->acl);
    }
}

static void handle_monitor_event(broker_t *self)
{
    zmsg_t *event = zmsg_recv(self->monitor);
    if (!event)
        return;
    char *name = zmsg_popstr(event);
    char *value = zmsg_popstr(event);
    char *address = zmsg_popstr(event);
    if (name && strcmp(name, "HANDSHAKE_FAILED_AUTH") == 0) {
        self->denied++;
        if (log_limit_allow(&self->limit_auth_failed, zclock_mono()))
            nagar_log_write(NAGAR_LOG_WARN, "bus.auth_failed",
                            json_pack("{s:s, s:s, s:I}", "endpoint", address ? address : "",
                                      "status", value ? value : "", "suppressed",
                                      log_limit_take(&self->limit_auth_failed)),
                            "a peer failed CURVE authentication (its key is not in the store "
                            "or was refused)");
    }
    zstr_free(&name);
    zstr_free(&value);
    zstr_free(&address);
    zmsg_destroy(&event);
}

/* ---- life cycle ---------------------------------------------------------- */

int broker_options_load(broker_options_t *options, nagar_config_t *config, char *error,
                        size_t error_size)
{
    memset(options, 0, sizeof *options);
    snprintf(options->bind, sizeof options->bind, "%s",
             nagar_config_get(config, "NAGAR_BROKER_BIND", "tcp://127.0.0.1:5555"));
    snprintf(options->keys_dir, sizeof options->keys_dir, "%s",
             nagar_config_get(config, "NAGAR_BROKER_KEYS_DIR", "var/keys"));
    snprintf(options->state_dir, sizeof options->state_dir, "%s",
             nagar_config_get(config, "NAGAR_BROKER_STATE_DIR", "var/broker"));
    if (nagar_config_get_text(config, "NAGAR_BROKER_ETCD_ENDPOINTS", "", options->etcd_endpoints,
                              sizeof options->etcd_endpoints, error, error_size) != 0
        || nagar_config_get_bool(config, "NAGAR_BROKER_INSECURE", false, &options->insecure,
                                 error, error_size)
        || nagar_config_get_int(config, "NAGAR_BUS_HEARTBEAT_MS", 1000, 10, 600000,
                                &options->heartbeat_ms, error, error_size)
        || nagar_config_get_int(config, "NAGAR_BUS_LIVENESS", 5, 1, 1000, &options->liveness,
                                error, error_size)
        || nagar_config_get_int(config, "NAGAR_BROKER_MAX_QUEUE", 1000, 0, 1000000,
                                &options->max_queue, error, error_size)
        || nagar_config_get_int(config, "NAGAR_BROKER_REQUEST_TIMEOUT_MS", 10000, 1, 86400000,
                                &options->request_timeout_ms, error, error_size)
        || nagar_config_get_int(config, "NAGAR_BROKER_MAX_MESSAGE_BYTES", 8 * 1024 * 1024, 1024,
                                1024L * 1024 * 1024, &options->max_message_bytes, error,
                                error_size)
        || nagar_config_get_int(config, "NAGAR_BROKER_WARMUP_MS", 0, 0, 600000,
                                &options->warmup_ms, error, error_size)
        || nagar_config_get_int(config, "NAGAR_BROKER_DRAIN_GRACE_MS", 0, 0, 600000,
                                &options->drain_grace_ms, error, error_size)
        || nagar_config_get_int(config, "NAGAR_BROKER_DRAIN_TIMEOUT_MS", 0, 0, 3600000,
                                &options->drain_timeout_ms, error, error_size)
        || nagar_config_get_int(config, "NAGAR_BROKER_RETURN_GRACE_MS", 0, 0, 600000,
                                &options->return_grace_ms, error, error_size)
        || nagar_config_get_int(config, "NAGAR_BROKER_ETCD_POLL_MS", 200, 20, 60000,
                                &options->etcd_poll_ms, error, error_size)
        || broker_limits_load(&options->limits, config, error, error_size))
        return -1;
    return 0;
}

broker_t *broker_new(const broker_options_t *options, char *error, size_t error_size)
{
    broker_t *self = calloc(1, sizeof *self);
    self->options = *options;
    admin_target_init(self);
    self->services = zhashx_new();
    zhashx_set_destructor(self->services, service_destructor);
    self->workers = zhashx_new();
    zhashx_set_destructor(self->workers, worker_destructor);
    self->started_ms = zclock_mono();
    self->warm_until_ms = self->started_ms + options->warmup_ms;
    self->packer = nagar_mdp_packer_new(0);
    self->principals = broker_principals_new(&options->limits);
    if (!self->packer || !self->principals) {
        snprintf(error, error_size, "out of memory creating the broker");
        goto failed;
    }

    self->state = broker_state_new(options->state_dir, options->etcd_endpoints,
                                   options->etcd_poll_ms, error, error_size);
    if (!self->state)
        goto failed;
    /* Quarantined services show in statistics even with no worker. */
    zlistx_t *quarantined = zhashx_keys(broker_state_quarantined(self->state));
    for (const char *name = zlistx_first(quarantined); name; name = zlistx_next(quarantined))
        service_require(self, name);
    zlistx_destroy(&quarantined);

    self->router = zsock_new(ZMQ_ROUTER);
    if (!self->router) {
        snprintf(error, error_size, "cannot create the ROUTER socket: %s", zmq_strerror(errno));
        goto failed;
    }
    zsock_set_maxmsgsize(self->router, options->max_message_bytes);
    zsock_set_rcvhwm(self->router, 100000);
    zsock_set_sndhwm(self->router, 100000);

    if (!options->insecure) {
        char path[4200];
        snprintf(path, sizeof path, "%s/secret/broker.cert", options->keys_dir);
        self->cert = zcert_load(path);
        if (!self->cert || strlen(zcert_secret_txt(self->cert)) != 40
            || strcmp(zcert_secret_txt(self->cert), "0000000000000000000000000000000000000000") == 0) {
            snprintf(error, error_size,
                     "cannot load the broker's secret certificate \"%s\"; create it with "
                     "nagar-keygen --keys %s --principal broker", path, options->keys_dir);
            goto failed;
        }
        snprintf(path, sizeof path, "%s/public", options->keys_dir);
        self->acl = broker_acl_new(path, error, error_size);
        if (!self->acl)
            goto failed;
        self->auth = zactor_new(zauth, NULL);
        zstr_sendx(self->auth, "CURVE", path, NULL);
        zsock_wait(self->auth);
        zcert_apply(self->cert, self->router);
        zsock_set_curve_server(self->router, 1);
        zsock_set_zap_domain(self->router, "nagar");

        self->monitor = zactor_new(zmonitor, self->router);
        zstr_sendx(self->monitor, "LISTEN", "HANDSHAKE_FAILED_AUTH", NULL);
        zstr_sendx(self->monitor, "START", NULL);
        zsock_wait(self->monitor);
    }

    if (zsock_bind(self->router, "%s", options->bind) < 0) {
        snprintf(error, error_size, "cannot bind %s: %s; is another broker running there?",
                 options->bind, zmq_strerror(errno));
        goto failed;
    }
    char *last = zsock_last_endpoint(self->router);
    snprintf(self->endpoint, sizeof self->endpoint, "%s", last ? last : options->bind);
    zstr_free(&last);

    self->poller = zpoller_new(self->router, NULL);
    if (self->monitor)
        zpoller_add(self->poller, self->monitor);
    if (broker_state_watch_socket(self->state))
        zpoller_add(self->poller, broker_state_watch_socket(self->state));
    /* Stopping is broker_request_stop's, not CZMQ's interrupt flag: the
     * loop goes on while the broker drains. */
    zpoller_set_nonstop(self->poller, true);
    return self;

failed:
    broker_destroy(&self);
    return NULL;
}

/* Callers still waiting get an answer before the broker goes away. */
static void fail_everything(broker_t *self)
{
    const char *message = "the broker is shutting down; retrying with the same idempotency key "
                          "is safe";
    for (service_t *service = zhashx_first(self->services); service;
         service = zhashx_next(self->services)) {
        request_t *request;
        while ((request = queue_pop(service))) {
            service_fail(self, service, request, NAGAR__STATUS_CODE__UNAVAILABLE, message);
            request_destroy(&request);
        }
    }
    zlistx_t *workers = zlistx_new();   /* not zhashx_values: it would own the workers */
    for (worker_t *worker = zhashx_first(self->workers); worker;
         worker = zhashx_next(self->workers))
        zlistx_add_end(workers, worker);
    for (worker_t *worker = zlistx_first(workers); worker; worker = zlistx_next(workers))
        worker_delete(self, worker, true, message);
    zlistx_destroy(&workers);
}

void broker_destroy(broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    if (self->router && self->poller)
        fail_everything(self);
    zpoller_destroy(&self->poller);
    zactor_destroy(&self->monitor);
    if (self->router)
        zsock_set_linger(self->router, 200);
    zsock_destroy(&self->router);
    zactor_destroy(&self->auth);
    zcert_destroy(&self->cert);
    zhashx_destroy(&self->workers);
    zhashx_destroy(&self->services);
    broker_principals_destroy(&self->principals);     /* after every request */
    broker_acl_destroy(&self->acl);
    broker_state_destroy(&self->state);
    nagar_mdp_packer_destroy(&self->packer);
    free(self);
    *self_p = NULL;
}

const char *broker_endpoint(broker_t *self)
{
    return self->endpoint;
}

volatile sig_atomic_t broker_stop_requested = 0;

static void handle_shared_state(broker_t *self);

static size_t requests_in_hand(broker_t *self)
{
    size_t count = 0;
    for (worker_t *worker = zhashx_first(self->workers); worker;
         worker = zhashx_next(self->workers))
        count += worker->held_count;
    for (service_t *service = zhashx_first(self->services); service;
         service = zhashx_next(self->services))
        count += service->queued;
    return count;
}

static void drain_begin(broker_t *self)
{
    int64_t now = zclock_mono();
    self->stopping = true;
    self->drain_closed_ms = now + self->options.drain_grace_ms;
    self->drain_deadline_ms = now + self->options.drain_timeout_ms;
    if (self->options.drain_timeout_ms > 0)
        nagar_log_write(NAGAR_LOG_INFO, "broker.draining",
                        json_pack("{s:i, s:i, s:i}", "in_hand", (int) requests_in_hand(self),
                                  "grace_ms", (int) self->options.drain_grace_ms, "timeout_ms",
                                  (int) self->options.drain_timeout_ms),
                        "broker draining: mmi.ready answers 503; new requests are refused after "
                        "%ld ms; what it holds finishes within %ld ms",
                        self->options.drain_grace_ms, self->options.drain_timeout_ms);
}

/* Whether a draining broker may stop: nothing in hand once it refuses new
 * requests, or its time is up. */
static bool drain_done(broker_t *self)
{
    int64_t now = zclock_mono();
    if (self->options.drain_timeout_ms == 0 || now >= self->drain_deadline_ms)
        return true;
    return now >= self->drain_closed_ms && requests_in_hand(self) == 0;
}

int broker_run(broker_t *self)
{
    nagar_log_write(NAGAR_LOG_INFO, "broker.ready",
                    json_pack("{s:s, s:b, s:i, s:i, s:i, s:i}", "endpoint", self->endpoint,
                              "curve", !self->options.insecure, "keys",
                              self->acl ? (int) broker_acl_size(self->acl) : 0, "heartbeat_ms",
                              (int) self->options.heartbeat_ms, "liveness",
                              (int) self->options.liveness, "max_queue",
                              (int) self->options.max_queue),
                    "broker serving MDP/0.1 on %s", self->endpoint);
    self->next_timer_ms = zclock_mono() + self->options.heartbeat_ms;
    self->next_acl_check_ms = zclock_mono() + ACL_CHANGE_CHECK_MS;
    for (;;) {
        if ((broker_stop_requested || zsys_interrupted) && !self->stopping)
            drain_begin(self);
        if (self->stopping && drain_done(self))
            break;
        int64_t timeout = self->next_timer_ms - zclock_mono();
        if (self->stopping && timeout > 100)
            timeout = 100;
        if (timeout < 0)
            timeout = 0;
        void *which = zpoller_wait(self->poller, (int) timeout);
        /* zpoller_wait returns NULL on its timeout; without CURVE there is
         * no monitor (NULL too), so compare only a socket that is there. */
        if (which && which == self->monitor)
            handle_monitor_event(self);
        if (which && which == broker_state_watch_socket(self->state))
            handle_shared_state(self);
        /* Drain: one wake serves every waiting message. Non-blocking reads
         * until there is nothing left, not ZMQ_EVENTS before each message:
         * ZMQ_EVENTS polls the socket's mailbox, a system call per message
         * (a quarter of the loop's time in the profile). Bounded so timers
         * still run under a flood. */
        for (int i = 0; i < 10000; i++) {
            int count = nagar_mdp_receive_parts(zsock_resolve(self->router), self->parts,
                                                BROKER_MAX_FRAMES);
            if (count == 0)
                break;
            if (count > 0)
                handle_parts(self, count);
        }
        if (zclock_mono() >= self->next_timer_ms)
            run_timers(self);
    }
    nagar_log_write(NAGAR_LOG_INFO, "broker.stopping",
                    json_pack("{s:i}", "workers", (int) zhashx_size(self->workers)),
                    "broker stopping; answering waiting callers and disconnecting workers");
    return 0;
}

/* ---- admin operations ------------------------------------------------------ */

static size_t admin_stats_services(void *arg, broker_service_stats_t *out, size_t max)
{
    broker_t *self = arg;
    size_t count = 0;
    for (service_t *service = zhashx_first(self->services); service;
         service = zhashx_next(self->services), count++) {
        if (count >= max)
            continue;
        const char *reason = broker_state_quarantine_reason(self->state, service->name);
        /* Idle: holding nothing. Such a worker always has free credit, so
         * it is on the ready list. */
        uint32_t idle = 0;
        for (worker_t *worker = zlistx_first(service->ready); worker;
             worker = zlistx_next(service->ready))
            idle += worker->held_count == 0;
        out[count] = (broker_service_stats_t) {
            .name = service->name,
            .workers = service->workers,
            .idle_workers = idle,
            .queued = (uint32_t) service->queued,
            .served = service->served,
            .errors = service->errors,
            .quarantined = reason != NULL,
            .quarantine_reason = reason ? reason : "",
        };
    }
    return count;
}

static uint64_t admin_stats_uptime_ms(void *arg)
{
    broker_t *self = arg;
    return (uint64_t) (zclock_mono() - self->started_ms);
}

static uint64_t admin_stats_denied(void *arg)
{
    broker_t *self = arg;
    return self->denied;
}

static broker_principals_t *admin_stats_principals(void *arg)
{
    broker_t *self = arg;
    return self->principals;
}

static zhashx_t *admin_revoked_keys(void *arg)
{
    broker_t *self = arg;
    return broker_state_revoked(self->state);
}

/* Whether the key (Z85) is cut off: revoked, or quarantined (its
 * principal, or a service it may serve). */
static bool key_is_cut(broker_t *self, const char *key_text)
{
    if (!self->acl || !key_text[0])
        return false;
    if (broker_state_is_revoked(self->state, key_text))
        return true;
    const broker_key_t *key = broker_acl_lookup(self->acl, key_text);
    return key && key_quarantine_reason(self, key);
}

static bool request_from_cut_key(broker_t *self, service_t *service, request_t *request,
                                 void *arg)
{
    (void) service;
    (void) arg;
    return key_is_cut(self, request->caller_key);
}

/* After a quarantine or revocation: every established session of a key
 * that is now cut off ends. Its workers get DISCONNECT (what they hold is
 * answered UNAVAILABLE to its callers); its waiting requests are dropped
 * and the answers to those already at a worker will go nowhere (the
 * principal hears nothing more). Returns how many workers were cut. */
static size_t cut_sessions(broker_t *self)
{
    zlistx_t *doomed = zlistx_new();
    for (worker_t *worker = zhashx_first(self->workers); worker;
         worker = zhashx_next(self->workers)) {
        if (key_is_cut(self, worker->key))
            zlistx_add_end(doomed, worker);
        for (request_t *request = worker->held.first; request; request = request->next)
            if (key_is_cut(self, request->caller_key))
                request->orphaned = true;
    }
    size_t workers = zlistx_size(doomed);
    for (worker_t *worker = zlistx_first(doomed); worker; worker = zlistx_next(doomed))
        worker_delete(self, worker, true, WORKER_LOST);
    zlistx_destroy(&doomed);
    queue_drop_if(self, request_from_cut_key, NULL);
    return workers;
}

/* What a quarantine does once recorded (here, or by another broker in
 * the shared state): the service's workers disconnected, its queue failed,
 * and its keys cut off both ways. */
static void quarantine_apply(broker_t *self, service_t *service, char *detail,
                             size_t detail_size)
{
    char message[256];
    snprintf(message, sizeof message, "service '%s' is quarantined", service->name);
    uint32_t disconnected = service->workers;
    size_t failed = service->queued;
    service_disconnect_workers(self, service, message);
    request_t *request;
    while ((request = queue_pop(service))) {
        service_fail(self, service, request, NAGAR__STATUS_CODE__UNAVAILABLE, message);
        request_destroy(&request);
    }
    /* Both ways: the keys that serve it (or are named by it) may no longer
     * call anything either. */
    size_t cut = cut_sessions(self);
    snprintf(detail, detail_size,
             "service \"%s\" quarantined: %u workers disconnected, %zu queued requests failed; "
             "its keys may neither serve nor call (%zu more workers cut)",
             service->name, disconnected, failed, cut);
}

static void string_free(void **item);

/* The shared state (etcd) changed: another broker quarantined, released or
 * revoked; this one does the same. */
static void handle_shared_state(broker_t *self)
{
    zlistx_t *quarantined = zlistx_new(), *released = zlistx_new();
    zlistx_set_destructor(quarantined, string_free);
    zlistx_set_destructor(released, string_free);
    size_t revoked = 0;
    char error[512];
    if (broker_state_sync(self->state, quarantined, released, &revoked, error,
                          sizeof error) != 0)
        nagar_log_warn("broker.shared_state_failed", "%s", error);
    for (const char *name = zlistx_first(quarantined); name; name = zlistx_next(quarantined)) {
        char detail[512] = "";
        service_t *service = service_require(self, name);
        if (service)
            quarantine_apply(self, service, detail, sizeof detail);
        nagar_log_write(NAGAR_LOG_WARN, "broker.shared_quarantine",
                        json_pack("{s:s, s:s}", "service", name, "reason",
                                  broker_state_quarantine_reason(self->state, name)),
                        "quarantine of \"%s\" from the shared state: %s", name, detail);
    }
    for (const char *name = zlistx_first(released); name; name = zlistx_next(released))
        nagar_log_write(NAGAR_LOG_INFO, "broker.shared_release", json_pack("{s:s}", "service",
                                                                           name),
                        "release of \"%s\" from the shared state; its workers may register "
                        "again", name);
    if (revoked) {
        size_t workers = cut_sessions(self);
        nagar_log_write(NAGAR_LOG_WARN, "broker.shared_revoke",
                        json_pack("{s:i, s:i}", "keys", (int) revoked, "workers", (int) workers),
                        "%zu keys revoked in the shared state, %zu workers disconnected",
                        revoked, workers);
    }
    zlistx_destroy(&quarantined);
    zlistx_destroy(&released);
}

static nagar_status_code_t admin_quarantine(void *arg, const char *service_name,
                                      const char *reason, char *detail, size_t detail_size)
{
    broker_t *self = arg;
    if (!nagar_bus_name_valid(service_name) || strncmp(service_name, "mmi.", 4) == 0
        || strcmp(service_name, NAGAR_ADMIN_SERVICE) == 0) {
        snprintf(detail, detail_size, "\"%.80s\" is not a service that can be quarantined",
                 service_name);
        return NAGAR__STATUS_CODE__INVALID_ARGUMENT;
    }
    service_t *service = service_require(self, service_name);
    if (!service) {
        snprintf(detail, detail_size, "the broker already tracks %d services", BROKER_MAX_SERVICES);
        return NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED;
    }
    char error[512];
    if (broker_state_quarantine(self->state, service_name, reason, error, sizeof error) != 0) {
        snprintf(detail, detail_size, "quarantine of \"%s\" not recorded, so not applied: %s",
                 service_name, error);
        return NAGAR__STATUS_CODE__INTERNAL;
    }
    quarantine_apply(self, service, detail, detail_size);
    return NAGAR__STATUS_CODE__OK;
}

static nagar_status_code_t admin_release(void *arg, const char *service_name, char *detail,
                                   size_t detail_size)
{
    broker_t *self = arg;
    if (!broker_state_quarantine_reason(self->state, service_name)) {
        snprintf(detail, detail_size, "service \"%.80s\" is not quarantined", service_name);
        return NAGAR__STATUS_CODE__FAILED_PRECONDITION;
    }
    char error[512];
    if (broker_state_release(self->state, service_name, error, sizeof error) != 0) {
        snprintf(detail, detail_size, "release of \"%s\" not recorded, so not applied: %s",
                 service_name, error);
        return NAGAR__STATUS_CODE__INTERNAL;
    }
    snprintf(detail, detail_size, "service \"%s\" released; its workers may register again",
             service_name);
    return NAGAR__STATUS_CODE__OK;
}

static void *string_duplicate(const void *item)
{
    return strdup((const char *) item);
}

static int string_compare(const void *item1, const void *item2)
{
    return strcmp((const char *) item1, (const char *) item2);
}

static void string_free(void **item)
{
    free(*item);
    *item = NULL;
}

static nagar_status_code_t admin_revoke(void *arg, const char *principal, const char *public_key,
                                  const char *requesting_key, char *detail, size_t detail_size)
{
    broker_t *self = arg;
    bool by_principal = principal && *principal;
    bool by_key = public_key && *public_key;
    if (!self->acl) {
        snprintf(detail, detail_size, "security is off (NAGAR_BROKER_INSECURE): there are no keys "
                                      "to revoke");
        return NAGAR__STATUS_CODE__FAILED_PRECONDITION;
    }
    if (by_principal == by_key) {
        snprintf(detail, detail_size, "give exactly one of principal and public_key");
        return NAGAR__STATUS_CODE__INVALID_ARGUMENT;
    }
    zlistx_t *keys = zlistx_new();
    zlistx_set_destructor(keys, string_free);
    zlistx_set_duplicator(keys, string_duplicate);
    zlistx_set_comparator(keys, string_compare);
    nagar_status_code_t code = NAGAR__STATUS_CODE__OK;
    if (by_principal) {
        if (broker_acl_keys_of(self->acl, principal, keys) == 0) {
            snprintf(detail, detail_size, "the key store has no key of principal \"%.80s\"",
                     principal);
            code = NAGAR__STATUS_CODE__NOT_FOUND;
        }
    } else {
        uint8_t decoded[32];
        if (strlen(public_key) != BROKER_KEY_TEXT_MAX || !zmq_z85_decode(decoded, public_key)) {
            snprintf(detail, detail_size, "public_key is not a 40-character Z85 CURVE key");
            code = NAGAR__STATUS_CODE__INVALID_ARGUMENT;
        } else
            zlistx_add_end(keys, (void *) public_key);
    }
    if (code == NAGAR__STATUS_CODE__OK && requesting_key && *requesting_key
        && zlistx_find(keys, (void *) requesting_key)) {
        snprintf(detail, detail_size, "refusing to revoke the key this request came from; revoke "
                                      "it with another operator key");
        code = NAGAR__STATUS_CODE__FAILED_PRECONDITION;
    }
    char error[512];
    if (code == NAGAR__STATUS_CODE__OK
        && broker_state_revoke(self->state, keys, error, sizeof error) != 0) {
        snprintf(detail, detail_size, "revocation not recorded, so not applied: %s", error);
        code = NAGAR__STATUS_CODE__INTERNAL;
    }
    if (code == NAGAR__STATUS_CODE__OK) {
        size_t workers = cut_sessions(self);
        snprintf(detail, detail_size, "%zu keys revoked, %zu workers disconnected",
                 zlistx_size(keys), workers);
    }
    zlistx_destroy(&keys);
    return code;
}

static void admin_target_init(broker_t *self)
{
    self->admin = (broker_admin_target_t) {
        .self = self,
        .stats_services = admin_stats_services,
        .stats_uptime_ms = admin_stats_uptime_ms,
        .stats_denied = admin_stats_denied,
        .stats_principals = admin_stats_principals,
        .revoked_keys = admin_revoked_keys,
        .quarantine = admin_quarantine,
        .release = admin_release,
        .revoke = admin_revoke,
    };
}
