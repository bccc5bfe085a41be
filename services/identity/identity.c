/*
 * identity.c — helpers shared by nagar-identity's handlers: outcomes of
 * transactional work, actor checks, validation of input text, opaque page
 * tokens and idempotency records. See identity.h.
 */
#include "identity.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

void identity_outcome_reset(identity_outcome_t *outcome)
{
    outcome->code = NAGAR__STATUS_CODE__OK;
    outcome->field[0] = '\0';
    outcome->message[0] = '\0';
}

void identity_outcome_set(identity_outcome_t *outcome, nagar_status_code_t code, const char *field,
                          const char *format, ...)
{
    outcome->code = code;
    snprintf(outcome->field, sizeof outcome->field, "%s", field ? field : "");
    va_list args;
    va_start(args, format);
    vsnprintf(outcome->message, sizeof outcome->message, format, args);
    va_end(args);
}

int identity_fail_transaction(identity_t *self, nagar_worker_call_t *call, int rc,
                              const identity_outcome_t *outcome)
{
    if (rc == 1 && outcome && outcome->code != NAGAR__STATUS_CODE__OK)
        return nagar_worker_call_fail(call, outcome->code,
                                      outcome->field[0] ? outcome->field : NULL, "%s",
                                      outcome->message);
    const char *sqlstate = nagar_db_sqlstate(self->db);
    if (rc != -1 || !sqlstate[0]) {
        nagar_log_error("identity.internal_error", "method '%s' ended without an outcome (%d)",
                        nagar_worker_call_method(call), rc);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "identity could not complete '%s'; nothing was changed",
                                      nagar_worker_call_method(call));
    }
    bool connection_lost = strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57", 2) == 0;
    nagar_log_error("identity.db_error", "method '%s' failed in the database: %s",
                    nagar_worker_call_method(call), nagar_db_error(self->db));
    if (connection_lost)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "the identity database is unreachable; retry later");
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                  "identity could not complete '%s' (database error %s); "
                                  "nothing was changed",
                                  nagar_worker_call_method(call), sqlstate);
}

PGresult *identity_query(identity_t *self, const char *name, const char *sql, int nparams,
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

const char *identity_actor_user(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->user_id ? actor->user_id : "";
}

const char *identity_actor_role(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->role ? actor->role : "";
}

const char *identity_actor_ulb(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->ulb ? actor->ulb : "";
}

bool identity_actor_is(nagar_worker_call_t *call, const char *role)
{
    return identity_actor_user(call)[0] != '\0' && strcmp(identity_actor_role(call), role) == 0;
}

bool identity_matches_digits(const char *text, size_t min, size_t max)
{
    size_t length = strnlen(text, max + 1);
    if (length < min || length > max)
        return false;
    for (size_t i = 0; i < length; i++)
        if (text[i] < '0' || text[i] > '9')
            return false;
    return true;
}

bool identity_mobile_valid(const char *text)
{
    return identity_matches_digits(text, 10, 10) && text[0] >= '6';
}

bool identity_username_valid(const char *text)
{
    size_t length = strnlen(text, 65);
    if (length < 3 || length > 64)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

bool identity_text_valid(const char *text, size_t min, size_t max)
{
    size_t characters = 0;
    const unsigned char *p = (const unsigned char *) text;
    while (*p) {
        unsigned char c = *p;
        int extra;
        uint32_t code;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            extra = 0;
            code = c;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            code = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            code = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            code = c & 0x07;
        } else {
            return false;
        }
        for (int i = 1; i <= extra; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            code = (code << 6) | (p[i] & 0x3f);
        }
        /* Overlong forms, surrogates, beyond Unicode, C1 controls. */
        if ((extra == 1 && code < 0x80) || (extra == 2 && code < 0x800) ||
            (extra == 3 && code < 0x10000) || (code >= 0xd800 && code <= 0xdfff) ||
            code > 0x10ffff || (code >= 0x80 && code < 0xa0))
            return false;
        p += extra + 1;
        if (++characters > max)
            return false;
    }
    return characters >= min;
}

bool identity_staff_role_valid(const char *role)
{
    static const char *const roles[] = {"CLERK", "REGISTRAR", "REVENUE_OFFICER", "COMMISSIONER",
                                        "STATE_ADMIN"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(role, roles[i]) == 0)
            return true;
    return false;
}

/* Page tokens are "v1\x1f" part ("\x1f" part)* in base64url: opaque to
 * clients, cheap to check, and never trusted beyond what a client could
 * type into a filter anyway. */
#define PAGE_SEPARATOR '\x1f'

void identity_page_token_encode(char *out, size_t out_size, const char *const *parts, int count)
{
    char plain[700];
    size_t length = (size_t) snprintf(plain, sizeof plain, "v1");
    for (int i = 0; i < count && length < sizeof plain; i++)
        length += (size_t) snprintf(plain + length, sizeof plain - length, "%c%s", PAGE_SEPARATOR,
                                    parts[i]);
    if (length >= sizeof plain ||
        sodium_base64_encoded_len(length, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > out_size) {
        out[0] = '\0';
        return;
    }
    sodium_bin2base64(out, out_size, (const unsigned char *) plain, length,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int identity_page_token_decode(const char *token, char parts[][201], int max_parts)
{
    size_t token_length = strnlen(token, 1025);
    if (token_length == 0 || token_length > 1024)
        return -1;
    unsigned char plain[800];
    size_t length = 0;
    if (sodium_base642bin(plain, sizeof plain - 1, token, token_length, NULL, &length, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    plain[length] = '\0';
    if (memchr(plain, '\0', length) || length < 2 || memcmp(plain, "v1", 2) != 0)
        return -1;
    int count = 0;
    char *cursor = (char *) plain + 2;
    while (*cursor) {
        if (*cursor != PAGE_SEPARATOR || count >= max_parts)
            return -1;
        cursor++;
        char *end = strchr(cursor, PAGE_SEPARATOR);
        size_t part_length = end ? (size_t) (end - cursor) : strlen(cursor);
        if (part_length > 200)
            return -1;
        memcpy(parts[count], cursor, part_length);
        parts[count][part_length] = '\0';
        if (!identity_text_valid(parts[count], 0, 200))
            return -1;
        count++;
        cursor += part_length;
    }
    return count;
}

/* BLAKE2b of method name and the serialized request. */
static int request_hash(nagar_worker_call_t *call, const ProtobufCMessage *request,
                        unsigned char hash[32])
{
    size_t size = protobuf_c_message_get_packed_size(request);
    uint8_t *packed = malloc(size ? size : 1);
    if (!packed)
        return -1;
    protobuf_c_message_pack(request, packed);
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, 32);
    const char *method = nagar_worker_call_method(call);
    crypto_generichash_update(&state, (const unsigned char *) method, strlen(method) + 1);
    crypto_generichash_update(&state, packed, size);
    crypto_generichash_final(&state, hash, 32);
    free(packed);
    return 0;
}

static void to_hex(char *out, const unsigned char *bytes, size_t size)
{
    sodium_bin2hex(out, size * 2 + 1, bytes, size);
}

int identity_idempotency_check(identity_t *self, nagar_worker_call_t *call,
                               const ProtobufCMessage *request, uint8_t **reply_out,
                               size_t *reply_size, identity_outcome_t *outcome)
{
    *reply_out = NULL;
    *reply_size = 0;
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !key[0])
        return 0;
    if (!identity_text_valid(key, 1, 128)) {
        identity_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "idempotencyKey",
                             "the idempotency key must be 1 to 128 printable characters");
        return 2;
    }
    unsigned char hash[32];
    char hash_hex[65];
    if (request_hash(call, request, hash) != 0)
        return -1;
    to_hex(hash_hex, hash, sizeof hash);
    const char *values[] = {identity_actor_user(call), key};
    PGresult *result = identity_query(
        self, "idem_get",
        "SELECT method, encode(request_hash, 'hex'), encode(reply, 'hex') "
        "FROM identity.idempotency WHERE actor = $1 AND key = $2 FOR UPDATE",
        2, values);
    if (!result)
        return -1;
    int rc = 0;
    if (PQntuples(result) == 1) {
        if (strcmp(PQgetvalue(result, 0, 0), nagar_worker_call_method(call)) != 0 ||
            strcmp(PQgetvalue(result, 0, 1), hash_hex) != 0) {
            identity_outcome_set(outcome, NAGAR__STATUS_CODE__CONFLICT, "idempotencyKey",
                                 "idempotency key \"%s\" was already used for a different request; "
                                 "use a new key for a new request",
                                 key);
            rc = 2;
        } else {
            const char *hex = PQgetvalue(result, 0, 2);
            size_t hex_length = strlen(hex);
            *reply_out = malloc(hex_length / 2 + 1);
            if (!*reply_out ||
                sodium_hex2bin(*reply_out, hex_length / 2 + 1, hex, hex_length, NULL, reply_size,
                               NULL) != 0) {
                free(*reply_out);
                *reply_out = NULL;
                rc = -1;
            } else {
                rc = 1;
            }
        }
    }
    PQclear(result);
    return rc;
}

int identity_idempotency_store(identity_t *self, nagar_worker_call_t *call,
                               const ProtobufCMessage *request, const ProtobufCMessage *reply)
{
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !key[0])
        return 0;
    unsigned char hash[32];
    char hash_hex[65];
    if (request_hash(call, request, hash) != 0)
        return -1;
    to_hex(hash_hex, hash, sizeof hash);
    size_t size = protobuf_c_message_get_packed_size(reply);
    uint8_t *packed = malloc(size ? size : 1);
    char *reply_hex = malloc(size * 2 + 1);
    if (!packed || !reply_hex) {
        free(packed);
        free(reply_hex);
        return -1;
    }
    protobuf_c_message_pack(reply, packed);
    to_hex(reply_hex, packed, size);
    const char *values[] = {identity_actor_user(call), key, nagar_worker_call_method(call),
                            hash_hex, reply_hex};
    PGresult *result = identity_query(
        self, "idem_put",
        "INSERT INTO identity.idempotency (actor, key, method, request_hash, reply) "
        "VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'))",
        5, values);
    free(packed);
    free(reply_hex);
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

int identity_reply_stored(nagar_worker_call_t *call, const ProtobufCMessageDescriptor *type,
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

int64_t identity_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
