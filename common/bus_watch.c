/*
 * bus_watch.c — a socket monitor that counts lost broker connections; see
 * bus_watch.h.
 *
 * libzmq sends each event as two frames on an inproc PAIR socket: 2 bytes
 * of event and 4 of value, then the endpoint. Only two events are asked
 * for, so the queue holds little even when the owner reads it seldom:
 * HANDSHAKE_SUCCEEDED (a connection is up) and DISCONNECTED (a connection
 * went, or an attempt failed its handshake).
 */
#include "bus_watch.h"

#include <stdatomic.h>
#include <string.h>

struct nagar_bus_watch_t {
    zsock_t *socket;        /* the watched one */
    zsock_t *monitor;       /* our end of the monitor's PAIR */
    bool up;                /* an established connection, as far as we have read */
};

nagar_bus_watch_t *nagar_bus_watch_new(zsock_t *socket, char *error, size_t error_size)
{
    /* Unique within the process: the inproc namespace is the context's. */
    static atomic_uint_fast64_t serial;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://nagar-bus-watch-%" PRIuFAST64,
             atomic_fetch_add(&serial, 1));
    nagar_bus_watch_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory watching a broker connection");
        return NULL;
    }
    self->socket = socket;
    if (zmq_socket_monitor(zsock_resolve(socket), endpoint,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        !(self->monitor = zsock_new(ZMQ_PAIR)) ||
        zsock_connect(self->monitor, "%s", endpoint) != 0) {
        snprintf(error, error_size, "cannot watch the broker connection: %s",
                 zmq_strerror(zmq_errno()));
        zmq_socket_monitor(zsock_resolve(socket), NULL, 0);
        zsock_destroy(&self->monitor);
        free(self);
        return NULL;
    }
    return self;
}

void nagar_bus_watch_destroy(nagar_bus_watch_t **self_p)
{
    nagar_bus_watch_t *self = *self_p;
    if (!self)
        return;
    /* Stopped before our end closes, so libzmq never waits on a peer that
     * is gone. */
    zmq_socket_monitor(zsock_resolve(self->socket), NULL, 0);
    zsock_destroy(&self->monitor);
    free(self);
    *self_p = NULL;
}

int nagar_bus_watch_lost(nagar_bus_watch_t *self)
{
    int lost = 0;
    void *handle = zsock_resolve(self->monitor);
    for (;;) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, handle, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&frame);
            break;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&frame) >= sizeof event)
            memcpy(&event, zmq_msg_data(&frame), sizeof event);
        bool more = zmq_msg_more(&frame);
        zmq_msg_close(&frame);
        /* The endpoint frame: not needed. */
        while (more) {
            zmq_msg_init(&frame);
            if (zmq_msg_recv(&frame, handle, ZMQ_DONTWAIT) == -1) {
                zmq_msg_close(&frame);
                break;
            }
            more = zmq_msg_more(&frame);
            zmq_msg_close(&frame);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            self->up = true;
        else if (event == ZMQ_EVENT_DISCONNECTED && self->up) {
            self->up = false;
            lost++;
        }
    }
    return lost;
}

int nagar_bus_watch_fd(nagar_bus_watch_t *self)
{
    return zsock_fd(self->monitor);
}
