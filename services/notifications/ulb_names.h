/*
 * ulb_names.h — the display names of ULBs, for the {{ulb_name}} of a message.
 *
 * Publishers send the LGD code of the ULB an event belongs to; the name a
 * citizen recognises ("Bina Nagar Palika Parishad") is identity's master
 * data. This is a bounded in-memory cache of it, loaded with identity's
 * ulb.list over the bus, refreshed periodically, and asked with ulb.get for
 * a code it does not hold (a body added since the last load).
 *
 * Identity being down must never cost a citizen a receipt: a lookup that
 * cannot be answered gives the LGD code itself, and the cache backs off
 * (no lookup waits for identity again until the retry interval passed).
 *
 *   NAGAR_NOTIFY_ULB_CACHE_MAX     most names kept (2000; the state has ~410)
 *   NAGAR_NOTIFY_ULB_REFRESH_S     full reload interval (3600)
 *   NAGAR_NOTIFY_ULB_RETRY_S       after identity failed to answer (30)
 *   NAGAR_NOTIFY_ULB_TIMEOUT_MS    deadline of one call to identity (500)
 *
 * Not thread-safe; used from the worker's thread only.
 */
#ifndef NAGAR_NOTIFY_ULB_NAMES_H
#define NAGAR_NOTIFY_ULB_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "bus_client.h"
#include "config.h"

typedef struct ulb_names_t ulb_names_t;

#define ULB_NAME_TEXT_MAX 200

/* client may be NULL (no bus: every lookup gives the code). The cache does
 * not own the client. */
ulb_names_t *notifications_ulb_names_new(nagar_config_t *config, nagar_bus_client_t *client,
                                         char *error, size_t error_size);
void notifications_ulb_names_destroy(ulb_names_t **self_p);

/* From the worker's tick: starts a (re)load when due and dispatches the
 * replies of one in progress. Never blocks. */
void notifications_ulb_names_tick(ulb_names_t *self);

/* Writes the display name of the ULB with LGD code into out; the code
 * itself when identity does not know it or cannot be reached. Returns true
 * when the name came from identity. May wait up to the call deadline for
 * identity on a miss. */
bool notifications_ulb_names_lookup(ulb_names_t *self, const char *code,
                                    char out[ULB_NAME_TEXT_MAX]);

/* Names held (for logs and tests). */
size_t notifications_ulb_names_count(ulb_names_t *self);

#endif
