/*
 * admin.h — the broker's own service, "nagar.admin".
 *
 * Requests are nagar.Request envelopes whose method is "stats",
 * "quarantine", "release" or "revoke" with the payloads of proto/admin.proto;
 * replies are nagar.Reply with StatsReply or AdminReply as payload. The
 * broker has already checked that the caller's key may call nagar.admin.
 */
#ifndef NAGAR_BROKER_ADMIN_H
#define NAGAR_BROKER_ADMIN_H

#include <czmq.h>

#include "broker.h"

/* Handles one request. operator is the caller's principal ("anonymous"
 * with security off) and operator_key its Z85 key ("" when off). Returns
 * the serialized nagar.Reply as a new frame. */
zframe_t *broker_admin_handle(broker_t *broker, const char *operator, const char *operator_key,
                              zframe_t *body);

#endif
