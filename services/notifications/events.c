/*
 * events.c — event.deliver and message.send, and the queueing of messages
 * that campaigns share (see events.h).
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

bool events_recipient_valid(nagar_worker_call_t *call, const Nagar__Notifications__Recipient *r,
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
    int rc = template_render(self, spec->type, spec->ulb, language, channel, spec->params,
                             spec->param_count, spec->params_field, &rendered, outcome);
    if (rc != 0)
        return rc;
    bool secret = false;
    for (size_t i = 0; i < spec->param_count; i++)
        secret = secret || spec->params[i].secret;
    char *sealed = secret ? notify_seal(self, rendered.body) : NULL;
    if (secret && !sealed) {
        template_rendered_clear(&rendered);
        return -1;
    }
    sms_size_t size = {.encoding = "", .segments = 0};
    if (strcmp(channel, "sms") == 0)
        sms_size(rendered.body, &size);
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
        "RETURNING id",
        18, values);
    free(sealed);
    template_rendered_clear(&rendered);
    if (!result)
        return -1;
    snprintf(ids->ids[ids->count++], sizeof ids->ids[0], "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    return 0;
}

int events_enqueue(notify_t *self, const enqueue_spec_t *spec, enqueued_ids_t *ids,
                   nagar_outcome_t *outcome)
{
    ids->count = 0;
    const char *values[] = {spec->event_id, spec->type, spec->ulb, spec->source,
                            spec->request_hash};
    PGresult *result = nagar_service_query(
        self->db, "event_insert",
        "INSERT INTO notifications.event (event_id, type, ulb, source, request_hash) "
        "VALUES ($1, $2, $3, $4, decode($5, 'hex')) ON CONFLICT (event_id) DO NOTHING "
        "RETURNING event_id",
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
    if (spec->record_only)
        return 0;

    const Nagar__Notifications__Recipient *r = spec->recipient;
    bool reachable = false, templated = false;
    const char *channels[2] = {"sms", "email"};
    const char *addresses[2] = {r->mobile, r->email};
    for (int i = 0; i < 2; i++) {
        if (!addresses[i][0] || !delivery_has_channel(self->delivery, channels[i]))
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
                          "addresses (NAGAR_NOTIFY_SMS_URL, NAGAR_NOTIFY_SMTP_URL); retry "
                          "later");
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
    int rc = events_enqueue(work->self, &work->spec, &work->ids, &work->outcome);
    if (rc == 1) {
        work->duplicate = true;
        return 0;
    }
    return rc == 0 ? 0 : rc == 2 ? 1 : -1;
}

static void log_accepted(enqueue_work_t *work, const char *what)
{
    json_t *fields = json_pack("{s:s, s:s, s:s, s:b, s:i}", "event_id", work->spec.event_id,
                               "type", work->spec.type, "source", work->spec.source, "duplicate",
                               work->duplicate, "messages", (int) work->ids.count);
    nagar_log_write(NAGAR_LOG_INFO,
                    work->duplicate ? "notifications.event_duplicate" : "notifications.accepted",
                    fields, "%s %s", what,
                    work->duplicate ? "was accepted before; nothing new queued" : "accepted");
}

/* Answers a refused event or message, and logs who tried what. */
static int refuse(nagar_worker_call_t *call, const char *type, const nagar_outcome_t *outcome)
{
    event_rule_log_refusal(nagar_worker_call_caller(call), type, outcome);
    return nagar_worker_call_fail(call, outcome->code, outcome->field[0] ? outcome->field : NULL,
                                  "%s", outcome->message);
}

/* Loads the type's rule for the caller and checks that the caller may
 * publish it; on failure the call has been answered. */
static bool rule_for_caller(notify_t *self, nagar_worker_call_t *call, const char *type,
                            const char *field, event_rule_t *rule)
{
    const char *caller = nagar_worker_call_caller(call);
    if (event_rule_load(self, type, caller, rule) != 0) {
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
    event_rule_clear(rule);
    return false;
}

int event_deliver(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
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
    if (!notify_text_valid(event->event_id, 1, 200) ||
        strncmp(event->event_id, caller, caller_length) != 0 ||
        event->event_id[caller_length] != ':' || !event->event_id[caller_length + 1])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "event.eventId",
                                      "eventId must be \"%s:<id>\" (the publishing service's "
                                      "name, a colon and its outbox id), at most 200 characters",
                                      caller);
    if (!notify_name_valid(event->type, 64))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "event.type",
                                      "type must be an event type such as payment.received");
    event_rule_t rule;
    if (!rule_for_caller(self, call, event->type, "event.type", &rule))
        return -1;
    if (!notify_ulb_valid(event->ulb)) {
        event_rule_clear(&rule);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "event.ulb",
                                      "ulb must be the LGD code of the ULB (1 to 10 digits)");
    }
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    template_param_t params[EVENT_RULES_PARAMS_MAX + EVENT_PARAMS_DERIVED_MAX];
    event_rule_values_t *values = malloc(sizeof *values);
    if (!values) {
        event_rule_clear(&rule);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    bool params_ok = event_rule_check_params(&rule, event->type, event->ulb, event->params,
                                             event->n_params, "event.params", params, values,
                                             &outcome);
    bool recipient_required = rule.recipient_required, essential = rule.essential;
    event_rule_clear(&rule);
    if (!params_ok) {
        free(values);
        return refuse(call, event->type, &outcome);
    }
    /* A ULB-wide fact (recipient optional) with no address: record it only. */
    const Nagar__Notifications__Recipient *r = event->recipient;
    bool record_only = !recipient_required && (!r || (!r->mobile[0] && !r->email[0]));
    Nagar__Notifications__Recipient nobody = NAGAR__NOTIFICATIONS__RECIPIENT__INIT;
    if (record_only && !r)
        r = &nobody;
    else if (!record_only && !events_recipient_valid(call, r, "event.recipient")) {
        free(values);
        return -1;
    }
    size_t param_count = event->n_params;
    event_params_storage_t derived;
    if (!record_only &&
        !event_params_derive(self->ulb_names, event->ulb, event->occurred_at_ms,
                             r->language[0] ? r->language : "hi", params, &param_count,
                             sizeof params / sizeof params[0], "event.params", &derived,
                             &outcome)) {
        free(values);
        return refuse(call, event->type, &outcome);
    }
    enqueue_work_t work = {.self = self, .call = call, .request = message};
    work.spec = (enqueue_spec_t) {.event_id = event->event_id, .type = event->type,
                                  .ulb = event->ulb, .source = caller,
                                  .recipient = r, .params = params,
                                  .param_count = param_count, .essential = essential,
                                  .params_field = "event.params", .record_only = record_only};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, enqueue_work, &work);
    free(values);
    if (rc != 0)
        return nagar_service_fail(self->db, NOTIFY_SERVICE, call, rc, &work.outcome);
    log_accepted(&work, record_only ? "event (recorded only: it names nobody to tell)"
                                    : "event");
    Nagar__Notifications__DeliverEventReply reply =
        NAGAR__NOTIFICATIONS__DELIVER_EVENT_REPLY__INIT;
    char *id_pointers[2] = {work.ids.ids[0], work.ids.ids[1]};
    reply.duplicate = work.duplicate;
    reply.n_message_ids = work.ids.count;
    reply.message_ids = id_pointers;
    return nagar_worker_call_reply(call, &reply.base);
}

int message_send(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__SendMessageRequest *request =
        (const Nagar__Notifications__SendMessageRequest *) message;
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !notify_text_valid(key, 1, 128))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "idempotencyKey",
                                      "message.send needs an idempotency key of 1 to 128 "
                                      "printable characters: it is what makes a retry safe");
    if (!notify_name_valid(request->type, 64))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "type",
                                      "type must be an event type such as otp.login");
    event_rule_t rule;
    if (!rule_for_caller(self, call, request->type, "type", &rule))
        return -1;
    bool essential = rule.essential;
    if (rule.subject_kind[0]) {
        event_rule_clear(&rule);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "type",
                                      "%s is an event type: publish it with event.deliver",
                                      request->type);
    }
    if (request->ulb[0] && !notify_ulb_valid(request->ulb)) {
        event_rule_clear(&rule);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be an LGD code or empty");
    }
    if (!events_recipient_valid(call, request->recipient, "recipient")) {
        event_rule_clear(&rule);
        return -1;
    }
    template_param_t params[EVENT_RULES_PARAMS_MAX];
    event_rule_values_t *values = malloc(sizeof *values);
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    bool params_ok = values && event_rule_check_params(&rule, request->type, request->ulb,
                                                       request->params, request->n_params,
                                                       "params", params, values, &outcome);
    event_rule_clear(&rule);
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
    log_accepted(&work, "direct message");
    Nagar__Notifications__SendMessageReply reply = NAGAR__NOTIFICATIONS__SEND_MESSAGE_REPLY__INIT;
    char *id_pointers[2] = {work.ids.ids[0], work.ids.ids[1]};
    reply.duplicate = work.duplicate;
    reply.n_message_ids = work.ids.count;
    reply.message_ids = id_pointers;
    if (work.duplicate)
        nagar_worker_call_set_replayed(call, true);
    return nagar_worker_call_reply(call, &reply.base);
}
