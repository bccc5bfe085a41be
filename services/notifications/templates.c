/*
 * templates.c — template master data and rendering (see templates.h).
 *
 * Saves of one (type, language, channel, ulb) are serialised by a
 * transaction-scoped advisory lock so two staff saving at once get
 * versions n and n+1, never a unique-key failure.
 */
#include "templates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "log.h"

#define PLACEHOLDER_MAX 40
#define TEMPLATE_LIST_MAX 500

/* Reads "{{name}}" at text; returns the length of the whole placeholder
 * and copies name, or 0 when text does not start a well-formed one. */
static size_t placeholder_at(const char *text, char name[PLACEHOLDER_MAX + 1])
{
    if (text[0] != '{' || text[1] != '{')
        return 0;
    size_t i = 2, n = 0;
    while ((text[i] >= 'a' && text[i] <= 'z') || text[i] == '_' ||
           (n > 0 && text[i] >= '0' && text[i] <= '9')) {
        if (n == PLACEHOLDER_MAX)
            return 0;
        name[n++] = text[i++];
    }
    name[n] = '\0';
    if (n == 0 || text[i] != '}' || text[i + 1] != '}')
        return 0;
    return i + 2;
}

/* Checks every placeholder of text against allowed (a Postgres text[]
 * literal such as {a,b}); sets outcome on the first problem. */
static bool placeholders_ok(const char *text, const char *allowed, const char *field,
                            const char *type, nagar_outcome_t *outcome)
{
    for (const char *p = text; *p; p++) {
        if (p[0] == '}' && p[1] == '}') {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                              "\"}}\" at character %zu closes no placeholder; write "
                              "placeholders as {{name}}",
                              (size_t) (p - text) + 1);
            return false;
        }
        if (p[0] != '{' || p[1] != '{')
            continue;
        char name[PLACEHOLDER_MAX + 1];
        size_t length = placeholder_at(p, name);
        if (length == 0) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                              "malformed placeholder at character %zu: write {{name}} with a "
                              "name of 1 to %d of [a-z0-9_]",
                              (size_t) (p - text) + 1, PLACEHOLDER_MAX);
            return false;
        }
        bool known = strcmp(name, "ulb") == 0;
        /* allowed looks like {a,b,c}: match ",name," against ",a,b,c,". */
        char needle[PLACEHOLDER_MAX + 3];
        snprintf(needle, sizeof needle, ",%s,", name);
        size_t allowed_length = strlen(allowed);
        char *list = malloc(allowed_length + 3);
        if (list) {
            snprintf(list, allowed_length + 3, ",%.*s,",
                     (int) (allowed_length >= 2 ? allowed_length - 2 : 0), allowed + 1);
            known = known || strstr(list, needle) != NULL;
            free(list);
        }
        if (!known) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                              "placeholder {{%s}} is not one that events of type %s carry; "
                              "use one of %s or {{ulb}}",
                              name, type, allowed);
            return false;
        }
        p += length - 1;
    }
    return true;
}

int notifications_template_type_exists(notify_t *self, const char *type)
{
    const char *values[] = {type};
    PGresult *result =
        nagar_service_query(self->db, "type_exists",
                            "SELECT 1 FROM notifications.event_type WHERE type = $1", 1, values);
    if (!result)
        return -1;
    int exists = PQntuples(result) == 1;
    PQclear(result);
    return exists;
}

static const char *channel_name(Nagar__Notifications__Channel channel)
{
    return channel == NAGAR__NOTIFICATIONS__CHANNEL__SMS     ? "sms"
           : channel == NAGAR__NOTIFICATIONS__CHANNEL__EMAIL ? "email"
                                                             : NULL;
}

typedef struct {
    nagar_keyed_work_t base; /* first: the key, the outcome */
    notify_t *self;
    const Nagar__Notifications__SaveTemplateRequest *request;
    const char *channel;
    char version[16];
    char saved_at[40];
} save_work_t;

static void template_reply_fill(Nagar__Notifications__Template *reply,
                                const Nagar__Notifications__Template *input, const char *saved_by,
                                char *version, char *saved_at)
{
    *reply = (Nagar__Notifications__Template) NAGAR__NOTIFICATIONS__TEMPLATE__INIT;
    reply->type = input->type;
    reply->language = input->language;
    reply->channel = input->channel;
    reply->ulb = input->ulb;
    reply->subject = input->subject;
    reply->body = input->body;
    reply->dlt_template_id = input->dlt_template_id;
    reply->version = (uint32_t) strtoul(version, NULL, 10);
    reply->saved_by = (char *) saved_by;
    reply->saved_at = saved_at;
}

static int save_work(nagar_db_t *db, void *arg)
{
    (void) db;
    save_work_t *work = arg;
    notify_t *self = work->self;
    const Nagar__Notifications__Template *input = work->request->template_;
    int begun;
    if (!nagar_keyed_work_begin(&work->base, &begun))
        return begun;

    const char *type_values[] = {input->type};
    PGresult *result = nagar_service_query(
        self->db, "type_placeholders",
        "SELECT placeholders::text FROM notifications.event_type WHERE type = $1", 1,
        type_values);
    if (!result)
        return -1;
    if (PQntuples(result) != 1) {
        PQclear(result);
        nagar_outcome_set(
            &work->base.outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "template.type",
            "\"%s\" is not a known event type; template.list shows them", input->type);
        return 1;
    }
    bool ok = placeholders_ok(input->body, PQgetvalue(result, 0, 0), "template.body", input->type,
                              &work->base.outcome) &&
              placeholders_ok(input->subject, PQgetvalue(result, 0, 0), "template.subject",
                              input->type, &work->base.outcome);
    PQclear(result);
    if (!ok)
        return 1;

    char lock[160];
    snprintf(lock, sizeof lock, "notifications.template:%s:%s:%s:%s", input->type,
             input->language, work->channel, input->ulb);
    const char *lock_values[] = {lock};
    result = nagar_service_query(self->db, "template_lock",
                                 "SELECT pg_advisory_xact_lock(hashtext($1))", 1, lock_values);
    if (!result)
        return -1;
    PQclear(result);
    const char *values[] = {
        input->type,    input->language, work->channel,          input->ulb,
        input->subject, input->body,     input->dlt_template_id, nagar_actor_user(work->base.call)};
    result = nagar_service_query(
        self->db, "template_insert",
        "INSERT INTO notifications.template (type, language, channel, ulb, version, subject, "
        "body, dlt_template_id, saved_by) "
        "SELECT $1, $2, $3, $4, coalesce(max(version), 0) + 1, $5, $6, $7, $8 "
        "FROM notifications.template WHERE type = $1 AND language = $2 AND channel = $3 "
        "AND ulb = $4 "
        "RETURNING version, to_char(saved_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
        8, values);
    if (!result)
        return -1;
    snprintf(work->version, sizeof work->version, "%s", PQgetvalue(result, 0, 0));
    snprintf(work->saved_at, sizeof work->saved_at, "%s", PQgetvalue(result, 0, 1));
    PQclear(result);

    Nagar__Notifications__Template reply;
    template_reply_fill(&reply, input, nagar_actor_user(work->base.call), work->version,
                        work->saved_at);
    if (nagar_keyed_work_store(&work->base, &reply.base) != 0)
        return -1;
    json_t *fields =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", input->type, "language",
                  input->language, "channel", work->channel, "ulb", input->ulb, "version",
                  work->version, "saved_by", nagar_actor_user(work->base.call));
    nagar_log_write(NAGAR_LOG_INFO, "notifications.template_saved", fields,
                    "template saved as a new version");
    return 0;
}

int notifications_template_save(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__SaveTemplateRequest *request =
        (const Nagar__Notifications__SaveTemplateRequest *) message;
    const char *role = notify_actor_role(call);
    bool state_admin = strcmp(role, "STATE_ADMIN") == 0;
    if (!state_admin && strcmp(role, "COMMISSIONER") != 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "only a STATE_ADMIN or a ULB's COMMISSIONER may save "
                                      "templates");
    const Nagar__Notifications__Template *t = request->template_;
    if (!t)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "template",
                                      "template is required");
    if (!notify_name_valid(t->type, 64))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "template.type",
                                      "type must be an event type such as payment.received");
    if (strcmp(t->language, "hi") != 0 && strcmp(t->language, "en") != 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "template.language", "language must be \"hi\" or \"en\"");
    const char *channel = channel_name(t->channel);
    if (!channel)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "template.channel", "channel must be SMS or EMAIL");
    if (t->ulb[0] && !notify_ulb_valid(t->ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "template.ulb",
                                      "ulb must be an LGD code of 1 to 10 digits, or empty for "
                                      "the state default");
    if (!state_admin && (!t->ulb[0] || strcmp(t->ulb, nagar_actor_ulb(call)) != 0))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "template.ulb",
                                      "a COMMISSIONER may only save their own ULB's (%s) "
                                      "templates",
                                      nagar_actor_ulb(call));
    bool sms = t->channel == NAGAR__NOTIFICATIONS__CHANNEL__SMS;
    size_t body_max = sms ? TEMPLATE_SMS_BODY_MAX : TEMPLATE_EMAIL_BODY_MAX;
    if (!notify_body_text_valid(t->body, 1, body_max))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "template.body",
                                      "body must be 1 to %zu characters of UTF-8 text without "
                                      "control characters (line breaks allowed)",
                                      body_max);
    if (sms ? t->subject[0] != '\0' : !notify_text_valid(t->subject, 1, 200))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "template.subject",
                                      sms ? "an SMS template has no subject"
                                          : "an e-mail template needs a subject of 1 to 200 "
                                            "characters on one line");
    size_t dlt_length = strnlen(t->dlt_template_id, 31);
    bool dlt_ok = dlt_length <= 30 && (sms || dlt_length == 0);
    for (size_t i = 0; dlt_ok && i < dlt_length; i++)
        dlt_ok = t->dlt_template_id[i] >= '0' && t->dlt_template_id[i] <= '9';
    if (!dlt_ok)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "template.dltTemplateId",
                                      "dltTemplateId is the numeric id (up to 30 digits) the DLT "
                                      "platform gave this SMS template; e-mail has none");

    save_work_t work = {.base = {.records = &notify_idempotency,
                                 .db = self->db,
                                 .service = NOTIFY_SERVICE,
                                 .call = call,
                                 .request = &request->base},
                        .self = self,
                        .request = request,
                        .channel = channel};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, save_work, &work);
    Nagar__Notifications__Template reply = NAGAR__NOTIFICATIONS__TEMPLATE__INIT;
    if (rc == 0 && !work.base.stored)
        template_reply_fill(&reply, t, nagar_actor_user(call), work.version, work.saved_at);
    return nagar_keyed_work_answer(&work.base, rc, &nagar__notifications__template__descriptor,
                                   &reply.base);
}

int notifications_template_list(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__ListTemplatesRequest *request =
        (const Nagar__Notifications__ListTemplatesRequest *) message;
    if (!notify_actor_is_staff(call))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "templates are for staff");
    if (request->type[0] && !notify_name_valid(request->type, 64))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "type",
                                      "type must be an event type such as payment.received");
    if (request->ulb[0] && !notify_ulb_valid(request->ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be an LGD code, or empty for the state defaults");
    const char *values[] = {request->type, request->ulb, request->all_versions ? "t" : "f"};
    PGresult *result = nagar_service_query(
        self->db, "template_list",
        "SELECT type, language, channel, ulb, subject, body, dlt_template_id, version, saved_by, "
        "to_char(saved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
        "FROM notifications.template t "
        "WHERE ($1 = '' OR type = $1) AND ulb = $2 AND ($3::boolean OR version = "
        "(SELECT max(version) FROM notifications.template n WHERE n.type = t.type AND "
        "n.language = t.language AND n.channel = t.channel AND n.ulb = t.ulb)) "
        "ORDER BY type, language, channel, version DESC LIMIT 500",
        3, values);
    if (!result)
        return nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
    PGresult *types = nagar_service_query(
        self->db, "event_type_list",
        "SELECT type, array_to_string(placeholders, ','), description "
        "FROM notifications.event_type WHERE $1 = '' OR type = $1 ORDER BY type",
        1, values);
    if (!types) {
        PQclear(result);
        return nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
    }
    int count = PQntuples(result), type_count = PQntuples(types);
    Nagar__Notifications__Template **items = nagar_reply_list((size_t) count, sizeof **items);
    Nagar__Notifications__EventType **type_items =
        nagar_reply_list((size_t) type_count, sizeof **type_items);
    char **placeholder_lists = calloc((size_t) type_count + 1, sizeof *placeholder_lists);
    char ***placeholder_arrays = calloc((size_t) type_count + 1, sizeof *placeholder_arrays);
    int rc;
    if (!items || !type_items || !placeholder_lists || !placeholder_arrays) {
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
        goto done;
    }
    for (int i = 0; i < count; i++) {
        Nagar__Notifications__Template *t = items[i];
        nagar__notifications__template__init(t);
        t->type = PQgetvalue(result, i, 0);
        t->language = PQgetvalue(result, i, 1);
        t->channel = notify_channel_value(PQgetvalue(result, i, 2));
        t->ulb = PQgetvalue(result, i, 3);
        t->subject = PQgetvalue(result, i, 4);
        t->body = PQgetvalue(result, i, 5);
        t->dlt_template_id = PQgetvalue(result, i, 6);
        t->version = (uint32_t) strtoul(PQgetvalue(result, i, 7), NULL, 10);
        t->saved_by = PQgetvalue(result, i, 8);
        t->saved_at = PQgetvalue(result, i, 9);
    }
    for (int i = 0; i < type_count; i++) {
        Nagar__Notifications__EventType *e = type_items[i];
        nagar__notifications__event_type__init(e);
        e->type = PQgetvalue(types, i, 0);
        e->description = PQgetvalue(types, i, 2);
        placeholder_lists[i] = strdup(PQgetvalue(types, i, 1));
        size_t n = 0;
        if (placeholder_lists[i] && placeholder_lists[i][0]) {
            n = 1;
            for (char *c = placeholder_lists[i]; *c; c++)
                n += *c == ',';
        }
        placeholder_arrays[i] = calloc(n + 1, sizeof(char *));
        if (placeholder_arrays[i] && n) {
            size_t k = 0;
            char *save = NULL;
            for (char *name = strtok_r(placeholder_lists[i], ",", &save); name && k < n;
                 name = strtok_r(NULL, ",", &save))
                placeholder_arrays[i][k++] = name;
            e->n_placeholders = k;
            e->placeholders = placeholder_arrays[i];
        }
    }
    Nagar__Notifications__ListTemplatesReply reply =
        NAGAR__NOTIFICATIONS__LIST_TEMPLATES_REPLY__INIT;
    reply.n_templates = (size_t) count;
    reply.templates = items;
    reply.n_event_types = (size_t) type_count;
    reply.event_types = type_items;
    rc = nagar_worker_call_reply(call, &reply.base);
done:
    for (int i = 0; placeholder_lists && placeholder_arrays && i < type_count; i++) {
        free(placeholder_lists[i]);
        free(placeholder_arrays[i]);
    }
    free(placeholder_lists);
    free(placeholder_arrays);
    free(items);
    free(type_items);
    PQclear(result);
    PQclear(types);
    return rc;
}

/* Substitutes text's placeholders into out (and out_redacted when given).
 * Returns 0, or 2 with outcome set when a value is missing. */
static int substitute(const char *text, const char *ulb, const template_param_t *params,
                      size_t count, const char *type, const char *params_field,
                      nagar_buffer_t *out, nagar_buffer_t *out_redacted, nagar_outcome_t *outcome)
{
    const char *p = text;
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            nagar_buffer_append(out, p, strlen(p));
            if (out_redacted)
                nagar_buffer_append(out_redacted, p, strlen(p));
            break;
        }
        nagar_buffer_append(out, p, (size_t) (open - p));
        if (out_redacted)
            nagar_buffer_append(out_redacted, p, (size_t) (open - p));
        char name[PLACEHOLDER_MAX + 1];
        size_t length = placeholder_at(open, name);
        if (length == 0) {   /* saved templates are checked; keep text as it is */
            nagar_buffer_append(out, "{{", 2);
            if (out_redacted)
                nagar_buffer_append(out_redacted, "{{", 2);
            p = open + 2;
            continue;
        }
        const char *value = NULL;
        bool secret = false;
        for (size_t i = 0; i < count; i++)
            if (strcmp(params[i].name, name) == 0) {
                value = params[i].value;
                secret = params[i].secret;
                break;
            }
        if (!value && strcmp(name, "ulb") == 0)
            value = ulb;
        if (!value) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, params_field,
                              "the %s template needs a value for {{%s}}; add a param named "
                              "\"%s\"",
                              type, name, name);
            return 2;
        }
        nagar_buffer_append(out, value, strlen(value));
        if (out_redacted)
            nagar_buffer_append(out_redacted, secret ? "******" : value, secret ? 6 : strlen(value));
        p = open + length;
    }
    return 0;
}

int notifications_template_render(notify_t *self, const char *type, const char *ulb,
                                  const char *language, const char *channel,
                                  const template_param_t *params, size_t count,
                                  const char *params_field, template_rendered_t *out,
                                  nagar_outcome_t *outcome)
{
    memset(out, 0, sizeof *out);
    const char *values[] = {type, channel, ulb, language};
    PGresult *result = nagar_service_query(
        self->db, "template_pick",
        "SELECT subject, body, dlt_template_id, version, language FROM notifications.template "
        "WHERE type = $1 AND channel = $2 AND ulb IN ($3, '') "
        "ORDER BY (language = $4) DESC, (ulb <> '') DESC, version DESC LIMIT 1",
        4, values);
    if (!result)
        return -1;
    if (PQntuples(result) == 0) {
        PQclear(result);
        return 1;
    }
    /* The rendered text may hold an OTP or an address: wiped buffers. */
    nagar_buffer_t *subject = nagar_buffer_new_wiped(0);
    nagar_buffer_t *body = nagar_buffer_new_wiped(0);
    nagar_buffer_t *redacted = nagar_buffer_new_wiped(0);
    int rc = subject && body && redacted ? 0 : -1;
    if (rc == 0)
        rc = substitute(PQgetvalue(result, 0, 0), ulb, params, count, type, params_field,
                        subject, NULL, outcome);
    if (rc == 0)
        rc = substitute(PQgetvalue(result, 0, 1), ulb, params, count, type, params_field, body,
                        redacted, outcome);
    snprintf(out->dlt_template_id, sizeof out->dlt_template_id, "%s", PQgetvalue(result, 0, 2));
    out->version = atoi(PQgetvalue(result, 0, 3));
    snprintf(out->language, sizeof out->language, "%s", PQgetvalue(result, 0, 4));
    PQclear(result);
    if (rc == 0 && (nagar_buffer_size(body) > TEMPLATE_RENDERED_MAX ||
                    nagar_buffer_size(subject) > 1000)) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, params_field,
                          "the rendered %s message is longer than %d bytes; shorten the "
                          "param values",
                          type, TEMPLATE_RENDERED_MAX);
        rc = 2;
    }
    if (rc == 0) {
        out->subject = nagar_buffer_take(subject, NULL);
        out->body = nagar_buffer_take(body, NULL);
        out->body_redacted = nagar_buffer_take(redacted, NULL);
        if (!out->subject || !out->body || !out->body_redacted) {
            notifications_template_rendered_clear(out);
            rc = -1;
        }
    }
    nagar_buffer_destroy(&subject);
    nagar_buffer_destroy(&body);
    nagar_buffer_destroy(&redacted);
    return rc;
}

void notifications_template_rendered_clear(template_rendered_t *rendered)
{
    free(rendered->subject);
    notify_free_secret(rendered->body);
    free(rendered->body_redacted);
    rendered->subject = rendered->body = rendered->body_redacted = NULL;
}
