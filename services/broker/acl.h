/*
 * acl.h — the broker's key store: which principal a CURVE public key
 * belongs to, and which services that key may serve and call.
 *
 * Loaded from the public certificates that nagar-keygen writes to
 * KEYS/public/NAME.cert (metadata "principal", "serve", "call"). zauth reads the
 * same directory to admit connections; this table is the broker's own
 * reading of it, consulted on every message, because zauth only decides at
 * handshake time. "*" in call means every service except nagar.admin, which
 * a key may call only when its call list names it. mmi.* is for every known
 * key.
 */
#ifndef NAGAR_BROKER_ACL_H
#define NAGAR_BROKER_ACL_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus.h"

#define BROKER_KEY_TEXT_MAX 40      /* Z85 of a 32-byte key */
#define BROKER_PRINCIPAL_MAX NAGAR_BUS_NAME_MAX   /* names: nagar_bus_name_valid */

typedef struct broker_acl_t broker_acl_t;
typedef struct broker_key_t broker_key_t;

/* Loads public_dir. Returns NULL with the reason in error when the
 * directory cannot be read. Certificates that cannot be used are skipped
 * with a log line ("acl.bad_certificate"). */
broker_acl_t *broker_acl_new(const char *public_dir, char *error, size_t error_size);
void broker_acl_destroy(broker_acl_t **self_p);

/* Reads the directory again, replacing the table. Returns the number of
 * keys loaded, or -1 (table unchanged) when the directory cannot be read.
 * Pointers from broker_acl_lookup become invalid. */
int broker_acl_reload(broker_acl_t *self);

/* Reloads when the directory changed since the last load (cheap stat). */
void broker_acl_reload_if_changed(broker_acl_t *self);

/* Reloads at most once per min_interval_ms; for unknown keys, which may be
 * keys added since the last load. Returns true when it reloaded. */
bool broker_acl_reload_limited(broker_acl_t *self, int64_t now_ms, int64_t min_interval_ms);

/* The entry of a Z85 public key, or NULL when the store does not have it. */
const broker_key_t *broker_acl_lookup(broker_acl_t *self, const char *public_key);

/* Appends every public key that belongs to principal; keys_out must copy
 * what it is given (zlistx_set_duplicator), the strings are the table's. */
size_t broker_acl_keys_of(broker_acl_t *self, const char *principal, zlistx_t *keys_out);

size_t broker_acl_size(broker_acl_t *self);

const char *broker_key_principal(const broker_key_t *key);
bool broker_key_may_serve(const broker_key_t *key, const char *service);
bool broker_key_may_call(const broker_key_t *key, const char *service);
/* The services the key may serve: count, and the i-th (0 <= i < count). */
size_t broker_key_serve_count(const broker_key_t *key);
const char *broker_key_serve(const broker_key_t *key, size_t i);

#endif
