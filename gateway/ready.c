/*
 * ready.c — the MMI prober; see ready.h. One probe_t per broker, each with
 * its own socket, round and answers; the gateway is ready as the best of
 * them says.
 */
#include "ready.h"

#include <string.h>

#include "log.h"
#include "mdp.h"
#include "mdp_frames.h"

#define SERVICES_MAX 32

typedef struct {
    int index;                      /* the broker, in NAGAR_BUS_ENDPOINT */
    char endpoint[NAGAR_BUS_ENDPOINT_MAX];
    zsock_t *socket;
    int state[SERVICES_MAX];        /* 1, 0, -1 */
    int quarantined[SERVICES_MAX];  /* 1, 0, -1 (not asked yet, or an old broker) */
    size_t probing;                 /* index of the service being asked */
    bool asking_quarantine;         /* the second question about it */
    bool in_flight;
    int64_t probe_deadline_ms;
    int64_t next_round_ms;
    bool reachable;
    bool known;
    bool unchecked;                 /* sent on, new, or signalled since ZMQ_EVENTS said "none" */
} probe_t;

struct gateway_ready_t {
    nagar_bus_options_t options;
    const char *const *services;
    size_t service_count;
    int interval_ms;
    int probe_timeout_ms;
    probe_t probes[NAGAR_BUS_BROKERS_MAX];
    int probe_count;
};

static int64_t monotonic_ms(void)
{
    return zclock_mono();
}

/* A probe must never block the event loop, and a dropped socket must not
 * linger. */
static zsock_t *connect_socket(const nagar_bus_options_t *options, int index, char *error,
                               size_t error_size)
{
    zsock_t *socket = nagar_bus_connect_broker(options, index, false, error, error_size);
    if (socket) {
        zsock_set_sndtimeo(socket, 0);
        zsock_set_linger(socket, 0);
    }
    return socket;
}

gateway_ready_t *gateway_ready_new(const nagar_bus_options_t *options,
                                   const char *const *services, int interval_ms,
                                   int probe_timeout_ms, char *error, size_t error_size)
{
    gateway_ready_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    self->options = *options;
    self->services = services;
    while (services[self->service_count] && self->service_count < SERVICES_MAX)
        self->service_count++;
    self->interval_ms = interval_ms;
    self->probe_timeout_ms = probe_timeout_ms;
    self->probe_count = nagar_bus_broker_count(options);
    for (int i = 0; i < self->probe_count; i++) {
        probe_t *probe = &self->probes[i];
        probe->index = i;
        nagar_bus_broker_endpoint(options, i, probe->endpoint, sizeof probe->endpoint);
        for (size_t j = 0; j < self->service_count; j++)
            probe->state[j] = probe->quarantined[j] = -1;
        probe->socket = connect_socket(options, i, error, error_size);
        probe->unchecked = true;
        if (!probe->socket) {
            for (int j = 0; j < i; j++)
                zsock_destroy(&self->probes[j].socket);
            free(self);
            return NULL;
        }
        probe->next_round_ms = monotonic_ms();
    }
    return self;
}

void gateway_ready_destroy(gateway_ready_t **self_p)
{
    gateway_ready_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->probe_count; i++)
        zsock_destroy(&self->probes[i].socket);
    free(self);
    *self_p = NULL;
}

int gateway_ready_sockets(gateway_ready_t *self, zsock_t **sockets, int max)
{
    int count = 0;
    for (int i = 0; i < self->probe_count && count < max; i++)
        sockets[count++] = self->probes[i].socket;
    return count;
}

/* A probe's socket is unchecked (nagar_bus_socket_has_input) when new,
 * sent on, or its descriptor seen to fire (gateway_ready_signalled). */
bool gateway_ready_has_input(gateway_ready_t *self)
{
    for (int i = 0; i < self->probe_count; i++)
        if (nagar_bus_socket_has_input(self->probes[i].socket, &self->probes[i].unchecked))
            return true;
    return false;
}

void gateway_ready_signalled(gateway_ready_t *self)
{
    for (int i = 0; i < self->probe_count; i++)
        self->probes[i].unchecked = true;
}

static void send_probe(gateway_ready_t *self, probe_t *probe, int64_t now_ms)
{
    const char *name = self->services[probe->probing];
    zmsg_t *message = nagar_mdp_client_request_new(
        probe->asking_quarantine ? MMI_QUARANTINE : MMI_SERVICE, name, strlen(name));
    probe->unchecked = true;        /* a send may take the edge of an answer */
    if (!message || zmsg_send(&message, probe->socket) != 0) {
        zmsg_destroy(&message);
        return;
    }
    probe->in_flight = true;
    probe->probe_deadline_ms = now_ms + self->probe_timeout_ms;
}

static void finish_round(gateway_ready_t *self, probe_t *probe, int64_t now_ms)
{
    probe->in_flight = false;
    probe->probing = 0;
    probe->asking_quarantine = false;
    probe->known = true;
    probe->next_round_ms = now_ms + self->interval_ms;
}

static void handle_answer(gateway_ready_t *self, probe_t *probe, zmsg_t *message,
                          int64_t now_ms)
{
    zframe_t *service = NULL, *body = NULL;
    char error[256];
    if (!probe->in_flight ||
        nagar_mdp_client_reply_parse(message, &service, &body, error, sizeof error) != 0 ||
        !zframe_streq(service, probe->asking_quarantine ? MMI_QUARANTINE : MMI_SERVICE)) {
        nagar_log_warn("gateway.ready_unexpected", "dropped an unexpected message on the "
                       "readiness socket");
        return;
    }
    probe->in_flight = false;
    if (probe->asking_quarantine) {
        int was = probe->quarantined[probe->probing];
        int now = zframe_streq(body, "200") ? 1 : zframe_streq(body, "404") ? 0 : -1;
        probe->quarantined[probe->probing] = now;
        if (now == 1 && was != 1)
            nagar_log_warn("gateway.service_quarantined", "service %s is quarantined at %s",
                           self->services[probe->probing], probe->endpoint);
        else if (now == 0 && was == 1)
            nagar_log_info("gateway.service_released", "service %s is no longer quarantined "
                           "at %s", self->services[probe->probing], probe->endpoint);
        probe->asking_quarantine = false;
        if (++probe->probing == self->service_count)
            finish_round(self, probe, now_ms);
        else
            send_probe(self, probe, now_ms);
        return;
    }
    int was = probe->state[probe->probing];
    int now = zframe_streq(body, "200") ? 1 : 0;
    probe->state[probe->probing] = now;
    if (was != now)
        nagar_log_info("gateway.service_availability", "service %s %s at %s",
                       self->services[probe->probing],
                       now ? "has a worker" : "has no worker (absent or quarantined)",
                       probe->endpoint);
    if (!probe->reachable)
        nagar_log_info("gateway.broker_reachable", "the broker answers at %s", probe->endpoint);
    probe->reachable = true;
    probe->asking_quarantine = true;     /* then: is it quarantined here? */
    send_probe(self, probe, now_ms);
}

static void dispatch_probe(gateway_ready_t *self, probe_t *probe, int64_t now_ms)
{
    /* Nothing can have come that the descriptor did not announce. */
    while (nagar_bus_socket_has_input(probe->socket, &probe->unchecked)) {
        zmsg_t *message = zmsg_recv(probe->socket);
        if (!message)
            break;
        handle_answer(self, probe, message, now_ms);
        zmsg_destroy(&message);
    }
    probe->unchecked = false;
    if (probe->in_flight && now_ms >= probe->probe_deadline_ms) {
        if (probe->reachable)
            nagar_log_warn("gateway.broker_unreachable",
                           "the broker at %s did not answer an MMI probe within %d ms",
                           probe->endpoint, self->probe_timeout_ms);
        probe->reachable = false;
        for (size_t i = 0; i < self->service_count; i++) {
            probe->state[i] = 0;
            probe->quarantined[i] = -1;
        }
        /* A new socket, so that the late answer cannot be read as another's. */
        char error[256];
        zsock_t *fresh = connect_socket(&self->options, probe->index, error, sizeof error);
        if (fresh) {
            zsock_destroy(&probe->socket);
            probe->socket = fresh;
            probe->unchecked = true;
        }
        finish_round(self, probe, now_ms);
    }
    if (!probe->in_flight && self->service_count && now_ms >= probe->next_round_ms) {
        probe->probing = 0;
        probe->asking_quarantine = false;
        send_probe(self, probe, now_ms);
        if (!probe->in_flight)   /* could not even queue it */
            finish_round(self, probe, now_ms);
    }
}

void gateway_ready_dispatch(gateway_ready_t *self, int64_t now_ms)
{
    for (int i = 0; i < self->probe_count; i++)
        dispatch_probe(self, &self->probes[i], now_ms);
}

int gateway_ready_next_timeout_ms(gateway_ready_t *self, int64_t now_ms)
{
    int64_t wait = 60000;
    for (int i = 0; i < self->probe_count; i++) {
        probe_t *probe = &self->probes[i];
        int64_t due = (probe->in_flight ? probe->probe_deadline_ms : probe->next_round_ms) - now_ms;
        if (due < wait)
            wait = due;
    }
    return wait < 0 ? 0 : (int) wait;
}

bool gateway_ready_broker_reachable(gateway_ready_t *self)
{
    for (int i = 0; i < self->probe_count; i++)
        if (self->probes[i].reachable)
            return true;
    return false;
}

bool gateway_ready_known(gateway_ready_t *self)
{
    /* Known once some broker has answered a whole round, or every broker
     * has ended one (answered or not). */
    bool all = true;
    for (int i = 0; i < self->probe_count; i++) {
        if (self->probes[i].known && self->probes[i].reachable)
            return true;
        all = all && self->probes[i].known;
    }
    return all;
}

/* The index of service among those probed, or -1. */
static int service_index(const gateway_ready_t *self, const char *service)
{
    for (size_t i = 0; i < self->service_count; i++)
        if (strcmp(self->services[i], service) == 0)
            return (int) i;
    return -1;
}

int gateway_ready_service(gateway_ready_t *self, const char *service)
{
    int i = service_index(self, service);
    if (i < 0)
        return -1;
    int best = -1;
    for (int j = 0; j < self->probe_count; j++) {
        const probe_t *probe = &self->probes[j];
        if (probe->state[i] > best && (probe->reachable || probe->state[i] != 1))
            best = probe->state[i];
    }
    return best;
}

int gateway_ready_quarantined(gateway_ready_t *self, const char *service)
{
    int i = service_index(self, service);
    if (i < 0)
        return -1;
    /* Quarantine reaches every broker from one store (etcd), so one
     * answering broker that says so is enough; "not" needs one that
     * answered and none that says so. */
    int best = -1;
    for (int j = 0; j < self->probe_count; j++) {
        const probe_t *probe = &self->probes[j];
        if (probe->reachable && probe->quarantined[i] > best)
            best = probe->quarantined[i];
    }
    return best;
}
