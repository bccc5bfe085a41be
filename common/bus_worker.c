/*
 * bus_worker.c — serving one service on the bus as an MDP/0.1 worker; see
 * bus_worker.h.
 *
 * The event loop is nagar_worker_run: poll the broker socket until the next
 * heartbeat, broker expiry or tick is due; drain what arrived; answer each
 * REQUEST by running the checks (method, caller, deadline, payload) and then
 * the handler; send the one reply. The broker may send up to the credit of
 * requests ahead (mdp.h); they are handled one at a time, in order, each
 * reply sent as soon as it is ready (holding replies back to send them in
 * bursts was measured: no gain in throughput or CPU per request, and it
 * would make a quick reply wait behind a slow request). A broker that stays
 * silent for
 * heartbeat * liveness, or that says DISCONNECT, makes the worker drop its
 * socket and come back with a new one (a new identity, so the broker never
 * confuses it with the old one) after an exponential back-off.
 *
 * With several brokers (NAGAR_BUS_ENDPOINT lists them) the worker keeps one
 * link per broker, each with its own socket, READY, heartbeats, expiry and
 * back-off, so losing one broker leaves the others' links untouched; the
 * requests of every link are handled in one stream, in the order they are
 * read, and each reply goes back on the link its request came in on.
 *
 * With NAGAR_BUS_PACKED on (the default) everything the worker sends is one
 * packed frame (mdp.h); the broker, having seen a packed READY, packs what
 * it sends back. Either form is accepted from the broker.
 */
#include "bus_worker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "bus_client.h"
#include "log.h"
#include "mdp_frames.h"
#include "mdp_pack.h"
#include "request_text.h"

#define ERROR_MAX 512
#define STATUS_MESSAGE_MAX 1024
#define REFUSALS_LOGGED_PER_WINDOW 20     /* credential refusals logged per 10 s */
#define REFUSAL_WINDOW_MS 10000
/* How often, at most, a link's watch (bus_watch.h) is read between
 * requests and before a reply (a request that came on a connection since
 * lost is not worked on, its answer not sent); the main loop also reads
 * it whenever its descriptor fires, so it never fills. */
#define WATCH_BUSY_MS 50

/* The worker's connection to one broker. */
typedef struct {
    int index;                      /* in NAGAR_BUS_ENDPOINT */
    char endpoint[NAGAR_BUS_ENDPOINT_MAX];
    zsock_t *socket;                /* NULL while waiting to reconnect */
    nagar_bus_watch_t *watch;       /* on socket's connection; NULL with it */
    bool lost;                      /* the watch saw the connection go: register again */
    int64_t watch_at_ms;            /* monotonic: when to read the watch next */
    long reconnect_delay_ms;        /* the next back-off */
    int64_t heartbeat_at_ms;        /* monotonic: when to send the next heartbeat */
    int64_t broker_expires_at_ms;   /* monotonic: broker presumed gone if silent past this */
    int64_t reconnect_at_ms;        /* monotonic: when to reconnect while socket is NULL */
} link_t;

struct nagar_worker_t {
    nagar_bus_options_t options;
    char service[MDP_SERVICE_NAME_MAX + 1];
    const nagar_method_t *methods;
    void *arg;
    link_t links[NAGAR_BUS_BROKERS_MAX];
    int link_count;
    nagar_mdp_packer_t *packer;     /* NULL unless NAGAR_BUS_PACKED */
    long heartbeat_ms;
    long liveness;
    long reconnect_max_ms;
    long credit;                    /* requests the broker may send ahead (mdp.h) */
    long drain_timeout_ms;          /* NAGAR_BUS_DRAIN_TIMEOUT_MS */
    volatile bool stopping;
    bool draining;                  /* stopping: finishing what the brokers sent */
    void (*tick)(nagar_worker_t *worker, void *arg);
    void *tick_arg;
    long tick_interval_ms;
    int64_t tick_at_ms;
    /* Who a call acts for (authority.h); NULL without NAGAR_TOKEN_PUBLIC_KEYS_DIR. */
    nagar_authority_t *authority;
    nagar_bus_client_t *revocations_client;   /* polls identity's token.revocations */
    nagar_revocations_fetch_fn *revocations_fetch;   /* or identity reads its own */
    void *revocations_arg;
    long revocation_poll_ms;
    int64_t revocation_poll_at_ms;            /* monotonic */
    bool revocation_poll_in_flight;
    bool revocation_poll_failing;             /* log a failing poll once, not every time */
    bool revocations_changed;                 /* poll again once the handler returns */
    int64_t refusal_window_at_ms;
    int refusals_in_window;
};

struct nagar_worker_call_t {
    nagar_worker_t *worker;
    link_t *link;                   /* the broker the request came from */
    const char *method;
    char caller[NAGAR_MDP_PRINCIPAL_MAX + 1];
    const Nagar__RequestContext *context;
    Nagar__RequestContext empty_context;
    bool answered;
    bool replayed;
    nagar_status_code_t code;
    char message[STATUS_MESSAGE_MAX];
    char field[256];
    uint8_t *payload;
    size_t payload_size;
    nagar_actor_t actor;          /* verified from the context's authorization; "" = nobody */
};

/* Drops the link's socket (and its watch, first). */
static void link_close(link_t *link)
{
    nagar_bus_watch_destroy(&link->watch);
    zsock_destroy(&link->socket);
    link->lost = false;
}

/* Whether the link's connection was lost, reading its watch when due (or
 * at once with force). A broker answers only the connection that asked,
 * so what a lost connection brought can be answered to nobody; and a
 * broker that restarted does not know this worker. */
static bool link_lost(link_t *link, int64_t now, bool force)
{
    if (link->watch && !link->lost && (force || now >= link->watch_at_ms)) {
        link->watch_at_ms = now + WATCH_BUSY_MS;
        link->lost = nagar_bus_watch_lost(link->watch) > 0;
    }
    return link->lost;
}

static int send_message(nagar_worker_t *self, link_t *link, zmsg_t **message_p)
{
    if (!link->socket) {
        zmsg_destroy(message_p);
        return -1;
    }
    if (!self->packer)
        return zmsg_send(message_p, link->socket);
    nagar_mdp_packer_reset(self->packer);
    for (zframe_t *frame = zmsg_first(*message_p); frame; frame = zmsg_next(*message_p))
        nagar_mdp_packer_add_frame(self->packer, frame);
    zmsg_destroy(message_p);
    return nagar_mdp_packer_send(self->packer, zsock_resolve(link->socket), 0);
}

/* REPLY [""][MDPW01][0x03][client][""][body], packed or frame by frame. */
static void send_reply(nagar_worker_t *self, link_t *link, const nagar_mdp_part_t *client_address,
                       const void *body, size_t body_size)
{
    if (!link->socket)
        return;
    if (link_lost(link, zclock_mono(), false)) {
        nagar_log_info("bus.worker_reply_dropped", "service '%s': the connection to %s was lost "
                       "while the request was worked on; its answer could reach nobody",
                       self->service, link->endpoint);
        return;
    }
    if (!self->packer) {
        nagar_mdp_worker_reply_send(link->socket, client_address->data, client_address->size,
                                    body, body_size);
        return;
    }
    nagar_mdp_packer_reset(self->packer);
    nagar_mdp_packer_add(self->packer, "", 0);
    nagar_mdp_packer_add(self->packer, MDP_WORKER, strlen(MDP_WORKER));
    nagar_mdp_packer_add(self->packer, MDP_REPLY, 1);
    nagar_mdp_packer_add(self->packer, client_address->data, client_address->size);
    nagar_mdp_packer_add(self->packer, "", 0);
    nagar_mdp_packer_add(self->packer, body, body_size);
    if (nagar_mdp_packer_send(self->packer, zsock_resolve(link->socket), 0) != 0)
        nagar_log_warn("bus.worker_send_failed", "service '%s': a reply of %zu bytes could not "
                       "be packed or queued (%s); the caller will time out or be answered by "
                       "the broker", self->service, body_size, zmq_strerror(zmq_errno()));
}

static void send_heartbeat_if_due(nagar_worker_t *self, link_t *link, int64_t now)
{
    if (link->socket && now >= link->heartbeat_at_ms) {
        zmsg_t *heartbeat = nagar_mdp_worker_heartbeat_new();
        send_message(self, link, &heartbeat);
        link->heartbeat_at_ms = now + self->heartbeat_ms;
    }
}

static long first_reconnect_delay(nagar_worker_t *self)
{
    return self->heartbeat_ms < self->reconnect_max_ms ? self->heartbeat_ms
                                                         : self->reconnect_max_ms;
}

static int connect_to_broker(nagar_worker_t *self, link_t *link, char *error, size_t error_size)
{
    link->socket = nagar_bus_connect_broker_watched(&self->options, link->index, false,
                                                    &link->watch, error, error_size);
    if (!link->socket)
        return -1;
    link->lost = false;
    zmsg_t *ready = nagar_mdp_worker_ready_credit_new(self->service, (int) self->credit);
    send_message(self, link, &ready);
    int64_t now = zclock_mono();
    link->heartbeat_at_ms = now + self->heartbeat_ms;
    link->broker_expires_at_ms = now + self->heartbeat_ms * self->liveness;
    link->watch_at_ms = now + WATCH_BUSY_MS;
    return 0;
}

/* Drops the link's socket and schedules its next connection after a
 * back-off. */
static void schedule_reconnect(nagar_worker_t *self, link_t *link, const char *why)
{
    link_close(link);
    nagar_log_warn("bus.worker_reconnect", "service '%s': %s; reconnecting to %s in %ld ms",
                   self->service, why, link->endpoint, link->reconnect_delay_ms);
    link->reconnect_at_ms = zclock_mono() + link->reconnect_delay_ms;
    link->reconnect_delay_ms *= 2;
    if (link->reconnect_delay_ms > self->reconnect_max_ms)
        link->reconnect_delay_ms = self->reconnect_max_ms;
}

/* A busy worker reads nothing while its handler runs, so no broker owes it
 * a heartbeat meanwhile: every link gets a fresh window. */
static void refresh_expiry(nagar_worker_t *self)
{
    int64_t expires = zclock_mono() + self->heartbeat_ms * self->liveness;
    for (int i = 0; i < self->link_count; i++)
        self->links[i].broker_expires_at_ms = expires;
}

/* ---- revocations ------------------------------------------------------------------ */

void nagar_worker_apply_revocations(nagar_worker_t *self,
                                    const Nagar__Identity__ListRevocationsReply *reply)
{
    if (!self->authority)
        return;
    size_t added = nagar_authority_apply(self->authority, reply, nagar_bus_now_ms());
    if (!nagar_authority_synced(self->authority))
        nagar_log_info("bus.worker_revocations_synced", "service '%s': revocations loaded up "
                       "to id %" PRId64, self->service, nagar_authority_cursor(self->authority));
    nagar_authority_mark_synced(self->authority);
    if (added)
        nagar_log_info("bus.worker_revocations_applied", "service '%s': %zu new revocations "
                       "(cursor %" PRId64 ")", self->service, added,
                       nagar_authority_cursor(self->authority));
    if (self->revocation_poll_failing)
        nagar_log_info("bus.worker_revocations_recovered", "service '%s': polling revocations "
                       "works again", self->service);
    self->revocation_poll_failing = false;
    /* A full page: there may be another right behind it. */
    if (reply->n_revocations > 0)
        self->revocation_poll_at_ms = zclock_mono();
}

static void revocation_poll_failed(nagar_worker_t *self, const char *status, const char *message)
{
    if (self->revocation_poll_failing)
        return;
    self->revocation_poll_failing = true;
    nagar_log_warn("bus.worker_revocations_poll_failed", "service '%s': polling identity's "
                   "token.revocations failed (%s: %s); tokens revoked since the last poll are "
                   "accepted until it succeeds or they expire", self->service, status, message);
}

static void on_revocations(const nagar_bus_result_t *result, void *arg)
{
    nagar_worker_t *self = arg;
    self->revocation_poll_in_flight = false;
    if (result->code != NAGAR__STATUS_CODE__OK) {
        revocation_poll_failed(self, nagar_status_name(result->code), result->message);
        return;
    }
    Nagar__Identity__ListRevocationsReply *reply = nagar__identity__list_revocations_reply__unpack(
        NULL, result->payload_size, result->payload);
    if (!reply) {
        revocation_poll_failed(self, "BAD_REPLY", "the payload is not a ListRevocationsReply");
        return;
    }
    nagar_worker_apply_revocations(self, reply);
    nagar__identity__list_revocations_reply__free_unpacked(reply, NULL);
}

/* Asks for the revocations after the cursor when a poll is due. */
static void poll_revocations(nagar_worker_t *self, int64_t now)
{
    if (!self->authority || self->revocation_poll_in_flight || now < self->revocation_poll_at_ms)
        return;
    self->revocation_poll_at_ms = now + self->revocation_poll_ms;
    int64_t after = nagar_authority_cursor(self->authority);
    if (self->revocations_fetch) {
        if (self->revocations_fetch(self, after, self->revocations_arg) < 0)
            revocation_poll_failed(self, "FETCH_FAILED", "reading them failed");
        return;
    }
    if (!self->revocations_client)
        return;
    Nagar__Identity__ListRevocationsRequest request =
        NAGAR__IDENTITY__LIST_REVOCATIONS_REQUEST__INIT;
    request.after_id = after;
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    int timeout = self->revocation_poll_ms < 5000 ? 5000 : (int) self->revocation_poll_ms;
    nagar_bus_call_t call = {.service = "identity", .method = "token.revocations",
                             .context = &context, .request = &request.base,
                             .timeout_ms = timeout, .max_attempts = 1, .repeatable = true};
    if (nagar_bus_client_send(self->revocations_client, &call, on_revocations, self) == 0)
        self->revocation_poll_in_flight = true;
}

void nagar_worker_revocations_changed(nagar_worker_t *self)
{
    self->revocations_changed = true;
    self->revocation_poll_at_ms = 0;
}

void nagar_worker_set_revocations_source(nagar_worker_t *self, nagar_revocations_fetch_fn *fetch,
                                         void *arg)
{
    self->revocations_fetch = fetch;
    self->revocations_arg = arg;
    nagar_bus_client_destroy(&self->revocations_client);
}

nagar_authority_t *nagar_worker_authority(nagar_worker_t *self)
{
    return self->authority;
}

/* NAGAR_TOKEN_PUBLIC_KEYS_DIR and the rest of the authority's settings. */
static int authority_setup(nagar_worker_t *self, nagar_config_t *config, char *error,
                           size_t error_size)
{
    long max_ttl_ms, poll_ms, max_revocations, max_cached;
    if (nagar_config_get_int(config, "NAGAR_TOKEN_ACCESS_TTL_MAX_MS", 3600000, 1000, 86400000,
                             &max_ttl_ms, error, error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_REVOCATION_POLL_MS", 1000, 50, 600000, &poll_ms,
                             error, error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_REVOCATIONS_MAX", 100000, 1, 100000000,
                             &max_revocations, error, error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_TOKEN_CACHE_MAX", 10000, 1, 10000000, &max_cached,
                             error, error_size) != 0)
        return -1;
    self->revocation_poll_ms = poll_ms;
    self->revocation_poll_at_ms = zclock_mono();
    const char *keys_dir = nagar_config_get(config, "NAGAR_TOKEN_PUBLIC_KEYS_DIR", NULL);
    if (!keys_dir || !keys_dir[0]) {
        nagar_log_warn("bus.worker_no_token_keys", "service '%s': NAGAR_TOKEN_PUBLIC_KEYS_DIR "
                       "is not set, so no request can act for a person here (every token or "
                       "grant is refused); point it at identity's public keys", self->service);
        return 0;
    }
    self->authority = nagar_authority_new(keys_dir, max_ttl_ms, (size_t) max_revocations,
                                          (size_t) max_cached, error, error_size);
    if (!self->authority)
        return -1;
    self->revocations_client = nagar_bus_client_new(&self->options, config, error, error_size);
    if (!self->revocations_client) {
        nagar_authority_destroy(&self->authority);
        return -1;
    }
    return 0;
}

static bool methods_are_valid(const nagar_method_t *methods, char *error, size_t error_size)
{
    if (!methods || !methods[0].name) {
        snprintf(error, error_size, "the method table is empty: a worker must serve at least one "
                 "method");
        return false;
    }
    for (const nagar_method_t *method = methods; method->name; method++) {
        if (!method->name[0] || !method->request_type || !method->handler || !method->callers) {
            snprintf(error, error_size, "method '%s' lacks a name, request type, handler or "
                     "callers list (use {\"*\", NULL} to allow every caller)", method->name);
            return false;
        }
    }
    return true;
}

nagar_worker_t *nagar_worker_new(const nagar_bus_options_t *options, nagar_config_t *config,
                                 const char *service, const nagar_method_t *methods, void *arg,
                                 char *error, size_t error_size)
{
    if (!service || !service[0] || strlen(service) > MDP_SERVICE_NAME_MAX) {
        snprintf(error, error_size, "service name \"%s\" must be 1 to %d characters",
                 service ? service : "", MDP_SERVICE_NAME_MAX);
        return NULL;
    }
    if (!methods_are_valid(methods, error, error_size))
        return NULL;
    long heartbeat_ms, liveness, reconnect_max_ms, credit, drain_timeout_ms;
    if (nagar_config_get_int(config, "NAGAR_BUS_HEARTBEAT_MS", 1000, 10, 600000, &heartbeat_ms,
                             error, error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_BUS_LIVENESS", 5, 1, 100, &liveness, error,
                             error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_BUS_RECONNECT_MAX_MS", 8000, 10, 600000,
                             &reconnect_max_ms, error, error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_BUS_WORKER_CREDIT", NAGAR_MDP_CREDIT_DEFAULT, 1,
                             NAGAR_MDP_CREDIT_MAX, &credit, error, error_size) != 0 ||
        nagar_config_get_int(config, "NAGAR_BUS_DRAIN_TIMEOUT_MS", 10000, 0, 3600000,
                             &drain_timeout_ms, error, error_size) != 0)
        return NULL;
    nagar_worker_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory creating the worker");
        return NULL;
    }
    self->options = *options;
    snprintf(self->service, sizeof self->service, "%s", service);
    self->methods = methods;
    self->arg = arg;
    self->heartbeat_ms = heartbeat_ms;
    self->liveness = liveness;
    self->reconnect_max_ms = reconnect_max_ms;
    self->credit = credit;
    self->drain_timeout_ms = drain_timeout_ms;
    if (options->packed && !(self->packer = nagar_mdp_packer_new(0))) {
        free(self);
        snprintf(error, error_size, "out of memory creating the worker");
        return NULL;
    }
    self->link_count = nagar_bus_broker_count(options);
    /* Connect now so a bad certificate or endpoint fails at start-up, where
     * an operator sees it, not in a reconnect loop. */
    if (authority_setup(self, config, error, error_size) != 0) {
        nagar_mdp_packer_destroy(&self->packer);
        free(self);
        return NULL;
    }
    for (int i = 0; i < self->link_count; i++) {
        link_t *link = &self->links[i];
        link->index = i;
        nagar_bus_broker_endpoint(options, i, link->endpoint, sizeof link->endpoint);
        link->reconnect_delay_ms = first_reconnect_delay(self);
        if (connect_to_broker(self, link, error, error_size) != 0) {
            for (int j = 0; j < i; j++)
                link_close(&self->links[j]);
            nagar_bus_client_destroy(&self->revocations_client);
            nagar_authority_destroy(&self->authority);
            nagar_mdp_packer_destroy(&self->packer);
            free(self);
            return NULL;
        }
    }
    return self;
}

void nagar_worker_destroy(nagar_worker_t **self_p)
{
    nagar_worker_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->link_count; i++)
        link_close(&self->links[i]);
    nagar_mdp_packer_destroy(&self->packer);
    nagar_bus_client_destroy(&self->revocations_client);
    nagar_authority_destroy(&self->authority);
    free(self);
    *self_p = NULL;
}

void nagar_worker_stop(nagar_worker_t *self)
{
    self->stopping = true;
}

void nagar_worker_set_tick(nagar_worker_t *self, int interval_ms,
                           void (*tick)(nagar_worker_t *worker, void *arg), void *arg)
{
    self->tick = tick;
    self->tick_arg = arg;
    self->tick_interval_ms = interval_ms > 0 ? interval_ms : 1000;
    self->tick_at_ms = zclock_mono() + self->tick_interval_ms;
}

const char *nagar_worker_call_method(nagar_worker_call_t *call)
{
    return call->method;
}

const char *nagar_worker_call_caller(nagar_worker_call_t *call)
{
    return call->caller;
}

const Nagar__RequestContext *nagar_worker_call_context(nagar_worker_call_t *call)
{
    return call->context;
}

int64_t nagar_worker_call_deadline_ms(nagar_worker_call_t *call)
{
    return call->context->deadline_unix_ms;
}

const nagar_actor_t *nagar_worker_call_actor(nagar_worker_call_t *call)
{
    return &call->actor;
}

int nagar_worker_call_reply(nagar_worker_call_t *call, const ProtobufCMessage *reply)
{
    if (call->answered) {
        nagar_log_error("bus.worker_double_reply", "method '%s' answered twice; the second "
                        "answer is ignored", call->method);
        return -1;
    }
    size_t size = reply ? protobuf_c_message_get_packed_size(reply) : 0;
    call->payload = malloc(size ? size : 1);
    if (!call->payload)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "out of memory serializing the reply");
    call->payload_size = reply ? protobuf_c_message_pack(reply, call->payload) : 0;
    call->code = NAGAR__STATUS_CODE__OK;
    call->answered = true;
    return 0;
}

int nagar_worker_call_fail(nagar_worker_call_t *call, nagar_status_code_t code, const char *field,
                           const char *format, ...)
{
    if (call->answered) {
        nagar_log_error("bus.worker_double_reply", "method '%s' answered twice; the second "
                        "answer is ignored", call->method);
        return -1;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(call->message, sizeof call->message, format, args);
    va_end(args);
    snprintf(call->field, sizeof call->field, "%s", field ? field : "");
    /* OK is not a failure; refuse to send an OK without a payload. */
    call->code = code == NAGAR__STATUS_CODE__OK ? NAGAR__STATUS_CODE__INTERNAL : code;
    call->answered = true;
    return -1;
}

void nagar_worker_call_set_replayed(nagar_worker_call_t *call, bool replayed)
{
    call->replayed = replayed;
}

void nagar_worker_call_keepalive(nagar_worker_call_t *call)
{
    nagar_worker_keepalive(call->worker);
}

void nagar_worker_keepalive(nagar_worker_t *self)
{
    int64_t now = zclock_mono();
    for (int i = 0; i < self->link_count; i++)
        send_heartbeat_if_due(self, &self->links[i], now);
    /* Busy, it reads nothing from its brokers: their silence meanwhile is
     * not theirs to answer for. */
    refresh_expiry(self);
}

static const nagar_method_t *method_find(nagar_worker_t *self, const char *name)
{
    for (const nagar_method_t *method = self->methods; method->name; method++)
        if (strcmp(method->name, name) == 0)
            return method;
    return NULL;
}

static bool caller_is_allowed(const nagar_method_t *method, const char *caller)
{
    for (const char *const *allowed = method->callers; *allowed; allowed++)
        if (strcmp(*allowed, "*") == 0 || strcmp(*allowed, caller) == 0)
            return true;
    return false;
}

/* Logs a refused credential, at most REFUSALS_LOGGED_PER_WINDOW per window. */
static void log_refusal(nagar_worker_t *self, nagar_worker_call_t *call, const char *reason)
{
    int64_t now = zclock_mono();
    if (now - self->refusal_window_at_ms >= REFUSAL_WINDOW_MS) {
        if (self->refusals_in_window > REFUSALS_LOGGED_PER_WINDOW)
            nagar_log_warn("bus.worker_credential_refused", "service '%s': %d more credentials "
                           "refused in the last %d s (not logged one by one)", self->service,
                           self->refusals_in_window - REFUSALS_LOGGED_PER_WINDOW,
                           REFUSAL_WINDOW_MS / 1000);
        self->refusal_window_at_ms = now;
        self->refusals_in_window = 0;
    }
    if (++self->refusals_in_window > REFUSALS_LOGGED_PER_WINDOW)
        return;
    json_t *fields = json_pack("{s:s, s:s, s:s}", "caller", call->caller, "method", call->method,
                               "reason", reason);
    nagar_log_write(NAGAR_LOG_WARN, "bus.worker_credential_refused", fields,
                    "service '%s' refused the credential of a call", self->service);
}

/* Verifies the credential the call carries into call->actor (authority.h).
 * False when it was refused (the call is answered). No credential is no
 * actor: the call then acts for nobody, on its caller principal's rights. */
static bool credential_accepted(nagar_worker_t *self, nagar_worker_call_t *call,
                                const ProtobufCMessage *request)
{
    const char *credential = call->context->authorization;
    if (!credential || !credential[0])
        return true;
    char why[256] = "";
    nagar_authority_result_t result =
        self->authority ? nagar_authority_check(self->authority, credential, self->service,
                                                call->method, request, nagar_bus_now_ms(),
                                                &call->actor, why, sizeof why)
                        : NAGAR_AUTHORITY_FORGED;
    if (result == NAGAR_AUTHORITY_OK)
        return true;
    const char *text = self->authority ? nagar_authority_result_text(result)
                                       : "this service has no token keys to verify it with";
    log_refusal(self, call, why[0] ? why : text);
    if (result == NAGAR_AUTHORITY_OUT_OF_SCOPE)
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                               "%s: %s", text, why);
    else
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAUTHENTICATED, NULL,
                               "%s; service '%s' acts only on a valid access token or grant",
                               text, self->service);
    return false;
}

/* Runs the checks every call gets, then the handler. */
static void serve_call(nagar_worker_t *self, nagar_worker_call_t *call, const uint8_t *payload,
                       size_t payload_size)
{
    const nagar_method_t *method = method_find(self, call->method);
    if (!method) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "method",
                               "unknown method '%s' on service '%s'", call->method, self->service);
        return;
    }
    if (!caller_is_allowed(method, call->caller)) {
        nagar_log_warn("bus.worker_caller_denied", "principal '%s' may not call method '%s' on "
                       "service '%s'", call->caller, call->method, self->service);
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                               "principal '%s' may not call method '%s' on service '%s'",
                               call->caller, call->method, self->service);
        return;
    }
    int64_t deadline = call->context->deadline_unix_ms;
    int64_t now = nagar_bus_now_ms();
    if (deadline > 0 && now >= deadline) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__DEADLINE_EXCEEDED, NULL,
                               "the deadline of method '%s' on service '%s' passed %" PRId64
                               " ms before a worker could start it", call->method, self->service,
                               now - deadline);
        return;
    }
    ProtobufCMessage *request = protobuf_c_message_unpack(method->request_type, NULL,
                                                          payload_size, payload);
    if (!request) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "payload",
                               "the payload of method '%s' is not a valid %s (%zu bytes)",
                               call->method, method->request_type->name, payload_size);
        return;
    }
    nagar_request_trim_text(request);   /* " 250858", a reference of only spaces */
    if (!credential_accepted(self, call, request)) {
        protobuf_c_message_free_unpacked(request, NULL);
        return;
    }
    method->handler(call, request, self->arg);
    protobuf_c_message_free_unpacked(request, NULL);
    if (self->revocations_changed) {
        /* Committed by now: the next request of this batch must see it. */
        self->revocations_changed = false;
        poll_revocations(self, zclock_mono());
    }
    if (!call->answered) {
        nagar_log_error("bus.worker_no_reply", "the handler of method '%s' returned without "
                        "replying; answering INTERNAL", call->method);
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                               "method '%s' on service '%s' returned no answer", call->method,
                               self->service);
    }
}

static void handle_request(nagar_worker_t *self, link_t *link,
                           const nagar_mdp_worker_parts_t *message)
{
    int64_t started = zclock_mono();
    nagar_worker_call_t call = {
        .worker = self,
        .link = link,
        .method = "",
        .empty_context = NAGAR__REQUEST_CONTEXT__INIT,
    };
    call.context = &call.empty_context;
    Nagar__Request *request = NULL;
    if (nagar_mdp_caller_name_part(&message->caller, call.caller, sizeof call.caller) != 0) {
        /* Only the broker writes this frame; a bad one means we cannot tell
         * who is asking, so nobody is allowed. */
        snprintf(call.caller, sizeof call.caller, "?");
        nagar_worker_call_fail(&call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                               "the broker's caller frame (%zu bytes) is not a principal name",
                               message->caller.size);
    } else {
        request = nagar_envelope_request_unpack(message->body.data, message->body.size);
        if (!request) {
            nagar_log_warn("bus.worker_bad_request", "service '%s': a request body of %zu bytes "
                           "from '%s' is not a nagar.Request", self->service,
                           message->body.size, call.caller);
            nagar_worker_call_fail(&call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                   "the request body is not a nagar.Request");
        } else {
            call.method = request->method;
            if (request->context)
                call.context = request->context;
            nagar_log_set_request_id(call.context->request_id);
            serve_call(self, &call, request->payload.data, request->payload.len);
        }
    }

    size_t body_size = 0;
    uint8_t *body = nagar_envelope_reply_pack(call.context->request_id, call.code, call.message,
                                              call.field, call.payload, call.payload_size,
                                              call.replayed, &body_size);
    if (body) {
        send_reply(self, link, &message->client_address, body, body_size);
        free(body);
    }
    nagar_log_debug("bus.worker_call", "method '%s' from '%s' answered %s in %" PRId64 " ms",
                    call.method, call.caller, nagar_status_name(call.code),
                    zclock_mono() - started);
    nagar_log_set_request_id(NULL);
    free(call.payload);
    if (request)
        nagar__request__free_unpacked(request, NULL);
    refresh_expiry(self);
}

/* Reads everything queued on the socket. Each message is read into
 * zmq_msg_t parts and looked at through nagar_mdp_part_t views (a packed
 * one unpacked in place): no zmsg, zframe or copy per frame, which were a
 * tenth of this thread's time in perf. */
static void read_link(nagar_worker_t *self, link_t *link)
{
    /* Non-blocking reads until none is left: checking ZMQ_EVENTS first
     * would cost a system call per message. */
    zmq_msg_t parts[NAGAR_MDP_PACK_MAX_FRAMES];
    nagar_mdp_part_t views[NAGAR_MDP_PACK_MAX_FRAMES];
    /* Asked to stop: no more reading here; the drain (drain_links) tells
     * the brokers first and then reads what they had already sent. */
    while (link->socket && !link->lost &&
           (self->draining || (!self->stopping && !zsys_interrupted))) {
        int count = nagar_mdp_receive_parts(zsock_resolve(link->socket), parts,
                                            NAGAR_MDP_PACK_MAX_FRAMES);
        if (count == 0)
            return;
        int64_t now = zclock_mono();
        if (link_lost(link, now, false)) {
            /* Came on the lost connection, or is the new broker's answer
             * to a worker it never met: void either way. */
            for (int i = 0; i < (count < 0 ? 0 : count); i++)
                zmq_msg_close(&parts[i]);
            return;
        }
        link->broker_expires_at_ms = now + self->heartbeat_ms * self->liveness;
        link->reconnect_delay_ms = first_reconnect_delay(self);
        char error[ERROR_MAX];
        nagar_mdp_worker_parts_t parsed;
        int frames = count;
        if (count < 0)
            snprintf(error, sizeof error, "it has more than %d frames", NAGAR_MDP_PACK_MAX_FRAMES);
        else if (count == 1 && nagar_mdp_is_packed(zmq_msg_data(&parts[0]),
                                                   zmq_msg_size(&parts[0])))
            frames = nagar_mdp_unpack_parts(zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]),
                                            views, error, sizeof error);
        else
            for (int i = 0; i < count; i++) {
                views[i].data = zmq_msg_data(&parts[i]);
                views[i].size = zmq_msg_size(&parts[i]);
            }
        if (count < 0)
            nagar_log_warn("bus.worker_bad_message", "service '%s': ignoring a message from the "
                           "broker: %s", self->service, error);
        else if (frames < 0)
            nagar_log_warn("bus.worker_bad_message", "service '%s': ignoring a packed message "
                           "from the broker: %s", self->service, error);
        else if (nagar_mdp_worker_message_parse_parts(views, frames, &parsed, error,
                                                      sizeof error) != 0)
            nagar_log_warn("bus.worker_bad_message", "service '%s': ignoring a message from the "
                           "broker: %s", self->service, error);
        else if (parsed.command == NAGAR_MDP_REQUEST)
            handle_request(self, link, &parsed);
        else if (parsed.command == NAGAR_MDP_DISCONNECT && self->draining) {
            /* This broker has had every answer it was owed. */
            link_close(link);
            nagar_log_info("bus.worker_drained", "service '%s': %s has had every answer",
                           self->service, link->endpoint);
        } else if (parsed.command == NAGAR_MDP_DISCONNECT) {
            /* From a broker that restarted (it answers a heartbeat of a
             * worker it never met) before the watch was read: registers
             * again at once (keep_links), without a back-off. */
            if (!link_lost(link, now, true))
                schedule_reconnect(self, link, "the broker sent DISCONNECT");
        }
        for (int i = 0; i < count; i++)
            zmq_msg_close(&parts[i]);
    }
}

static int64_t earliest(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Connects every link whose back-off has passed; the earliest time a link
 * still waiting may be tried, INT64_MAX when none waits. */
static int64_t reconnect_due_links(nagar_worker_t *self, int64_t now)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < self->link_count; i++) {
        link_t *link = &self->links[i];
        if (link->socket)
            continue;
        if (now >= link->reconnect_at_ms) {
            char error[ERROR_MAX];
            if (connect_to_broker(self, link, error, sizeof error) != 0) {
                schedule_reconnect(self, link, error);
            } else {
                nagar_log_info("bus.worker_reconnected", "service '%s': sent READY again to %s",
                               self->service, link->endpoint);
                continue;
            }
        }
        next = earliest(next, link->reconnect_at_ms);
    }
    return next;
}

/* A link whose connection was lost registers again at once, with a new
 * socket (a new identity): ZeroMQ delivers the READY as soon as the
 * broker is back, while a heartbeat would have met a broker that forgot
 * this worker only a heartbeat later, and a DISCONNECT and a back-off
 * after that. Only an established connection counts as lost
 * (bus_watch.h), so a broker that keeps refusing does not make this loop. */
static void register_again(nagar_worker_t *self, link_t *link)
{
    nagar_log_warn("bus.worker_connection_lost", "service '%s': the connection to %s was "
                   "lost; registering again", self->service, link->endpoint);
    link_close(link);
    char error[ERROR_MAX];
    if (connect_to_broker(self, link, error, sizeof error) != 0)
        schedule_reconnect(self, link, error);
    else
        nagar_log_info("bus.worker_reconnected", "service '%s': sent READY again to %s",
                       self->service, link->endpoint);
}

/* Heartbeats, broker expiry and lost connections of every connected link. */
static void keep_links(nagar_worker_t *self)
{
    int64_t now = zclock_mono();
    for (int i = 0; i < self->link_count; i++) {
        link_t *link = &self->links[i];
        if (!link->socket)
            continue;
        if (link->lost) {
            register_again(self, link);
            continue;
        }
        send_heartbeat_if_due(self, link, now);
        if (now >= link->broker_expires_at_ms) {
            char why[128];
            snprintf(why, sizeof why, "no word from the broker for %ld ms",
                     self->heartbeat_ms * self->liveness);
            schedule_reconnect(self, link, why);
        }
    }
}

/* A poll item for each connected link (polled[i] is items[i]'s link),
 * and *due brought forward to the earliest of their heartbeat and expiry
 * times. Returns how many. */
static int poll_links(nagar_worker_t *self, zmq_pollitem_t *items, link_t **polled, int64_t *due)
{
    int count = 0;
    for (int i = 0; i < self->link_count; i++) {
        link_t *link = &self->links[i];
        if (!link->socket)
            continue;
        *due = earliest(*due, earliest(link->heartbeat_at_ms, link->broker_expires_at_ms));
        items[count] = (zmq_pollitem_t) {.socket = zsock_resolve(link->socket),
                                         .events = ZMQ_POLLIN};
        polled[count++] = link;
    }
    return count;
}

/* Stopping: tells every broker DISCONNECT "drain" (mdp.h), then goes on
 * answering what they had already sent until each says DISCONNECT, goes
 * silent, or NAGAR_BUS_DRAIN_TIMEOUT_MS passes; a broker still linked then
 * gets a plain DISCONNECT (and answers what remains UNAVAILABLE). Nothing
 * new is started by the tick meanwhile. */
static void drain_links(nagar_worker_t *self)
{
    int64_t started = zclock_mono();
    int64_t deadline = started + self->drain_timeout_ms;
    self->draining = self->drain_timeout_ms > 0;
    for (int i = 0; i < self->link_count && self->draining; i++) {
        link_t *link = &self->links[i];
        if (!link->socket)
            continue;
        zmsg_t *drain = nagar_mdp_worker_disconnect_new();
        zmsg_addstr(drain, MDP_DRAIN);
        send_message(self, link, &drain);
    }
    zmq_pollitem_t items[NAGAR_BUS_BROKERS_MAX];
    link_t *polled[NAGAR_BUS_BROKERS_MAX];
    while (self->draining) {
        int64_t now = zclock_mono();
        int64_t due = deadline;
        int count = poll_links(self, items, polled, &due);
        if (count == 0 || now >= deadline)
            break;
        zmq_poll(items, count, (long) (due > now ? due - now : 0));
        for (int i = 0; i < count; i++)
            read_link(self, polled[i]);
        now = zclock_mono();
        for (int i = 0; i < self->link_count; i++) {
            link_t *link = &self->links[i];
            if (!link->socket)
                continue;
            send_heartbeat_if_due(self, link, now);
            if (link->lost || now >= link->broker_expires_at_ms)
                link_close(link);       /* gone: nothing to wait for */
        }
    }
    for (int i = 0; i < self->link_count; i++) {
        if (!self->links[i].socket)
            continue;
        zmsg_t *disconnect = nagar_mdp_worker_disconnect_new();
        send_message(self, &self->links[i], &disconnect);
    }
    if (self->drain_timeout_ms > 0)
        nagar_log_info("bus.worker_drain_done", "service '%s': drained in %" PRId64 " ms",
                       self->service, zclock_mono() - started);
}

int nagar_worker_run(nagar_worker_t *self)
{
    nagar_log_info("bus.worker_ready", "serving service '%s' at %s%s", self->service,
                   self->options.endpoint, self->options.insecure ? " without CURVE" : "");
    /* Each link's socket, then its watch's descriptor, then the
     * revocations client's sockets and its watches' descriptors. */
    zmq_pollitem_t items[4 * NAGAR_BUS_BROKERS_MAX];
    link_t *polled[NAGAR_BUS_BROKERS_MAX];
    while (!self->stopping && !zsys_interrupted) {
        int64_t now = zclock_mono();
        int64_t due = reconnect_due_links(self, now);
        int count = poll_links(self, items, polled, &due);
        if (self->tick)
            due = earliest(due, self->tick_at_ms);
        if (self->authority && !self->revocation_poll_in_flight)
            due = earliest(due, self->revocation_poll_at_ms);
        int client_wait = self->revocations_client
                              ? nagar_bus_client_next_timeout_ms(self->revocations_client) : -1;
        if (client_wait >= 0)
            due = earliest(due, now + client_wait);
        int64_t wait = due - now;
        if (wait < 0)
            wait = 0;
        /* Sleep in short slices while no link is up, so a signal stops us
         * promptly. */
        if (count == 0 && wait > 50)
            wait = 50;
        int link_items = count;
        for (int i = 0; i < link_items; i++)
            items[count++] = (zmq_pollitem_t) {.fd = nagar_bus_watch_fd(polled[i]->watch),
                                               .events = ZMQ_POLLIN};
        int client_watches = count;
        if (self->revocations_client) {
            zsock_t *sockets[NAGAR_BUS_BROKERS_MAX];
            int n = nagar_bus_client_sockets(self->revocations_client, sockets,
                                             NAGAR_BUS_BROKERS_MAX);
            for (int i = 0; i < n; i++)
                items[count++] = (zmq_pollitem_t) {.socket = zsock_resolve(sockets[i]),
                                                   .events = ZMQ_POLLIN};
            int fds[NAGAR_BUS_BROKERS_MAX];
            n = nagar_bus_client_watch_fds(self->revocations_client, fds, NAGAR_BUS_BROKERS_MAX);
            client_watches = count;
            for (int i = 0; i < n; i++)
                items[count++] = (zmq_pollitem_t) {.fd = fds[i], .events = ZMQ_POLLIN};
        }
        int polled_count = zmq_poll(items, count, (long) wait);
        for (int i = client_watches; i < count; i++)
            if (polled_count == -1 || items[i].revents)
                nagar_bus_client_watch_signalled(self->revocations_client);
        if (polled_count == -1 && zmq_errno() != EINTR) {
            nagar_log_error("bus.worker_poll_failed", "service '%s': polling the broker sockets "
                            "failed: %s", self->service, zmq_strerror(zmq_errno()));
            for (int i = 0; i < link_items; i++)
                schedule_reconnect(self, polled[i], "poll failed");
            continue;
        }
        for (int i = 0; i < link_items; i++)
            read_link(self, polled[i]);
        for (int i = 0; i < link_items; i++)
            if (items[link_items + i].revents)
                link_lost(polled[i], zclock_mono(), true);
        if (self->revocations_client)
            nagar_bus_client_dispatch(self->revocations_client);
        poll_revocations(self, zclock_mono());
        keep_links(self);
        now = zclock_mono();
        if (self->tick && now >= self->tick_at_ms) {
            self->tick(self, self->tick_arg);
            self->tick_at_ms = zclock_mono() + self->tick_interval_ms;
        }
    }
    drain_links(self);
    nagar_log_info("bus.worker_stopped", "service '%s' stopped%s", self->service,
                   zsys_interrupted ? " on a signal" : "");
    return 0;
}
