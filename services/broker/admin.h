/*
 * admin.h — the broker's own service, "nagar.admin".
 *
 * Requests are nagar.Request envelopes whose method is "stats",
 * "quarantine", "release" or "revoke" with the payloads of proto/admin.proto;
 * replies are nagar.Reply with StatsReply or AdminReply as payload. The
 * broker has already checked that the caller's key may call nagar.admin.
 *
 * The service reaches the broker only through broker_admin_target_t, the
 * few things it reads and does, which broker.c fills in: broker.c includes
 * this header and admin.c nothing of broker.c's, so the two files do not
 * depend on each other both ways.
 */
#ifndef NAGAR_BROKER_ADMIN_H
#define NAGAR_BROKER_ADMIN_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "principal.h"
#include "status.h"

typedef struct {
    const char *name;
    uint32_t workers;
    uint32_t idle_workers;
    uint32_t queued;
    uint64_t served;
    uint64_t errors;
    bool quarantined;
    const char *quarantine_reason;
} broker_service_stats_t;

/* What nagar.admin acts on; each function is called with self. */
typedef struct {
    void *self;
    /* Fills up to max entries (pointers valid until the broker handles the
     * next message); returns how many services there are. */
    size_t (*stats_services)(void *self, broker_service_stats_t *out, size_t max);
    uint64_t (*stats_uptime_ms)(void *self);
    uint64_t (*stats_denied)(void *self);
    /* Every principal seen since start: fair share and refusals (principal.h). */
    broker_principals_t *(*stats_principals)(void *self);
    /* Z85 keys -> "" (read-only). */
    zhashx_t *(*revoked_keys)(void *self);
    /* Each returns NAGAR__STATUS_CODE__OK or an error code with the reason
     * in detail (and on OK, what was done). */
    nagar_status_code_t (*quarantine)(void *self, const char *service, const char *reason,
                                      char *detail, size_t detail_size);
    nagar_status_code_t (*release)(void *self, const char *service, char *detail,
                                   size_t detail_size);
    /* By principal (every key the store has for it) or by one Z85 key;
     * requesting_key is refused so an operator cannot lock themselves out. */
    nagar_status_code_t (*revoke)(void *self, const char *principal, const char *public_key,
                                  const char *requesting_key, char *detail, size_t detail_size);
} broker_admin_target_t;

/* Handles one request. operator is the caller's principal ("anonymous"
 * with security off) and operator_key its Z85 key ("" when off). Returns
 * the serialized nagar.Reply as a new frame. */
zframe_t *broker_admin_handle(const broker_admin_target_t *broker, const char *operator,
                              const char *operator_key, zframe_t *body);

#endif
