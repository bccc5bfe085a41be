/*
 * notify.c — helpers shared by nagar-notifications' handlers: outcomes of
 * transactional work, actor checks, validation, idempotency records,
 * sealing of secret bodies and page tokens. See notify.h.
 */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

void notify_outcome_reset(notify_outcome_t *outcome)
{
    outcome->code = NAGAR__STATUS_CODE__OK;
    outcome->field[0] = '\0';
    outcome->message[0] = '\0';
}

void notify_outcome_set(notify_outcome_t *outcome, nagar_status_code_t code, const char *field,
                        const char *format, ...)
{
    outcome->code = code;
    snprintf(outcome->field, sizeof outcome->field, "%s", field ? field : "");
    va_list args;
    va_start(args, format);
    vsnprintf(outcome->message, sizeof outcome->message, format, args);
    va_end(args);
}

int notify_fail_transaction(notify_t *self, nagar_worker_call_t *call, int rc,
                            const notify_outcome_t *outcome)
{
    if (rc == 1 && outcome && outcome->code != NAGAR__STATUS_CODE__OK)
        return nagar_worker_call_fail(call, outcome->code,
                                      outcome->field[0] ? outcome->field : NULL, "%s",
                                      outcome->message);
    const char *sqlstate = nagar_db_sqlstate(self->db);
    if (rc != -1 || !sqlstate[0]) {
        nagar_log_error("notifications.internal_error",
                        "method '%s' ended without an outcome (%d)", nagar_worker_call_method(call),
                        rc);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "notifications could not complete '%s'; nothing was changed",
                                      nagar_worker_call_method(call));
    }
    bool connection_lost = strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57", 2) == 0;
    nagar_log_error("notifications.db_error", "method '%s' failed in the database: %s",
                    nagar_worker_call_method(call), nagar_db_error(self->db));
    if (connection_lost)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "the notifications database is unreachable; retry later");
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                  "notifications could not complete '%s' (database error %s); "
                                  "nothing was changed",
                                  nagar_worker_call_method(call), sqlstate);
}

PGresult *notify_query(notify_t *self, const char *name, const char *sql, int nparams,
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

const char *notify_actor_user(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->user_id ? actor->user_id : "";
}

const char *notify_actor_role(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->role && notify_actor_user(call)[0] ? actor->role : "";
}

const char *notify_actor_ulb(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->ulb ? actor->ulb : "";
}

bool notify_actor_is_staff(nagar_worker_call_t *call)
{
    static const char *const roles[] = {"CLERK", "REGISTRAR", "REVENUE_OFFICER", "COMMISSIONER",
                                        "STATE_ADMIN"};
    const char *role = notify_actor_role(call);
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(role, roles[i]) == 0)
            return true;
    return false;
}

/* Decodes one UTF-8 character; returns its length or 0 when invalid. */
static int utf8_next(const unsigned char *p, uint32_t *code_out)
{
    unsigned char c = *p;
    int extra;
    uint32_t code;
    if (c < 0x80) {
        *code_out = c;
        return 1;
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
        return 0;
    }
    for (int i = 1; i <= extra; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        code = (code << 6) | (p[i] & 0x3f);
    }
    if ((extra == 1 && code < 0x80) || (extra == 2 && code < 0x800) ||
        (extra == 3 && code < 0x10000) || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff)
        return 0;
    *code_out = code;
    return extra + 1;
}

static bool text_check(const char *text, size_t min, size_t max, bool newlines)
{
    size_t characters = 0;
    const unsigned char *p = (const unsigned char *) text;
    while (*p) {
        uint32_t code;
        int length = utf8_next(p, &code);
        if (length == 0)
            return false;
        bool control = code < 0x20 || code == 0x7f || (code >= 0x80 && code < 0xa0);
        if (control && !(newlines && code == '\n'))
            return false;
        p += length;
        if (++characters > max)
            return false;
    }
    return characters >= min;
}

bool notify_text_valid(const char *text, size_t min, size_t max)
{
    return text && text_check(text, min, max, false);
}

bool notify_body_text_valid(const char *text, size_t min, size_t max)
{
    return text && text_check(text, min, max, true);
}

size_t notify_utf8_length(const char *text)
{
    size_t characters = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if ((*p & 0xc0) != 0x80)
            characters++;
    return characters;
}

bool notify_mobile_valid(const char *text)
{
    if (!text || strlen(text) != 10 || text[0] < '6' || text[0] > '9')
        return false;
    for (int i = 0; i < 10; i++)
        if (text[i] < '0' || text[i] > '9')
            return false;
    return true;
}

/* Deliberately plain: ASCII local part and domain, one '@', a dot in the
 * domain, nothing that could end an SMTP command or a header. */
bool notify_email_valid(const char *text)
{
    if (!text)
        return false;
    size_t length = strnlen(text, 255);
    if (length < 3 || length > 254)
        return false;
    const char *at = strchr(text, '@');
    if (!at || at == text || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
        text[length - 1] == '.')
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("@.-_+", c) != NULL;
        if (!ok)
            return false;
    }
    return true;
}

bool notify_ulb_valid(const char *text)
{
    if (!text)
        return false;
    size_t length = strnlen(text, 11);
    if (length < 1 || length > 10)
        return false;
    for (size_t i = 0; i < length; i++)
        if (text[i] < '0' || text[i] > '9')
            return false;
    return true;
}

bool notify_name_valid(const char *text, size_t max)
{
    if (!text)
        return false;
    size_t length = strnlen(text, max + 1);
    if (length < 1 || length > max || text[0] < 'a' || text[0] > 'z')
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* BLAKE2b of method name and the serialized request. */
static int request_hash(nagar_worker_call_t *call, const ProtobufCMessage *request, char out[65])
{
    size_t size = protobuf_c_message_get_packed_size(request);
    uint8_t *packed = malloc(size ? size : 1);
    if (!packed)
        return -1;
    protobuf_c_message_pack(request, packed);
    unsigned char hash[32];
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, 32);
    const char *method = nagar_worker_call_method(call);
    crypto_generichash_update(&state, (const unsigned char *) method, strlen(method) + 1);
    crypto_generichash_update(&state, packed, size);
    crypto_generichash_final(&state, hash, 32);
    sodium_memzero(packed, size);
    free(packed);
    sodium_bin2hex(out, 65, hash, sizeof hash);
    return 0;
}

static const char *idempotency_actor(nagar_worker_call_t *call)
{
    /* Services calling without an actor are told apart by principal. */
    const char *user = notify_actor_user(call);
    return user[0] ? user : nagar_worker_call_caller(call);
}

int notify_idempotency_check(notify_t *self, nagar_worker_call_t *call,
                             const ProtobufCMessage *request, uint8_t **reply_out,
                             size_t *reply_size, notify_outcome_t *outcome)
{
    *reply_out = NULL;
    *reply_size = 0;
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !key[0])
        return 0;
    if (!notify_text_valid(key, 1, 128)) {
        notify_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "idempotencyKey",
                           "the idempotency key must be 1 to 128 printable characters");
        return 2;
    }
    char hash_hex[65];
    if (request_hash(call, request, hash_hex) != 0)
        return -1;
    const char *values[] = {idempotency_actor(call), key};
    PGresult *result = notify_query(
        self, "idem_get",
        "SELECT method, encode(request_hash, 'hex'), encode(reply, 'hex') "
        "FROM notifications.idempotency WHERE actor = $1 AND key = $2 FOR UPDATE",
        2, values);
    if (!result)
        return -1;
    int rc = 0;
    if (PQntuples(result) == 1) {
        if (strcmp(PQgetvalue(result, 0, 0), nagar_worker_call_method(call)) != 0 ||
            strcmp(PQgetvalue(result, 0, 1), hash_hex) != 0) {
            notify_outcome_set(outcome, NAGAR__STATUS_CODE__CONFLICT, "idempotencyKey",
                               "idempotency key \"%s\" was already used for a different "
                               "request; use a new key for a new request",
                               key);
            rc = 2;
        } else {
            const char *hex = PQgetvalue(result, 0, 2);
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
    PQclear(result);
    return rc;
}

int notify_idempotency_store(notify_t *self, nagar_worker_call_t *call,
                             const ProtobufCMessage *request, const ProtobufCMessage *reply)
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
    const char *values[] = {idempotency_actor(call), key, nagar_worker_call_method(call),
                            hash_hex, reply_hex};
    PGresult *result = notify_query(
        self, "idem_put",
        "INSERT INTO notifications.idempotency (actor, key, method, request_hash, reply) "
        "VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'))",
        5, values);
    free(packed);
    free(reply_hex);
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

int notify_reply_stored(nagar_worker_call_t *call, const ProtobufCMessageDescriptor *type,
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

char *notify_seal(notify_t *self, const char *text)
{
    size_t length = strlen(text);
    size_t sealed_size = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + length;
    unsigned char *sealed = malloc(sealed_size);
    char *hex = malloc(sealed_size * 2 + 1);
    if (!sealed || !hex) {
        free(sealed);
        free(hex);
        return NULL;
    }
    randombytes_buf(sealed, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(sealed + crypto_secretbox_NONCEBYTES, (const unsigned char *) text,
                          length, sealed, self->seal_key);
    sodium_bin2hex(hex, sealed_size * 2 + 1, sealed, sealed_size);
    free(sealed);
    return hex;
}

char *notify_unseal(notify_t *self, const char *hex)
{
    size_t hex_length = strlen(hex), size = 0;
    unsigned char *sealed = malloc(hex_length / 2 + 1);
    if (!sealed)
        return NULL;
    if (sodium_hex2bin(sealed, hex_length / 2 + 1, hex, hex_length, NULL, &size, NULL) != 0 ||
        size < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        free(sealed);
        return NULL;
    }
    size_t length = size - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    char *text = malloc(length + 1);
    if (!text || crypto_secretbox_open_easy((unsigned char *) text,
                                            sealed + crypto_secretbox_NONCEBYTES,
                                            size - crypto_secretbox_NONCEBYTES, sealed,
                                            self->seal_key) != 0) {
        free(text);
        free(sealed);
        return NULL;
    }
    text[length] = '\0';
    free(sealed);
    return text;
}

void notify_free_secret(char *text)
{
    if (!text)
        return;
    sodium_memzero(text, strlen(text));
    free(text);
}

void notify_keyed_hash_hex(notify_t *self, const void *data, size_t size, char out[65])
{
    unsigned char hash[32];
    crypto_generichash(hash, sizeof hash, data, size, self->seal_key, sizeof self->seal_key);
    sodium_bin2hex(out, 65, hash, sizeof hash);
}

int64_t notify_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void notify_page_token_encode(char *out, size_t out_size, long long id)
{
    char plain[32];
    int length = snprintf(plain, sizeof plain, "m%lld", id);
    sodium_bin2base64(out, out_size, (const unsigned char *) plain, (size_t) length,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

long long notify_page_token_decode(const char *token)
{
    if (!token || !token[0])
        return 0;
    size_t token_length = strnlen(token, 65);
    if (token_length > 64)
        return -1;
    unsigned char plain[64];
    size_t length = 0;
    if (sodium_base642bin(plain, sizeof plain - 1, token, token_length, NULL, &length, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        length < 2 || plain[0] != 'm')
        return -1;
    plain[length] = '\0';
    char *end = NULL;
    long long id = strtoll((char *) plain + 1, &end, 10);
    if (!end || *end || id <= 0)
        return -1;
    return id;
}
