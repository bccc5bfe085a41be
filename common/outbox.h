/*
 * outbox.h — the transactional outbox every service publishes events with.
 *
 * A service writes an event in the same database transaction as the change
 * that caused it (nagar_outbox_add), so an event exists if and only if the
 * change committed. A relay in the same process (nagar_outbox_relay_*, run
 * from the bus worker's tick) sends pending events in id order to the
 * notifications service over the bus and marks each sent only when
 * notifications acknowledged it. Notifications being down delays events;
 * it never loses one and never blocks the change that caused it. A relay
 * killed between send and mark re-sends; notifications de-duplicates by
 * event_id, so the citizen still gets one message.
 *
 * An event names the record it is about (event->subject, "property:<id>")
 * and at most the person's user id, never a contact: notifications asks the
 * publisher for the record's persons (common/event_subjects.h) and identity
 * for the verified contact. Its params are the raw facts its type declares
 * (services/notifications/README.md, "Event contract").
 *
 * The table is the shared SQL module common/sql/outbox/, which nagar-migrate
 * installs into each service's own schema, owned by that service's owner
 * role (common/sql/README.md).
 */
#ifndef NAGAR_OUTBOX_H
#define NAGAR_OUTBOX_H

#include "bus_client.h"
#include "db.h"
#include "proto/notifications.pb-c.h"

typedef struct nagar_outbox_relay_t nagar_outbox_relay_t;

/* Appends event inside the caller's open transaction. event->event_id is
 * assigned here ("<service>:<id>"); type and ulb are required. Returns 0,
 * or -1 with the database error in nagar_db_error(db). */
int nagar_outbox_add(nagar_db_t *db, const char *service, Nagar__Notifications__Event *event);

/* A relay for service's outbox, sending with client (which it does not own). */
nagar_outbox_relay_t *nagar_outbox_relay_new(nagar_db_t *db, nagar_bus_client_t *client,
                                             const char *service);
void nagar_outbox_relay_destroy(nagar_outbox_relay_t **self_p);

/* Sends up to batch pending events, oldest first and all in flight at once,
 * and waits up to timeout_ms for their acknowledgements. Each event is its
 * own message to its own person, so nothing relies on their order: one that
 * failed stays pending and is sent again on a later run while the ones after
 * it are done. Returns the number marked sent, or -1 on a database error.
 * Safe to call from several processes of one service at once. */
int nagar_outbox_relay_run_once(nagar_outbox_relay_t *self, int batch, int timeout_ms);

/* Events not yet acknowledged (for /readyz-style checks and tests). */
long nagar_outbox_pending(nagar_db_t *db);

#endif
