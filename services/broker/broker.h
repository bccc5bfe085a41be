/*
 * broker.h — nagar-broker: an MDP/0.1 (RFC 7) broker with MMI (RFC 8),
 * CURVE authentication, a per-key ACL, deadlines, bounded queues,
 * quarantine and statistics. See README.md for the behaviour on the wire.
 *
 * One ROUTER socket, one thread: the loop in broker_run reads every message
 * that is waiting, then does the timed work (heartbeats, worker expiry,
 * queued deadlines) when it is due.
 */
#ifndef NAGAR_BROKER_H
#define NAGAR_BROKER_H

#include <czmq.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "principal.h"
#include "status.h"

typedef struct broker_t broker_t;

typedef struct {
    char bind[256];                 /* NAGAR_BROKER_BIND */
    char keys_dir[4096];            /* NAGAR_BROKER_KEYS_DIR */
    char state_dir[4096];           /* NAGAR_BROKER_STATE_DIR */
    bool insecure;                  /* NAGAR_BROKER_INSECURE */
    long heartbeat_ms;              /* NAGAR_BUS_HEARTBEAT_MS */
    long liveness;                  /* NAGAR_BUS_LIVENESS */
    long max_queue;                 /* NAGAR_BROKER_MAX_QUEUE, per service */
    long request_timeout_ms;        /* NAGAR_BROKER_REQUEST_TIMEOUT_MS */
    long max_message_bytes;         /* NAGAR_BROKER_MAX_MESSAGE_BYTES, per frame */
    long warmup_ms;                 /* NAGAR_BROKER_WARMUP_MS: mmi.ready 503 after start */
    long drain_grace_ms;            /* NAGAR_BROKER_DRAIN_GRACE_MS: serving on after stop */
    long drain_timeout_ms;          /* NAGAR_BROKER_DRAIN_TIMEOUT_MS: 0 = stop at once */
    long return_grace_ms;           /* NAGAR_BROKER_RETURN_GRACE_MS: wait for a drained service */
    char etcd_endpoints[1024];      /* NAGAR_BROKER_ETCD_ENDPOINTS: the shared state (state.h) */
    long etcd_poll_ms;              /* NAGAR_BROKER_ETCD_POLL_MS */
    broker_limits_t limits;         /* NAGAR_BROKER_PRINCIPAL_* (principal.h) */
} broker_options_t;

/* Reads the options from config; -1 with the key and rule in error. */
int broker_options_load(broker_options_t *options, nagar_config_t *config, char *error,
                        size_t error_size);

/* Loads keys and state, binds. NULL with the reason in error. */
broker_t *broker_new(const broker_options_t *options, char *error, size_t error_size);
void broker_destroy(broker_t **self_p);

/* Set (from a signal handler) to ask the broker to stop; it drains first
 * when NAGAR_BROKER_DRAIN_TIMEOUT_MS says so (broker.c). */
extern volatile sig_atomic_t broker_stop_requested;

/* Serves until broker_stop_requested (or CZMQ's interrupt flag), draining
 * as configured. Returns 0. */
int broker_run(broker_t *self);

/* The endpoint actually bound (a tcp://...:* bind resolves to a port). */
const char *broker_endpoint(broker_t *self);

#endif
