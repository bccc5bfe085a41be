/*
 * service.c — the scaffolding every service's handlers share (service.h):
 * outcomes, failures after a transaction, named statements, the actor (as
 * the worker verified it), idempotency records and listings' replies (a
 * reply's fields found by name through its descriptor). One copy,
 * parameterised by the service's name and its idempotency table, instead
 * of one per service.
 */
#include "service.h"

#include <errno.h>
#include <sodium.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

nagar_db_t *nagar_service_db_connect(nagar_config_t *config, const char *service)
{
    char event[96];
    const char *conninfo = nagar_config_get(config, "NAGAR_DB_CONNINFO", NULL);
    if (!conninfo || !conninfo[0]) {
        /* "water_tax" is the water tax database, used as role water_tax_app. */
        char name[64];
        snprintf(name, sizeof name, "%s", service);
        for (char *c = name; *c; c++)
            if (*c == '_')
                *c = ' ';
        snprintf(event, sizeof event, "%s.config_invalid", service);
        nagar_log_error(event,
                        "NAGAR_DB_CONNINFO is not set; set it to the libpq connection string of "
                        "the %s database (role %s_app)",
                        name, service);
        return NULL;
    }
    char error[NAGAR_DB_ERROR_MAX];
    nagar_db_t *db = nagar_db_connect(conninfo, error, sizeof error);
    if (!db) {
        snprintf(event, sizeof event, "%s.db_connect_failed", service);
        nagar_log_error(event, "%s", error);
    }
    return db;
}

int nagar_service_config_long(nagar_config_t *config, const char *service, const char *key,
                              long default_value, long min, long max, long *out)
{
    char error[NAGAR_CONFIG_ERROR_MAX];
    if (nagar_config_get_int(config, key, default_value, min, max, out, error, sizeof error) !=
        0) {
        char event[96];
        snprintf(event, sizeof event, "%s.config_invalid", service);
        nagar_log_error(event, "%s", error);
        return -1;
    }
    return 0;
}

/* ---- outcomes --------------------------------------------------------------- */

static void keepalive_hook(void *worker)
{
    nagar_worker_keepalive(worker);
}

void nagar_service_keep_worker_alive(nagar_db_t *db, nagar_worker_t *worker)
{
    if (db && worker)
        nagar_db_set_wait_hook(db, keepalive_hook, worker);
}

void nagar_service_keep_worker_alive_on_bus(nagar_bus_client_t *bus, nagar_worker_t *worker)
{
    if (bus && worker)
        nagar_bus_client_set_wait_hook(bus, keepalive_hook, worker);
}

void nagar_outcome_reset(nagar_outcome_t *outcome)
{
    outcome->code = NAGAR__STATUS_CODE__OK;
    outcome->field[0] = '\0';
    outcome->message[0] = '\0';
}

void nagar_outcome_set(nagar_outcome_t *outcome, nagar_status_code_t code, const char *field,
                       const char *format, ...)
{
    outcome->code = code;
    snprintf(outcome->field, sizeof outcome->field, "%s", field ? field : "");
    va_list args;
    va_start(args, format);
    vsnprintf(outcome->message, sizeof outcome->message, format, args);
    va_end(args);
}

int nagar_service_fail_advising(nagar_db_t *db, const char *service, nagar_worker_call_t *call,
                                int rc, const nagar_outcome_t *outcome,
                                const char *retry_advice)
{
    if (rc == 1 && outcome && outcome->code != NAGAR__STATUS_CODE__OK)
        return nagar_worker_call_fail(call, outcome->code,
                                      outcome->field[0] ? outcome->field : NULL, "%s",
                                      outcome->message);
    char event[96];
    const char *method = nagar_worker_call_method(call);
    const char *sqlstate = nagar_db_sqlstate(db);
    if (rc != -1 || !sqlstate[0]) {
        snprintf(event, sizeof event, "%s.internal_error", service);
        nagar_log_error(event, "method '%s' ended without an outcome (%d)", method, rc);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "%s could not complete '%s'; nothing was changed", service,
                                      method);
    }
    /* Class 08 (connection exception) and 57 (operator intervention): the
     * database went away, which a retry may outlive. */
    bool connection_lost = strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57", 2) == 0;
    snprintf(event, sizeof event, "%s.db_error", service);
    nagar_log_error(event, "method '%s' failed in the database: %s", method, nagar_db_error(db));
    if (connection_lost)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "the %s database is unreachable; %s", service, retry_advice);
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                  "%s could not complete '%s' (database error %s); "
                                  "nothing was changed",
                                  service, method, sqlstate);
}

int nagar_service_fail(nagar_db_t *db, const char *service, nagar_worker_call_t *call, int rc,
                       const nagar_outcome_t *outcome)
{
    return nagar_service_fail_advising(db, service, call, rc, outcome, "retry later");
}

PGresult *nagar_service_query(nagar_db_t *db, const char *name, const char *sql, int nparams,
                              const char *const *values)
{
    if (nagar_db_prepare(db, name, sql, nparams) != 0)
        return NULL;
    return nagar_db_exec(db, name, nparams, values);
}

/* ---- the actor -------------------------------------------------------------- */

/* Only what the worker verified from the call's credential (authority.h):
 * nothing the caller wrote about itself. */
const char *nagar_actor_user(nagar_worker_call_t *call)
{
    return nagar_worker_call_actor(call)->user_id;
}

const char *nagar_actor_role(nagar_worker_call_t *call)
{
    return nagar_worker_call_actor(call)->role;
}

const char *nagar_actor_ulb(nagar_worker_call_t *call)
{
    return nagar_worker_call_actor(call)->ulb;
}

bool nagar_actor_is(nagar_worker_call_t *call, const char *role)
{
    return nagar_actor_user(call)[0] != '\0' && strcmp(nagar_actor_role(call), role) == 0;
}

const char *nagar_actor_on_behalf_of(nagar_worker_call_t *call)
{
    return nagar_worker_call_actor(call)->on_behalf_of;
}

const char *nagar_actor_key_owner(nagar_worker_call_t *call)
{
    const char *clerk = nagar_actor_on_behalf_of(call);
    return clerk[0] ? clerk : nagar_actor_user(call);
}

/* ---- idempotency -------------------------------------------------------------- */

/* BLAKE2b of the method name and the serialized request, as hex: the same
 * key with another method or other fields is another request. */
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
    sodium_memzero(packed, size);     /* requests may hold secrets (OTPs, bodies) */
    free(packed);
    sodium_bin2hex(hash_hex, 65, hash, sizeof hash);
    return 0;
}

static const char *key_owner(const nagar_idempotency_t *self, nagar_worker_call_t *call)
{
    return self->actor ? self->actor(call) : nagar_actor_key_owner(call);
}

nagar_idempotency_seen_t nagar_idempotency_check(const nagar_idempotency_t *self, nagar_db_t *db,
                                                 nagar_worker_call_t *call,
                                                 const ProtobufCMessage *request,
                                                 uint8_t **reply_out, size_t *reply_size,
                                                 nagar_outcome_t *outcome)
{
    *reply_out = NULL;
    *reply_size = 0;
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !key[0])
        return NAGAR_IDEMPOTENCY_NEW;
    if (!nagar_idempotency_key_valid(key)) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "idempotencyKey",
                          "the idempotency key must be " NAGAR_IDEMPOTENCY_KEY_RULE);
        return NAGAR_IDEMPOTENCY_REFUSED;
    }
    char hash_hex[65];
    if (request_hash(call, request, hash_hex) != 0)
        return NAGAR_IDEMPOTENCY_ERROR;
    const char *values[] = {key_owner(self, call), key};
    PGresult *result = nagar_service_query(db, "idem_get", self->lookup_sql, 2, values);
    if (!result)
        return NAGAR_IDEMPOTENCY_ERROR;
    nagar_idempotency_seen_t seen = NAGAR_IDEMPOTENCY_NEW;
    if (PQntuples(result) == 1) {
        if (strcmp(PQgetvalue(result, 0, 0), nagar_worker_call_method(call)) != 0 ||
            strcmp(PQgetvalue(result, 0, 1), hash_hex) != 0) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__CONFLICT, "idempotencyKey",
                              "idempotency key \"%s\" was already used for a different "
                              "request; use a new key for a new request",
                              key);
            seen = NAGAR_IDEMPOTENCY_REFUSED;
        } else {
            const char *hex = PQgetvalue(result, 0, 2);
            size_t hex_length = strlen(hex);
            *reply_out = malloc(hex_length / 2 + 1);
            if (!*reply_out || sodium_hex2bin(*reply_out, hex_length / 2 + 1, hex, hex_length,
                                              NULL, reply_size, NULL) != 0) {
                free(*reply_out);
                *reply_out = NULL;
                seen = NAGAR_IDEMPOTENCY_ERROR;
            } else {
                seen = NAGAR_IDEMPOTENCY_ANSWERED;
            }
        }
    }
    PQclear(result);
    return seen;
}

int nagar_idempotency_work_result(nagar_idempotency_seen_t seen)
{
    switch (seen) {
    case NAGAR_IDEMPOTENCY_ANSWERED:
        return 0;
    case NAGAR_IDEMPOTENCY_REFUSED:
        return 1;
    case NAGAR_IDEMPOTENCY_NEW:     /* not an end: the caller goes on */
    case NAGAR_IDEMPOTENCY_ERROR:
        break;
    }
    return -1;
}

int nagar_idempotency_store(const nagar_idempotency_t *self, nagar_db_t *db,
                            nagar_worker_call_t *call, const ProtobufCMessage *request,
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
    const char *values[] = {key_owner(self, call), key, nagar_worker_call_method(call), hash_hex,
                            reply_hex};
    PGresult *result = nagar_service_query(db, "idem_put", self->store_sql, 5, values);
    free(packed);
    free(reply_hex);
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

int nagar_idempotency_replay(nagar_worker_call_t *call, const ProtobufCMessageDescriptor *type,
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

void *nagar_reply_list(size_t count, size_t item_size)
{
    if (count > SIZE_MAX / sizeof(void *) - 1)
        return NULL;
    size_t pointers_size = (count + 1) * sizeof(void *);
    size_t align = alignof(max_align_t);
    size_t items_offset = (pointers_size + align - 1) / align * align;
    if (item_size && count > (SIZE_MAX - items_offset) / item_size)
        return NULL;
    unsigned char *block = calloc(1, items_offset + count * item_size);
    if (!block)
        return NULL;
    void **pointers = (void **) block;
    for (size_t i = 0; i < count; i++)
        pointers[i] = block + items_offset + i * item_size;
    return pointers;
}

/* The repeated message field named name of reply's type, or NULL. */
static const ProtobufCFieldDescriptor *reply_list_field(const ProtobufCMessage *reply,
                                                        const char *name)
{
    if (!reply || !reply->descriptor || !name)
        return NULL;
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(reply->descriptor, name);
    if (!field || field->label != PROTOBUF_C_LABEL_REPEATED ||
        field->type != PROTOBUF_C_TYPE_MESSAGE || !field->descriptor)
        return NULL;
    return field;
}

int nagar_reply_page_set(ProtobufCMessage *reply, const char *field, void *items, size_t count,
                         const char *next_page_token)
{
    const ProtobufCFieldDescriptor *list = reply_list_field(reply, field);
    if (!list)
        return -1;
    const ProtobufCFieldDescriptor *token = NULL;
    if (next_page_token) {
        token = protobuf_c_message_descriptor_get_field_by_name(reply->descriptor,
                                                                "next_page_token");
        if (!token || token->label != PROTOBUF_C_LABEL_NONE ||
            token->type != PROTOBUF_C_TYPE_STRING)
            return -1;
    }
    char *base = (char *) reply;
    *(size_t *) (base + list->quantifier_offset) = count;
    *(void **) (base + list->offset) = items;
    if (token)
        *(const char **) (base + token->offset) = next_page_token;
    return 0;
}

/* A reply type without the fields its caller named: a slip in the code, not
 * the request's fault. */
static int reply_invalid(nagar_worker_call_t *call, const ProtobufCMessage *reply,
                         const char *field, void *items, PGresult *rows)
{
    nagar_log_error("service.reply_invalid", "%s: no repeated message field %s, no string "
                    "next_page_token, or fewer rows than asked for",
                    reply && reply->descriptor ? reply->descriptor->name : "(no type)",
                    field ? field : "(none)");
    free(items);
    PQclear(rows);
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                  "the reply could not be built");
}

int nagar_reply_page(nagar_worker_call_t *call, ProtobufCMessage *reply, const char *field,
                     void *items, size_t count, const char *next_page_token, PGresult *rows)
{
    if (items && nagar_reply_page_set(reply, field, items, count, next_page_token) != 0)
        return reply_invalid(call, reply, field, items, rows);
    int rc = items ? nagar_worker_call_reply(call, reply)
                   : nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                            "out of memory");
    free(items);
    PQclear(rows);
    return rc;
}

/* text as a whole decimal integer within [min, max], as PostgreSQL writes
 * one (no spaces, no "+"). */
static bool row_integer(const char *text, long long min, long long max, long long *out)
{
    if (!(text[0] >= '0' && text[0] <= '9') && !(text[0] == '-' && text[1] >= '0' &&
                                                 text[1] <= '9'))
        return false;
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        return false;
    *out = value;
    return true;
}

static bool row_unsigned(const char *text, unsigned long long max, unsigned long long *out)
{
    if (!(text[0] >= '0' && text[0] <= '9'))
        return false;
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text || *end || value > max)
        return false;
    *out = value;
    return true;
}

int nagar_message_from_row(ProtobufCMessage *message, const PGresult *rows, int row)
{
    if (!message || !message->descriptor || !rows || row < 0 || row >= PQntuples(rows))
        return -1;
    const ProtobufCMessageDescriptor *type = message->descriptor;
    char *base = (char *) message;
    for (unsigned i = 0; i < type->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &type->fields[i];
        int column = PQfnumber(rows, field->name);
        if (column < 0)
            continue;
        if (field->label != PROTOBUF_C_LABEL_NONE ||
            (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            return -1;
        if (PQgetisnull(rows, row, column))
            continue;
        char *text = PQgetvalue(rows, row, column);
        void *member = base + field->offset;
        long long number;
        unsigned long long positive;
        switch (field->type) {
        case PROTOBUF_C_TYPE_STRING:
            *(char **) member = text;
            break;
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
            if (!row_integer(text, INT32_MIN, INT32_MAX, &number))
                return -1;
            *(int32_t *) member = (int32_t) number;
            break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            if (!row_integer(text, INT64_MIN, INT64_MAX, &number))
                return -1;
            *(int64_t *) member = (int64_t) number;
            break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
            if (!row_unsigned(text, UINT32_MAX, &positive))
                return -1;
            *(uint32_t *) member = (uint32_t) positive;
            break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            if (!row_unsigned(text, UINT64_MAX, &positive))
                return -1;
            *(uint64_t *) member = (uint64_t) positive;
            break;
        case PROTOBUF_C_TYPE_BOOL:
            if (strcmp(text, "t") != 0 && strcmp(text, "f") != 0)
                return -1;
            *(protobuf_c_boolean *) member = text[0] == 't';
            break;
        default:
            return -1;
        }
    }
    return 0;
}

int nagar_reply_rows(nagar_worker_call_t *call, ProtobufCMessage *reply, const char *field,
                     PGresult *rows, int count, const char *next_page_token)
{
    const ProtobufCFieldDescriptor *list = reply_list_field(reply, field);
    if (!list || !rows || count < 0 || count > PQntuples(rows))
        return reply_invalid(call, reply, field, NULL, rows);
    const ProtobufCMessageDescriptor *item_type = list->descriptor;
    ProtobufCMessage **items = nagar_reply_list((size_t) count, item_type->sizeof_message);
    for (int i = 0; items && i < count; i++) {
        protobuf_c_message_init(item_type, items[i]);
        if (nagar_message_from_row(items[i], rows, i) != 0) {
            nagar_log_error("service.row_unreadable", "row %d of %s's %s does not fit %s", i,
                            reply->descriptor->name, field, item_type->name);
            free(items);
            PQclear(rows);
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                          "a stored row could not be read");
        }
    }
    return nagar_reply_page(call, reply, field, items, (size_t) count, next_page_token, rows);
}

bool nagar_keyed_work_begin(nagar_keyed_work_t *work, int *rc)
{
    nagar_outcome_reset(&work->outcome);
    free(work->stored);
    work->stored = NULL;
    work->stored_size = 0;
    if (!work->request)
        return true;
    nagar_idempotency_seen_t seen =
        nagar_idempotency_check(work->records, work->db, work->call, work->request,
                                &work->stored, &work->stored_size, &work->outcome);
    if (seen == NAGAR_IDEMPOTENCY_NEW)
        return true;
    *rc = nagar_idempotency_work_result(seen);
    return false;
}

int nagar_keyed_work_store(nagar_keyed_work_t *work, const ProtobufCMessage *reply)
{
    if (!work->request)
        return 0;
    return nagar_idempotency_store(work->records, work->db, work->call, work->request, reply);
}

int nagar_keyed_work_answer(nagar_keyed_work_t *work, int rc,
                            const ProtobufCMessageDescriptor *type,
                            const ProtobufCMessage *reply)
{
    if (rc != 0)
        rc = nagar_service_fail(work->db, work->service, work->call, rc, &work->outcome);
    else if (work->stored)
        rc = nagar_idempotency_replay(work->call, type, work->stored, work->stored_size);
    else
        rc = nagar_worker_call_reply(work->call, reply);
    free(work->stored);
    work->stored = NULL;
    return rc;
}

int nagar_service_portal_url(nagar_config_t *config, const char *service, char *out,
                             size_t out_size)
{
    const char *url = nagar_config_get(config, "NAGAR_PORTAL_URL", "");
    size_t length = strlen(url);
    while (length > 0 && url[length - 1] == '/')
        length--;
    bool ok = length == 0 || ((strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) &&
                              length < out_size);
    for (size_t i = 0; ok && i < length; i++)
        ok = url[i] > ' ' && url[i] < 127 && !strchr("\"'<>\\`", url[i]);
    if (!ok) {
        char event[64];
        snprintf(event, sizeof event, "%s.config_invalid", service);
        nagar_log_error(event,
                        "NAGAR_PORTAL_URL must be the portal's http:// or https:// address (at most "
                        "%zu characters, no spaces or quotes), not \"%s\"",
                        out_size - 1, url);
        return -1;
    }
    snprintf(out, out_size, "%.*s", (int) length, url);
    return 0;
}

int nagar_audit_append(const nagar_audit_t *trail, nagar_db_t *db, nagar_worker_call_t *call,
                       const char *actor, const char *actor_role, const char *action,
                       const char *subject, const char *ulb, json_t *detail)
{
    static const Nagar__RequestContext no_context = NAGAR__REQUEST_CONTEXT__INIT;
    const Nagar__RequestContext *context = call ? nagar_worker_call_context(call) : &no_context;
    char *detail_text = json_dumps(detail ? detail : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(detail);
    if (!detail_text)
        return -1;
    const char *values[] = {
        actor && actor[0] ? actor : call ? nagar_actor_user(call) : "",
        actor_role && actor_role[0] ? actor_role : call ? nagar_actor_role(call) : "",
        action,
        subject,
        ulb && ulb[0] ? ulb : NULL,
        detail_text,
        context->request_id ? context->request_id : "",
        context->client_ip ? context->client_ip : "",
    };
    PGresult *result = nagar_service_query(db, "audit_append", trail->insert_sql, 8, values);
    free(detail_text);
    if (!result)
        return -1;
    PQclear(result);
    char event[64];
    snprintf(event, sizeof event, "%s.audit", trail->service);
    nagar_log_write(NAGAR_LOG_INFO, event, NULL, "%s by %s on %s", action, values[0], subject);
    return 0;
}
