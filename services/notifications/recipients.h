/*
 * recipients.h — resolving an accepted event to the person it is for, and
 * keeping the ones that cannot be resolved yet in view.
 *
 * An event names its subject (the publisher's record) and at most the
 * person's user id (events.h). From the worker's tick, the resolver takes a
 * batch of pending events (a lease, so any number of processes share the
 * queue), and without blocking the worker:
 *
 *   1. asks each publisher for the persons of its records
 *      (<publisher>.notify.subjects, common/event_subjects.h); a record that
 *      does not exist, of another ULB, or whose persons do not include the
 *      event's user id, makes the event REFUSED (logged: a publisher naming
 *      someone else is what a stolen key would do);
 *   2. takes the person the event names (else the record's first person)
 *      and asks identity for their verified contact (identity.contact.lookup);
 *      a person without an account is reached at the mobile on the record;
 *   3. renders and queues the messages (notifications_events_queue_messages), and marks
 *      the event DELIVERED.
 *
 * When that cannot be done now — nobody with a contact yet, identity or the
 * publisher not answering, no channel or template — the event stays PENDING
 * with the reason and is tried again after NAGAR_NOTIFY_RESOLVE_RETRY_BASE_MS
 * · 2^(attempts-1) (at most _RETRY_MAX_MS), so a contact added later is
 * found; after NAGAR_NOTIFY_RESOLVE_GIVE_UP_S it is UNDELIVERABLE. Nothing is
 * dropped unseen:
 *
 *   event.list   ListEventsRequest -> ListEventsReply   gateway (staff; ULB staff
 *                                                       their ULB, STATE_ADMIN all)
 *   event.retry  RetryEventRequest -> EventInfo         gateway (staff, same scope):
 *                resolve a PENDING or UNDELIVERABLE event again now
 *
 * Settings:
 *   NAGAR_NOTIFY_RESOLVE_BATCH          events per round (50)
 *   NAGAR_NOTIFY_RESOLVE_TIMEOUT_MS     deadline of one call to a publisher or identity (3000)
 *   NAGAR_NOTIFY_RESOLVE_POLL_MS        how often an idle resolver looks for work (200)
 *   NAGAR_NOTIFY_RESOLVE_RETRY_BASE_MS  first wait before a retry (60000)
 *   NAGAR_NOTIFY_RESOLVE_RETRY_MAX_MS   longest wait between retries (3600000)
 *   NAGAR_NOTIFY_RESOLVE_GIVE_UP_S      age at which a pending event is given up (2592000)
 *
 * Not thread-safe; used from the worker's thread only.
 */
#ifndef NAGAR_NOTIFY_RECIPIENTS_H
#define NAGAR_NOTIFY_RECIPIENTS_H

#include "bus_client.h"
#include "notify.h"

typedef struct recipients_t recipients_t;

/* client may be NULL (no bus: every event waits with that reason); the
 * resolver does not own it and must be destroyed after it. */
recipients_t *notifications_recipients_new(notify_t *notify, nagar_bus_client_t *client,
                                           char *error, size_t error_size);
void notifications_recipients_destroy(recipients_t **self_p);

/* From the worker's tick: starts a round when due, finishes one whose
 * answers are in. Never blocks on the bus. */
void notifications_recipients_tick(recipients_t *self);

/* An event was accepted: look for work at the next tick. self may be NULL. */
void notifications_recipients_wake(recipients_t *self);

int notifications_event_list(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int notifications_event_retry(nagar_worker_call_t *call, const ProtobufCMessage *request,
                              void *arg);

#endif
