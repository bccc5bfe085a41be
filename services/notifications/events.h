/*
 * events.h — accepting what should be told to whom, and queueing it.
 *
 *   event.deliver  DeliverEventRequest -> DeliverEventReply
 *                  callers: certificates, property_tax, water_tax, identity
 *                  (their outbox relays). event_id must start with the
 *                  caller's principal ("property_tax:42"), so no service can
 *                  pre-empt another's events.
 *   message.send   SendMessageRequest -> SendMessageReply    caller: identity
 *                  (one-time passwords). The idempotency key is required and
 *                  is the de-duplication key.
 *
 * An event is accepted once: its id is recorded in notifications.event in
 * the same transaction as its messages, and a second delivery of the same
 * id answers duplicate=true with the first messages' ids. For each address
 * of the recipient (mobile: SMS, e-mail: e-mail) that has a template and a
 * configured channel, one message is rendered and queued. When the
 * recipient has no address any configured channel can reach, the event is
 * refused UNAVAILABLE (so an outbox keeps it); when no template exists for
 * any of them, FAILED_PRECONDITION (set aside by the relay, logged).
 *
 * Before rendering, event.deliver derives the display params an event does
 * not carry from its raw facts (event_params.h): publishers send amount_paise,
 * property_id and the time; templates read amount, account, date, ulb_name.
 * An event type whose event_type row says recipient_required = false (a
 * ULB-wide fact such as property tax's annual demand run) may come with no
 * address: it is recorded, de-duplicated and answered, and nothing is sent.
 */
#ifndef NAGAR_NOTIFY_EVENTS_H
#define NAGAR_NOTIFY_EVENTS_H

#include "notify.h"
#include "templates.h"

typedef struct {
    const char *event_id;
    const char *type;
    const char *ulb;                    /* "" for state-level direct sends */
    const char *source;                 /* caller principal, or "campaign" */
    const Nagar__Notifications__Recipient *recipient;
    const template_param_t *params;
    size_t param_count;
    bool essential;
    long expires_in_s;                  /* 0 = never */
    const char *campaign_id;            /* NULL unless a campaign message */
    const char *request_hash;           /* hex; NULL = not checked */
    const char *params_field;           /* "event.params" */
    bool record_only;                   /* accept and record; nobody to message */
} enqueue_spec_t;

typedef struct {
    char ids[2][24];
    size_t count;
} enqueued_ids_t;

/* Inside the caller's transaction. Returns 0 when queued, 1 when the event
 * id was accepted before (ids are the earlier messages), 2 with outcome set,
 * -1 on a database error. */
int events_enqueue(notify_t *self, const enqueue_spec_t *spec, enqueued_ids_t *ids,
                   nagar_outcome_t *outcome);

/* Checks a recipient; field_prefix like "event.recipient". */
bool events_recipient_valid(nagar_worker_call_t *call, const Nagar__Notifications__Recipient *r,
                            const char *field_prefix);
int event_deliver(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int message_send(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
