/*
 * connections.c — deadlines for slow clients and room for new ones; see
 * connections.h.
 */
#include "connections.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

#define LOG_LINES_PER_SECOND 5
#define SWEEP_INTERVAL_MS 100

typedef enum { STATE_WAITING, STATE_BODY, STATE_BUSY } state_t;

static const char *const state_names[] = {"waiting for headers", "sending its body", "busy"};

typedef struct conn_t conn_t;
struct conn_t {
    conn_t *prev, *next;            /* in the order they were opened */
    int fd;
    state_t state;
    int64_t opened_ms;
    int64_t since_ms;               /* when the current state began */
    bool shut;                      /* shut down; libmicrohttpd has yet to close it */
    char address[INET6_ADDRSTRLEN];
};

struct gateway_connections_t {
    conn_t *first, *last;
    size_t open;
    size_t shut;                    /* shut down, not yet closed */
    size_t high_water;
    int64_t header_timeout_ms;
    int64_t body_timeout_ms;
    uint64_t dropped;
    int64_t next_sweep_ms;
    int64_t log_window_ms;
    int log_count;
    uint64_t log_suppressed;
};

gateway_connections_t *gateway_connections_new(size_t max_connections, long header_timeout_s,
                                               long body_timeout_s)
{
    gateway_connections_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t reserve = max_connections / 8 > 1 ? max_connections / 8 : 1;
    self->high_water = max_connections > reserve ? max_connections - reserve : 1;
    self->header_timeout_ms = header_timeout_s * 1000;
    self->body_timeout_ms = body_timeout_s * 1000;
    return self;
}

void gateway_connections_destroy(gateway_connections_t **self_p)
{
    gateway_connections_t *self = *self_p;
    if (!self)
        return;
    /* libmicrohttpd has closed every connection (and told us) by now. */
    while (self->first) {
        conn_t *conn = self->first;
        self->first = conn->next;
        free(conn);
    }
    free(self);
    *self_p = NULL;
}

static conn_t *conn_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static void conn_address(struct MHD_Connection *connection, char *out, size_t out_size)
{
    snprintf(out, out_size, "unknown");
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, out, (socklen_t) out_size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, out,
                  (socklen_t) out_size);
}

/* Ends the connection: libmicrohttpd reads the end of the stream on its
 * next pass and closes it (and tells us, CLOSED). why: for the log. */
static void conn_drop(gateway_connections_t *self, conn_t *conn, int64_t now_ms,
                      const char *why)
{
    if (conn->shut)
        return;
    conn->shut = true;
    self->shut++;
    self->dropped++;
    shutdown(conn->fd, SHUT_RDWR);
    if (now_ms - self->log_window_ms >= 1000) {
        self->log_window_ms = now_ms;
        self->log_count = 0;
    }
    if (++self->log_count > LOG_LINES_PER_SECOND) {
        self->log_suppressed++;
        return;
    }
    nagar_log_write(NAGAR_LOG_WARN, "gateway.connection_dropped",
                    json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "client_ip", conn->address,
                              "state", state_names[conn->state], "reason", why, "age_ms",
                              (json_int_t) (now_ms - conn->opened_ms), "dropped",
                              (json_int_t) self->dropped, "suppressed",
                              (json_int_t) self->log_suppressed),
                    "closed a connection from %s %s for %lld ms: %s", conn->address,
                    state_names[conn->state], (long long) (now_ms - conn->since_ms), why);
    self->log_suppressed = 0;
}

/* Near the limit: the oldest connection that is still waiting for its
 * request or sending its body makes room (never a busy one, never the one
 * just opened). */
static void make_room(gateway_connections_t *self, conn_t *newcomer, int64_t now_ms)
{
    while (self->open - self->shut > self->high_water) {
        conn_t *victim = self->first;
        while (victim && (victim == newcomer || victim->shut || victim->state == STATE_BUSY))
            victim = victim->next;
        if (!victim)
            return;
        conn_drop(self, victim, now_ms, "the gateway is near its connection limit and this "
                                        "connection had not sent its request");
    }
}

void gateway_connections_notify(void *cls, struct MHD_Connection *connection,
                                void **socket_context, enum MHD_ConnectionNotificationCode code)
{
    gateway_connections_t *self = cls;
    int64_t now = zclock_mono();
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_t *conn = calloc(1, sizeof *conn);
        *socket_context = conn;
        if (!conn)
            return;
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn->fd = info ? info->connect_fd : -1;
        conn->state = STATE_WAITING;
        conn->opened_ms = conn->since_ms = now;
        conn_address(connection, conn->address, sizeof conn->address);
        conn->prev = self->last;
        if (self->last)
            self->last->next = conn;
        else
            self->first = conn;
        self->last = conn;
        self->open++;
        make_room(self, conn, now);
        return;
    }
    conn_t *conn = *socket_context;   /* MHD_CONNECTION_NOTIFY_CLOSED */
    if (!conn)
        return;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        self->first = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    else
        self->last = conn->prev;
    self->open--;
    if (conn->shut)
        self->shut--;
    free(conn);
    *socket_context = NULL;
}

static void set_state(struct MHD_Connection *connection, state_t state)
{
    conn_t *conn = conn_of(connection);
    if (conn && conn->state != state) {
        conn->state = state;
        conn->since_ms = zclock_mono();
    }
}

void gateway_connections_headers_in(gateway_connections_t *self,
                                    struct MHD_Connection *connection)
{
    (void) self;
    set_state(connection, STATE_BODY);
}

void gateway_connections_request_in(gateway_connections_t *self,
                                    struct MHD_Connection *connection)
{
    (void) self;
    set_state(connection, STATE_BUSY);
}

void gateway_connections_response_done(gateway_connections_t *self,
                                       struct MHD_Connection *connection)
{
    (void) self;
    set_state(connection, STATE_WAITING);
}

int gateway_connections_sweep(gateway_connections_t *self, int64_t now_ms)
{
    if (now_ms >= self->next_sweep_ms) {
        self->next_sweep_ms = now_ms + SWEEP_INTERVAL_MS;
        for (conn_t *conn = self->first; conn; conn = conn->next) {
            if (conn->shut || conn->state == STATE_BUSY)
                continue;
            int64_t limit = conn->state == STATE_WAITING ? self->header_timeout_ms
                                                         : self->body_timeout_ms;
            if (now_ms - conn->since_ms >= limit)
                conn_drop(self, conn, now_ms, conn->state == STATE_WAITING
                              ? "its request's headers were not complete in time "
                                "(NAGAR_GATEWAY_HEADER_TIMEOUT_S)"
                              : "its request's body was not complete in time "
                                "(NAGAR_GATEWAY_BODY_TIMEOUT_S)");
        }
    }
    int64_t wait = self->open ? self->next_sweep_ms - now_ms : 1000;
    return wait < 0 ? 0 : (int) (wait > 1000 ? 1000 : wait);
}

size_t gateway_connections_open(gateway_connections_t *self)
{
    return self->open;
}

uint64_t gateway_connections_dropped(gateway_connections_t *self)
{
    return self->dropped;
}
