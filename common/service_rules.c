/*
 * service_rules.c — a service's SQL rules as bus methods (service_rules.h):
 * errors of the rules mapped to statuses, the actor as JSON and the
 * business date, where the rules keep idempotency records, the outbox, and
 * nagar_rules_method, the one path by which most methods run their rule
 * function, the money flow through the ledger, the ledger check, and the
 * program around it all (nagar_rules_main). Generalised from property tax's
 * helpers so that water charges (and later services) share them; what every
 * service needs (outcomes, failures, the actor, idempotency records) is
 * service.c.
 */
#include "service_rules.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "document.h"
#include "json_codec.h"
#include "ledger.h"
#include "log.h"
#include "outbox.h"
#include "proto/notifications.pb-c.h"

/* "<service>.<what>", the stable name of a log event. */
static const char *event_name(const nagar_rules_t *self, char out[96], const char *what)
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

/* ---- batch jobs in chunks ------------------------------------------------------------ */

typedef struct {
    nagar_rules_t *rules;
    nagar_rules_batch_t *batch;
    json_t *result;
    nagar_outcome_t outcome;
} chunk_work_t;

static int chunk_work(nagar_db_t *db, void *arg)
{
    (void) db;
    chunk_work_t *work = arg;
    json_decref(work->result);
    work->result = NULL;
    nagar_outcome_reset(&work->outcome);
    char limit[32], name[96], sql[160];
    snprintf(limit, sizeof limit, "%ld", work->batch->chunk);
    snprintf(name, sizeof name, "batch_%s", work->batch->function);
    snprintf(sql, sizeof sql, "SELECT %s($1::int)::text", work->batch->function);
    const char *values[] = {limit};
    int rc = nagar_rules_call_json(work->rules, name, sql, 1, values, &work->result,
                                   &work->outcome);
    if (rc != 0 || !work->result || !json_is_true(json_object_get(work->result, "done")))
        return rc;
    /* The job is finished: its event, in the same transaction. */
    return work->batch->done(work->rules, json_object_get(work->result, "job"));
}

int nagar_rules_batch_run_chunk(nagar_rules_t *self, nagar_rules_batch_t *batch)
{
    chunk_work_t work = {.rules = self, .batch = batch};
    char event[96], what[64];
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, chunk_work, &work);
    if (rc != 0) {
        snprintf(what, sizeof what, "%s_chunk_failed", batch->name);
        nagar_log_error(event_name(self, event, what), "a %s chunk failed and was rolled back; "
                        "it will be retried: %s", batch->name,
                        work.outcome.message[0] ? work.outcome.message : nagar_db_error(self->db));
        json_decref(work.result);
        return -1;
    }
    if (!work.result)
        return 0;
    json_t *job = json_object_get(work.result, "job");
    bool done = json_is_true(json_object_get(work.result, "done"));
    json_t *fields = json_object();
    for (size_t i = 0; fields && batch->log_fields[i][0]; i++) {
        json_t *value = json_object_get(job, batch->log_fields[i][1]);
        json_object_set(fields, batch->log_fields[i][0], value ? value : json_null());
    }
    snprintf(what, sizeof what, "%s_%s", batch->name, done ? "done" : "chunk");
    nagar_log_write(done ? NAGAR_LOG_INFO : NAGAR_LOG_DEBUG, event_name(self, event, what), fields,
                    done ? "%s job finished" : "%s chunk committed", batch->name);
    json_decref(work.result);
    return 1;
}

void nagar_rules_batch_tick(nagar_rules_t *self, nagar_rules_batch_t *batch)
{
    int64_t now = nagar_rules_monotonic_ms();
    if (now < batch->next_poll_ms)
        return;
    /* Work found: the next chunk at the next tick; otherwise look later. */
    batch->next_poll_ms =
        nagar_rules_batch_run_chunk(self, batch) == 1 ? 0 : now + batch->idle_poll_ms;
}

/* ---- idempotency ------------------------------------------------------------ */

/* Keys are bounded bytes without control characters; the gateway has
 * already refused what is not text. */
static bool key_valid(const char *key)
{
    size_t length = strnlen(key, 129);
    if (length == 0 || length > 128)
        return false;
    for (size_t i = 0; i < length; i++)
        if ((unsigned char) key[i] < 0x20 || key[i] == 0x7f)
            return false;
    return true;
}

/* Retries of one request racing each other queue on the key's advisory
 * lock inside the service's lookup function: the first does the work and
 * commits its record, the others then find it. */
static void idempotency_table(nagar_idempotency_t *table)
{
    *table = (nagar_idempotency_t) {
        .lookup_sql = "SELECT method, request_hash, reply FROM idempotency_lookup($1, $2)",
        .store_sql = "INSERT INTO idempotency (actor, key, method, request_hash, reply) "
                     "VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'))",
        .key_valid = key_valid,
    };
}

int nagar_rules_idempotency_check(nagar_rules_t *self, nagar_worker_call_t *call,
                                  const ProtobufCMessage *request, uint8_t **reply_out,
                                  size_t *reply_size, nagar_outcome_t *outcome)
{
    nagar_idempotency_t table;
    idempotency_table(&table);
    return nagar_idempotency_check(&table, self->db, call, request, reply_out, reply_size,
                                   outcome);
}

int nagar_rules_idempotency_store(nagar_rules_t *self, nagar_worker_call_t *call,
                                  const ProtobufCMessage *request, const ProtobufCMessage *reply)
{
    nagar_idempotency_t table;
    idempotency_table(&table);
    return nagar_idempotency_store(&table, self->db, call, request, reply);
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
        nagar_log_error(event_name(self, event, "rule_reply_invalid"), "%s answered %s that does "
                        "not decode at '%s': %s", function, reply_type->name, error.path,
                        error.message);
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "%s could not build the reply of '%s'; nothing was changed",
                          self->service, nagar_worker_call_method(call));
        return 1;
    }
    return 0;
}

typedef struct {
    nagar_rules_t *self;
    nagar_worker_call_t *call;
    const ProtobufCMessage *request;
    const char *request_json;
    const char *function;
    const ProtobufCMessageDescriptor *reply_type;
    bool mutation;
    nagar_rules_finish_fn *finish;
    void *finish_arg;
    ProtobufCMessage *reply;
    uint8_t *stored;
    size_t stored_size;
    nagar_outcome_t outcome;
} method_work_t;

static void method_work_reset(method_work_t *work)
{
    nagar_outcome_reset(&work->outcome);
    if (work->reply)
        protobuf_c_message_free_unpacked(work->reply, NULL);
    work->reply = NULL;
    free(work->stored);
    work->stored = NULL;
}

static int method_work(nagar_db_t *db, void *arg)
{
    (void) db;
    method_work_t *work = arg;
    method_work_reset(work);
    if (work->mutation) {
        int seen = nagar_rules_idempotency_check(work->self, work->call, work->request,
                                                 &work->stored, &work->stored_size, &work->outcome);
        if (seen == -1)
            return -1;
        if (seen == 1)
            return 0;
        if (seen == 2)
            return 1;
    }
    int rc = nagar_rules_call(work->self, work->call, work->function, work->request_json,
                              work->reply_type, &work->reply, &work->outcome);
    if (rc != 0)
        return rc;
    if (work->finish && (rc = work->finish(work->finish_arg, work->reply, &work->outcome)) != 0)
        return rc;
    if (work->mutation)
        return nagar_rules_idempotency_store(work->self, work->call, work->request, work->reply);
    return 0;
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
    method_work_t work = {.self = self, .call = call, .request = request,
                          .request_json = request_json, .function = function,
                          .reply_type = reply_type, .mutation = mutation, .finish = finish,
                          .finish_arg = finish_arg};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, method_work, &work);
    free(encoded);
    if (rc != 0) {
        nagar_outcome_t outcome = work.outcome;
        method_work_reset(&work);
        return nagar_rules_fail(self, call, rc, &outcome);
    }
    if (work.stored)
        rc = nagar_idempotency_replay(call, reply_type, work.stored, work.stored_size);
    else
        rc = nagar_worker_call_reply(call, work.reply);
    method_work_reset(&work);
    return rc;
}

/* ---- outbox ------------------------------------------------------------------- */

int nagar_rules_outbox(nagar_rules_t *self, const char *type, const char *ulb, const char *mobile,
                       const char *user_id, ...)
{
    Nagar__Notifications__Param params[8];
    Nagar__Notifications__Param *pointers[8];
    size_t count = 0;
    va_list args;
    va_start(args, user_id);
    const char *name;
    while ((name = va_arg(args, const char *)) != NULL && count < 8) {
        nagar__notifications__param__init(&params[count]);
        params[count].name = (char *) name;
        params[count].value = (char *) va_arg(args, const char *);
        pointers[count] = &params[count];
        count++;
    }
    va_end(args);
    Nagar__Notifications__Recipient recipient;
    nagar__notifications__recipient__init(&recipient);
    recipient.mobile = (char *) (mobile ? mobile : "");
    recipient.user_id = (char *) (user_id ? user_id : "");
    Nagar__Notifications__Event event;
    nagar__notifications__event__init(&event);
    event.type = (char *) type;
    event.ulb = (char *) ulb;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    event.occurred_at_ms = (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
    event.recipient = &recipient;
    event.n_params = count;
    event.params = pointers;
    event.essential = true;
    return nagar_outbox_add(self->db, self->service, &event);
}

int nagar_rules_decode(nagar_rules_t *self, json_t *json, const ProtobufCMessageDescriptor *type,
                       ProtobufCMessage **reply, nagar_outcome_t *outcome)
{
    nagar_json_error_t error;
    if (nagar_json_decode_object(type, json, NULL, reply, &error) != 0) {
        char event[96];
        nagar_log_error(event_name(self, event, "rule_reply_invalid"), "a %s from the rules does "
                        "not decode at '%s': %s", type->name, error.path, error.message);
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "%s could not build the reply; nothing was changed", self->service);
        return 1;
    }
    return 0;
}

/* ---- money through the ledger ------------------------------------------------------------- */

/* The services' messages differ only in type and in the account field, so
 * the flow reads and writes them by field name through their descriptors. */
static const ProtobufCFieldDescriptor *field_named(const ProtobufCMessage *message,
                                                   const char *name, ProtobufCType type)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(message->descriptor, name);
    return field && field->type == type && field->label != PROTOBUF_C_LABEL_REPEATED ? field
                                                                                    : NULL;
}

static void *field_slot(ProtobufCMessage *message, const char *name, ProtobufCType type)
{
    const ProtobufCFieldDescriptor *field = field_named(message, name, type);
    return field ? (char *) message + field->offset : NULL;
}

static char **message_text_slot(ProtobufCMessage *message, const char *name)
{
    return field_slot(message, name, PROTOBUF_C_TYPE_STRING);
}

static const char *message_text(const ProtobufCMessage *message, const char *name)
{
    char **slot = message_text_slot((ProtobufCMessage *) message, name);
    return slot && *slot ? *slot : "";
}

static int64_t message_int(const ProtobufCMessage *message, const char *name)
{
    const ProtobufCFieldDescriptor *field = field_named(message, name, PROTOBUF_C_TYPE_INT64);
    return field ? *(const int64_t *) ((const char *) message + field->offset) : 0;
}

static const char *text_of(json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

static int64_t int_of(json_t *object, const char *key)
{
    return (int64_t) json_integer_value(json_object_get(object, key));
}

typedef struct {
    const nagar_rules_payments_t *payments;
    nagar_worker_call_t *call;
    const ProtobufCMessage *request;
    const char *request_json;
    ProtobufCMessage *reply;
    uint8_t *stored;
    size_t stored_size;
    nagar_outcome_t outcome;
} money_work_t;

static void money_work_reset(money_work_t *work)
{
    nagar_outcome_reset(&work->outcome);
    if (work->reply)
        protobuf_c_message_free_unpacked(work->reply, NULL);
    work->reply = NULL;
    free(work->stored);
    work->stored = NULL;
}

/* Calls rule <prefix>_<what>(args) answering jsonb; cast the arguments in args. */
static int call_rule(money_work_t *work, const char *what, const char *args, int nparams,
                     const char *const *values, json_t **out)
{
    const nagar_rules_payments_t *payments = work->payments;
    char name[96], sql[256];
    snprintf(name, sizeof name, "call_%s_%s", payments->rule_prefix, what);
    snprintf(sql, sizeof sql, "SELECT %s_%s(%s)::text", payments->rule_prefix, what, args);
    return nagar_rules_call_json(payments->rules, name, sql, nparams, values, out,
                                 &work->outcome);
}

/* The start of every counter movement: the idempotency record (a stored
 * reply or a conflict ends it), the business date and the actor. Returns 0
 * with *actor (malloc'd) set to go on, 0 with work->stored set when the
 * stored reply answers, 1 with the outcome set, -1 on a database error. */
static int money_begin(money_work_t *work, char today[NAGAR_DATE_TEXT_MAX], char **actor)
{
    nagar_rules_t *rules = work->payments->rules;
    *actor = NULL;
    int seen = nagar_rules_idempotency_check(rules, work->call, work->request, &work->stored,
                                             &work->stored_size, &work->outcome);
    if (seen != 0)
        return seen == 1 ? 0 : seen == 2 ? 1 : -1;
    nagar_rules_today(rules, today);
    *actor = nagar_rules_actor_json(work->call);
    return *actor ? 0 : -1;
}

/* Decodes the "receipt" (or "order") of a money rule's answer into the reply. */
static int money_reply(money_work_t *work, json_t *result, const char *key,
                       const ProtobufCMessageDescriptor *type, const char *rule)
{
    json_t *message = json_object_get(result, key);
    if (!json_is_object(message)) {
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "%s_%s answered no %s; nothing was recorded",
                          work->payments->rule_prefix, rule, key);
        return 1;
    }
    return nagar_rules_decode(work->payments->rules, message, type, &work->reply, &work->outcome);
}

/* A counter payment: the idempotency record, then rule
 * <prefix>_payment_record, which checks the request and takes the receipt
 * number, the ledger row and the allocation in one call (each statement
 * more would be a round trip with the ULB's ledger head locked), then the
 * event and the idempotency record, which hold protobuf bytes made here. */
static int record_work(nagar_db_t *db, void *arg)
{
    (void) db;
    money_work_t *work = arg;
    money_work_reset(work);
    const nagar_rules_payments_t *payments = work->payments;
    nagar_rules_t *rules = payments->rules;
    char today[NAGAR_DATE_TEXT_MAX], *actor;
    int rc = money_begin(work, today, &actor);
    if (rc != 0 || work->stored)
        return rc;
    char key[300];
    snprintf(key, sizeof key, "payment:%s:%s", nagar_actor_key_owner(work->call),
             nagar_worker_call_context(work->call)->idempotency_key);
    const char *values[] = {actor, work->request_json, today, key};
    json_t *result = NULL;
    rc = call_rule(work, "payment_record", "$1::jsonb, $2::jsonb, $3::date, $4", 4, values,
                   &result);
    free(actor);
    if (rc == 0)
        rc = money_reply(work, result, "receipt", payments->receipt_type, "payment_record");
    if (rc == 0) {
        char amount[32];
        snprintf(amount, sizeof amount, "%" PRId64, message_int(work->reply, "amount_paise"));
        if (nagar_rules_outbox(rules, "payment.received", text_of(result, "ulb"),
                               text_of(result, payments->mobile_field),
                               text_of(result, payments->user_field), "receipt_no",
                               message_text(work->reply, "receipt_no"), "amount_paise", amount,
                               payments->account_param,
                               message_text(work->reply, payments->account_param), NULL) != 0)
            rc = -1;
    }
    json_decref(result);
    if (rc != 0)
        return rc;
    return nagar_rules_idempotency_store(rules, work->call, work->request, work->reply);
}

/* A reversal: rule <prefix>_payment_reverse does the whole movement (the
 * checks, the receipt number, the negative ledger row, the negating
 * payment); here are the event and the idempotency record. */
static int reverse_work(nagar_db_t *db, void *arg)
{
    (void) db;
    money_work_t *work = arg;
    money_work_reset(work);
    const nagar_rules_payments_t *payments = work->payments;
    nagar_rules_t *rules = payments->rules;
    char today[NAGAR_DATE_TEXT_MAX], *actor;
    int rc = money_begin(work, today, &actor);
    if (rc != 0 || work->stored)
        return rc;
    const char *values[] = {actor, work->request_json, today};
    json_t *result = NULL;
    rc = call_rule(work, "payment_reverse", "$1::jsonb, $2::jsonb, $3::date", 3, values, &result);
    free(actor);
    if (rc == 0)
        rc = money_reply(work, result, "receipt", payments->receipt_type, "payment_reverse");
    if (rc == 0) {
        /* The event names the amount of the payment reversed, as paid (positive). */
        int64_t reversed = int_of(result, "amountPaise");
        char amount[32];
        snprintf(amount, sizeof amount, "%" PRId64, reversed < 0 ? -reversed : reversed);
        if (nagar_rules_outbox(rules, "payment.reversed", text_of(result, "ulb"),
                               text_of(result, payments->mobile_field),
                               text_of(result, payments->user_field), "receipt_no",
                               text_of(result, "receiptNo"), "reversal_no",
                               message_text(work->reply, "receipt_no"), "amount_paise", amount,
                               "reason", text_of(result, "reason"), payments->account_param,
                               text_of(result, "account"), NULL) != 0)
            rc = -1;
    }
    json_decref(result);
    if (rc != 0)
        return rc;
    return nagar_rules_idempotency_store(rules, work->call, work->request, work->reply);
}

/* Runs fn in one transaction and answers; logged under event kind
 * ("<service>.payment_recorded") when money moved (not for a replay). */
static int run_money_work(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                          const ProtobufCMessage *request, nagar_db_work_fn *fn,
                          const char *kind)
{
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !key[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "idempotencyKey",
                                      "%s moves money: send an Idempotency-Key, and the same key "
                                      "again when you retry",
                                      kind);
    char *json = nagar_json_encode(request);
    if (!json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                      "the request holds text that is not valid UTF-8");
    money_work_t work = {.payments = payments, .call = call, .request = request,
                         .request_json = json};
    int rc = nagar_db_transaction_idempotent(payments->rules->db, NAGAR_DB_READ_COMMITTED, fn,
                                             &work);
    free(json);
    if (rc != 0) {
        nagar_outcome_t outcome = work.outcome;
        money_work_reset(&work);
        return nagar_rules_fail(payments->rules, call, rc, &outcome);
    }
    if (work.stored) {
        rc = nagar_idempotency_replay(call, payments->receipt_type, work.stored, work.stored_size);
    } else {
        json_t *fields = json_pack(
            "{s:s, s:s, s:I, s:I}", "receipt_no", message_text(work.reply, "receipt_no"),
            payments->account_param, message_text(work.reply, payments->account_param),
            "amount_paise", (json_int_t) message_int(work.reply, "amount_paise"), "ledger_seq",
            (json_int_t) message_int(work.reply, "ledger_seq"));
        nagar_log_write(NAGAR_LOG_INFO, kind, fields, "money movement recorded");
        rc = nagar_worker_call_reply(call, work.reply);
    }
    money_work_reset(&work);
    return rc;
}

int nagar_rules_payment_record(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                               const ProtobufCMessage *request)
{
    char kind[96];
    return run_money_work(payments, call, request, record_work,
                          event_name(payments->rules, kind, "payment_recorded"));
}

int nagar_rules_payment_reverse(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                                const ProtobufCMessage *request)
{
    char kind[96];
    return run_money_work(payments, call, request, reverse_work,
                          event_name(payments->rules, kind, "payment_reversed"));
}

static int sign_order(void *arg, ProtobufCMessage *reply, nagar_outcome_t *outcome)
{
    const nagar_rules_payments_t *payments = arg;
    const char *order_id = message_text(reply, "order_id");
    char **merchant_signature = message_text_slot(reply, "merchant_signature");
    char signature[NAGAR_PAYMENT_SIGNATURE_HEX];
    if (!merchant_signature ||
        nagar_payment_provider_sign_order(payments->provider, order_id,
                                          message_int(reply, "amount_paise"), signature) != 0) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "order id %s cannot be signed", order_id);
        return 1;
    }
    /* An unset string points at protobuf-c's shared empty string: not ours to free. */
    if (*merchant_signature != protobuf_c_empty_string)
        free(*merchant_signature);
    *merchant_signature = strdup(signature);
    return *merchant_signature ? 0 : -1;
}

int nagar_rules_online_initiate(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                                const ProtobufCMessage *request)
{
    if (!payments->provider)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "online payments are not configured here "
                                      "(NAGAR_PAYMENT_PROVIDER_KEY_FILE); pay at a counter");
    char function[64];
    snprintf(function, sizeof function, "%s_online_initiate", payments->rule_prefix);
    return nagar_rules_method(payments->rules, call, request, NULL, function,
                              payments->order_type, true, sign_order, (void *) payments);
}

/* A verified callback: rule <prefix>_online_callback records a SUCCESS once
 * (receipt at counter ONLINE, ledger row, payment, the order marked paid)
 * and answers the order; the event goes out when money was recorded now. */
static int callback_work(nagar_db_t *db, void *arg)
{
    (void) db;
    money_work_t *work = arg;
    money_work_reset(work);
    const nagar_rules_payments_t *payments = work->payments;
    nagar_rules_t *rules = payments->rules;
    char today[NAGAR_DATE_TEXT_MAX];
    nagar_rules_today(rules, today);
    char *actor = nagar_rules_actor_json(work->call);
    if (!actor)
        return -1;
    const char *values[] = {actor, work->request_json, today};
    json_t *result = NULL;
    int rc = call_rule(work, "online_callback", "$1::jsonb, $2::jsonb, $3::date", 3, values,
                       &result);
    free(actor);
    if (rc == 0)
        rc = money_reply(work, result, "order", payments->order_type, "online_callback");
    if (rc == 0 && strcmp(text_of(result, "action"), "paid") == 0) {
        char amount[32];
        snprintf(amount, sizeof amount, "%" PRId64, int_of(result, "amountPaise"));
        if (nagar_rules_outbox(rules, "payment.received", text_of(result, "ulb"),
                               text_of(result, payments->mobile_field),
                               text_of(result, payments->user_field), "receipt_no",
                               text_of(result, "receiptNo"), "amount_paise", amount,
                               payments->account_param, text_of(result, "account"), NULL) != 0)
            rc = -1;
    }
    json_decref(result);
    return rc;
}

int nagar_rules_online_callback(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                                const ProtobufCMessage *request)
{
    if (!payments->provider)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "online payments are not configured here");
    const char *order_id = message_text(request, "order_id");
    nagar_payment_callback_t signed_fields = {.order_id = order_id,
                                              .provider_ref = message_text(request, "provider_ref"),
                                              .amount_paise = message_int(request, "amount_paise"),
                                              .status = message_text(request, "status")};
    if (!nagar_payment_provider_verify_callback(payments->provider, &signed_fields,
                                                message_text(request, "signature"))) {
        const char *client_ip = nagar_worker_call_context(call)->client_ip;
        json_t *fields = json_pack("{s:s, s:s}", "order_id", order_id, "client_ip",
                                   client_ip ? client_ip : "");
        char event[96];
        nagar_log_write(NAGAR_LOG_WARN, event_name(payments->rules, event, "callback_forged"),
                        fields, "a payment callback with a bad signature was refused");
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "signature",
                                      "the callback's signature does not verify; nothing was "
                                      "recorded");
    }
    char *json = nagar_json_encode(request);
    if (!json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                      "the request holds text that is not valid UTF-8");
    money_work_t work = {.payments = payments, .call = call, .request = request,
                         .request_json = json};
    int rc = nagar_db_transaction(payments->rules->db, NAGAR_DB_READ_COMMITTED, callback_work,
                                  &work);
    free(json);
    if (rc != 0) {
        nagar_outcome_t outcome = work.outcome;
        money_work_reset(&work);
        return nagar_rules_fail(payments->rules, call, rc, &outcome);
    }
    rc = nagar_worker_call_reply(call, work.reply);
    money_work_reset(&work);
    return rc;
}

int nagar_rules_verify_ledger(nagar_rules_t *self, const char *ulb)
{
    nagar_ledger_chain_status_t *chains = NULL;
    size_t count = 0;
    char error[512], event[96];
    int broken = nagar_ledger_verify(self->db, ulb, &chains, &count, error, sizeof error);
    if (broken < 0) {
        snprintf(event, sizeof event, "%s.ledger_verify_failed", self->service);
        nagar_log_error(event, "%s", error);
        return 1;
    }
    snprintf(event, sizeof event, "%s.ledger_broken", self->service);
    for (size_t i = 0; i < count; i++) {
        if (chains[i].ok) {
            printf("ulb %s: ok, %lld rows\n", chains[i].ulb, (long long) chains[i].rows);
            continue;
        }
        printf("ulb %s: BROKEN at seq %lld: %s\n", chains[i].ulb,
               (long long) chains[i].broken_seq, chains[i].problem);
        json_t *fields = json_pack("{s:s, s:I}", "ulb", chains[i].ulb, "seq",
                                   (json_int_t) chains[i].broken_seq);
        nagar_log_write(NAGAR_LOG_ERROR, event, fields, "%s", chains[i].problem);
    }
    free(chains);
    return broken > 0 ? 3 : 0;
}

/* ---- ledger.verify ------------------------------------------------------------------ */

/* The verify reply borrows its strings from the chain statuses and is freed
 * here, not with protobuf_c_message_free_unpacked. */
static bool set_text(ProtobufCMessage *message, const char *name, const char *value)
{
    char **slot = field_slot(message, name, PROTOBUF_C_TYPE_STRING);
    if (slot)
        *slot = (char *) value;
    return slot != NULL;
}

static bool set_int(ProtobufCMessage *message, const char *name, int64_t value)
{
    int64_t *slot = field_slot(message, name, PROTOBUF_C_TYPE_INT64);
    if (slot)
        *slot = value;
    return slot != NULL;
}

static bool set_bool(ProtobufCMessage *message, const char *name, bool value)
{
    protobuf_c_boolean *slot = field_slot(message, name, PROTOBUF_C_TYPE_BOOL);
    if (slot)
        *slot = value;
    return slot != NULL;
}

/* Whether the actor may verify the ledger of ulb; answers the call when not. */
static bool verify_allowed(nagar_worker_call_t *call, const char *ulb, int *rc)
{
    const char *role = nagar_actor_role(call);
    bool state = strcmp(role, "STATE_ADMIN") == 0;
    if (!nagar_actor_user(call)[0] ||
        (!state && strcmp(role, "COMMISSIONER") != 0 && strcmp(role, "REVENUE_OFFICER") != 0))
        *rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                     "verifying the ledger needs STATE_ADMIN, COMMISSIONER or "
                                     "REVENUE_OFFICER");
    else if (ulb[0] && (strspn(ulb, "0123456789") != strlen(ulb) || strlen(ulb) > 10))
        *rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                     "ulb must be the LGD code of a ULB (1 to 10 digits)");
    else if (!state && (!ulb[0] || strcmp(ulb, nagar_actor_ulb(call)) != 0))
        *rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                     "a %s may verify the ledger of their own ULB %s only",
                                     role, nagar_actor_ulb(call));
    else
        return true;
    return false;
}

int nagar_rules_verify_ledger_method(nagar_rules_t *self, nagar_worker_call_t *call,
                                     const ProtobufCMessage *request,
                                     const ProtobufCMessageDescriptor *reply_type)
{
    const char *ulb = message_text(request, "ulb");
    int rc = 0;
    if (!verify_allowed(call, ulb, &rc))
        return rc;
    nagar_ledger_chain_status_t *chains = NULL;
    size_t count = 0;
    char error[512], event[96];
    int broken = nagar_ledger_verify(self->db, ulb, &chains, &count, error, sizeof error);
    if (broken < 0) {
        nagar_log_error(event_name(self, event, "ledger_verify_failed"), "%s", error);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "the ledger could not be read; retry later");
    }
    const ProtobufCFieldDescriptor *chains_field =
        protobuf_c_message_descriptor_get_field_by_name(reply_type, "chains");
    if (!chains_field || chains_field->type != PROTOBUF_C_TYPE_MESSAGE ||
        chains_field->label != PROTOBUF_C_LABEL_REPEATED) {
        free(chains);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "%s has no repeated message field chains", reply_type->name);
    }
    const ProtobufCMessageDescriptor *chain_type = chains_field->descriptor;
    ProtobufCMessage *reply = malloc(reply_type->sizeof_message);
    char *items = calloc(count ? count : 1, chain_type->sizeof_message);
    ProtobufCMessage **pointers = calloc(count ? count : 1, sizeof *pointers);
    if (!reply || !items || !pointers) {
        free(reply);
        free(items);
        free(pointers);
        free(chains);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    reply_type->message_init(reply);
    snprintf(event, sizeof event, "%s.ledger_broken", self->service);
    bool fits = set_bool(reply, "ok", broken == 0);
    for (size_t i = 0; i < count; i++) {
        ProtobufCMessage *item = (ProtobufCMessage *) (items + i * chain_type->sizeof_message);
        chain_type->message_init(item);
        fits = set_text(item, "ulb", chains[i].ulb) && set_bool(item, "ok", chains[i].ok) &&
               set_int(item, "rows", chains[i].rows) &&
               set_int(item, "broken_seq", chains[i].ok ? 0 : chains[i].broken_seq) &&
               set_text(item, "problem", chains[i].problem) && fits;
        pointers[i] = item;
        if (!chains[i].ok) {
            json_t *fields = json_pack("{s:s, s:I}", "ulb", chains[i].ulb, "seq",
                                       (json_int_t) chains[i].broken_seq);
            nagar_log_write(NAGAR_LOG_ERROR, event, fields, "%s", chains[i].problem);
        }
    }
    *(size_t *) ((char *) reply + chains_field->quantifier_offset) = count;
    *(ProtobufCMessage ***) ((char *) reply + chains_field->offset) = pointers;
    if (fits)
        rc = nagar_worker_call_reply(call, reply);
    else
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                    "%s lacks a field of a ledger chain's status",
                                    reply_type->name);
    free(reply);
    free(items);
    free(pointers);
    free(chains);
    return rc;
}

/* ---- the program -------------------------------------------------------------------- */

typedef struct {
    const nagar_rules_service_t *service;
    nagar_config_t *config;
    nagar_outbox_relay_t *relay;   /* NULL: relay off */
    long relay_interval_ms;
    int64_t relay_next_ms;         /* monotonic */
} program_t;

static void usage(const nagar_rules_service_t *service, FILE *out)
{
    const char *program = service->program;
    fprintf(out,
            "usage: %s%-24sserve %s on the bus\n"
            "       %s%-24sverify the ledger chain(s)\n"
            "       %s%-24screate the payment provider key\n",
            program, "", service->rules->service, program, " verify [ULB]", program,
            " provider-keygen FILE");
}

/* "<settings_prefix>_<what>": the name of one of the service's settings. */
static const char *setting_name(const program_t *program, char out[128], const char *what)
{
    snprintf(out, 128, "%s_%s", program->service->settings_prefix, what);
    return out;
}

/* The business date and the provider key, then the service's own settings
 * (into ready). Answers the worker's idle tick in ms, or -1. */
static int load_settings(program_t *program, json_t *ready)
{
    const nagar_rules_service_t *service = program->service;
    nagar_rules_t *rules = service->rules;
    char error[1024], event[96], name[128];
    const char *date =
        nagar_config_get(program->config, setting_name(program, name, "BUSINESS_DATE"), "");
    if (date[0]) {
        nagar_date_t parsed;
        if (nagar_date_parse(date, &parsed, error, sizeof error) != 0) {
            nagar_log_error(event_name(rules, event, "config_invalid"), "%s=%s: %s", name, date,
                            error);
            return -1;
        }
        nagar_date_format(parsed, rules->business_date);
        nagar_log_warn(event_name(rules, event, "business_date_fixed"),
                       "the business date is fixed at %s (%s); payments are dated that day",
                       rules->business_date, name);
    }
    const char *key_file =
        nagar_config_get(program->config, "NAGAR_PAYMENT_PROVIDER_KEY_FILE", "");
    if (key_file[0]) {
        *service->provider = nagar_payment_provider_new(key_file, error, sizeof error);
        if (!*service->provider) {
            nagar_log_error(event_name(rules, event, "config_invalid"), "%s", error);
            return -1;
        }
    } else {
        nagar_log_warn(event_name(rules, event, "online_off"),
                       "NAGAR_PAYMENT_PROVIDER_KEY_FILE is not set: "
                       "online payments will be refused");
    }
    return service->settings(service->arg, program->config, ready);
}

/* The worker's tick: the service's batch, and every relay interval the outbox. */
static void program_tick(nagar_worker_t *worker, void *arg)
{
    program_t *program = arg;
    if (program->service->tick)
        program->service->tick(worker, program->service->arg);
    if (program->relay && nagar_rules_monotonic_ms() >= program->relay_next_ms) {
        nagar_outbox_relay_run_once(program->relay, 100, 2000);
        program->relay_next_ms = nagar_rules_monotonic_ms() + program->relay_interval_ms;
    }
}

/* Starts the outbox relay, with its own bus client, when it is on. */
static int start_relay(program_t *program, const nagar_bus_options_t *options, bool *relay)
{
    const nagar_rules_service_t *service = program->service;
    nagar_rules_t *rules = service->rules;
    char error[1024], event[96], name[128];
    if (nagar_config_get_bool(program->config, setting_name(program, name, "OUTBOX_RELAY"), true,
                              relay, error, sizeof error) != 0) {
        nagar_log_error(event_name(rules, event, "config_invalid"), "%s", error);
        return -1;
    }
    if (nagar_service_config_long(program->config, rules->service,
                                  setting_name(program, name, "RELAY_INTERVAL_MS"), 1000, 50,
                                  600000, &program->relay_interval_ms) != 0)
        return -1;
    if (!*relay)
        return 0;
    *service->bus = nagar_bus_client_new(options, program->config, error, sizeof error);
    program->relay =
        *service->bus ? nagar_outbox_relay_new(rules->db, *service->bus, rules->service) : NULL;
    if (!program->relay) {
        nagar_log_error(event_name(rules, event, "worker_failed"),
                        "the outbox relay could not start: %s",
                        *service->bus ? "out of memory" : error);
        return -1;
    }
    return 0;
}

static int serve(program_t *program)
{
    const nagar_rules_service_t *service = program->service;
    nagar_rules_t *rules = service->rules;
    char error[1024], event[96];
    json_t *ready = json_object();   /* the service's fields first, as it adds them */
    int tick_ms = load_settings(program, ready);
    if (tick_ms < 0 || !(rules->db = nagar_service_db_connect(program->config, rules->service))) {
        json_decref(ready);
        return 1;
    }
    if (service->connected)
        service->connected(service->arg);
    nagar_bus_options_t options;
    if (nagar_bus_options_load(&options, program->config, error, sizeof error) != 0) {
        nagar_log_error(event_name(rules, event, "config_invalid"), "%s", error);
        json_decref(ready);
        return 1;
    }
    bool relay = true;
    if (start_relay(program, &options, &relay) != 0) {
        json_decref(ready);
        return 1;
    }
    nagar_worker_t *worker = nagar_worker_new(&options, program->config, rules->service,
                                              service->methods, service->arg, error,
                                              sizeof error);
    if (!worker) {
        nagar_log_error(event_name(rules, event, "worker_failed"), "%s", error);
        json_decref(ready);
        return 1;
    }
    nagar_worker_set_tick(worker, tick_ms, program_tick, program);
    nagar_service_keep_worker_alive(rules->db, worker);
    json_object_set_new(ready, "online_payments", json_boolean(*service->provider != NULL));
    json_object_set_new(ready, "business_date",
                        json_string(rules->business_date[0] ? rules->business_date : "today"));
    json_object_set_new(ready, "relay", json_boolean(relay));
    nagar_log_write(NAGAR_LOG_INFO, event_name(rules, event, "ready"), ready,
                    "%s serving on the bus", rules->service);
    int rc = nagar_worker_run(worker);
    nagar_worker_destroy(&worker);
    nagar_log_info(event_name(rules, event, "stopped"), "%s stopped", rules->service);
    return rc == 0 ? 0 : 1;
}

/* Exit 0: every chain whole; 3: a chain is broken; 1: could not verify. */
static int verify(program_t *program, const char *ulb)
{
    nagar_rules_t *rules = program->service->rules;
    rules->db = nagar_service_db_connect(program->config, rules->service);
    if (!rules->db)
        return 1;
    return nagar_rules_verify_ledger(rules, ulb);
}

static int keygen(const nagar_rules_service_t *service, const char *path)
{
    char error[1024], event[96];
    if (nagar_payment_provider_keygen(path, error, sizeof error) != 0) {
        nagar_log_error(event_name(service->rules, event, "keygen_failed"), "%s", error);
        return 1;
    }
    nagar_log_info(event_name(service->rules, event, "provider_keygen"),
                   "payment provider key written to %s", path);
    return 0;
}

int nagar_rules_main(const nagar_rules_service_t *service, int argc, char **argv)
{
    nagar_rules_t *rules = service->rules;
    char error[1024], event[96];
    nagar_log_init(rules->service);
    if (sodium_init() < 0) {
        nagar_log_error(event_name(rules, event, "start_failed"), "libsodium failed to initialise");
        return 1;
    }
    const char *command = argc > 1 ? argv[1] : "serve";
    if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "help") == 0) {
        usage(service, stdout);
        return 0;
    }
    if (strcmp(command, "provider-keygen") == 0) {
        if (argc != 3) {
            usage(service, stderr);
            return 2;
        }
        return keygen(service, argv[2]);
    }
    program_t program = {.service = service};
    program.config = nagar_config_new(NULL, error, sizeof error);
    if (!program.config) {
        nagar_log_error(event_name(rules, event, "config_invalid"), "%s", error);
        return 1;
    }
    int rc;
    if (strcmp(command, "serve") == 0 && argc <= 2) {
        rc = serve(&program);
    } else if (strcmp(command, "verify") == 0 && argc <= 3) {
        rc = verify(&program, argc == 3 ? argv[2] : NULL);
    } else {
        usage(service, stderr);
        rc = 2;
    }
    nagar_outbox_relay_destroy(&program.relay);
    nagar_bus_client_destroy(service->bus);
    nagar_payment_provider_destroy(service->provider);
    nagar_db_destroy(&rules->db);
    nagar_config_destroy(&program.config);
    nagar_document_shutdown();   /* Pango's font caches, so a leak checker sees a clean exit */
    return rc;
}
