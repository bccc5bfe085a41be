/*
 * recipients.c — the resolver of pending events and the staff view of
 * events not delivered (see recipients.h).
 *
 * A round is a small state machine driven by the worker's tick: CLAIM a
 * batch (lease), ASK_SUBJECTS of each publisher at once, ASK_CONTACTS of
 * identity, then FINISH each event in its own transaction. The bus calls
 * are asynchronous (their callbacks only record the answers), so the worker
 * keeps heart-beating and answering while a publisher or identity is slow.
 */
#include "recipients.h"

#include <czmq.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_params.h"
#include "event_rules.h"
#include "events.h"
#include "log.h"
#include "proto/identity.pb-c.h"

#define RESOLVE_BATCH_MAX 100
#define LIST_PAGE_DEFAULT 50
#define LIST_PAGE_MAX 200
#define TIME_TEXT(column)                                                                     \
    "coalesce(to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '')"

typedef enum { ITEM_OPEN, ITEM_PERSON, ITEM_RETRY, ITEM_REFUSED } item_state_t;

typedef struct {
    /* as claimed */
    char event_id[201];
    char type[65];
    char ulb[11];
    char source[33];
    char subject[121];
    char user_id[101];
    char person_ref[61];        /* the record's key of a person without an account */
    char language[3];
    char campaign_id[24];
    char lease[64];             /* lease_until as text: the claim is ours while it holds */
    bool essential;
    long long occurred_at_ms;
    long attempts;
    char *params_json;
    /* as resolved */
    item_state_t state;
    char reason[400];
    char person[101];           /* the person's user id, "" for one without an account */
    char record_mobile[16];     /* the contact on the publisher's record */
    char mobile[16];
    char email[255];
    char contact_language[3];
    bool from_identity;
} item_t;

typedef struct {
    recipients_t *self;
    char source[33];
} ask_t;

typedef enum { ROUND_IDLE, ROUND_SUBJECTS, ROUND_CONTACTS } round_t;

struct recipients_t {
    notify_t *notify;
    nagar_bus_client_t *client;
    long batch, timeout_ms, poll_ms, retry_base_ms, retry_max_ms, give_up_s;
    round_t round;
    int outstanding;            /* answers awaited in this stage */
    int64_t next_claim_ms;      /* monotonic */
    item_t items[RESOLVE_BATCH_MAX];
    size_t count;
    ask_t asks[RESOLVE_BATCH_MAX];
    size_t ask_count;
};

static void copy(char *out, size_t size, const char *text)
{
    snprintf(out, size, "%s", text ? text : "");
}

recipients_t *notifications_recipients_new(notify_t *notify, nagar_bus_client_t *client,
                                           char *error, size_t error_size)
{
    recipients_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    self->notify = notify;
    self->client = client;
    struct {
        const char *key;
        long fallback, min, max;
        long *out;
    } settings[] = {
        {"NAGAR_NOTIFY_RESOLVE_BATCH", 50, 1, RESOLVE_BATCH_MAX, &self->batch},
        {"NAGAR_NOTIFY_RESOLVE_TIMEOUT_MS", 3000, 50, 60000, &self->timeout_ms},
        {"NAGAR_NOTIFY_RESOLVE_POLL_MS", 200, 10, 60000, &self->poll_ms},
        {"NAGAR_NOTIFY_RESOLVE_RETRY_BASE_MS", 60000, 10, 86400000, &self->retry_base_ms},
        {"NAGAR_NOTIFY_RESOLVE_RETRY_MAX_MS", 3600000, 10, 86400000, &self->retry_max_ms},
        {"NAGAR_NOTIFY_RESOLVE_GIVE_UP_S", 2592000, 1, 31536000, &self->give_up_s},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (nagar_config_get_int(notify->config, settings[i].key, settings[i].fallback,
                                 settings[i].min, settings[i].max, settings[i].out, error,
                                 error_size) != 0) {
            free(self);
            return NULL;
        }
    return self;
}

static void round_clear(recipients_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        free(self->items[i].params_json);
        self->items[i].params_json = NULL;
    }
    self->count = 0;
    self->ask_count = 0;
    self->outstanding = 0;
    self->round = ROUND_IDLE;
}

void notifications_recipients_destroy(recipients_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    round_clear(*self_p);
    free(*self_p);
    *self_p = NULL;
}

void notifications_recipients_wake(recipients_t *self)
{
    if (self)
        self->next_claim_ms = 0;
}

static void item_retry(item_t *item, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void item_retry(item_t *item, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(item->reason, sizeof item->reason, format, args);
    va_end(args);
    item->state = ITEM_RETRY;
}

static void item_refuse(item_t *item, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void item_refuse(item_t *item, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(item->reason, sizeof item->reason, format, args);
    va_end(args);
    item->state = ITEM_REFUSED;
}

/* ---- 1. claim ---------------------------------------------------------------------- */

static int claim(recipients_t *self)
{
    char limit[24], lease_s[24];
    snprintf(limit, sizeof limit, "%ld", self->batch);
    snprintf(lease_s, sizeof lease_s, "%ld", 2 * self->timeout_ms / 1000 + 60);
    const char *values[] = {limit, lease_s};
    PGresult *rows = nagar_service_query(
        self->notify->db, "resolve_claim",
        "UPDATE notifications.event e SET lease_until = now() + make_interval(secs => $2::int), "
        "attempts = e.attempts + 1 FROM (SELECT event_id FROM notifications.event "
        "  WHERE state = 'pending' AND next_attempt_at <= now() "
        "  AND (lease_until IS NULL OR lease_until < now()) "
        "  ORDER BY next_attempt_at, seq LIMIT $1::int FOR UPDATE SKIP LOCKED) c "
        "WHERE e.event_id = c.event_id "
        "RETURNING e.event_id, e.type, e.ulb, e.source, e.subject, e.user_id, e.language, "
        "coalesce(e.params::text, '[]'), e.occurred_at_ms, e.essential, "
        "coalesce(e.campaign_id::text, ''), e.attempts, e.lease_until::text, e.person",
        2, values);
    if (!rows) {
        nagar_log_warn("notifications.resolve_failed", "claiming pending events failed: %s",
                       nagar_db_error(self->notify->db));
        return -1;
    }
    self->count = 0;
    for (int row = 0; row < PQntuples(rows) && self->count < RESOLVE_BATCH_MAX; row++) {
        item_t *item = &self->items[self->count];
        memset(item, 0, sizeof *item);
        copy(item->event_id, sizeof item->event_id, PQgetvalue(rows, row, 0));
        copy(item->type, sizeof item->type, PQgetvalue(rows, row, 1));
        copy(item->ulb, sizeof item->ulb, PQgetvalue(rows, row, 2));
        copy(item->source, sizeof item->source, PQgetvalue(rows, row, 3));
        copy(item->subject, sizeof item->subject, PQgetvalue(rows, row, 4));
        copy(item->user_id, sizeof item->user_id, PQgetvalue(rows, row, 5));
        copy(item->language, sizeof item->language, PQgetvalue(rows, row, 6));
        item->params_json = strdup(PQgetvalue(rows, row, 7));
        item->occurred_at_ms = strtoll(PQgetvalue(rows, row, 8), NULL, 10);
        item->essential = strcmp(PQgetvalue(rows, row, 9), "t") == 0;
        copy(item->campaign_id, sizeof item->campaign_id, PQgetvalue(rows, row, 10));
        item->attempts = strtol(PQgetvalue(rows, row, 11), NULL, 10);
        copy(item->lease, sizeof item->lease, PQgetvalue(rows, row, 12));
        copy(item->person_ref, sizeof item->person_ref, PQgetvalue(rows, row, 13));
        item->state = ITEM_OPEN;
        self->count++;
        if (!item->params_json)
            item_retry(item, "out of memory");
        else if (!item->subject[0])
            item_refuse(item, "the event names no record to find its person in");
    }
    PQclear(rows);
    return (int) self->count;
}

/* ---- 2. the publishers: who are the record's persons -------------------------------------- */

static void decide_person(item_t *item, const Nagar__Notifications__Subject *subject)
{
    if (!subject || !subject->found) {
        item_refuse(item, "%s has no record %s", item->source, item->subject);
        return;
    }
    if (strcmp(subject->ulb, item->ulb) != 0) {
        item_refuse(item, "%s belongs to ULB %s, not to the event's ULB %s", item->subject,
                    subject->ulb, item->ulb);
        return;
    }
    /* The person the event names: by user id, else by the record's key for
     * them, else the record's first. */
    const Nagar__Notifications__SubjectPerson *chosen = NULL;
    for (size_t i = 0; i < subject->n_persons && !chosen; i++)
        if (item->user_id[0]      ? strcmp(subject->persons[i]->user_id, item->user_id) == 0
            : item->person_ref[0] ? strcmp(subject->persons[i]->ref, item->person_ref) == 0
                                  : true)
            chosen = subject->persons[i];
    if (!chosen && item->user_id[0]) {
        item_refuse(item, "user %s is not a person of %s (%s says who is): an event may only "
                          "reach its own subject",
                    item->user_id, item->subject, item->source);
        return;
    }
    if (!chosen && item->person_ref[0]) {
        item_retry(item, "%s names no person %s with an account or a mobile now (%s says who "
                         "is); add their mobile to the record",
                   item->subject, item->person_ref, item->source);
        return;
    }
    if (!chosen) {
        item_retry(item, "%s names nobody with an account or a mobile yet; add the owner's "
                         "mobile or account to the record",
                   item->subject);
        return;
    }
    copy(item->person, sizeof item->person, chosen->user_id);
    copy(item->record_mobile, sizeof item->record_mobile, chosen->mobile);
    item->state = ITEM_PERSON;
}

static void subjects_answered(const nagar_bus_result_t *result, void *arg)
{
    ask_t *ask = arg;
    recipients_t *self = ask->self;
    Nagar__Notifications__SubjectsReply *reply = NULL;
    if (result->code == NAGAR__STATUS_CODE__OK)
        reply = nagar__notifications__subjects_reply__unpack(NULL, result->payload_size,
                                                             result->payload);
    for (size_t i = 0; i < self->count; i++) {
        item_t *item = &self->items[i];
        if (item->state != ITEM_OPEN || strcmp(item->source, ask->source) != 0)
            continue;
        if (!reply) {
            item_retry(item, "%s did not answer notify.subjects (%s%s%s)", item->source,
                       nagar_status_name(result->code), result->message[0] ? ": " : "",
                       result->message);
            continue;
        }
        const Nagar__Notifications__Subject *found = NULL;
        for (size_t k = 0; k < reply->n_subjects && !found; k++)
            if (strcmp(reply->subjects[k]->subject, item->subject) == 0)
                found = reply->subjects[k];
        decide_person(item, found);
    }
    if (reply)
        nagar__notifications__subjects_reply__free_unpacked(reply, NULL);
    self->outstanding--;
}

/* Sends one notify.subjects per publisher in the batch. */
static void ask_subjects(recipients_t *self)
{
    self->round = ROUND_SUBJECTS;
    self->outstanding = 0;
    self->ask_count = 0;
    for (size_t i = 0; i < self->count; i++) {
        item_t *item = &self->items[i];
        if (item->state != ITEM_OPEN)
            continue;
        bool asked = false;
        for (size_t a = 0; a < self->ask_count && !asked; a++)
            asked = strcmp(self->asks[a].source, item->source) == 0;
        if (asked)
            continue;
        ask_t *ask = &self->asks[self->ask_count++];
        ask->self = self;
        copy(ask->source, sizeof ask->source, item->source);
        /* This publisher's distinct records. */
        char *subjects[RESOLVE_BATCH_MAX];
        size_t n = 0;
        for (size_t k = i; k < self->count; k++) {
            item_t *other = &self->items[k];
            if (other->state != ITEM_OPEN || strcmp(other->source, item->source) != 0)
                continue;
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++)
                seen = strcmp(subjects[j], other->subject) == 0;
            if (!seen)
                subjects[n++] = other->subject;
        }
        Nagar__Notifications__SubjectsRequest request =
            NAGAR__NOTIFICATIONS__SUBJECTS_REQUEST__INIT;
        request.n_subjects = n;
        request.subjects = subjects;
        nagar_bus_call_t call = {.service = item->source, .method = "notify.subjects",
                                 .request = &request.base, .timeout_ms = (int) self->timeout_ms,
                                 .repeatable = true};   /* a read (bus_client.h) */
        self->outstanding++;
        if (!self->client ||
            nagar_bus_client_send(self->client, &call, subjects_answered, ask) != 0) {
            nagar_bus_result_t failed = {.code = NAGAR__STATUS_CODE__UNAVAILABLE,
                                         .message = "notifications has no bus client",
                                         .field = ""};
            subjects_answered(&failed, ask);
        }
    }
}

/* ---- 3. identity: the person's verified contact ------------------------------------------- */

static void contacts_answered(const nagar_bus_result_t *result, void *arg)
{
    recipients_t *self = arg;
    Nagar__Identity__LookupContactsReply *reply = NULL;
    if (result->code == NAGAR__STATUS_CODE__OK)
        reply = nagar__identity__lookup_contacts_reply__unpack(NULL, result->payload_size,
                                                               result->payload);
    for (size_t i = 0; i < self->count; i++) {
        item_t *item = &self->items[i];
        if (item->state != ITEM_PERSON || !item->person[0])
            continue;
        if (!reply) {
            item_retry(item, "identity did not answer contact.lookup (%s%s%s)",
                       nagar_status_name(result->code), result->message[0] ? ": " : "",
                       result->message);
            continue;
        }
        for (size_t k = 0; k < reply->n_contacts; k++) {
            const Nagar__Identity__Contact *contact = reply->contacts[k];
            if (strcmp(contact->user_id, item->person) != 0 || !contact->found)
                continue;
            if (notify_mobile_valid(contact->mobile))
                copy(item->mobile, sizeof item->mobile, contact->mobile);
            if (notify_email_valid(contact->email))
                copy(item->email, sizeof item->email, contact->email);
            copy(item->contact_language, sizeof item->contact_language, contact->language);
            item->from_identity = item->mobile[0] || item->email[0];
        }
    }
    if (reply)
        nagar__identity__lookup_contacts_reply__free_unpacked(reply, NULL);
    self->outstanding--;
}

static void ask_contacts(recipients_t *self)
{
    self->round = ROUND_CONTACTS;
    self->outstanding = 0;
    char *users[RESOLVE_BATCH_MAX];
    size_t n = 0;
    for (size_t i = 0; i < self->count; i++) {
        item_t *item = &self->items[i];
        if (item->state != ITEM_PERSON || !item->person[0])
            continue;
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(users[j], item->person) == 0;
        if (!seen)
            users[n++] = item->person;
    }
    if (n == 0)
        return;
    Nagar__Identity__LookupContactsRequest request =
        NAGAR__IDENTITY__LOOKUP_CONTACTS_REQUEST__INIT;
    request.n_user_ids = n;
    request.user_ids = users;
    nagar_bus_call_t call = {.service = "identity", .method = "contact.lookup",
                             .request = &request.base, .timeout_ms = (int) self->timeout_ms,
                             .repeatable = true};   /* a read (bus_client.h) */
    self->outstanding = 1;
    if (!self->client || nagar_bus_client_send(self->client, &call, contacts_answered, self) != 0) {
        nagar_bus_result_t failed = {.code = NAGAR__STATUS_CODE__UNAVAILABLE,
                                     .message = "notifications has no bus client", .field = ""};
        contacts_answered(&failed, self);
    }
}

/* ---- 4. finish: queue, or keep with the reason ------------------------------------------------ */

typedef struct {
    recipients_t *self;
    item_t *item;
    bool ours;                  /* the lease still held: we decided */
    nagar_outcome_t outcome;
    int queued;                 /* 0 queued, 2 outcome set */
} finish_work_t;

/* The person's addresses: identity's verified ones, else the record's mobile. */
static void choose_addresses(item_t *item)
{
    if (item->state != ITEM_PERSON || item->mobile[0] || item->email[0])
        return;
    if (notify_mobile_valid(item->record_mobile)) {
        copy(item->mobile, sizeof item->mobile, item->record_mobile);
        return;
    }
    if (item->person[0])
        item_retry(item, "user %s has no verified contact in identity%s yet", item->person,
                   item->record_mobile[0] ? " and the record's mobile is not a valid number"
                                          : " and the record has no mobile");
    else
        item_retry(item, "the person of %s has no account and the record's mobile \"%s\" is "
                         "not a valid number",
                   item->subject, item->record_mobile);
}

static int queue_work(nagar_db_t *db, void *arg)
{
    (void) db;
    finish_work_t *work = arg;
    recipients_t *self = work->self;
    item_t *item = work->item;
    nagar_outcome_reset(&work->outcome);
    work->queued = 2;
    const char *mark_values[] = {item->event_id, item->lease};
    PGresult *marked = nagar_service_query(
        self->notify->db, "resolve_mark_delivered",
        "UPDATE notifications.event SET state = 'delivered', resolved_at = now(), reason = '', "
        "lease_until = NULL WHERE event_id = $1 AND state = 'pending' "
        "AND lease_until = $2::timestamptz RETURNING 1",
        2, mark_values);
    if (!marked)
        return -1;
    work->ours = PQntuples(marked) == 1;
    PQclear(marked);
    if (!work->ours)
        return 0;
    json_t *array = json_loads(item->params_json, 0, NULL);
    template_param_t params[EVENT_RULES_PARAMS_MAX * 2 + EVENT_PARAMS_DERIVED_MAX];
    size_t count =
        notifications_events_params_from_json(array, params, 0, EVENT_RULES_PARAMS_MAX * 2);
    const char *language = item->contact_language[0] ? item->contact_language
                           : item->language[0]       ? item->language
                                                     : "hi";
    event_params_storage_t derived;
    int rc = 0;
    if (!notifications_event_params_derive(self->notify->ulb_names, self->notify->portal_url,
                                           item->ulb, item->occurred_at_ms, language, params,
                                           &count, sizeof params / sizeof params[0], "params",
                                           &derived, &work->outcome)) {
        rc = 1;
    } else {
        Nagar__Notifications__Recipient recipient = NAGAR__NOTIFICATIONS__RECIPIENT__INIT;
        recipient.mobile = item->mobile;
        recipient.email = item->email;
        recipient.language = (char *) language;
        recipient.user_id = item->person;
        enqueue_spec_t spec = {.event_id = item->event_id, .type = item->type, .ulb = item->ulb,
                               .source = item->source, .recipient = &recipient,
                               .params = params, .param_count = count,
                               .essential = item->essential,
                               .campaign_id = item->campaign_id[0] ? item->campaign_id : NULL,
                               .params_field = "params"};
        enqueued_ids_t ids = {.count = 0};
        int queued = notifications_events_queue_messages(self->notify, &spec, &ids, &work->outcome);
        if (queued == 0)
            work->queued = 0;
        else if (queued == 2)
            rc = 1;         /* roll back the mark; the event is kept with the reason */
        else
            rc = -1;
    }
    json_decref(array);
    return rc;
}

static void backoff_text(recipients_t *self, long attempts, char *out, size_t size)
{
    long long delay = self->retry_base_ms;
    for (long i = 1; i < attempts && delay < self->retry_max_ms; i++)
        delay *= 2;
    if (delay > self->retry_max_ms)
        delay = self->retry_max_ms;
    snprintf(out, size, "%lld", delay);
}

/* Keeps a pending event with its reason (retry or give up), or refuses it. */
static void keep(recipients_t *self, item_t *item)
{
    char delay[24], give_up[24];
    backoff_text(self, item->attempts, delay, sizeof delay);
    snprintf(give_up, sizeof give_up, "%ld", self->give_up_s);
    const char *state = item->state == ITEM_REFUSED ? "refused" : "pending";
    const char *values[] = {item->event_id, item->lease, state, item->reason, delay, give_up};
    PGresult *result = nagar_service_query(
        self->notify->db, "resolve_keep",
        "UPDATE notifications.event SET lease_until = NULL, reason = $4, "
        "state = CASE WHEN $3 = 'pending' AND received_at < now() - make_interval(secs => "
        "$6::int) THEN 'undeliverable' ELSE $3 END, "
        "resolved_at = CASE WHEN $3 = 'refused' THEN now() ELSE resolved_at END, "
        "next_attempt_at = now() + make_interval(secs => $5::bigint / 1000.0) "
        "WHERE event_id = $1 AND state = 'pending' AND lease_until = $2::timestamptz "
        "RETURNING state",
        6, values);
    if (!result) {
        nagar_log_warn("notifications.resolve_failed", "keeping event %s failed: %s",
                       item->event_id, nagar_db_error(self->notify->db));
        return;
    }
    const char *now_state = PQntuples(result) == 1 ? PQgetvalue(result, 0, 0) : "";
    json_t *fields = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "event_id",
                               item->event_id, "type", item->type, "source", item->source,
                               "subject", item->subject, "state", now_state, "reason",
                               item->reason, "attempts", (int) item->attempts);
    if (item->state == ITEM_REFUSED)
        nagar_log_write(NAGAR_LOG_WARN, "notifications.recipient_refused", fields,
                        "event %s from %s refused: %s", item->event_id, item->source,
                        item->reason);
    else
        nagar_log_write(NAGAR_LOG_INFO, "notifications.event_pending", fields,
                        "event %s %s: %s", item->event_id,
                        strcmp(now_state, "undeliverable") == 0 ? "given up" : "kept for a retry",
                        item->reason);
    PQclear(result);
}

static void finish(recipients_t *self)
{
    int delivered = 0;
    for (size_t i = 0; i < self->count; i++) {
        item_t *item = &self->items[i];
        choose_addresses(item);
        if (item->state == ITEM_PERSON) {
            finish_work_t work = {.self = self, .item = item};
            int rc = nagar_db_transaction(self->notify->db, NAGAR_DB_READ_COMMITTED, queue_work,
                                          &work);
            if (rc == 0 && work.ours && work.queued == 0) {
                delivered++;
                json_t *fields = json_pack(
                    "{s:s, s:s, s:s, s:s, s:s}", "event_id", item->event_id, "type",
                    item->type, "subject", item->subject, "user_id", item->person, "contact",
                    item->from_identity ? "identity" : "record");
                nagar_log_write(NAGAR_LOG_INFO, "notifications.event_resolved", fields,
                                "event %s resolved to its person and queued", item->event_id);
                continue;
            }
            if (rc == 0)
                continue;   /* another process holds it now */
            if (rc == 1)
                item_retry(item, "%s", work.outcome.message);
            else
                item_retry(item, "the database failed: %s", nagar_db_error(self->notify->db));
        }
        keep(self, item);
    }
    /* A full batch suggests more work; otherwise wait for the next poll. */
    self->next_claim_ms =
        zclock_mono() + (self->count == (size_t) self->batch && delivered ? 0 : self->poll_ms);
    round_clear(self);
}

void notifications_recipients_tick(recipients_t *self)
{
    if (self->client)
        nagar_bus_client_dispatch(self->client);
    if (self->round == ROUND_IDLE) {
        if (zclock_mono() < self->next_claim_ms)
            return;
        if (claim(self) <= 0) {
            self->next_claim_ms = zclock_mono() + self->poll_ms;
            round_clear(self);
            return;
        }
        ask_subjects(self);
    }
    if (self->round == ROUND_SUBJECTS && self->outstanding <= 0)
        ask_contacts(self);
    if (self->round == ROUND_CONTACTS && self->outstanding <= 0)
        finish(self);
}

/* ---- staff: event.list, event.retry -------------------------------------------------------------- */

static const char *const STATE_NAMES[] = {"", "pending", "delivered", "recorded", "refused",
                                          "undeliverable"};

static Nagar__Notifications__EventState state_value(const char *name)
{
    for (int i = 1; i < (int) (sizeof STATE_NAMES / sizeof STATE_NAMES[0]); i++)
        if (strcmp(name, STATE_NAMES[i]) == 0)
            return (Nagar__Notifications__EventState) i;
    return NAGAR__NOTIFICATIONS__EVENT_STATE__EVENT_STATE_UNSPECIFIED;
}

#define EVENT_COLUMNS                                                                          \
    "seq, event_id, type, ulb, source, subject, user_id, state, reason, attempts, "             \
    TIME_TEXT("received_at") ", " TIME_TEXT("next_attempt_at") ", " TIME_TEXT("resolved_at")   \
    ", coalesce(campaign_id::text, ''), person"

static void event_from_row(Nagar__Notifications__EventInfo *info, PGresult *rows, int row)
{
    nagar__notifications__event_info__init(info);
    info->event_id = PQgetvalue(rows, row, 1);
    info->type = PQgetvalue(rows, row, 2);
    info->ulb = PQgetvalue(rows, row, 3);
    info->source = PQgetvalue(rows, row, 4);
    info->subject = PQgetvalue(rows, row, 5);
    info->user_id = PQgetvalue(rows, row, 6);
    info->state = state_value(PQgetvalue(rows, row, 7));
    info->reason = PQgetvalue(rows, row, 8);
    info->attempts = (uint32_t) strtoul(PQgetvalue(rows, row, 9), NULL, 10);
    info->received_at = PQgetvalue(rows, row, 10);
    info->next_attempt_at = PQgetvalue(rows, row, 11);
    info->resolved_at = PQgetvalue(rows, row, 12);
    info->campaign_id = PQgetvalue(rows, row, 13);
    info->person = PQgetvalue(rows, row, 14);
}

/* The ULB the staff member may see ("" = every ULB, for a STATE_ADMIN), or
 * NULL when the call has been answered with a refusal. */
static const char *staff_scope(nagar_worker_call_t *call, const char *asked)
{
    if (!notify_actor_is_staff(call)) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                               "undelivered events are for staff");
        return NULL;
    }
    if (asked[0] && !notify_ulb_valid(asked)) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                               "ulb must be an LGD code of 1 to 10 digits");
        return NULL;
    }
    if (strcmp(notify_actor_role(call), "STATE_ADMIN") == 0)
        return asked;
    const char *own = nagar_actor_ulb(call);
    if (!own[0]) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                               "the actor's role is not scoped to a ULB");
        return NULL;
    }
    if (asked[0] && strcmp(asked, own) != 0) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "ulb",
                               "staff of ULB %s may only see that ULB's events", own);
        return NULL;
    }
    return own;
}

int notifications_event_list(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__ListEventsRequest *request =
        (const Nagar__Notifications__ListEventsRequest *) message;
    const char *ulb = staff_scope(call, request->ulb);
    if (!ulb)
        return -1;
    if ((unsigned) request->state >= sizeof STATE_NAMES / sizeof STATE_NAMES[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "state",
                                      "state must be one of PENDING, DELIVERED, RECORDED, "
                                      "REFUSED, UNDELIVERABLE");
    if (request->type[0] && !notify_name_valid(request->type, 64))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "type",
                                      "type must be an event type such as payment.received");
    notify_page_t page;
    if (!notify_page_read(&page, call, request->page_size, request->page_token,
                          LIST_PAGE_DEFAULT, LIST_PAGE_MAX))
        return -1;
    const char *values[] = {ulb, STATE_NAMES[request->state], request->type, page.after,
                            page.limit};
    PGresult *rows = nagar_service_query(
        self->db, "event_list",
        "SELECT " EVENT_COLUMNS " FROM notifications.event "
        "WHERE ($1 = '' OR ulb = $1) "
        "AND (CASE WHEN $2 = '' THEN state IN ('pending', 'refused', 'undeliverable') "
        "     ELSE state = $2 END) "
        "AND ($3 = '' OR type = $3) AND ($4::bigint = 0 OR seq < $4::bigint) "
        "AND event_id NOT LIKE 'direct:%' ORDER BY seq DESC LIMIT $5::int",
        5, values);
    char next[64];
    int count;
    Nagar__Notifications__EventInfo **items =
        notify_page_list(self, call, &page, rows, sizeof **items, next, sizeof next, &count);
    if (!items)
        return -1;
    for (int i = 0; i < count; i++)
        event_from_row(items[i], rows, i);
    Nagar__Notifications__ListEventsReply reply = NAGAR__NOTIFICATIONS__LIST_EVENTS_REPLY__INIT;
    return nagar_reply_page(call, &reply.base, "events", items, (size_t) count, next, rows);
}

int notifications_event_retry(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__RetryEventRequest *request =
        (const Nagar__Notifications__RetryEventRequest *) message;
    const char *ulb = staff_scope(call, "");
    if (!ulb)
        return -1;
    if (!notify_text_valid(request->event_id, 1, 200))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "eventId",
                                      "eventId is 1 to 200 printable characters");
    const char *values[] = {request->event_id, ulb};
    PGresult *rows = nagar_service_query(
        self->db, "event_retry",
        "UPDATE notifications.event SET state = 'pending', next_attempt_at = now() "
        "WHERE event_id = $1 AND ($2 = '' OR ulb = $2) "
        "AND state IN ('pending', 'undeliverable') AND event_id NOT LIKE 'direct:%' "
        "RETURNING " EVENT_COLUMNS,
        2, values);
    if (!rows)
        return nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
    int rc;
    if (PQntuples(rows) != 1) {
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "eventId",
                                    "no pending or undeliverable event %s%s%s", request->event_id,
                                    ulb[0] ? " in ULB " : "", ulb);
    } else {
        Nagar__Notifications__EventInfo info;
        event_from_row(&info, rows, 0);
        json_t *fields = json_pack("{s:s, s:s}", "event_id", request->event_id, "by",
                                   nagar_actor_user(call));
        nagar_log_write(NAGAR_LOG_INFO, "notifications.event_retry", fields,
                        "event %s will be resolved again now", request->event_id);
        notifications_recipients_wake(self->recipients);
        rc = nagar_worker_call_reply(call, &info.base);
    }
    PQclear(rows);
    return rc;
}
