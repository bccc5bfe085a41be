/*
 * events.c — event.deliver and message.send, and the queueing of messages
 * that the resolver (recipients.c) shares (see events.h).
 */
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "delivery.h"
#include "event_params.h"
#include "event_rules.h"
#include "log.h"
#include "recipients.h"

bool notifications_events_recipient_valid(nagar_worker_call_t *call,
                                          const Nagar__Notifications__Recipient *r,
                                          const char *field_prefix)
{
    char field[96];
    if (!r) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field_prefix,
                               "a recipient is required");
        return false;
    }
    if (r->mobile[0] && !notify_mobile_valid(r->mobile)) {
        snprintf(field, sizeof field, "%s.mobile", field_prefix);
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                               "mobile must be a 10-digit Indian mobile number starting with 6, "
                               "7, 8 or 9 (no +91 or spaces)");
        return false;
    }
    if (r->email[0] && !notify_email_valid(r->email)) {
        snprintf(field, sizeof field, "%s.email", field_prefix);
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                               "email must be a plain address such as name@example.in");
        return false;
    }
    if (!r->mobile[0] && !r->email[0]) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field_prefix,
                               "the recipient needs a mobile number or an e-mail address");
        return false;
    }
    if (r->language[0] && strcmp(r->language, "hi") != 0 && strcmp(r->language, "en") != 0) {
        snprintf(field, sizeof field, "%s.language", field_prefix);
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                               "language must be \"hi\", \"en\" or empty (Hindi)");
        return false;
    }
    if (!notify_text_valid(r->user_id, 0, 100)) {
        snprintf(field, sizeof field, "%s.userId", field_prefix);
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                               "userId is at most 100 printable characters");
        return false;
    }
    return true;
}

bool notifications_events_named_recipient_check(const Nagar__Notifications__Recipient *r,
                                                const char *field_prefix, nagar_outcome_t *outcome)
{
    char field[96];
    if (!r)
        return true;
    if (r->mobile[0] || r->email[0]) {
        snprintf(field, sizeof field, "%s.%s", field_prefix, r->mobile[0] ? "mobile" : "email");
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                          "an event names its person by subject and userId, never by a "
                          "contact: notifications takes the verified contact from identity or "
                          "the subject's record");
        return false;
    }
    if (r->language[0] && strcmp(r->language, "hi") != 0 && strcmp(r->language, "en") != 0) {
        snprintf(field, sizeof field, "%s.language", field_prefix);
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                          "language must be \"hi\", \"en\" or empty (Hindi)");
        return false;
    }
    if (r->user_id[0] && !notifications_event_rule_user_id_valid(r->user_id)) {
        snprintf(field, sizeof field, "%s.userId", field_prefix);
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                          "userId must be a user id such as citizen:<id>, or empty");
        return false;
    }
    if (r->person[0] &&
        (strlen(r->person) > 60 || !notifications_event_rule_user_id_valid(r->person))) {
        snprintf(field, sizeof field, "%s.person", field_prefix);
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                          "person must be the record's own key for a person, such as "
                          "owner:2 (at most 60 characters), or empty");
        return false;
    }
    if (r->person[0] && r->user_id[0]) {
        snprintf(field, sizeof field, "%s.person", field_prefix);
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                          "name the person by userId or by person (the record's key for "
                          "someone without an account), not both");
        return false;
    }
    return true;
}

char *notifications_events_params_json(const template_param_t *params, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; array && i < count; i++)
        json_array_append_new(array, json_pack("[s, s]", params[i].name, params[i].value));
    char *text = array ? json_dumps(array, JSON_COMPACT) : NULL;
    json_decref(array);
    return text;
}

size_t notifications_events_params_from_json(json_t *array, template_param_t *params, size_t count,
                                             size_t capacity)
{
    size_t index;
    json_t *pair;
    json_array_foreach(array, index, pair) {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        if (!name || !value)
            continue;
        size_t existing = count;
        for (size_t i = 0; i < count; i++)
            if (strcmp(params[i].name, name) == 0)
                existing = i;
        if (existing == count && count == capacity)
            continue;
        params[existing] = (template_param_t) {.name = name, .value = value};
        if (existing == count)
            count++;
    }
    return count;
}

/* The earlier messages of an accepted event. */
static int existing_ids(notify_t *self, const char *event_id, enqueued_ids_t *ids)
{
    const char *values[] = {event_id};
    PGresult *result =
        nagar_service_query(self->db, "event_messages",
                            "SELECT id FROM notifications.message WHERE event_id = $1 "
                            "ORDER BY id LIMIT 2",
                            1, values);
    if (!result)
        return -1;
    for (int i = 0; i < PQntuples(result); i++)
        snprintf(ids->ids[ids->count++], sizeof ids->ids[0], "%s", PQgetvalue(result, i, 0));
    PQclear(result);
    return 0;
}

static int queue_channel(notify_t *self, const enqueue_spec_t *spec, const char *channel,
                         const char *address, enqueued_ids_t *ids, nagar_outcome_t *outcome)
{
    const Nagar__Notifications__Recipient *r = spec->recipient;
    const char *language = r->language[0] ? r->language : "hi";
    template_rendered_t rendered;
    int rc =
        notifications_template_render(self, spec->type, spec->ulb, language, channel, spec->params,
                                      spec->param_count, spec->params_field, &rendered, outcome);
    if (rc != 0)
        return rc;
    bool secret = false;
    for (size_t i = 0; i < spec->param_count; i++)
        secret = secret || spec->params[i].secret;
    char *sealed = secret ? notify_seal(self, rendered.body) : NULL;
    if (secret && !sealed) {
        notifications_template_rendered_clear(&rendered);
        return -1;
    }
    sms_size_t size = {.encoding = "", .segments = 0};
    if (strcmp(channel, "sms") == 0)
        notifications_sms_size(rendered.body, &size);
    char segments[16], version[16], expires[24];
    snprintf(segments, sizeof segments, "%d", size.segments);
    snprintf(version, sizeof version, "%d", rendered.version);
    snprintf(expires, sizeof expires, "%ld", spec->expires_in_s);
    const char *values[] = {spec->event_id,
                            spec->campaign_id,
                            spec->type,
                            spec->ulb,
                            channel,
                            address,
                            r->user_id,
                            rendered.language,
                            spec->essential ? "t" : "f",
                            rendered.subject,
                            secret ? rendered.body_redacted : rendered.body,
                            sealed,
                            secret ? self->seal_key_id : NULL,
                            rendered.dlt_template_id,
                            version,
                            segments,
                            size.encoding,
                            expires};
    PGresult *result = nagar_service_query(
        self->db, "message_insert",
        "INSERT INTO notifications.message (event_id, campaign_id, type, ulb, channel, address, "
        "user_id, language, essential, subject, body, body_sealed, seal_key_id, "
        "dlt_template_id, template_version, segments, encoding, expires_at) "
        "VALUES ($1, $2::bigint, $3, $4, $5, $6, $7, $8, $9::boolean, $10, $11, "
        "decode($12, 'hex'), $13, $14, $15::int, $16::int, $17, "
        "CASE WHEN $18::bigint > 0 THEN now() + make_interval(secs => $18::bigint) END) "
        "ON CONFLICT (campaign_id, channel, address) WHERE campaign_id IS NOT NULL DO NOTHING "
        "RETURNING id",
        18, values);
    free(sealed);
    notifications_template_rendered_clear(&rendered);
    if (!result)
        return -1;
    /* No row: this campaign messaged the address already (a person owning
     * two accounts hears once per campaign). */
    if (PQntuples(result) == 1 && ids->count < 2)
        snprintf(ids->ids[ids->count++], sizeof ids->ids[0], "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    return 0;
}

int notifications_events_enqueue(notify_t *self, const enqueue_spec_t *spec, enqueued_ids_t *ids,
                                 nagar_outcome_t *outcome)
{
    ids->count = 0;
    const char *values[] = {spec->event_id, spec->type, spec->ulb, spec->source,
                            spec->request_hash};
    PGresult *result = nagar_service_query(
        self->db, "event_insert",
        "INSERT INTO notifications.event (event_id, type, ulb, source, request_hash, state, "
        "resolved_at) VALUES ($1, $2, $3, $4, decode($5, 'hex'), 'delivered', now()) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        5, values);
    if (!result)
        return -1;
    bool inserted = PQntuples(result) == 1;
    PQclear(result);
    if (!inserted) {
        const char *id_values[] = {spec->event_id};
        result = nagar_service_query(self->db, "event_hash",
                                     "SELECT coalesce(encode(request_hash, 'hex'), '') "
                                     "FROM notifications.event WHERE event_id = $1",
                                     1, id_values);
        if (!result)
            return -1;
        bool same = !spec->request_hash || PQntuples(result) != 1 ||
                    strcmp(PQgetvalue(result, 0, 0), spec->request_hash) == 0;
        PQclear(result);
        if (!same) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__CONFLICT, "idempotencyKey",
                              "this idempotency key was already used for a different message; "
                              "use a new key for a new message");
            return 2;
        }
        return existing_ids(self, spec->event_id, ids) == 0 ? 1 : -1;
    }
    return notifications_events_queue_messages(self, spec, ids, outcome);
}

int notifications_events_queue_messages(notify_t *self, const enqueue_spec_t *spec,
                                        enqueued_ids_t *ids, nagar_outcome_t *outcome)
{
    const Nagar__Notifications__Recipient *r = spec->recipient;
    bool reachable = false, templated = false;
    const char *channels[2] = {"sms", "email"};
    const char *addresses[2] = {r->mobile, r->email};
    for (int i = 0; i < 2; i++) {
        if (!addresses[i][0] || !notifications_delivery_has_channel(self->delivery, channels[i]))
            continue;
        reachable = true;
        int rc = queue_channel(self, spec, channels[i], addresses[i], ids, outcome);
        if (rc == 0)
            templated = true;
        else if (rc != 1)
            return rc;
    }
    if (!reachable) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                          "notifications has no channel configured for this recipient's "
                          "addresses (NAGAR_NOTIFY_SMS_URL, NAGAR_NOTIFY_SMTP_URL)");
        return 2;
    }
    if (!templated) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "type",
                          "there is no template for type %s in the recipient's channels; "
                          "save one with template.save",
                          spec->type);
        return 2;
    }
    return 0;
}

int notifications_events_record(notify_t *self, const event_record_t *record, enqueued_ids_t *ids)
{
    ids->count = 0;
    char occurred[24];
    snprintf(occurred, sizeof occurred, "%lld", (long long) record->occurred_at_ms);
    const char *values[] = {record->event_id,
                            record->type,
                            record->ulb,
                            record->source,
                            record->record_only ? "recorded" : "pending",
                            record->subject,
                            record->user_id,
                            record->person ? record->person : "",
                            record->language,
                            record->params_json,
                            occurred,
                            record->essential ? "t" : "f",
                            record->campaign_id};
    PGresult *result = nagar_service_query(
        self->db, "event_record",
        "INSERT INTO notifications.event (event_id, type, ulb, source, state, subject, user_id, "
        "person, language, params, occurred_at_ms, essential, campaign_id, resolved_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::bigint, $12::boolean, "
        "$13::bigint, CASE WHEN $5 = 'recorded' THEN now() END) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        13, values);
    if (!result)
        return -1;
    bool inserted = PQntuples(result) == 1;
    PQclear(result);
    if (inserted)
        return 0;
    return existing_ids(self, record->event_id, ids) == 0 ? 1 : -1;
}

typedef struct {
    notify_t *self;
    nagar_worker_call_t *call;
    const ProtobufCMessage *request;
    enqueue_spec_t spec;
    bool use_idempotency;
    uint8_t *stored;
    size_t stored_size;
    enqueued_ids_t ids;
    bool duplicate;
    nagar_outcome_t outcome;
} enqueue_work_t;

static int enqueue_work(nagar_db_t *db, void *arg)
{
    (void) db;
    enqueue_work_t *work = arg;
    nagar_outcome_reset(&work->outcome);
    work->duplicate = false;
    work->ids.count = 0;
    int rc = notifications_events_enqueue(work->self, &work->spec, &work->ids, &work->outcome);
    if (rc == 1) {
        work->duplicate = true;
        return 0;
    }
    return rc == 0 ? 0 : rc == 2 ? 1 : -1;
}

typedef struct {
    notify_t *self;
    event_record_t record;
    enqueued_ids_t ids;
    bool duplicate;
} record_work_t;

static int record_work(nagar_db_t *db, void *arg)
{
    (void) db;
    record_work_t *work = arg;
    work->ids.count = 0;
    int rc = notifications_events_record(work->self, &work->record, &work->ids);
    work->duplicate = rc == 1;
    return rc < 0 ? -1 : 0;
}

static void log_accepted(const char *event_id, const char *type, const char *source,
                         bool duplicate, size_t messages, const char *what)
{
    json_t *fields = json_pack("{s:s, s:s, s:s, s:b, s:i}", "event_id", event_id, "type", type,
                               "source", source, "duplicate", duplicate, "messages",
                               (int) messages);
    nagar_log_write(NAGAR_LOG_INFO,
                    duplicate ? "notifications.event_duplicate" : "notifications.accepted",
                    fields, "%s %s", what,
                    duplicate ? "was accepted before; nothing new queued" : "accepted");
}

/* Answers a refused event or message, and logs who tried what. */
static int refuse(nagar_worker_call_t *call, const char *type, const nagar_outcome_t *outcome)
{
    notifications_event_rule_log_refusal(nagar_worker_call_caller(call), type, outcome);
    return nagar_worker_call_fail(call, outcome->code, outcome->field[0] ? outcome->field : NULL,
                                  "%s", outcome->message);
}

/* Loads the type's rule for the caller and checks that the caller may
 * publish it; on failure the call has been answered. */
static bool rule_for_caller(notify_t *self, nagar_worker_call_t *call, const char *type,
                            const char *field, event_rule_t *rule)
{
    const char *caller = nagar_worker_call_caller(call);
    if (notifications_event_rule_load(self, type, caller, rule) != 0) {
        nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
        return false;
    }
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    if (!rule->known)
        nagar_outcome_set(&outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                          "\"%s\" is not a known event type", type);
    else if (!rule->publisher)
        nagar_outcome_set(&outcome, NAGAR__STATUS_CODE__PERMISSION_DENIED, field,
                          "event type %s is published only by %s; %s may publish only its own "
                          "event types",
                          type, rule->publishers, caller);
    else
        return true;
    refuse(call, type, &outcome);
    notifications_event_rule_clear(rule);
    return false;
}

int notifications_event_deliver(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__DeliverEventRequest *request =
        (const Nagar__Notifications__DeliverEventRequest *) message;
    const Nagar__Notifications__Event *event = request->event;
    if (!event)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "event",
                                      "event is required");
    const char *caller = nagar_worker_call_caller(call);
    size_t caller_length = strlen(caller);
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    if (!notify_text_valid(event->event_id, 1, 200) ||
        strncmp(event->event_id, caller, caller_length) != 0 ||
        event->event_id[caller_length] != ':' || !event->event_id[caller_length + 1]) {
        nagar_outcome_set(&outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "event.eventId",
                          "eventId must be \"%s:<id>\" (the publishing service's name, a colon "
                          "and its outbox id), at most 200 characters",
                          caller);
        return refuse(call, NULL, &outcome);
    }
    if (!notify_name_valid(event->type, 64)) {
        nagar_outcome_set(&outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "event.type",
                          "type must be an event type such as payment.received");
        return refuse(call, NULL, &outcome);
    }
    event_rule_t rule;
    if (!rule_for_caller(self, call, event->type, "event.type", &rule))
        return -1;
    if (!notify_ulb_valid(event->ulb)) {
        notifications_event_rule_clear(&rule);
        nagar_outcome_set(&outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "event.ulb",
                          "ulb must be the LGD code of the ULB (1 to 10 digits)");
        return refuse(call, event->type, &outcome);
    }
    template_param_t params[EVENT_RULES_PARAMS_MAX];
    event_rule_values_t *values = malloc(sizeof *values);
    if (!values) {
        notifications_event_rule_clear(&rule);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    /* Who it is for: a record of the publisher's and at most a user id. */
    const Nagar__Notifications__Recipient *r = event->recipient;
    const char *user_id = r ? r->user_id : "";
    const char *person = r ? r->person : "";
    bool ok = notifications_events_named_recipient_check(r, "event.recipient", &outcome) &&
              notifications_event_rule_check_params(&rule, event->type, event->ulb, event->params,
                                                    event->n_params, "event.params", params, values,
                                                    &outcome) &&
              notifications_event_rule_check_subject(&rule, event->type, event->subject, event->ulb,
                                                     params, event->n_params, "event", &outcome);
    if (ok && (user_id[0] || person[0]) && !event->subject[0]) {
        nagar_outcome_set(&outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "event.subject",
                          "an event naming a person (userId or person) must name the record it is "
                          "about: subject \"%s:<id>\"",
                          rule.subject_kind);
        ok = false;
    }
    bool essential = rule.essential;
    notifications_event_rule_clear(&rule);
    char *params_json = ok ? notifications_events_params_json(params, event->n_params) : NULL;
    free(values);
    if (!ok)
        return refuse(call, event->type, &outcome);
    if (!params_json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    bool record_only = !event->subject[0];
    record_work_t work = {.self = self};
    work.record = (event_record_t) {.event_id = event->event_id, .type = event->type,
                                    .ulb = event->ulb, .source = caller,
                                    .subject = event->subject, .user_id = user_id,
                                    .person = person, .language = r ? r->language : "",
                                    .params_json = params_json,
                                    .occurred_at_ms = event->occurred_at_ms,
                                    .essential = essential, .record_only = record_only};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, record_work, &work);
    free(params_json);
    if (rc != 0)
        return nagar_service_fail(self->db, NOTIFY_SERVICE, call, rc, NULL);
    log_accepted(event->event_id, event->type, caller, work.duplicate, work.ids.count,
                 record_only ? "event (recorded only: it names nobody to tell)" : "event");
    /* A new event is resolved to its person and queued by the resolver. */
    notifications_recipients_wake(self->recipients);
    Nagar__Notifications__DeliverEventReply reply =
        NAGAR__NOTIFICATIONS__DELIVER_EVENT_REPLY__INIT;
    char *id_pointers[2] = {work.ids.ids[0], work.ids.ids[1]};
    reply.duplicate = work.duplicate;
    reply.n_message_ids = work.ids.count;
    reply.message_ids = id_pointers;
    return nagar_worker_call_reply(call, &reply.base);
}

int notifications_message_send(nagar_worker_call_t *call, const ProtobufCMessage *message,
                               void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__SendMessageRequest *request =
        (const Nagar__Notifications__SendMessageRequest *) message;
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!nagar_idempotency_key_valid(key))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "idempotencyKey",
                                      "message.send needs an idempotency key of "
                                      NAGAR_IDEMPOTENCY_KEY_RULE
                                      ": it is what makes a retry safe");
    if (!notify_name_valid(request->type, 64))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "type",
                                      "type must be an event type such as otp.login");
    event_rule_t rule;
    if (!rule_for_caller(self, call, request->type, "type", &rule))
        return -1;
    bool essential = rule.essential;
    if (rule.subject_kind[0]) {
        notifications_event_rule_clear(&rule);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "type",
                                      "%s is an event type: publish it with event.deliver",
                                      request->type);
    }
    if (request->ulb[0] && !notify_ulb_valid(request->ulb)) {
        notifications_event_rule_clear(&rule);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be an LGD code or empty");
    }
    if (!notifications_events_recipient_valid(call, request->recipient, "recipient")) {
        notifications_event_rule_clear(&rule);
        return -1;
    }
    template_param_t params[EVENT_RULES_PARAMS_MAX];
    event_rule_values_t *values = malloc(sizeof *values);
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    bool params_ok = values && notifications_event_rule_check_params(
                                   &rule, request->type, request->ulb, request->params,
                                   request->n_params, "params", params, values, &outcome);
    notifications_event_rule_clear(&rule);
    if (!params_ok) {
        if (values)
            sodium_memzero(values, sizeof *values);
        free(values);
        if (!values)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                          "out of memory");
        return refuse(call, request->type, &outcome);
    }
    for (size_t s = 0; s < request->n_secret_params; s++) {
        bool found = false;
        for (size_t i = 0; i < request->n_params; i++)
            if (strcmp(params[i].name, request->secret_params[s]) == 0) {
                params[i].secret = true;
                found = true;
            }
        if (!found) {
            char field[48];
            snprintf(field, sizeof field, "secretParams[%zu]", s);
            sodium_memzero(values, sizeof *values);
            free(values);
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                                          "secretParams must name params of the request");
        }
    }
    if (request->expires_in_seconds > 86400) {
        sodium_memzero(values, sizeof *values);
        free(values);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "expiresInSeconds", "expiresInSeconds is at most 86400");
    }
    const char *caller = nagar_worker_call_caller(call);
    char event_id[200];
    snprintf(event_id, sizeof event_id, "direct:%s:%s", caller, key);
    /* Keyed, because the request holds a one-time password. */
    size_t size = protobuf_c_message_get_packed_size(message);
    uint8_t *packed = malloc(size ? size : 1);
    if (!packed) {
        sodium_memzero(values, sizeof *values);
        free(values);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    protobuf_c_message_pack(message, packed);
    char hash[65];
    notify_keyed_hash_hex(self, packed, size, hash);
    sodium_memzero(packed, size);
    free(packed);

    enqueue_work_t work = {.self = self, .call = call, .request = message};
    work.spec = (enqueue_spec_t) {.event_id = event_id, .type = request->type,
                                  .ulb = request->ulb, .source = caller,
                                  .recipient = request->recipient, .params = params,
                                  .param_count = request->n_params,
                                  .essential = essential,
                                  .expires_in_s = (long) request->expires_in_seconds,
                                  .request_hash = hash, .params_field = "params"};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, enqueue_work, &work);
    sodium_memzero(values, sizeof *values);
    free(values);
    if (rc != 0)
        return nagar_service_fail(self->db, NOTIFY_SERVICE, call, rc, &work.outcome);
    log_accepted(event_id, request->type, caller, work.duplicate, work.ids.count,
                 "direct message");
    Nagar__Notifications__SendMessageReply reply = NAGAR__NOTIFICATIONS__SEND_MESSAGE_REPLY__INIT;
    char *id_pointers[2] = {work.ids.ids[0], work.ids.ids[1]};
    reply.duplicate = work.duplicate;
    reply.n_message_ids = work.ids.count;
    reply.message_ids = id_pointers;
    if (work.duplicate)
        nagar_worker_call_set_replayed(call, true);
    return nagar_worker_call_reply(call, &reply.base);
}
