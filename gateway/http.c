/*
 * http.c — the gateway's server: libmicrohttpd driven from one event loop
 * together with the bus; see gateway.h.
 *
 * Life of an API request:
 *   uri_logged       MHD has the request line: allocate request_t, keep the
 *                    raw target (MHD's url argument is already unescaped, and
 *                    the query must be parsed strictly by us).
 *   on_request #1    headers are in: request id, client IP, CORS origin,
 *                    early refusals (URL too long, body announced too large).
 *   on_request #2..  body chunks, bounded.
 *   on_request last  route, rate limits, token, roles, decode, send on the
 *                    bus, MHD_suspend_connection.
 *   on_bus_reply     encode the reply or map the error; MHD_resume_connection.
 *   on_request again queue the stored response.
 *   on_completed     metrics, access log, free (or leave it to the bus
 *                    callback if the bus still holds a pointer to it).
 * A request's own deadline (timeout + grace) resumes it with 504 even if the
 * bus never calls back, because MHD does not time out suspended connections.
 */
#include "gateway.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "auth.h"
#include "buffer.h"
#include "bus_client.h"
#include "connections.h"
#include "idempotency_key.h"
#include "errors.h"
#include "json_codec.h"
#include "rate_limit.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "operations.h"
#include "ready.h"
#include "routes.h"
#include "session.h"
#include "static.h"

#define REQUEST_ID_MAX 64
/* Past the bus deadline, how long the gateway waits before answering 504
 * itself: the bus client normally completes first, with the service's or
 * broker's own DEADLINE_EXCEEDED. */
#define DEADLINE_GRACE_MS 250
/* Bus descriptors waited on: per broker, the bus client's socket and
 * connection watch, and the readiness prober's socket. */
#define BUS_FDS_MAX (3 * NAGAR_BUS_BROKERS_MAX)

enum { SLOT_HEALTHZ, SLOT_READYZ, SLOT_METRICS, SLOT_OPENAPI, SLOT_PREFLIGHT, SLOT_UNMATCHED,
       SLOT_STATIC, SLOT_FIXED };
static const char *const fixed_labels[SLOT_FIXED] = {"healthz", "readyz", "metrics", "openapi",
                                                     "preflight", "unmatched", "static"};

typedef struct request_t request_t;

struct gateway_t {
    gateway_options_t options;
    struct MHD_Daemon *daemon;
    int port;
    nagar_bus_client_t *bus;
    gateway_ready_t *ready;
    gateway_auth_t *auth;
    gateway_rate_limiter_t *ip_limiter;
    gateway_rate_limiter_t *user_limiter;
    gateway_metrics_t *metrics;
    gateway_connections_t *connections;            /* deadlines and room (connections.h) */
    int64_t mhd_log_window_ms;                     /* libmicrohttpd's lines: a few a second */
    int mhd_log_count;
    uint64_t mhd_log_suppressed;
    const char **metric_labels;
    size_t route_count;
    const gateway_route_t *routes;
    char *openapi;
    size_t openapi_length;
    gateway_static_t *web;                         /* the built web apps, or NULL */
    request_t *suspended_head, *suspended_tail;   /* by deadline (all share one timeout) */
    size_t suspended_count;
    bool resumed;                                  /* MHD has work before the next poll */
    char id_prefix[17];
    uint64_t id_counter;
    int64_t next_revocation_poll_ms;
    bool revocation_poll_in_flight;
    bool revocation_poll_failing;   /* log a failing poll once, not every interval */
    bool stopping;
    bool draining;                  /* asked to stop: /readyz 503, Connection: close */
    bool quiesced;                  /* no longer accepting connections */
    int64_t quiesce_at_ms;          /* monotonic: end of the drain grace */
    int64_t drain_deadline_ms;      /* monotonic: then what is still suspended gets 503 */
    size_t requests_in_hand;        /* begun and not yet completed (MHD_OPTION_NOTIFY_COMPLETED) */
};

struct request_t {
    gateway_t *gateway;
    struct MHD_Connection *connection;
    int64_t started_us;
    char *target;                   /* raw request target, bounded copy */
    bool target_too_long;
    bool started;
    char method[16];
    char request_id[REQUEST_ID_MAX + 1];
    char client_ip[INET6_ADDRSTRLEN];
    char user_id[96];               /* verified from the access token; "" when none */
    char role[32];
    const char *cors_origin;        /* into options, when the Origin is allowed */
    nagar_buffer_t *body;           /* NULL until the first byte comes */
    bool close_connection;          /* answer with Connection: close (framing errors) */
    size_t slot;
    const gateway_route_t *route;
    int status;
    struct MHD_Response *response;  /* built, not yet queued */
    bool queued;
    bool suspended;
    bool bus_pending;               /* the bus client holds a pointer to us */
    bool completed;                 /* MHD is done with us */
    int64_t deadline_ms;            /* monotonic */
    gateway_session_t *session;     /* the browser's refresh-token cookie (session.h); NULL
                                       but on identity's login/refresh/logout routes */
    request_t *next, *prev;         /* suspended list */
};

/* ---- options ------------------------------------------------------------ */

static int get_double(nagar_config_t *config, const char *key, double fallback, double *out,
                      char *error, size_t error_size)
{
    const char *text = nagar_config_get(config, key, NULL);
    if (!text) {
        *out = fallback;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || *end || value < 0 || value > 1e9) {
        snprintf(error, error_size, "%s=\"%s\" is not a number from 0 to 1e9", key, text);
        return -1;
    }
    *out = value;
    return 0;
}

int gateway_options_load(gateway_options_t *o, nagar_config_t *config, char *error,
                         size_t error_size)
{
    memset(o, 0, sizeof *o);
    const char *listen = nagar_config_get(config, "NAGAR_GATEWAY_LISTEN", "127.0.0.1:8080");
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == listen || (size_t) (colon - listen) >= sizeof o->host || !end ||
        *end || end == colon + 1 || port < 0 || port > 65535) {
        snprintf(error, error_size, "NAGAR_GATEWAY_LISTEN=\"%s\" is not host:port (e.g. "
                 "127.0.0.1:8080; port 0 picks a free one)", listen);
        return -1;
    }
    memcpy(o->host, listen, (size_t) (colon - listen));
    o->port = (int) port;
    bool ok =
        nagar_config_get_int(config, "NAGAR_GATEWAY_TIMEOUT_MS", 5000, 10, 600000,
                             &o->timeout_ms, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_MAX_BODY", 65536, 0, 16 * 1024 * 1024,
                             &o->max_body, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_MAX_URL", 2048, 64, 65536, &o->max_url, error,
                             error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_MAX_HEADER_BYTES", 16384, 4096, 1048576,
                             &o->max_header_bytes, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_MAX_CONNECTIONS", 1024, 1, 100000,
                             &o->max_connections, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_MAX_CONNECTIONS_PER_IP", 128, 0, 100000,
                             &o->max_connections_per_ip, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_CONNECTION_TIMEOUT_S", 10, 1, 3600,
                             &o->connection_timeout_s, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_HEADER_TIMEOUT_S", 10, 1, 3600,
                             &o->header_timeout_s, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_BODY_TIMEOUT_S", 30, 1, 3600,
                             &o->body_timeout_s, error, error_size) == 0 &&
        get_double(config, "NAGAR_GATEWAY_RATE_PER_IP", 20, &o->rate_per_ip, error,
                   error_size) == 0 &&
        get_double(config, "NAGAR_GATEWAY_BURST_PER_IP", 40, &o->burst_per_ip, error,
                   error_size) == 0 &&
        get_double(config, "NAGAR_GATEWAY_RATE_PER_USER", 10, &o->rate_per_user, error,
                   error_size) == 0 &&
        get_double(config, "NAGAR_GATEWAY_BURST_PER_USER", 20, &o->burst_per_user, error,
                   error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_RATE_TABLE_MAX", 100000, 16, 10000000,
                             &o->rate_table_max, error, error_size) == 0 &&
        nagar_config_get_bool(config, "NAGAR_GATEWAY_TRUST_PROXY", false, &o->trust_proxy,
                              error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_HSTS_SECONDS", 0, 0, 100000000,
                             &o->hsts_seconds, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_ACCESS_TTL_MAX_MS", 3600000, 1000,
                             86400000, &o->access_ttl_max_ms, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_REVOCATION_POLL_MS", 2000, 50, 600000,
                             &o->revocation_poll_ms, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_REVOCATIONS_MAX", 100000, 1, 100000000,
                             &o->revocations_max, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_READY_INTERVAL_MS", 1000, 50, 60000,
                             &o->ready_interval_ms, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_BUS_ATTEMPTS", 1, 1, 10, &o->bus_attempts,
                             error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_DRAIN_GRACE_MS", 0, 0, 600000,
                             &o->drain_grace_ms, error, error_size) == 0 &&
        nagar_config_get_int(config, "NAGAR_GATEWAY_DRAIN_TIMEOUT_MS", 0, 0, 3600000,
                             &o->drain_timeout_ms, error, error_size) == 0 &&
        nagar_config_get_bool(config, "NAGAR_GATEWAY_READY_NEEDS_SERVICES", true,
                              &o->ready_needs_services, error, error_size) == 0;
    if (!ok)
        return -1;
    const char *mode = nagar_config_get(config, "NAGAR_GATEWAY_MHD_MODE", "epoll");
    if (strcmp(mode, "epoll") != 0 && strcmp(mode, "select") != 0) {
        snprintf(error, error_size, "NAGAR_GATEWAY_MHD_MODE=\"%s\" is neither epoll nor select",
                 mode);
        return -1;
    }
    o->use_epoll = strcmp(mode, "epoll") == 0;
    const char *origins = nagar_config_get(config, "NAGAR_GATEWAY_CORS_ORIGINS", "");
    const char *cursor = origins;
    while (*cursor) {
        while (*cursor == ' ' || *cursor == ',')
            cursor++;
        size_t length = strcspn(cursor, ", ");
        if (!length)
            break;
        if (o->cors_origin_count == GATEWAY_CORS_ORIGINS_MAX ||
            length >= sizeof o->cors_origins[0]) {
            snprintf(error, error_size, "NAGAR_GATEWAY_CORS_ORIGINS names more than %d origins "
                     "or one longer than 255 characters", GATEWAY_CORS_ORIGINS_MAX);
            return -1;
        }
        memcpy(o->cors_origins[o->cors_origin_count], cursor, length);
        o->cors_origins[o->cors_origin_count++][length] = '\0';
        cursor += length;
    }
    const char *keys = nagar_config_get(config, "NAGAR_TOKEN_PUBLIC_KEYS_DIR", "");
    if (!keys[0] || strlen(keys) >= sizeof o->token_keys_dir) {
        snprintf(error, error_size, "NAGAR_TOKEN_PUBLIC_KEYS_DIR is not set: name the directory "
                 "of identity's <key_id>.pub files");
        return -1;
    }
    snprintf(o->token_keys_dir, sizeof o->token_keys_dir, "%s", keys);
    if (nagar_config_get_text(config, "NAGAR_GATEWAY_WEB_DIR", "", o->web_dir, sizeof o->web_dir,
                              error, error_size) != 0 ||
        nagar_config_get_text(config, "NAGAR_GATEWAY_WEB_CONFIG", "", o->web_config,
                              sizeof o->web_config, error, error_size) != 0)
        return -1;
    return nagar_bus_options_load(&o->bus, config, error, error_size);
}

/* ---- requests ----------------------------------------------------------- */

static int64_t mono_ms(void)
{
    return zclock_mono();
}

static void suspended_unlink(gateway_t *self, request_t *r)
{
    if (!r->suspended)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        self->suspended_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        self->suspended_tail = r->prev;
    r->next = r->prev = NULL;
    r->suspended = false;
    self->suspended_count--;
}

static void request_free(request_t **r_p)
{
    request_t *r = *r_p;
    if (!r)
        return;
    if (r->response)
        MHD_destroy_response(r->response);
    free(r->target);
    nagar_buffer_destroy(&r->body);
    gateway_session_destroy(&r->session);
    free(r);
    *r_p = NULL;
}

static bool safe_request_id(const char *id)
{
    size_t length = id ? strlen(id) : 0;
    if (length < 8 || length > REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Headers every response carries. */
static void add_common_headers(gateway_t *self, request_t *r, struct MHD_Response *response,
                               const char *content_type)
{
    MHD_add_response_header(response, "Content-Type", content_type);
    MHD_add_response_header(response, "X-Request-Id", r->request_id);
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(response, "X-Frame-Options", "DENY");
    MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(response, "Content-Security-Policy",
                            "default-src 'none'; frame-ancestors 'none'");
    MHD_add_response_header(response, "Cache-Control", "no-store");
    /* Draining: no connection is kept for another request. */
    if (self->draining)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    if (self->options.hsts_seconds > 0) {
        char value[64];
        snprintf(value, sizeof value, "max-age=%ld; includeSubDomains",
                 self->options.hsts_seconds);
        MHD_add_response_header(response, "Strict-Transport-Security", value);
    }
    if (self->options.cors_origin_count) {
        MHD_add_response_header(response, "Vary", "Origin");
        if (r->cors_origin) {
            MHD_add_response_header(response, "Access-Control-Allow-Origin", r->cors_origin);
            MHD_add_response_header(response, "Access-Control-Expose-Headers",
                                    "X-Request-Id, Retry-After, Idempotent-Replayed");
        }
    }
}

/* Stores a response (body is malloc'd and handed over, or NULL). */
static struct MHD_Response *set_response(request_t *r, int status, const char *content_type,
                                         char *body, size_t length)
{
    struct MHD_Response *response =
        body ? MHD_create_response_from_buffer(length, body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
    if (!response) {
        free(body);
        return NULL;
    }
    add_common_headers(r->gateway, r, response, content_type);
    if (r->response)
        MHD_destroy_response(r->response);
    r->response = response;
    r->status = status;
    return response;
}

static struct MHD_Response *set_error(request_t *r, int status, const char *code,
                                      const char *field, const char *format, ...)
    __attribute__((format(printf, 5, 6)));

static struct MHD_Response *set_error(request_t *r, int status, const char *code,
                                      const char *field, const char *format, ...)
{
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    size_t length = 0;
    char *body = gateway_error_body(code, message, field, r->request_id, &length);
    struct MHD_Response *response = set_response(r, status, "application/json", body, length);
    if (response && (status == 429 || status == 503))
        MHD_add_response_header(response, "Retry-After", "1");
    return response;
}

static enum MHD_Result queue_stored(request_t *r)
{
    if (!r->response)
        return MHD_NO;
    if (r->close_connection)
        MHD_add_response_header(r->response, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result result = MHD_queue_response(r->connection, (unsigned) r->status, r->response);
    MHD_destroy_response(r->response);
    r->response = NULL;
    r->queued = true;
    return result;
}

/* Resumes a suspended request whose response is stored. */
static void resume(gateway_t *self, request_t *r)
{
    suspended_unlink(self, r);
    MHD_resume_connection(r->connection);
    self->resumed = true;
}

/* ---- bus replies -------------------------------------------------------- */

static void on_bus_reply(const nagar_bus_result_t *result, void *arg)
{
    request_t *r = arg;
    r->bus_pending = false;
    if (r->completed) {             /* MHD gave up on the connection earlier */
        request_free(&r);
        return;
    }
    if (!r->suspended)              /* answered already (our own deadline) */
        return;
    gateway_t *self = r->gateway;
    nagar_log_set_request_id(r->request_id);
    if (gateway_operations_route(r->route)) {
        /* Composed here, whatever the witness answered (operations.h). */
        char *json = gateway_operations_answer(self->ready, result, nagar_bus_now_ms());
        if (json)
            set_response(r, 200, "application/json", json, strlen(json));
        else
            set_error(r, 500, "INTERNAL", "", "out of memory composing the operations page");
        nagar_log_set_request_id(NULL);
        resume(self, r);
        return;
    }
    if (result->code == NAGAR__STATUS_CODE__OK) {
        ProtobufCMessage *reply = protobuf_c_message_unpack(r->route->reply_type, NULL,
                                                            result->payload_size,
                                                            result->payload);
        /* Every field, zeros included; a replay of an idempotent mutation
         * says so in the body and in a header. */
        json_t *object = reply ? nagar_json_encode_object_with_defaults(reply) : NULL;
        if (reply)
            protobuf_c_message_free_unpacked(reply, NULL);
        if (object && result->replayed)
            json_object_set_new(object, "replayed", json_true());
        char *json = object ? json_dumps(object, JSON_COMPACT) : NULL;
        json_decref(object);
        json = gateway_session_reply(r->session, json);
        if (json) {
            struct MHD_Response *response =
                set_response(r, 200, "application/json", json, strlen(json));
            if (response && result->replayed)
                MHD_add_response_header(response, "Idempotent-Replayed", "true");
            gateway_session_add_cookies(r->session, response);
        } else {
            nagar_log_error("gateway.bad_reply", "service %s method %s answered with a payload "
                            "that is not a valid %s (%zu bytes)", r->route->service,
                            r->route->bus_method, r->route->reply_type->name,
                            result->payload_size);
            set_error(r, 502, "BAD_GATEWAY", "", "service %s answered %s with a reply the "
                      "gateway cannot read", r->route->service, r->route->bus_method);
        }
    } else {
        int status = nagar_status_http(result->code);
        const char *name = nagar_status_name(result->code);
        switch (result->code) {
        case NAGAR__STATUS_CODE__UNAVAILABLE:
            set_error(r, 503, name, result->field, "service %s is unavailable: %s",
                      r->route->service, result->message);
            break;
        case NAGAR__STATUS_CODE__DEADLINE_EXCEEDED:
            set_error(r, 504, name, result->field, "service %s did not answer %s within %ld ms: "
                      "%s", r->route->service, r->route->bus_method, self->options.timeout_ms,
                      result->message);
            break;
        case NAGAR__STATUS_CODE__INTERNAL:
            /* The service's text may describe its internals; the log has it. */
            nagar_log_error("gateway.service_internal_error", "service %s method %s failed: %s",
                            r->route->service, r->route->bus_method, result->message);
            set_error(r, 500, name, "", "service %s failed on %s; quote request id %s when "
                      "reporting it", r->route->service, r->route->bus_method, r->request_id);
            break;
        default:
            set_error(r, status, name, result->field, "%s", result->message);
        }
    }
    nagar_log_set_request_id(NULL);
    resume(self, r);
}

/* ---- revocation poller --------------------------------------------------- */

static void on_revocations(const nagar_bus_result_t *result, void *arg)
{
    gateway_t *self = arg;
    self->revocation_poll_in_flight = false;
    int64_t now = mono_ms();
    self->next_revocation_poll_ms = now + self->options.revocation_poll_ms;
    if (result->code != NAGAR__STATUS_CODE__OK) {
        if (self->revocation_poll_failing)
            return;
        self->revocation_poll_failing = true;
        nagar_log_warn("gateway.revocations_poll_failed", "polling identity token.revocations "
                       "failed (%s: %s); revoked tokens issued since the last poll are still "
                       "accepted until it succeeds", nagar_status_name(result->code),
                       result->message);
        return;
    }
    Nagar__Identity__ListRevocationsReply *reply = nagar__identity__list_revocations_reply__unpack(
        NULL, result->payload_size, result->payload);
    if (!reply) {
        nagar_log_error("gateway.revocations_bad_reply", "identity answered token.revocations "
                        "with a payload that is not a ListRevocationsReply");
        return;
    }
    self->revocation_poll_failing = false;
    size_t added = gateway_auth_apply(self->auth, reply, nagar_bus_now_ms());
    if (!gateway_auth_synced(self->auth))
        nagar_log_info("gateway.revocations_synced", "revocations loaded up to id %" PRId64,
                       gateway_auth_cursor(self->auth));
    gateway_auth_mark_synced(self->auth);
    if (added)
        nagar_log_info("gateway.revocations_applied", "%zu new revocations (cursor %" PRId64 ")",
                       added, gateway_auth_cursor(self->auth));
    if (reply->n_revocations > 0)       /* there may be another page */
        self->next_revocation_poll_ms = now;
    nagar__identity__list_revocations_reply__free_unpacked(reply, NULL);
}

static void poll_revocations(gateway_t *self, int64_t now)
{
    if (self->revocation_poll_in_flight || now < self->next_revocation_poll_ms)
        return;
    Nagar__Identity__ListRevocationsRequest request = NAGAR__IDENTITY__LIST_REVOCATIONS_REQUEST__INIT;
    request.after_id = gateway_auth_cursor(self->auth);
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;   /* acts for nobody */
    nagar_bus_call_t call = {.service = "identity", .method = "token.revocations",
                             .context = &context, .request = &request.base,
                             .timeout_ms = (int) self->options.timeout_ms, .max_attempts = 1,
                             .repeatable = true};
    if (nagar_bus_client_send(self->bus, &call, on_revocations, self) == 0)
        self->revocation_poll_in_flight = true;
    else
        self->next_revocation_poll_ms = now + self->options.revocation_poll_ms;
}

/* ---- operations endpoints ---------------------------------------------- */

/* Appends ", name" (or "name" first) to a message being built; bounded. */
static void append_name(char *message, size_t size, size_t *used, bool *first, const char *name)
{
    if (*used >= size)
        return;
    int n = snprintf(message + *used, size - *used, "%s%s", *first ? " " : ", ", name);
    *used += n > 0 ? (size_t) n : 0;
    *first = false;
}

static void answer_readyz(gateway_t *self, request_t *r)
{
    json_t *services = json_object(), *missing = json_array();
    bool reachable = gateway_ready_broker_reachable(self->ready);
    bool known = gateway_ready_known(self->ready);
    size_t unprobed = 0;
    for (const char *const *s = gateway_route_services(); *s; s++) {
        int state = gateway_ready_service(self->ready, *s);
        json_object_set_new(services, *s, json_string(state == 1   ? "ok"
                                                      : state == 0 ? "no worker"
                                                                   : "not probed yet"));
        if (state != 1)
            json_array_append_new(missing, json_string(*s));
        if (state == -1)
            unprobed++;
    }
    bool synced = gateway_auth_synced(self->auth);
    /* Behind a load balancer (NAGAR_GATEWAY_READY_NEEDS_SERVICES=0) a
     * service with no worker must not take every gateway out of rotation:
     * its routes answer 503 on their own, the others go on. */
    bool services_ok = json_array_size(missing) == 0 || !self->options.ready_needs_services;
    bool ready = known && reachable && services_ok && synced && !self->draining;
    char message[512];
    if (self->draining) {
        snprintf(message, sizeof message, "draining: this gateway is stopping and takes no new "
                 "connections");
    } else if (ready) {
        snprintf(message, sizeof message, "ready");
    } else if (!reachable) {
        /* Before the first round of probes has ended, silence is not yet an answer. */
        if (known)
            snprintf(message, sizeof message, "no broker answers (%.400s)",
                     self->options.bus.endpoint);
        else
            snprintf(message, sizeof message, "the broker has not been probed yet");
    } else if (!services_ok) {
        /* The broker answers: name what it said, and what it has not been asked yet. */
        size_t used = 0;
        bool first = true;
        if (unprobed < json_array_size(missing)) {
            used = (size_t) snprintf(message, sizeof message, "no worker for:");
            for (const char *const *s = gateway_route_services(); *s; s++)
                if (gateway_ready_service(self->ready, *s) == 0)
                    append_name(message, sizeof message, &used, &first, *s);
        }
        if (unprobed) {
            if (used < sizeof message)
                used += (size_t) snprintf(message + used, sizeof message - used, "%snot probed "
                                          "yet:", used ? "; " : "");
            first = true;
            for (const char *const *s = gateway_route_services(); *s; s++)
                if (gateway_ready_service(self->ready, *s) == -1)
                    append_name(message, sizeof message, &used, &first, *s);
        }
    } else if (!known) {
        snprintf(message, sizeof message, "the first round of probes has not finished yet");
    } else {
        snprintf(message, sizeof message, "token revocations have not been loaded from identity "
                 "yet");
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}", "status",
                             ready ? "ready" : "not ready", "message", message, "broker",
                             reachable ? "reachable" : "unreachable", "services", services,
                             "missing", missing, "revocationsSynced", synced);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    set_response(r, ready ? 200 : 503, "application/json", text, text ? strlen(text) : 0);
}

static void answer_metrics(gateway_t *self, request_t *r)
{
    for (const char *const *s = gateway_route_services(); *s; s++)
        gateway_metrics_service(self->metrics, *s, gateway_ready_service(self->ready, *s));
    gateway_metrics_set_gauge(self->metrics, "nagar_gateway_broker_reachable",
                              gateway_ready_broker_reachable(self->ready));
    gateway_metrics_set_gauge(self->metrics, "nagar_gateway_revocations",
                              (double) gateway_auth_revocation_count(self->auth));
    gateway_metrics_set_gauge(self->metrics, "nagar_gateway_suspended_connections",
                              (double) self->suspended_count);
    size_t length = 0;
    char *text = gateway_metrics_render(self->metrics, &length);
    if (text)
        set_response(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, length);
    else
        set_error(r, 500, "INTERNAL", "", "out of memory rendering metrics");
}

/* Returns true when the request is for an operations endpoint (answered). */
static bool answer_operations(gateway_t *self, request_t *r, const char *path)
{
    bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    size_t slot;
    if (strcmp(path, "/healthz") == 0)
        slot = SLOT_HEALTHZ;
    else if (strcmp(path, "/readyz") == 0)
        slot = SLOT_READYZ;
    else if (strcmp(path, "/metrics") == 0)
        slot = SLOT_METRICS;
    else if (strcmp(path, "/api/v1/openapi.json") == 0)
        slot = SLOT_OPENAPI;
    else
        return false;
    r->slot = self->route_count + slot;
    if (!get) {
        if (set_error(r, 405, "METHOD_NOT_ALLOWED", "", "%s accepts GET only", path))
            MHD_add_response_header(r->response, "Allow", "GET, HEAD");
        return true;
    }
    switch (slot) {
    case SLOT_HEALTHZ: {
        static const char healthy[] = "{\"status\":\"ok\"}";
        struct MHD_Response *response = MHD_create_response_from_buffer(
            sizeof healthy - 1, (void *) healthy, MHD_RESPMEM_PERSISTENT);
        if (response) {
            add_common_headers(self, r, response, "application/json");
            r->response = response;
            r->status = 200;
        }
        break;
    }
    case SLOT_READYZ: answer_readyz(self, r); break;
    case SLOT_METRICS: answer_metrics(self, r); break;
    default: {
        char *body = malloc(self->openapi_length);
        if (body)
            memcpy(body, self->openapi, self->openapi_length);
        set_response(r, 200, "application/json", body, body ? self->openapi_length : 0);
    }
    }
    return true;
}

static void answer_preflight(gateway_t *self, request_t *r, const char *path)
{
    r->slot = self->route_count + SLOT_PREFLIGHT;
    const char *origin = MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND, "Origin");
    gateway_route_match_t match;
    char allow[64];
    gateway_route_result_t found = gateway_route_match("OPTIONS", path, &match, allow,
                                                       sizeof allow);
    if (found != GATEWAY_ROUTE_WRONG_METHOD) {
        set_error(r, 404, "NOT_FOUND", "", "no route for %s", path);
        return;
    }
    if (origin && !r->cors_origin) {
        set_error(r, 403, "CORS_ORIGIN_DENIED", "Origin", "origin \"%s\" is not allowed to call "
                  "this API from a browser (NAGAR_GATEWAY_CORS_ORIGINS)", origin);
        return;
    }
    struct MHD_Response *response = set_response(r, 204, "application/json", NULL, 0);
    if (!response)
        return;
    MHD_add_response_header(response, "Allow", allow);
    if (r->cors_origin) {
        MHD_add_response_header(response, "Access-Control-Allow-Methods", allow);
        MHD_add_response_header(response, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Idempotency-Key, X-Request-Id");
        MHD_add_response_header(response, "Access-Control-Max-Age", "600");
    }
}

/* ---- API requests -------------------------------------------------------- */

static bool rate_limited(request_t *r, gateway_rate_limiter_t *limiter, const char *key,
                         const char *what)
{
    int wait = gateway_rate_limiter_take(limiter, key, mono_ms());
    if (!wait)
        return false;
    if (set_error(r, 429, "RESOURCE_EXHAUSTED", "", "too many requests from this %s; retry "
                  "after %d s", what, wait)) {
        char value[16];
        snprintf(value, sizeof value, "%d", wait);
        MHD_del_response_header(r->response, "Retry-After", "1");
        MHD_add_response_header(r->response, "Retry-After", value);
    }
    return true;
}

/* Builds the request message from body, path and query. Returns NULL with
 * the error response set. */
static ProtobufCMessage *decode_request(request_t *r, const gateway_route_match_t *match,
                                        const char *query)
{
    const gateway_route_t *route = match->route;
    bool body_allowed = strcmp(r->method, "GET") != 0 && strcmp(r->method, "DELETE") != 0;
    json_t *object = NULL;
    size_t body_length = r->body ? nagar_buffer_size(r->body) : 0;
    if (body_length && !body_allowed) {
        set_error(r, 400, "INVALID_ARGUMENT", "", "%s %s takes no body; send parameters in the "
                  "query string", r->method, route->pattern);
        return NULL;
    }
    if (body_length) {
        json_error_t error;
        object = json_loadb(nagar_buffer_text(r->body), body_length, JSON_REJECT_DUPLICATES,
                            &error);
        if (!object) {
            set_error(r, 400, "MALFORMED_JSON", "", "the body is not valid JSON: %s at line %d "
                      "column %d", error.text, error.line, error.column);
            return NULL;
        }
        if (!json_is_object(object)) {
            json_decref(object);
            set_error(r, 400, "MALFORMED_JSON", "", "the body must be a JSON object");
            return NULL;
        }
    } else {
        object = json_object();
    }
    nagar_json_error_t error = {"", ""};
    for (size_t i = 0; i < match->param_count; i++)
        if (nagar_json_merge_param(object, route->request_type, match->params[i].name,
                                   match->params[i].value, &error) != 0)
            goto rejected;
    gateway_query_t parsed;
    char message[256], field[GATEWAY_PARAM_NAME_MAX + 1];
    if (gateway_query_parse(query, &parsed, message, sizeof message, field, sizeof field) != 0) {
        gateway_query_free(&parsed);
        json_decref(object);
        set_error(r, 400, "INVALID_ARGUMENT", field, "%s", message);
        return NULL;
    }
    for (size_t i = 0; i < parsed.count; i++)
        if (nagar_json_merge_param(object, route->request_type, parsed.names[i],
                                   parsed.values[i], &error) != 0) {
            gateway_query_free(&parsed);
            goto rejected;
        }
    gateway_query_free(&parsed);
    ProtobufCMessage *message_out = NULL;
    nagar_json_limits_t limits = NAGAR_JSON_DEFAULT_LIMITS;
    limits.max_bytes = (size_t) r->gateway->options.max_body;
    if (nagar_json_decode_object(route->request_type, object, &limits, &message_out, &error) != 0)
        goto rejected;
    json_decref(object);
    return message_out;
rejected:
    json_decref(object);
    set_error(r, 400, "INVALID_ARGUMENT", error.path, "%s%s%s", error.path[0] ? error.path : "",
              error.path[0] ? ": " : "", error.message);
    return NULL;
}

/* Handles a complete API request: answers it, or suspends it on the bus. */
/* Did the client reach us over TLS (HSTS on, or a trusted proxy says so)? */
static bool tls_request(gateway_t *self, request_t *r)
{
    if (self->options.hsts_seconds > 0)
        return true;
    if (!self->options.trust_proxy)
        return false;
    const char *proto =
        MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND, "X-Forwarded-Proto");
    return proto && strcmp(proto, "https") == 0;
}

/* GET/HEAD of a web app file (static.h). Returns true when answered. */
static bool answer_static(gateway_t *self, request_t *r, const char *path)
{
    if (!self->web || strncmp(path, "/api/", 5) == 0 ||
        (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0))
        return false;
    unsigned status = 0;
    struct MHD_Response *response = gateway_static_answer(
        self->web, path, MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND,
                                                     "Accept-Encoding"),
        MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND, "If-None-Match"), &status);
    if (!response)
        return false;
    MHD_add_response_header(response, "X-Request-Id", r->request_id);
    if (self->options.hsts_seconds > 0) {
        char value[64];
        snprintf(value, sizeof value, "max-age=%ld; includeSubDomains",
                 self->options.hsts_seconds);
        MHD_add_response_header(response, "Strict-Transport-Security", value);
    }
    r->response = response;
    r->status = (int) status;
    r->slot = self->route_count + SLOT_STATIC;
    return true;
}

static void handle_api(gateway_t *self, request_t *r, const char *path, const char *query)
{
    gateway_route_match_t match;
    char allow[64];
    switch (gateway_route_match(r->method, path, &match, allow, sizeof allow)) {
    case GATEWAY_ROUTE_FOUND: break;
    case GATEWAY_ROUTE_WRONG_METHOD:
        if (set_error(r, 405, "METHOD_NOT_ALLOWED", "", "%s is not allowed on %s; allowed: %s",
                      r->method, path, allow))
            MHD_add_response_header(r->response, "Allow", allow);
        return;
    case GATEWAY_ROUTE_BAD_PATH:
        set_error(r, 400, "INVALID_ARGUMENT", "", "a path parameter in %s is badly "
                  "percent-encoded, holds control characters or is longer than %d bytes", path,
                  GATEWAY_PATH_PARAM_VALUE_MAX);
        return;
    case GATEWAY_ROUTE_NOT_FOUND:
    default:
        set_error(r, 404, "NOT_FOUND", "", "no route for %s %s; see /api/v1/openapi.json",
                  r->method, path);
        return;
    }
    const gateway_route_t *route = match.route;
    r->route = route;
    r->slot = match.route_index;
    if (rate_limited(r, self->ip_limiter, r->client_ip, "address"))
        return;

    nagar_token_claims_t claims;
    memset(&claims, 0, sizeof claims);
    const char *access_token = NULL;   /* forwarded: each service verifies it again */
    bool public_route = route->roles & GATEWAY_ROLE_PUBLIC;
    if (!public_route) {
        const char *authorization =
            MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND, "Authorization");
        gateway_auth_result_t verdict = gateway_auth_check(self->auth, authorization,
                                                           nagar_bus_now_ms(), &claims,
                                                           &access_token);
        if (verdict != GATEWAY_AUTH_OK) {
            nagar_log_info("gateway.auth_refused", "%s %s refused: %s", r->method, path,
                           gateway_auth_result_text(verdict));
            if (set_error(r, 401, "UNAUTHENTICATED", "", "%s", gateway_auth_result_text(verdict)))
                MHD_add_response_header(r->response, "WWW-Authenticate", "Bearer");
            return;
        }
        snprintf(r->user_id, sizeof r->user_id, "%s", claims.user_id);
        snprintf(r->role, sizeof r->role, "%s", claims.role);
        if (!(route->roles & gateway_role_bit(claims.role))) {
            char roles[256];
            gateway_roles_text(route->roles, roles, sizeof roles);
            set_error(r, 403, "PERMISSION_DENIED", "", "role %s may not call %s %s; it needs one "
                      "of: %s", claims.role, route->method, route->pattern, roles);
            return;
        }
        if (rate_limited(r, self->user_limiter, claims.user_id, "user"))
            return;
    }

    const char *idempotency_key =
        MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND, "Idempotency-Key");
    if (idempotency_key && !nagar_idempotency_key_valid(idempotency_key)) {
        set_error(r, 400, "INVALID_ARGUMENT", "Idempotency-Key", "the Idempotency-Key header "
                  "must be " NAGAR_IDEMPOTENCY_KEY_RULE);
        return;
    }
    if (route->money_moving && !idempotency_key) {
        set_error(r, 400, "IDEMPOTENCY_KEY_REQUIRED", "Idempotency-Key", "%s %s moves money: "
                  "send an Idempotency-Key header (a unique value per operation, reused on "
                  "retries)", route->method, route->pattern);
        return;
    }

    ProtobufCMessage *message = decode_request(r, &match, query);
    if (!message)
        return;
    char session_error[256];
    int session_status = gateway_session_prepare(&r->session, route->service, route->bus_method,
                                                 r->connection, message, tls_request(self, r),
                                                 session_error, sizeof session_error);
    if (session_status != 0) {
        protobuf_c_message_free_unpacked(message, NULL);
        if (session_status == 403)
            set_error(r, 403, "CSRF_CHECK_FAILED", "X-CSRF-Token", "%s", session_error);
        else
            set_error(r, 500, "INTERNAL", "", "%s", session_error);
        return;
    }
    if (gateway_ready_known(self->ready) && !gateway_ready_broker_reachable(self->ready)) {
        protobuf_c_message_free_unpacked(message, NULL);
        set_error(r, 503, "UNAVAILABLE", "", "the message broker is unreachable; retry later");
        return;
    }

    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.request_id = r->request_id;
    context.idempotency_key = (route->mutation && idempotency_key) ? (char *) idempotency_key : "";
    /* The caller's own signed token, not a word of ours about who it is. */
    context.authorization = access_token ? (char *) access_token : "";
    context.client_ip = r->client_ip;
    context.deadline_unix_ms = nagar_bus_now_ms() + self->options.timeout_ms;
    /* A GET only reads (HTTP's safe method): it may be sent again after
     * a broker's connection is lost even without an Idempotency-Key. */
    nagar_bus_call_t call = {.service = route->service, .method = route->bus_method,
                             .context = &context, .request = message,
                             .timeout_ms = (int) self->options.timeout_ms,
                             .max_attempts = (int) self->options.bus_attempts,
                             .repeatable = strcmp(route->method, "GET") == 0};
    int sent = nagar_bus_client_send(self->bus, &call, on_bus_reply, r);
    protobuf_c_message_free_unpacked(message, NULL);
    if (sent != 0) {
        set_error(r, 503, "UNAVAILABLE", "", "the request could not be sent to service %s: too "
                  "many requests in flight, or one with the same X-Request-Id is", route->service);
        return;
    }
    r->bus_pending = true;
    r->deadline_ms = mono_ms() + self->options.timeout_ms + DEADLINE_GRACE_MS;
    MHD_suspend_connection(r->connection);
    r->suspended = true;
    r->prev = self->suspended_tail;
    if (self->suspended_tail)
        self->suspended_tail->next = r;
    else
        self->suspended_head = r;
    self->suspended_tail = r;
    self->suspended_count++;
}

static void client_address(gateway_t *self, request_t *r)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(r->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(r->client_ip, sizeof r->client_ip, "unknown");
    if (info && info->client_addr) {
        const struct sockaddr *sa = info->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, r->client_ip,
                      sizeof r->client_ip);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, r->client_ip,
                      sizeof r->client_ip);
    }
    if (!self->options.trust_proxy)
        return;
    /* The trusted proxy appends the address it saw: the last entry. */
    const char *forwarded =
        MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!forwarded)
        return;
    const char *last = strrchr(forwarded, ',');
    last = last ? last + 1 : forwarded;
    while (*last == ' ')
        last++;
    char candidate[INET6_ADDRSTRLEN];
    size_t length = strcspn(last, " ");
    if (length == 0 || length >= sizeof candidate)
        return;
    memcpy(candidate, last, length);
    candidate[length] = '\0';
    unsigned char buffer[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, candidate, buffer) == 1 || inet_pton(AF_INET6, candidate, buffer) == 1)
        snprintf(r->client_ip, sizeof r->client_ip, "%s", candidate);
}

/* What the request's headers say about its size and framing. */
typedef struct {
    size_t header_bytes;            /* names, values and separators */
    int content_lengths;            /* Content-Length headers */
    bool lengths_differ;
    unsigned long long length;      /* the first one's value */
    bool length_malformed;
    int transfer_encodings;
    bool chunked_only;              /* every Transfer-Encoding is exactly "chunked" */
    bool name_not_token;            /* a header name with a space, a tab or other non-tchar */
} framing_t;

/* RFC 9110 section 5.1: a field name is a token of tchar. libmicrohttpd
 * keeps "Transfer-Encoding " (space before the colon) as a name of its own,
 * so such a header would be read as nothing while a proxy that trims the
 * name reads chunked: two readings of where the request ends. */
static bool header_name_is_token(const char *name)
{
    if (!*name)
        return false;
    for (; *name; name++) {
        unsigned char c = (unsigned char) *name;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

static bool is_decimal(const char *text)
{
    if (!*text)
        return false;
    for (; *text; text++)
        if (*text < '0' || *text > '9')
            return false;
    return true;
}

static enum MHD_Result read_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void) kind;
    framing_t *f = cls;
    value = value ? value : "";
    f->header_bytes += strlen(key) + strlen(value) + 4;
    if (!header_name_is_token(key))
        f->name_not_token = true;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        unsigned long long length = is_decimal(value) && strlen(value) <= 18
                                        ? strtoull(value, NULL, 10) : 0;
        if (!is_decimal(value) || strlen(value) > 18)
            f->length_malformed = true;
        if (f->content_lengths++ == 0)
            f->length = length;
        else if (length != f->length)
            f->lengths_differ = true;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        if (f->transfer_encodings++ == 0)
            f->chunked_only = true;
        if (strcasecmp(value, "chunked") != 0)
            f->chunked_only = false;
    }
    return MHD_YES;
}

/* Whether the body's media type is JSON: "application/json", any case,
 * optionally followed by parameters ("; charset=utf-8"). */
static bool json_media_type(const char *content_type)
{
    static const char json[] = "application/json";
    if (!content_type)
        return false;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    if (strncasecmp(content_type, json, sizeof json - 1) != 0)
        return false;
    const char *rest = content_type + sizeof json - 1;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

/* The request's framing, size and body type, checked before any of its
 * body is read (PostgreSQL's rule: say which input broke which rule). A
 * request whose length is ambiguous is refused and its connection closed:
 * two readings of where it ends is how requests are smuggled past a proxy.
 * Returns false with the answer stored. */
static bool request_framing_ok(gateway_t *self, request_t *r)
{
    framing_t f = {0};
    MHD_get_connection_values(r->connection, MHD_HEADER_KIND, read_framing, &f);
    if (f.header_bytes + strlen(r->target ? r->target : "") > (size_t) self->options.max_header_bytes) {
        set_error(r, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", "", "the request's headers are %zu "
                  "bytes; at most %ld are accepted", f.header_bytes,
                  self->options.max_header_bytes);
        r->close_connection = true;
        return false;
    }
    const char *problem = NULL;
    if (f.name_not_token) {
        set_error(r, 400, "MALFORMED_REQUEST", "", "a header name is not a token (RFC 9110 "
                  "section 5.1): no spaces or tabs before the colon, no control characters");
        r->close_connection = true;
        return false;
    }
    if (f.content_lengths && f.transfer_encodings)
        problem = "the request has both Content-Length and Transfer-Encoding; send one";
    else if (f.lengths_differ)
        problem = "the request has Content-Length headers with different values";
    else if (f.length_malformed)
        problem = "Content-Length must be a decimal number of bytes";
    else if (f.transfer_encodings && (!f.chunked_only || f.transfer_encodings > 1))
        problem = "the only Transfer-Encoding accepted is a single \"chunked\"";
    if (problem) {
        set_error(r, 400, "MALFORMED_REQUEST", f.transfer_encodings ? "Transfer-Encoding"
                                                                     : "Content-Length",
                  "%s", problem);
        r->close_connection = true;
        return false;
    }
    if (f.content_lengths && f.length > (unsigned long long) self->options.max_body) {
        set_error(r, 413, "PAYLOAD_TOO_LARGE", "", "the body is %llu bytes; at most %ld are "
                  "accepted", f.length, self->options.max_body);
        r->close_connection = true;
        return false;
    }
    bool has_body = f.transfer_encodings || (f.content_lengths && f.length > 0);
    const char *content_type =
        MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (has_body && !json_media_type(content_type)) {
        set_error(r, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type", "a request body must be "
                  "JSON sent as Content-Type: application/json; this one is %s",
                  content_type ? content_type : "without a Content-Type");
        r->close_connection = true;
        return false;
    }
    return true;
}

/* First call for a request: headers are in. Returns false when answered. */
static bool request_start(gateway_t *self, request_t *r, const char *method)
{
    r->started = true;
    snprintf(r->method, sizeof r->method, "%s", method);
    const char *id = MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND, "X-Request-Id");
    if (safe_request_id(id))
        snprintf(r->request_id, sizeof r->request_id, "%s", id);
    else
        snprintf(r->request_id, sizeof r->request_id, "%s%016" PRIx64, self->id_prefix,
                 ++self->id_counter);
    client_address(self, r);
    const char *origin = MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND, "Origin");
    for (size_t i = 0; origin && i < self->options.cors_origin_count; i++)
        if (strcmp(origin, self->options.cors_origins[i]) == 0)
            r->cors_origin = self->options.cors_origins[i];
    r->slot = self->route_count + SLOT_UNMATCHED;
    if (r->target_too_long) {
        set_error(r, 414, "URI_TOO_LONG", "", "the request target is longer than %ld bytes",
                  self->options.max_url);
        return false;
    }
    return request_framing_ok(self, r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void) url;
    (void) version;
    gateway_t *self = cls;
    request_t *r = *con_cls;
    if (!r)
        return MHD_NO;
    r->connection = connection;
    if (r->queued) {                    /* answered early; discard what follows */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!r->started) {
        gateway_connections_headers_in(self->connections, connection);
        if (!request_start(self, r, method))
            return queue_stored(r);
        return MHD_YES;
    }
    if (r->response)                    /* resumed, or answered while reading */
        return queue_stored(r);
    if (*upload_data_size) {
        size_t chunk = *upload_data_size;
        *upload_data_size = 0;
        if (self->options.max_body == 0)   /* a buffer's limit 0 would mean none */
            return MHD_NO;
        if (!r->body && !(r->body = nagar_buffer_new((size_t) self->options.max_body)))
            return MHD_NO;
        /* Past max_body with no Content-Length (chunked): close rather than
         * read on without bound (a failed buffer refuses every later chunk). */
        if (nagar_buffer_append(r->body, upload_data, chunk) != 0)
            return MHD_NO;
        return MHD_YES;
    }
    /* The whole request is in. */
    gateway_connections_request_in(self->connections, connection);
    nagar_log_set_request_id(r->request_id);
    char *target = r->target ? r->target : "/";
    char *question = strchr(target, '?');
    const char *query = NULL;
    if (question) {
        *question = '\0';
        query = question + 1;
    }
    if (strcmp(r->method, "OPTIONS") == 0)
        answer_preflight(self, r, target);
    else if (!answer_operations(self, r, target) && !answer_static(self, r, target))
        handle_api(self, r, target, query);
    nagar_log_set_request_id(NULL);
    if (r->suspended)
        return MHD_YES;
    if (!r->response)
        set_error(r, 500, "INTERNAL", "", "the gateway ran out of memory answering this request");
    return queue_stored(r);
}

static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *connection)
{
    gateway_t *self = cls;
    request_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->gateway = self;
    r->connection = connection;
    r->started_us = zclock_usecs();
    size_t length = uri ? strlen(uri) : 0;
    if (length > (size_t) self->options.max_url)
        r->target_too_long = true;
    else
        r->target = strdup(uri ? uri : "/");
    r->status = 0;
    gateway_metrics_in_flight(self->metrics, 1);
    self->requests_in_hand++;
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    gateway_t *self = cls;
    gateway_connections_response_done(self->connections, connection);
    request_t *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    gateway_metrics_in_flight(self->metrics, -1);
    self->requests_in_hand--;
    double seconds = (double) (zclock_usecs() - r->started_us) / 1e6;
    int status = r->queued ? r->status : 0;
    if (status)
        gateway_metrics_record(self->metrics, r->slot, status, seconds);
    bool operations = r->slot >= self->route_count &&
                      r->slot != self->route_count + SLOT_UNMATCHED;
    /* Successful probes and scrapes are not worth a log line each; and a
     * line below the log level is not built at all (its fields cost more
     * than the rest of on_completed). */
    if (r->started && !(operations && status && status < 400) &&
        nagar_log_enabled(NAGAR_LOG_INFO)) {
        json_t *fields = json_pack("{s:s, s:s, s:i, s:f, s:s, s:s, s:s, s:s}", "method",
                                   r->method, "route", self->metric_labels[r->slot], "status",
                                   status, "duration_ms", seconds * 1000.0, "client_ip",
                                   r->client_ip, "user_id", r->user_id, "role", r->role,
                                   "outcome",
                                   why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "completed"
                                                                              : "aborted");
        nagar_log_set_request_id(r->request_id);
        nagar_log_write(NAGAR_LOG_INFO, "gateway.request", fields, "%s %s -> %d", r->method,
                        r->target ? r->target : "(target too long)", status);
        nagar_log_set_request_id(NULL);
    }
    suspended_unlink(self, r);
    r->completed = true;
    if (!r->bus_pending)
        request_free(&r);
}

/* libmicrohttpd's own lines (a connection refused at a limit, a malformed
 * request): a flood of them must not fill the disk, so at most a few a
 * second, the rest counted in "suppressed". */
static void mhd_log(void *cls, const char *format, va_list args)
{
    gateway_t *self = cls;
    int64_t now = mono_ms();
    if (now - self->mhd_log_window_ms >= 1000) {
        self->mhd_log_window_ms = now;
        self->mhd_log_count = 0;
    }
    if (++self->mhd_log_count > 5) {
        self->mhd_log_suppressed++;
        return;
    }
    char message[512];
    vsnprintf(message, sizeof message, format, args);
    size_t length = strlen(message);
    while (length && (message[length - 1] == '\n' || message[length - 1] == '\r'))
        message[--length] = '\0';
    nagar_log_write(NAGAR_LOG_WARN, "gateway.http_server",
                    json_pack("{s:I}", "suppressed", (json_int_t) self->mhd_log_suppressed),
                    "%s", message);
    self->mhd_log_suppressed = 0;
}

/* ---- life cycle ----------------------------------------------------------- */

gateway_t *gateway_new(const gateway_options_t *options, nagar_config_t *config, char *error,
                       size_t error_size)
{
    if (sodium_init() < 0) {
        snprintf(error, error_size, "libsodium could not initialise");
        return NULL;
    }
    gateway_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    self->options = *options;
    uint8_t prefix[8];
    randombytes_buf(prefix, sizeof prefix);
    sodium_bin2hex(self->id_prefix, sizeof self->id_prefix, prefix, sizeof prefix);
    self->routes = gateway_routes(&self->route_count);
    self->metric_labels = calloc(self->route_count + SLOT_FIXED, sizeof *self->metric_labels);
    if (!self->metric_labels)
        goto oom;
    for (size_t i = 0; i < self->route_count; i++) {
        char label[256];
        snprintf(label, sizeof label, "%s %s", self->routes[i].method, self->routes[i].pattern);
        if (!(self->metric_labels[i] = strdup(label)))
            goto oom;
    }
    for (size_t i = 0; i < SLOT_FIXED; i++)
        self->metric_labels[self->route_count + i] = fixed_labels[i];
    self->metrics = gateway_metrics_new(self->metric_labels, self->route_count + SLOT_FIXED);
    self->ip_limiter = gateway_rate_limiter_new(options->rate_per_ip, options->burst_per_ip,
                                                (size_t) options->rate_table_max);
    self->user_limiter = gateway_rate_limiter_new(options->rate_per_user, options->burst_per_user,
                                                  (size_t) options->rate_table_max);
    self->openapi = gateway_openapi_document(self->routes, self->route_count,
                                             &self->openapi_length);
    if (!self->metrics || !self->ip_limiter || !self->user_limiter || !self->openapi)
        goto oom;
    self->auth = gateway_auth_new(options->token_keys_dir, options->access_ttl_max_ms,
                                  (size_t) options->revocations_max, error, error_size);
    if (!self->auth)
        goto fail;
    self->bus = nagar_bus_client_new(&options->bus, config, error, error_size);
    if (!self->bus)
        goto fail;
    self->ready = gateway_ready_new(&options->bus, gateway_route_services(),
                                    (int) options->ready_interval_ms, 500, error, error_size);
    if (!self->ready)
        goto fail;
    if (options->web_dir[0] && !(self->web = gateway_static_new(options->web_dir,
                                                                options->web_config, error,
                                                                error_size)))
        goto fail;

    struct sockaddr_storage address;
    memset(&address, 0, sizeof address);
    struct sockaddr_in *v4 = (struct sockaddr_in *) &address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &address;
    unsigned flags = MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (inet_pton(AF_INET, options->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t) options->port);
    } else if (inet_pton(AF_INET6, options->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t) options->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(error, error_size, "NAGAR_GATEWAY_LISTEN host \"%s\" is not an IPv4 or IPv6 "
                 "address", options->host);
        goto fail;
    }
    if (options->use_epoll)
        flags |= MHD_USE_EPOLL;
    self->connections = gateway_connections_new((size_t) options->max_connections,
                                                options->header_timeout_s,
                                                options->body_timeout_s);
    if (!self->connections)
        goto oom;
    /* libmicrohttpd answers a request whose headers overflow its memory
     * itself, with an HTML page: give it room beyond the gateway's own
     * header limit (for its header records and the response's header
     * lines) so that the gateway's JSON 431 answers first. Not more: it
     * zeroes the whole pool between two requests on a kept-alive
     * connection, so every extra KiB is paid on every request (at 80 KiB
     * that memset was an eighth of the gateway's CPU under load). */
    size_t mhd_memory = (size_t) options->max_header_bytes + 16384;
    self->daemon = MHD_start_daemon(
        flags, (uint16_t) options->port, NULL, NULL, on_request, self,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &address,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) options->connection_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) options->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) options->max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mhd_memory,
        MHD_OPTION_NOTIFY_CONNECTION, gateway_connections_notify, self->connections,
        MHD_OPTION_URI_LOG_CALLBACK, uri_logged, self,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, self,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_END);
    if (!self->daemon) {
        snprintf(error, error_size, "could not listen on %s:%d (address in use, or not "
                 "allowed?)", options->host, options->port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon,
                                                           MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : options->port;
    self->next_revocation_poll_ms = mono_ms();
    return self;
oom:
    snprintf(error, error_size, "out of memory starting the gateway");
fail:
    gateway_destroy(&self);
    return NULL;
}

int gateway_port(gateway_t *self)
{
    return self->port;
}

void gateway_destroy(gateway_t **self_p)
{
    gateway_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon) {
        /* MHD must not stop with connections suspended. */
        while (self->suspended_head) {
            request_t *r = self->suspended_head;
            set_error(r, 503, "UNAVAILABLE", "", "the gateway is shutting down; retry");
            resume(self, r);
        }
        MHD_run(self->daemon);
    }
    /* Fails what is still on the bus; callbacks find their requests answered. */
    nagar_bus_client_destroy(&self->bus);
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    gateway_connections_destroy(&self->connections);
    gateway_ready_destroy(&self->ready);
    gateway_auth_destroy(&self->auth);
    gateway_rate_limiter_destroy(&self->ip_limiter);
    gateway_rate_limiter_destroy(&self->user_limiter);
    gateway_metrics_destroy(&self->metrics);
    if (self->metric_labels)
        for (size_t i = 0; i < self->route_count; i++)
            free((char *) self->metric_labels[i]);
    free(self->metric_labels);
    free(self->openapi);
    gateway_static_destroy(&self->web);
    free(self);
    *self_p = NULL;
}

/* ---- the event loop -------------------------------------------------------- */

static int zmq_fd(zsock_t *socket)
{
    return socket ? zsock_fd(socket) : -1;
}

static void expire_deadlines(gateway_t *self, int64_t now)
{
    while (self->suspended_head && self->suspended_head->deadline_ms <= now) {
        request_t *r = self->suspended_head;
        nagar_log_set_request_id(r->request_id);
        nagar_log_warn("gateway.deadline", "no answer from %s %s within %ld ms",
                       r->route->service, r->route->bus_method, self->options.timeout_ms);
        nagar_log_set_request_id(NULL);
        set_error(r, 504, "DEADLINE_EXCEEDED", "", "service %s did not answer within %ld ms",
                  r->route->service, self->options.timeout_ms);
        resume(self, r);
    }
}

static int loop_timeout_ms(gateway_t *self, int64_t now)
{
    if (self->resumed)
        return 0;
    if (self->draining)
        return 50;
    if (nagar_bus_client_has_input(self->bus) || gateway_ready_has_input(self->ready))
        return 0;
    int64_t timeout = 1000;
    MHD_UNSIGNED_LONG_LONG mhd_timeout;
    if (MHD_get_timeout(self->daemon, &mhd_timeout) == MHD_YES && (int64_t) mhd_timeout < timeout)
        timeout = (int64_t) mhd_timeout;
    int bus = nagar_bus_client_next_timeout_ms(self->bus);
    if (bus >= 0 && bus < timeout)
        timeout = bus;
    int ready = gateway_ready_next_timeout_ms(self->ready, now);
    if (ready < timeout)
        timeout = ready;
    if (self->suspended_head && self->suspended_head->deadline_ms - now < timeout)
        timeout = self->suspended_head->deadline_ms - now;
    if (!self->revocation_poll_in_flight && self->next_revocation_poll_ms - now < timeout)
        timeout = self->next_revocation_poll_ms - now;
    return timeout < 0 ? 0 : (int) timeout;
}

/* The file descriptors to wait on, one per broker each: the bus client's
 * sockets, from *watch_from on its connection watches (bus_client.h), and
 * from *ready_from on the readiness prober's sockets. */
static int bus_fds(gateway_t *self, int *fds, int max, int *watch_from, int *ready_from)
{
    zsock_t *sockets[2 * NAGAR_BUS_BROKERS_MAX];
    int count = nagar_bus_client_sockets(self->bus, sockets, NAGAR_BUS_BROKERS_MAX);
    int used = 0;
    for (int i = 0; i < count && used < max; i++)
        fds[used++] = zmq_fd(sockets[i]);
    *watch_from = used;
    used += nagar_bus_client_watch_fds(self->bus, fds + used, max - used);
    *ready_from = used;
    count = gateway_ready_sockets(self->ready, sockets, NAGAR_BUS_BROKERS_MAX);
    for (int i = 0; i < count && used < max; i++)
        fds[used++] = zmq_fd(sockets[i]);
    return used;
}

/* What a wait saw on the bus descriptors fired[i] (all of them when it
 * failed): a watch that fired is for the bus client to read, a prober's
 * socket for the prober. */
static void bus_fds_signalled(gateway_t *self, const bool *fired, int count, int watch_from,
                              int ready_from)
{
    for (int i = watch_from; i < count; i++)
        if (fired[i] && i < ready_from)
            nagar_bus_client_watch_signalled(self->bus);
        else if (fired[i])
            gateway_ready_signalled(self->ready);
}

static int wait_epoll(gateway_t *self, int timeout)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon,
                                                           MHD_DAEMON_INFO_EPOLL_FD);
    struct pollfd fds[1 + BUS_FDS_MAX];
    int zfds[BUS_FDS_MAX];
    bool fired[BUS_FDS_MAX];
    int watch_from = 0, ready_from = 0;
    int count = bus_fds(self, zfds, BUS_FDS_MAX, &watch_from, &ready_from);
    fds[0] = (struct pollfd) {.fd = info ? info->epoll_fd : -1, .events = POLLIN};
    for (int i = 0; i < count; i++)
        fds[1 + i] = (struct pollfd) {.fd = zfds[i], .events = POLLIN};
    int n = poll(fds, (nfds_t) (1 + count), timeout);
    /* The watches and the prober are read only when told (bus_client.h,
     * ready.h); a failed poll tells nothing, so they read. */
    for (int i = 0; i < count; i++)
        fired[i] = n < 0 || fds[1 + i].revents;
    bus_fds_signalled(self, fired, count, watch_from, ready_from);
    MHD_run(self->daemon);
    return n;
}

static int wait_select(gateway_t *self, int timeout)
{
    fd_set reads, writes, errors;
    FD_ZERO(&reads);
    FD_ZERO(&writes);
    FD_ZERO(&errors);
    MHD_socket max = -1;
    if (MHD_get_fdset(self->daemon, &reads, &writes, &errors, &max) != MHD_YES) {
        gateway_ready_signalled(self->ready);
        return -1;
    }
    int zfds[BUS_FDS_MAX];
    bool fired[BUS_FDS_MAX];
    int watch_from = 0, ready_from = 0;
    int count = bus_fds(self, zfds, BUS_FDS_MAX, &watch_from, &ready_from);
    for (int i = 0; i < count; i++)
        if (zfds[i] >= 0 && zfds[i] < FD_SETSIZE) {
            FD_SET(zfds[i], &reads);
            if (zfds[i] > max)
                max = zfds[i];
        }
    struct timeval tv = {.tv_sec = timeout / 1000, .tv_usec = (timeout % 1000) * 1000};
    int n = select(max + 1, &reads, &writes, &errors, &tv);
    for (int i = 0; i < count; i++)
        fired[i] = n < 0 || zfds[i] < 0 || zfds[i] >= FD_SETSIZE || FD_ISSET(zfds[i], &reads);
    bus_fds_signalled(self, fired, count, watch_from, ready_from);
    if (n < 0) {
        FD_ZERO(&reads);
        FD_ZERO(&writes);
        FD_ZERO(&errors);
    }
    MHD_run_from_select(self->daemon, &reads, &writes, &errors);
    return n;
}

/* Asked to stop (SIGTERM): with NAGAR_GATEWAY_DRAIN_TIMEOUT_MS the gateway
 * drains — /readyz answers 503 at once, so the load balancer takes it out
 * of rotation within its check interval, while it serves on for
 * NAGAR_GATEWAY_DRAIN_GRACE_MS (every response then says Connection:
 * close); then it stops accepting connections and finishes what it holds.
 * Returns whether the loop may end. */
static bool drain_step(gateway_t *self, int64_t now)
{
    if (!self->draining) {
        if (self->options.drain_timeout_ms == 0)
            return true;
        self->draining = true;
        self->quiesce_at_ms = now + self->options.drain_grace_ms;
        self->drain_deadline_ms = self->quiesce_at_ms + self->options.drain_timeout_ms;
        nagar_log_info("gateway.draining", "draining: /readyz answers 503; accepting "
                       "connections for %ld ms more, then finishing the %zu requests in hand",
                       self->options.drain_grace_ms, self->suspended_count);
    }
    if (!self->quiesced && now >= self->quiesce_at_ms) {
        /* Closing the listening socket refuses new connections at once,
         * which a load balancer retries elsewhere. */
        MHD_socket listener = MHD_quiesce_daemon(self->daemon);
        if (listener != MHD_INVALID_SOCKET)
            close(listener);
        self->quiesced = true;
    }
    if (now >= self->drain_deadline_ms)
        return true;
    /* Done when every request begun has been answered to the end; an idle
     * keep-alive connection holds nothing and is closed on the way out. */
    return self->quiesced && self->suspended_count == 0 && self->requests_in_hand == 0;
}

int gateway_run(gateway_t *self)
{
    nagar_log_info("gateway.ready", "listening on http://%s:%d (%s), broker %s, %zu routes",
                   self->options.host, self->port, self->options.use_epoll ? "epoll" : "select",
                   self->options.bus.endpoint, self->route_count);
    while (!self->stopping) {
        int64_t now = mono_ms();
        if ((zsys_interrupted || self->draining) && drain_step(self, now))
            break;
        expire_deadlines(self, now);
        poll_revocations(self, now);
        gateway_ready_dispatch(self->ready, now);
        int timeout = loop_timeout_ms(self, now);
        int sweep = gateway_connections_sweep(self->connections, now);
        if (sweep < timeout)
            timeout = sweep;
        self->resumed = false;
        int n = self->options.use_epoll ? wait_epoll(self, timeout) : wait_select(self, timeout);
        if (n < 0 && errno != EINTR) {
            nagar_log_error("gateway.poll_failed", "poll failed: %s", strerror(errno));
            return -1;
        }
        nagar_bus_client_dispatch(self->bus);
    }
    nagar_log_info("gateway.stopping", "stopping: %zu requests still waiting for a service",
                   self->suspended_count);
    return 0;
}
