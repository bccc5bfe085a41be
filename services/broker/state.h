/*
 * state.h — what an operator told the broker that must survive a restart:
 * quarantined services (with the reason) and revoked public keys.
 *
 * Kept in STATE_DIR/state.json:
 *   {"version":1,"quarantined":{"water_tax":"suspected compromise"},
 *    "revoked_keys":["<Z85>", ...]}
 * Every change is written before it takes effect (temporary file, fsync,
 * rename, fsync of the directory), so an acknowledged quarantine is never
 * forgotten by a crash; when the write fails, the change is undone and the
 * caller is told. With several brokers the state lives in etcd, which they
 * all watch (below), and the file is each broker's copy of it.
 */
#ifndef NAGAR_BROKER_STATE_H
#define NAGAR_BROKER_STATE_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct broker_state_t broker_state_t;

/* Creates state_dir (0700) when missing and loads state.json when present.
 * Returns NULL with the reason in error when the file is unreadable or
 * malformed: starting without a quarantine the operator asked for would be
 * worse than not starting. With etcd_endpoints (NAGAR_BROKER_ETCD_ENDPOINTS,
 * "http://host:port,...") the state is shared by every broker: changes go
 * to etcd first (under /nagar/broker/), and a watcher reads it every
 * poll_ms (broker_state_watch_socket, broker_state_sync); state.json is
 * then its local copy, used until etcd first answers. */
broker_state_t *broker_state_new(const char *state_dir, const char *etcd_endpoints,
                                 long poll_ms, char *error, size_t error_size);
void broker_state_destroy(broker_state_t **self_p);

/* The reason when service is quarantined, NULL when it is not. */
const char *broker_state_quarantine_reason(broker_state_t *self, const char *service);
int broker_state_quarantine(broker_state_t *self, const char *service, const char *reason,
                            char *error, size_t error_size);
int broker_state_release(broker_state_t *self, const char *service, char *error,
                         size_t error_size);

bool broker_state_is_revoked(broker_state_t *self, const char *public_key);
size_t broker_state_revoked_count(broker_state_t *self);
/* Adds every key in keys (zlistx of strings); all or nothing. */
int broker_state_revoke(broker_state_t *self, zlistx_t *keys, char *error, size_t error_size);

/* Readable when the shared store changed; NULL without one. */
zsock_t *broker_state_watch_socket(broker_state_t *self);

/* Takes the snapshot waiting on the watch socket as the state: adds to
 * quarantined_now the services it quarantines that were not, to
 * released_now those it no longer does (malloc'd names: give the lists a
 * destructor), and counts the keys it newly revokes (a revocation is never withdrawn by
 * a snapshot). 0, or -1 with the reason in error. */
int broker_state_sync(broker_state_t *self, zlistx_t *quarantined_now, zlistx_t *released_now,
                      size_t *revoked_now, char *error, size_t error_size);

/* Read-only views for statistics: service -> reason, and key -> "". */
zhashx_t *broker_state_quarantined(broker_state_t *self);
zhashx_t *broker_state_revoked(broker_state_t *self);

#endif
