/*
 * service_rules.c — a service's SQL rules as bus methods (service_rules.h):
 * errors of the rules mapped to statuses, the actor and business date,
 * idempotency records, the outbox, and nagar_rules_method, the one path by
 * which most methods run their rule function. Generalised from property
 * tax's helpers so that water charges (and later services) share them.
 */
#include "service_rules.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_codec.h"
#include "log.h"
#include "outbox.h"
#include "proto/notifications.pb-c.h"

/* "<service>.<what>", the stable name of a log event. */
static const char *event_name(const nagar_rules_t *self, char out[96], const char *what)
{
    snprintf(out, 96, "%s.%s", self->service, what);
    return out;
}

void nagar_rules_outcome_reset(nagar_rules_outcome_t *outcome)
{
    outcome->code = NAGAR__STATUS_CODE__OK;
    outcome->field[0] = '\0';
    outcome->message[0] = '\0';
}

void nagar_rules_outcome_set(nagar_rules_outcome_t *outcome, nagar_status_code_t code, const char *field,
                    const char *format, ...)
{
    outcome->code = code;
    snprintf(outcome->field, sizeof outcome->field, "%s", field ? field : "");
    va_list args;
    va_start(args, format);
    vsnprintf(outcome->message, sizeof outcome->message, format, args);
    va_end(args);
}

/* nagar_db_error() reads "SQLSTATE WTINV: statement NAME: MESSAGE (DETAIL:
 * FIELD)"; the rules put the field's path in the DETAIL. */
bool nagar_rules_outcome_from_db(nagar_rules_t *self, nagar_rules_outcome_t *outcome)
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
    size_t prefix = strlen(self->error_prefix);
    bool ledger_conflict = strcmp(sqlstate, "LGCON") == 0;
    nagar_status_code_t code = NAGAR__STATUS_CODE__CONFLICT;
    if (!ledger_conflict) {
        size_t i;
        if (strncmp(sqlstate, self->error_prefix, prefix) != 0)
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
    nagar_rules_outcome_set(outcome, code, field[0] ? field : NULL, "%s", message);
    return true;
}

int nagar_rules_fail(nagar_rules_t *self, nagar_worker_call_t *call, int rc,
                     const nagar_rules_outcome_t *outcome)
{
    char event[96];
    if (outcome && outcome->code != NAGAR__STATUS_CODE__OK)
        return nagar_worker_call_fail(call, outcome->code,
                                      outcome->field[0] ? outcome->field : NULL, "%s",
                                      outcome->message);
    const char *sqlstate = nagar_db_sqlstate(self->db);
    if (rc != -1 || !sqlstate[0]) {
        nagar_log_error(event_name(self, event, "internal_error"),
                        "method '%s' ended without an outcome (%d)", nagar_worker_call_method(call),
                        rc);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "%s could not complete '%s'; nothing was changed",
                                      self->service, nagar_worker_call_method(call));
    }
    bool connection_lost = strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57", 2) == 0;
    nagar_log_error(event_name(self, event, "db_error"), "method '%s' failed in the database: %s",
                    nagar_worker_call_method(call), nagar_db_error(self->db));
    if (connection_lost)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "the %s database is unreachable; retry later with the "
                                      "same idempotency key", self->service);
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                  "%s could not complete '%s' (database error %s); "
                                  "nothing was changed",
                                  self->service, nagar_worker_call_method(call), sqlstate);
}

PGresult *nagar_rules_query(nagar_rules_t *self, const char *name, const char *sql, int nparams,
                   const char *const *values)
{
    if (nagar_db_prepare(self->db, name, sql, nparams) != 0)
        return NULL;
    return nagar_db_exec(self->db, name, nparams, values);
}

static const Nagar__Actor *actor_of(nagar_worker_call_t *call)
{
    return nagar_worker_call_context(call)->actor;
}

const char *nagar_rules_actor_user(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->user_id ? actor->user_id : "";
}

const char *nagar_rules_actor_role(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->role ? actor->role : "";
}

const char *nagar_rules_actor_ulb(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->ulb ? actor->ulb : "";
}

char *nagar_rules_actor_json(nagar_worker_call_t *call)
{
    json_t *actor = json_pack("{s:s, s:s, s:s}", "userId", nagar_rules_actor_user(call), "role",
                              nagar_rules_actor_role(call), "ulb", nagar_rules_actor_ulb(call));
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

static int request_hash(nagar_worker_call_t *call, const ProtobufCMessage *request,
                        char hash_hex[65])
{
    size_t size = protobuf_c_message_get_packed_size(request);
    uint8_t *packed = malloc(size ? size : 1);
    if (!packed)
        return -1;
    protobuf_c_message_pack(request, packed);
    unsigned char hash[32];
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, sizeof hash);
    const char *method = nagar_worker_call_method(call);
    crypto_generichash_update(&state, (const unsigned char *) method, strlen(method) + 1);
    crypto_generichash_update(&state, packed, size);
    crypto_generichash_final(&state, hash, sizeof hash);
    free(packed);
    sodium_bin2hex(hash_hex, 65, hash, sizeof hash);
    return 0;
}

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

int nagar_rules_idempotency_check(nagar_rules_t *self, nagar_worker_call_t *call, const ProtobufCMessage *request,
                         uint8_t **reply_out, size_t *reply_size, nagar_rules_outcome_t *outcome)
{
    *reply_out = NULL;
    *reply_size = 0;
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !key[0])
        return 0;
    if (!key_valid(key)) {
        nagar_rules_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "idempotencyKey",
                       "the idempotency key must be 1 to 128 printable characters");
        return 2;
    }
    char hash_hex[65];
    if (request_hash(call, request, hash_hex) != 0)
        return -1;
    const char *values[] = {nagar_rules_actor_user(call), key};
    /* Retries of one request racing each other queue on the key's lock
     * inside the lookup function: the first does the work and commits its
     * record, the others then find it. */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT method, request_hash, reply FROM %s($1, $2)",
             self->idempotency_lookup);
    PGresult *res = nagar_rules_query(self, "rules_idem_lookup", sql, 2, values);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), nagar_worker_call_method(call)) != 0 ||
            strcmp(PQgetvalue(res, 0, 1), hash_hex) != 0) {
            nagar_rules_outcome_set(outcome, NAGAR__STATUS_CODE__CONFLICT, "idempotencyKey",
                           "idempotency key \"%s\" was already used for a different request; use "
                           "a new key for a new request",
                           key);
            rc = 2;
        } else {
            const char *hex = PQgetvalue(res, 0, 2);
            size_t hex_length = strlen(hex);
            *reply_out = malloc(hex_length / 2 + 1);
            if (!*reply_out || sodium_hex2bin(*reply_out, hex_length / 2 + 1, hex, hex_length,
                                              NULL, reply_size, NULL) != 0) {
                free(*reply_out);
                *reply_out = NULL;
                rc = -1;
            } else {
                rc = 1;
            }
        }
    }
    PQclear(res);
    return rc;
}

int nagar_rules_idempotency_store(nagar_rules_t *self, nagar_worker_call_t *call, const ProtobufCMessage *request,
                         const ProtobufCMessage *reply)
{
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !key[0])
        return 0;
    char hash_hex[65];
    if (request_hash(call, request, hash_hex) != 0)
        return -1;
    size_t size = protobuf_c_message_get_packed_size(reply);
    uint8_t *packed = malloc(size ? size : 1);
    char *reply_hex = malloc(size * 2 + 1);
    if (!packed || !reply_hex) {
        free(packed);
        free(reply_hex);
        return -1;
    }
    protobuf_c_message_pack(reply, packed);
    sodium_bin2hex(reply_hex, size * 2 + 1, packed, size);
    const char *values[] = {nagar_rules_actor_user(call), key, nagar_worker_call_method(call), hash_hex,
                            reply_hex};
    PGresult *res = nagar_rules_query(self, "rules_idem_put",
                             "INSERT INTO idempotency (actor, key, method, request_hash, reply) "
                             "VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'))",
                             5, values);
    free(packed);
    free(reply_hex);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int nagar_rules_reply_stored(nagar_worker_call_t *call, const ProtobufCMessageDescriptor *type,
                    const uint8_t *reply, size_t reply_size)
{
    ProtobufCMessage *message = protobuf_c_message_unpack(type, NULL, reply_size, reply);
    if (!message)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "the stored reply for this idempotency key is unreadable");
    nagar_worker_call_set_replayed(call, true);
    int rc = nagar_worker_call_reply(call, message);
    protobuf_c_message_free_unpacked(message, NULL);
    return rc;
}

/* ---- rules -------------------------------------------------------------------- */

int nagar_rules_call_json(nagar_rules_t *self, const char *name, const char *sql, int nparams,
                 const char *const *values, json_t **out, nagar_rules_outcome_t *outcome)
{
    *out = NULL;
    PGresult *res = nagar_rules_query(self, name, sql, nparams, values);
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
        nagar_rules_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                       "statement %s answered JSON that does not parse: %s", name, error.text);
        return 1;
    }
    return 0;
}

int nagar_rules_call(nagar_rules_t *self, nagar_worker_call_t *call, const char *function,
                 const char *request_json, const ProtobufCMessageDescriptor *reply_type,
                 ProtobufCMessage **reply, nagar_rules_outcome_t *outcome)
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
    PGresult *res = nagar_rules_query(self, name, sql, 3, values);
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
        nagar_rules_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
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
    nagar_rules_outcome_t outcome;
} method_work_t;

static void method_work_reset(method_work_t *work)
{
    nagar_rules_outcome_reset(&work->outcome);
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
        int seen = nagar_rules_idempotency_check(work->self, work->call, work->request, &work->stored,
                                        &work->stored_size, &work->outcome);
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

int nagar_rules_method(nagar_rules_t *self, nagar_worker_call_t *call, const ProtobufCMessage *request,
                  const char *request_json, const char *function,
                  const ProtobufCMessageDescriptor *reply_type, bool mutation,
                       nagar_rules_finish_fn *finish, void *finish_arg)
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
        nagar_rules_outcome_t outcome = work.outcome;
        method_work_reset(&work);
        return nagar_rules_fail(self, call, rc, &outcome);
    }
    if (work.stored)
        rc = nagar_rules_reply_stored(call, reply_type, work.stored, work.stored_size);
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
                       ProtobufCMessage **reply, nagar_rules_outcome_t *outcome)
{
    nagar_json_error_t error;
    if (nagar_json_decode_object(type, json, NULL, reply, &error) != 0) {
        char event[96];
        nagar_log_error(event_name(self, event, "rule_reply_invalid"), "a %s from the rules does "
                        "not decode at '%s': %s", type->name, error.path, error.message);
        nagar_rules_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                "%s could not build the reply; nothing was changed",
                                self->service);
        return 1;
    }
    return 0;
}
