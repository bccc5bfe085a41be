/*
 * ready.c — the MMI prober; see ready.h.
 */
#include "ready.h"

#include <string.h>

#include "log.h"
#include "mdp.h"
#include "mdp_frames.h"

#define SERVICES_MAX 32

struct gateway_ready_t {
    nagar_bus_options_t options;
    zsock_t *socket;
    const char *const *services;
    size_t service_count;
    int state[SERVICES_MAX];        /* 1, 0, -1 */
    int interval_ms;
    int probe_timeout_ms;
    size_t probing;                 /* index of the service being asked */
    bool in_flight;
    int64_t probe_deadline_ms;
    int64_t next_round_ms;
    bool reachable;
    bool known;
};

static int64_t monotonic_ms(void)
{
    return zclock_mono();
}

/* A probe must never block the event loop, and a dropped socket must not
 * linger. */
static zsock_t *connect_socket(const nagar_bus_options_t *options, char *error,
                               size_t error_size)
{
    zsock_t *socket = nagar_bus_connect(options, error, error_size);
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
        self->state[self->service_count++] = -1;
    self->interval_ms = interval_ms;
    self->probe_timeout_ms = probe_timeout_ms;
    self->socket = connect_socket(options, error, error_size);
    if (!self->socket) {
        free(self);
        return NULL;
    }
    self->next_round_ms = monotonic_ms();
    return self;
}

void gateway_ready_destroy(gateway_ready_t **self_p)
{
    gateway_ready_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy(&self->socket);
    free(self);
    *self_p = NULL;
}

zsock_t *gateway_ready_socket(gateway_ready_t *self)
{
    return self->socket;
}

static void send_probe(gateway_ready_t *self, int64_t now_ms)
{
    const char *name = self->services[self->probing];
    zmsg_t *message = nagar_mdp_client_request_new(MMI_SERVICE, name, strlen(name));
    if (!message || zmsg_send(&message, self->socket) != 0) {
        zmsg_destroy(&message);
        return;
    }
    self->in_flight = true;
    self->probe_deadline_ms = now_ms + self->probe_timeout_ms;
}

static void finish_round(gateway_ready_t *self, int64_t now_ms)
{
    self->in_flight = false;
    self->probing = 0;
    self->known = true;
    self->next_round_ms = now_ms + self->interval_ms;
}

static void handle_answer(gateway_ready_t *self, zmsg_t *message, int64_t now_ms)
{
    zframe_t *service = NULL, *body = NULL;
    char error[256];
    if (!self->in_flight ||
        nagar_mdp_client_reply_parse(message, &service, &body, error, sizeof error) != 0 ||
        !zframe_streq(service, MMI_SERVICE)) {
        nagar_log_warn("gateway.ready_unexpected", "dropped an unexpected message on the "
                       "readiness socket");
        return;
    }
    int was = self->state[self->probing];
    int now = zframe_streq(body, "200") ? 1 : 0;
    self->state[self->probing] = now;
    if (was != now)
        nagar_log_info("gateway.service_availability", "service %s %s",
                       self->services[self->probing],
                       now ? "has a worker" : "has no worker (absent or quarantined)");
    if (!self->reachable)
        nagar_log_info("gateway.broker_reachable", "the broker answers at %s",
                       self->options.endpoint);
    self->reachable = true;
    self->in_flight = false;
    if (++self->probing == self->service_count)
        finish_round(self, now_ms);
    else
        send_probe(self, now_ms);
}

void gateway_ready_dispatch(gateway_ready_t *self, int64_t now_ms)
{
    while (zsock_events(self->socket) & ZMQ_POLLIN) {
        zmsg_t *message = zmsg_recv(self->socket);
        if (!message)
            break;
        handle_answer(self, message, now_ms);
        zmsg_destroy(&message);
    }
    if (self->in_flight && now_ms >= self->probe_deadline_ms) {
        if (self->reachable)
            nagar_log_warn("gateway.broker_unreachable",
                           "the broker at %s did not answer an MMI probe within %d ms",
                           self->options.endpoint, self->probe_timeout_ms);
        self->reachable = false;
        for (size_t i = 0; i < self->service_count; i++)
            self->state[i] = 0;
        /* A new socket, so that the late answer cannot be read as another's. */
        char error[256];
        zsock_t *fresh = connect_socket(&self->options, error, sizeof error);
        if (fresh) {
            zsock_destroy(&self->socket);
            self->socket = fresh;
        }
        finish_round(self, now_ms);
    }
    if (!self->in_flight && self->service_count && now_ms >= self->next_round_ms) {
        self->probing = 0;
        send_probe(self, now_ms);
        if (!self->in_flight)   /* could not even queue it */
            finish_round(self, now_ms);
    }
}

int gateway_ready_next_timeout_ms(gateway_ready_t *self, int64_t now_ms)
{
    int64_t due = self->in_flight ? self->probe_deadline_ms : self->next_round_ms;
    int64_t wait = due - now_ms;
    return wait < 0 ? 0 : (int) (wait > 60000 ? 60000 : wait);
}

bool gateway_ready_broker_reachable(gateway_ready_t *self)
{
    return self->reachable;
}

bool gateway_ready_known(gateway_ready_t *self)
{
    return self->known;
}

int gateway_ready_service(gateway_ready_t *self, const char *service)
{
    for (size_t i = 0; i < self->service_count; i++)
        if (strcmp(self->services[i], service) == 0)
            return self->state[i];
    return -1;
}
