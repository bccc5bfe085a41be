/*
 * service_rules.c — rule calls (service_rules.h): errors of the rules mapped
 * to statuses, the actor as JSON and the business date, where the rules keep
 * idempotency records, the outbox, and nagar_rules_method, the one path by
 * which most methods run their rule function (rows of a service's
 * rule-method table run through it too, rules_program.c). Money movements are
 * rules_money.c, batch jobs rules_batch.c, the program rules_program.c, the
 * ledger check ledger_check.c; what every service needs (outcomes,
 * failures, the actor, idempotency records) is service.c.
 */
#include "service_rules.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "json_codec.h"
#include "log.h"
#include "outbox.h"
#include "proto/notifications.pb-c.h"

/* "<service>.<what>", the stable name of a log event. */
const char *nagar_rules_event_name(const nagar_rules_t *self, char out[96], const char *what)
{
    snprintf(out, 96, "%s.%s", self->service, what);
    return out;
}
/* The SQLSTATE class of the rules' errors (rule_fail, common/sql/rules). */
#define RULES_SQLSTATE_CLASS "NR"

/* nagar_db_error() reads "SQLSTATE NRINV: statement NAME: MESSAGE (DETAIL:
 * FIELD)"; the rules put the field's path in the DETAIL. */
bool nagar_rules_outcome_from_db(nagar_rules_t *self, nagar_outcome_t *outcome)
{
    static const struct {
        const char *suffix;
        nagar_status_code_t code;
    } codes[] = {
        {"INV", NAGAR__STATUS_CODE__INVALID_ARGUMENT},
        {"NFD", NAGAR__STATUS_CODE__NOT_FOUND},
        {"DEN", NAGAR__STATUS_CODE__PERMISSION_DENIED},
        {"CON", NAGAR__STATUS_CODE__CONFLICT},
        {"PRE", NAGAR__STATUS_CODE__FAILED_PRECONDITION},
    };
    const char *sqlstate = nagar_db_sqlstate(self->db);
    size_t prefix = strlen(RULES_SQLSTATE_CLASS);
    bool ledger_conflict = strcmp(sqlstate, "LGCON") == 0;
    nagar_status_code_t code = NAGAR__STATUS_CODE__CONFLICT;
    if (!ledger_conflict) {
        size_t i;
        if (strncmp(sqlstate, RULES_SQLSTATE_CLASS, prefix) != 0)
            return false;
        for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
            if (strcmp(sqlstate + prefix, codes[i].suffix) == 0)
                break;
        if (i == sizeof codes / sizeof codes[0])
            return false;
        code = codes[i].code;
    }
    char text[NAGAR_DB_ERROR_MAX];
    snprintf(text, sizeof text, "%s", nagar_db_error(self->db));
    char *message = text;
    char *colon = strstr(message, ": ");
    if (colon)
        message = colon + 2;                      /* past "SQLSTATE X" */
    if (strncmp(message, "statement ", 10) == 0 && (colon = strstr(message, ": ")))
        message = colon + 2;                      /* past "statement name" */
    char field[128] = "";
    char *detail = strstr(message, " (DETAIL: ");
    if (detail) {
        char *end = strchr(detail + 10, ')');
        if (end)
            snprintf(field, sizeof field, "%.*s", (int) (end - (detail + 10)), detail + 10);
        *detail = '\0';
    }
    char *hint = strstr(message, " (HINT: ");
    if (hint && !detail)
        *hint = '\0';
    if (ledger_conflict)
        snprintf(field, sizeof field, "idempotencyKey");
    nagar_outcome_set(outcome, code, field[0] ? field : NULL, "%s", message);
    return true;
}

int nagar_rules_fail(nagar_rules_t *self, nagar_worker_call_t *call, int rc,
                     const nagar_outcome_t *outcome)
{
    /* A rule's outcome wins even when the transaction ended in -1. */
    if (outcome && outcome->code != NAGAR__STATUS_CODE__OK)
        rc = 1;
    return nagar_service_fail_advising(self->db, self->service, call, rc, outcome,
                                       "retry later with the same idempotency key");
}

char *nagar_rules_actor_json(nagar_worker_call_t *call)
{
    const char *request_id = nagar_worker_call_context(call)->request_id;
    json_t *actor = json_pack("{s:s, s:s, s:s, s:s}", "userId", nagar_actor_user(call), "role",
                              nagar_actor_role(call), "ulb", nagar_actor_ulb(call), "requestId",
                              request_id ? request_id : "");
    /* A replayed slip names its clerk next to the operator who replayed it. */
    if (actor && nagar_actor_on_behalf_of(call)[0])
        json_object_set_new(actor, "onBehalfOf", json_string(nagar_actor_on_behalf_of(call)));
    char *text = actor ? json_dumps(actor, JSON_COMPACT) : NULL;
    json_decref(actor);
    return text;
}

void nagar_rules_today(nagar_rules_t *self, char out[NAGAR_DATE_TEXT_MAX])
{
    if (self->business_date[0]) {
        snprintf(out, NAGAR_DATE_TEXT_MAX, "%s", self->business_date);
        return;
    }
    nagar_date_format(nagar_date_today_ist(), out);
}

int64_t nagar_rules_monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- idempotency ------------------------------------------------------------ */

/* Retries of one request racing each other queue on the key's advisory
 * lock inside the service's lookup function: the first does the work and
 * commits its record, the others then find it. */
static const nagar_idempotency_t IDEMPOTENCY = {
    .lookup_sql = "SELECT method, request_hash, reply FROM idempotency_lookup($1, $2)",
    .store_sql = "INSERT INTO idempotency (actor, key, method, request_hash, reply) "
                 "VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'))",
};

nagar_keyed_work_t nagar_rules_keyed_work(nagar_rules_t *self, nagar_worker_call_t *call,
                                          const ProtobufCMessage *request)
{
    return (nagar_keyed_work_t){.records = &IDEMPOTENCY, .db = self->db,
                                .service = self->service, .call = call, .request = request};
}

int nagar_rules_keyed_answer(nagar_rules_t *self, nagar_keyed_work_t *keyed, int rc,
                             const ProtobufCMessageDescriptor *type,
                             const ProtobufCMessage *reply)
{
    if (rc == 0)
        return nagar_keyed_work_answer(keyed, 0, type, reply);
    free(keyed->stored);
    keyed->stored = NULL;
    return nagar_rules_fail(self, keyed->call, rc, &keyed->outcome);
}

/* ---- rules -------------------------------------------------------------------- */

int nagar_rules_call_json(nagar_rules_t *self, const char *name, const char *sql, int nparams,
                          const char *const *values, json_t **out, nagar_outcome_t *outcome)
{
    *out = NULL;
    PGresult *res = nagar_service_query(self->db, name, sql, nparams, values);
    if (!res)
        return nagar_rules_outcome_from_db(self, outcome) ? 1 : -1;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return 0;
    }
    json_error_t error;
    *out = json_loads(PQgetvalue(res, 0, 0), JSON_REJECT_DUPLICATES, &error);
    PQclear(res);
    if (!*out) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "statement %s answered JSON that does not parse: %s", name, error.text);
        return 1;
    }
    return 0;
}

int nagar_rules_call(nagar_rules_t *self, nagar_worker_call_t *call, const char *function,
                     const char *request_json, const ProtobufCMessageDescriptor *reply_type,
                     ProtobufCMessage **reply, nagar_outcome_t *outcome)
{
    *reply = NULL;
    char name[64], sql[160], today[NAGAR_DATE_TEXT_MAX];
    /* function is one of the names compiled into the service, never input. */
    snprintf(name, sizeof name, "call_%s", function);
    snprintf(sql, sizeof sql, "SELECT %s($1::jsonb, $2::jsonb, $3::date)::text", function);
    char *actor = nagar_rules_actor_json(call);
    if (!actor)
        return -1;
    nagar_rules_today(self, today);
    const char *values[] = {actor, request_json, today};
    PGresult *res = nagar_service_query(self->db, name, sql, 3, values);
    free(actor);
    if (!res)
        return nagar_rules_outcome_from_db(self, outcome) ? 1 : -1;
    nagar_json_error_t error;
    const char *text = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    *reply = nagar_json_decode(reply_type, text, strlen(text), NULL, &error);
    PQclear(res);
    if (!*reply) {
        char event[96];
        nagar_log_error(nagar_rules_event_name(self, event, "rule_reply_invalid"), "%s answered %s that does "
                        "not decode at '%s': %s", function, reply_type->name, error.path,
                        error.message);
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "%s could not build the reply of '%s'; nothing was changed",
                          self->service, nagar_worker_call_method(call));
        return 1;
    }
    return 0;
}

void nagar_rules_answer_reset(nagar_rules_answer_t *answer)
{
    nagar_outcome_reset(&answer->keyed.outcome);
    if (answer->reply)
        protobuf_c_message_free_unpacked(answer->reply, NULL);
    answer->reply = NULL;
    free(answer->keyed.stored);
    answer->keyed.stored = NULL;
    answer->keyed.stored_size = 0;
}

typedef struct {
    nagar_rules_t *self;
    const char *request_json;
    const char *function;
    const ProtobufCMessageDescriptor *reply_type;
    nagar_rules_finish_fn *finish;
    void *finish_arg;
    nagar_rules_answer_t answer;   /* its keyed work has the request of a mutation only */
} method_work_t;

static int method_work(nagar_db_t *db, void *arg)
{
    (void) db;
    method_work_t *work = arg;
    nagar_rules_answer_reset(&work->answer);
    int rc;
    if (!nagar_keyed_work_begin(&work->answer.keyed, &rc))
        return rc;
    rc = nagar_rules_call(work->self, work->answer.keyed.call, work->function, work->request_json,
                          work->reply_type, &work->answer.reply, &work->answer.keyed.outcome);
    if (rc == 0 && work->finish)
        rc = work->finish(work->finish_arg, work->answer.reply, &work->answer.keyed.outcome);
    return rc != 0 ? rc : nagar_keyed_work_store(&work->answer.keyed, work->answer.reply);
}

int nagar_rules_method(nagar_rules_t *self, nagar_worker_call_t *call,
                       const ProtobufCMessage *request, const char *request_json,
                       const char *function, const ProtobufCMessageDescriptor *reply_type,
                       bool mutation, nagar_rules_finish_fn *finish, void *finish_arg)
{
    char *encoded = NULL;
    if (!request_json) {
        encoded = nagar_json_encode(request);
        if (!encoded)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                          "the request holds text that is not valid UTF-8");
        request_json = encoded;
    }
    method_work_t work = {
        .self = self, .request_json = request_json, .function = function,
        .reply_type = reply_type, .finish = finish, .finish_arg = finish_arg,
        .answer.keyed = nagar_rules_keyed_work(self, call, mutation ? request : NULL)};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, method_work, &work);
    free(encoded);
    rc = nagar_rules_keyed_answer(self, &work.answer.keyed, rc, reply_type, work.answer.reply);
    nagar_rules_answer_reset(&work.answer);
    return rc;
}

int nagar_rules_import(nagar_rules_t *self, nagar_worker_call_t *call,
                       const ProtobufCMessage *request, const char *ulb, json_t *rows,
                       const char *function, const ProtobufCMessageDescriptor *reply_type)
{
    json_t *body = json_pack("{s:s, s:o}", "ulb", ulb, "rows", rows);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb holds text that is not valid UTF-8");
    int rc = nagar_rules_method(self, call, request, text, function, reply_type, true, NULL, NULL);
    free(text);
    return rc;
}

/* ---- outbox ------------------------------------------------------------------- */

#define OUTBOX_PARAMS_MAX 8

/* Appends the event with params[0..count) ({name, value} pairs). */
static int outbox_add_params(nagar_rules_t *self, const char *type, const char *ulb,
                             const char *subject, const char *user_id, const char *person,
                             const char *const (*pairs)[2], size_t count)
{
    Nagar__Notifications__Param params[OUTBOX_PARAMS_MAX];
    Nagar__Notifications__Param *pointers[OUTBOX_PARAMS_MAX];
    for (size_t i = 0; i < count && i < OUTBOX_PARAMS_MAX; i++) {
        nagar__notifications__param__init(&params[i]);
        params[i].name = (char *) pairs[i][0];
        params[i].value = (char *) pairs[i][1];
        pointers[i] = &params[i];
    }
    Nagar__Notifications__Recipient recipient;
    nagar__notifications__recipient__init(&recipient);
    recipient.user_id = (char *) (user_id ? user_id : "");
    recipient.person = (char *) (person ? person : "");
    Nagar__Notifications__Event event;
    nagar__notifications__event__init(&event);
    event.type = (char *) type;
    event.subject = (char *) (subject ? subject : "");
    event.ulb = (char *) ulb;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    event.occurred_at_ms = (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
    event.recipient = &recipient;
    event.n_params = count < OUTBOX_PARAMS_MAX ? count : OUTBOX_PARAMS_MAX;
    event.params = pointers;
    event.essential = true;
    return nagar_outbox_add(self->db, self->service, &event);
}

/* Takes name, value pairs from args up to a NULL name (at most `max`).
 * Returns how many. */
static size_t params_from(va_list args, const char *(*pairs)[2], size_t max)
{
    size_t count = 0;
    const char *name;
    while (count < max && (name = va_arg(args, const char *)) != NULL) {
        pairs[count][0] = name;
        pairs[count][1] = va_arg(args, const char *);
        count++;
    }
    return count;
}

static int outbox_add(nagar_rules_t *self, const char *type, const char *ulb,
                      const char *subject, const char *user_id, const char *person,
                      va_list args)
{
    const char *pairs[OUTBOX_PARAMS_MAX][2];
    size_t count = params_from(args, pairs, OUTBOX_PARAMS_MAX);
    return outbox_add_params(self, type, ulb, subject, user_id, person,
                             (const char *const (*)[2]) pairs, count);
}

int nagar_rules_outbox(nagar_rules_t *self, const char *type, const char *ulb,
                       const char *subject, const char *user_id, ...)
{
    va_list args;
    va_start(args, user_id);
    int rc = outbox_add(self, type, ulb, subject, user_id, "", args);
    va_end(args);
    return rc;
}

int nagar_rules_outbox_person(nagar_rules_t *self, const char *type, const char *ulb,
                              const char *subject, const char *user_id, const char *person, ...)
{
    va_list args;
    va_start(args, person);
    int rc = outbox_add(self, type, ulb, subject, user_id, person, args);
    va_end(args);
    return rc;
}

int nagar_rules_batch_raised(nagar_rules_t *rules, json_t *job, const char *type, ...)
{
    const char *ulb = json_string_value(json_object_get(job, "ulb"));
    if (!ulb || !ulb[0])
        return 0;
    const char *pairs[OUTBOX_PARAMS_MAX][2];
    va_list args;
    va_start(args, type);
    size_t count = params_from(args, pairs, OUTBOX_PARAMS_MAX - 2);
    va_end(args);
    char bills[32], job_id[32];
    snprintf(bills, sizeof bills, "%lld",
             (long long) json_integer_value(json_object_get(job, "billsCreated")));
    snprintf(job_id, sizeof job_id, "%lld",
             (long long) json_integer_value(json_object_get(job, "jobId")));
    pairs[count][0] = "bills";
    pairs[count++][1] = bills;
    pairs[count][0] = "job_id";
    pairs[count++][1] = job_id;
    return outbox_add_params(rules, type, ulb, "", "", "", (const char *const (*)[2]) pairs,
                             count) != 0
               ? -1
               : 0;
}

int nagar_rules_decode(nagar_rules_t *self, json_t *json, const ProtobufCMessageDescriptor *type,
                       ProtobufCMessage **reply, nagar_outcome_t *outcome)
{
    nagar_json_error_t error;
    if (nagar_json_decode_object(type, json, NULL, reply, &error) != 0) {
        char event[96];
        nagar_log_error(nagar_rules_event_name(self, event, "rule_reply_invalid"), "a %s from the rules does "
                        "not decode at '%s': %s", type->name, error.path, error.message);
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "%s could not build the reply; nothing was changed", self->service);
        return 1;
    }
    return 0;
}
