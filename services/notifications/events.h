/*
 * events.h — accepting what should be told to whom, and queueing it.
 *
 *   event.deliver  DeliverEventRequest -> DeliverEventReply
 *                  callers: certificates, property_tax, water_tax (their
 *                  outbox relays), each only for the types it publishes
 *                  (event_rules.h). event_id must start with the caller's
 *                  principal ("property_tax:42"), so no service can pre-empt
 *                  another's events.
 *   message.send   SendMessageRequest -> SendMessageReply    caller: identity
 *                  (one-time passwords, to the number being verified). The
 *                  idempotency key is required and is the de-duplication key.
 *
 * An event is accepted once: its id is recorded in notifications.event, and
 * a second delivery of the same id answers duplicate=true with the messages
 * queued for it so far. An event names its subject (the record it is about)
 * and at most the person's user id, never a contact: it is recorded
 * 'pending' with its checked params, and recipients.h resolves it to the
 * person's contact and queues its messages moments later, or keeps it with
 * the reason until it can. An event type whose recipient is optional (a
 * ULB-wide fact such as the annual demand run) may name no subject: it is
 * recorded ('recorded') and nothing is sent.
 *
 * For a resolved recipient, each address (mobile: SMS, e-mail: e-mail) that
 * has a template and a configured channel gets one rendered message.
 * Display params an event does not carry are derived from its raw facts
 * (event_params.h) when it is rendered.
 */
#ifndef NAGAR_NOTIFY_EVENTS_H
#define NAGAR_NOTIFY_EVENTS_H

#include <jansson.h>

#include "notify.h"
#include "templates.h"

typedef struct {
    const char *event_id;
    const char *type;
    const char *ulb;                    /* "" for state-level direct sends */
    const char *source;                 /* caller principal */
    const Nagar__Notifications__Recipient *recipient;
    const template_param_t *params;
    size_t param_count;
    bool essential;
    long expires_in_s;                  /* 0 = never */
    const char *campaign_id;            /* NULL unless a campaign message */
    const char *request_hash;           /* hex; NULL = not checked */
    const char *params_field;           /* "event.params" */
} enqueue_spec_t;

typedef struct {
    char ids[2][24];
    size_t count;
} enqueued_ids_t;

/* A direct send, inside the caller's transaction: records the event as
 * delivered and queues its messages. Returns 0 when queued, 1 when the
 * event id was accepted before (ids are the earlier messages), 2 with
 * outcome set, -1 on a database error. */
int notifications_events_enqueue(notify_t *self, const enqueue_spec_t *spec, enqueued_ids_t *ids,
                                 nagar_outcome_t *outcome);

/* Queues the messages of an event already recorded, to the addresses of
 * spec->recipient (inside the caller's transaction). Returns 0 when at least
 * one message was queued (or a campaign had messaged the address already),
 * 2 with outcome set: UNAVAILABLE when no configured channel reaches the
 * addresses, FAILED_PRECONDITION when no template exists for them,
 * INVALID_ARGUMENT when a placeholder has no value; -1 on a database
 * error. */
int notifications_events_queue_messages(notify_t *self, const enqueue_spec_t *spec,
                                        enqueued_ids_t *ids, nagar_outcome_t *outcome);

/* An event to resolve (or a fact to record). */
typedef struct {
    const char *event_id;
    const char *type;
    const char *ulb;
    const char *source;          /* whose record the subject is */
    const char *subject;         /* "" for a fact that names nobody */
    const char *user_id;         /* "" when the publisher named no account */
    const char *person;          /* the record's key of a person without one, or NULL/"" */
    const char *language;        /* "", "hi" or "en": a hint */
    const char *params_json;     /* [[name, value], ...], checked */
    int64_t occurred_at_ms;
    bool essential;
    const char *campaign_id;     /* NULL unless a campaign's */
    bool record_only;            /* 'recorded', not 'pending' */
} event_record_t;

/* Inside the caller's transaction: records the event; 0 when new, 1 when it
 * was accepted before (ids: its messages so far), -1 on a database error. */
int notifications_events_record(notify_t *self, const event_record_t *record, enqueued_ids_t *ids);

/* [[name, value], ...] of params, malloc'd; NULL when out of memory. */
char *notifications_events_params_json(const template_param_t *params, size_t count);
/* Appends the pairs of a JSON array to params (at most capacity in all); a
 * name already present takes the new value. Returns the new count. The
 * params point into array. */
size_t notifications_events_params_from_json(json_t *array, template_param_t *params, size_t count,
                                             size_t capacity);

/* Checks a direct send's recipient (a mobile or an e-mail address is
 * required); field_prefix like "recipient". On failure the call has been
 * answered. */
bool notifications_events_recipient_valid(nagar_worker_call_t *call,
                                          const Nagar__Notifications__Recipient *r,
                                          const char *field_prefix);
/* Checks the recipient of an event or a campaign: no contact (mobile and
 * email empty), a user id as identity makes them or none, a language. NULL
 * is valid (nobody named). Returns false with outcome set otherwise. */
bool notifications_events_named_recipient_check(const Nagar__Notifications__Recipient *r,
                                                const char *field_prefix, nagar_outcome_t *outcome);

int notifications_event_deliver(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                void *arg);
int notifications_message_send(nagar_worker_call_t *call, const ProtobufCMessage *request,
                               void *arg);

#endif
