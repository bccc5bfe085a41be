/*
 * bus_watch.h — tells when a DEALER socket's connection to its broker is
 * lost.
 *
 * A broker answers only the connection that asked: what a connection
 * carried is gone with it, even when ZeroMQ connects again at once (a
 * broker restarted, or the network dropped and came back, faster than a
 * ping or heartbeat would notice). A watch is a ZeroMQ socket monitor
 * (zmq_socket_monitor over inproc, no thread) that reports each
 * established connection lost: one whose handshake had succeeded and that
 * then went. A connection attempt that fails (no broker listening, a
 * handshake refused) is not a loss; ZeroMQ retries it by itself.
 *
 * Reading the monitor costs a system call even when nothing happened, so
 * the owner asks at a pace it chooses (nagar_bus_watch_lost), or when the
 * monitor's descriptor (nagar_bus_watch_fd) is readable. Ask at least
 * every few seconds: libzmq blocks its I/O thread on a monitor whose queue
 * (a thousand events) is full.
 */
#ifndef NAGAR_BUS_WATCH_H
#define NAGAR_BUS_WATCH_H

#include <czmq.h>
#include <stdbool.h>

typedef struct nagar_bus_watch_t nagar_bus_watch_t;

/* Starts watching socket, which must outlive the watch. Returns NULL with
 * the reason in error. */
nagar_bus_watch_t *nagar_bus_watch_new(zsock_t *socket, char *error, size_t error_size);
void nagar_bus_watch_destroy(nagar_bus_watch_t **self_p);

/* How many established connections were lost since the last call; reads
 * what the monitor reported without blocking. */
int nagar_bus_watch_lost(nagar_bus_watch_t *self);

/* The monitor's file descriptor, readable when it has something to report
 * (edge-triggered like any ZMQ_FD: nagar_bus_watch_lost reads it all). */
int nagar_bus_watch_fd(nagar_bus_watch_t *self);

#endif
