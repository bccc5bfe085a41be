/*
 * etcd.h — the few etcd v3 calls the brokers' shared state needs (state.h),
 * over etcd's JSON gateway (/v3/kv/...) with libcurl.
 *
 * Keys and values are text; the gateway's base64 is done here. Each call
 * tries the endpoints in turn (the last one that answered first) and gives
 * up after timeout_ms in all: every wait has a deadline. Not thread-safe:
 * one broker_etcd_t per thread, and broker_etcd_library_load called once
 * before the first one is made, before any other thread exists.
 */
#ifndef NAGAR_BROKER_ETCD_H
#define NAGAR_BROKER_ETCD_H

#include <czmq.h>
#include <jansson.h>
#include <stdint.h>

typedef struct broker_etcd_t broker_etcd_t;

/* Opens libcurl and sets up its global state; only brokers that use etcd
 * pay for it. 0, or -1 with the reason in error. Idempotent. */
int broker_etcd_library_load(char *error, size_t error_size);

/* endpoints: "http://etcd1:2379,http://etcd2:2379,...". NULL with the
 * reason in error when the list is malformed. */
broker_etcd_t *broker_etcd_new(const char *endpoints, long timeout_ms, char *error,
                               size_t error_size);
void broker_etcd_destroy(broker_etcd_t **self_p);

/* Puts every key of keys (zlistx of strings) with value, in one transaction:
 * all or none. 0 and the store's revision after it, or -1 with the reason
 * in error. */
int broker_etcd_put(broker_etcd_t *self, zlistx_t *keys, const char *value, int64_t *revision,
                    char *error, size_t error_size);

/* Deletes key. 0 and the revision after it, or -1 with the reason in error. */
int broker_etcd_delete(broker_etcd_t *self, const char *key, int64_t *revision, char *error,
                       size_t error_size);

/* Every key under prefix, as a JSON object key -> value (text), and the
 * store's revision; NULL with the reason in error. */
json_t *broker_etcd_range(broker_etcd_t *self, const char *prefix, int64_t *revision,
                          char *error, size_t error_size);

#endif
