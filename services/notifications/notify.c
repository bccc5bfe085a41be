/*
 * notify.c — helpers shared by nagar-notifications' handlers: staff checks,
 * validation, where idempotency records live, sealing of secret bodies and
 * page tokens. The scaffolding every service shares is common/service.c.
 * See notify.h.
 */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "text.h"

const char *notify_actor_role(nagar_worker_call_t *call)
{
    /* A role without a user is no role: only signed-in staff act as staff. */
    return nagar_actor_user(call)[0] ? nagar_actor_role(call) : "";
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

bool notify_text_valid(const char *text, size_t min, size_t max)
{
    return nagar_text_valid(text, min, max, false);
}

bool notify_body_text_valid(const char *text, size_t min, size_t max)
{
    return nagar_text_valid(text, min, max, true);
}

size_t notify_utf8_length(const char *text)
{
    return nagar_utf8_length(text);
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
    return nagar_text_digits(text, 1, 10);
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

static const char *idempotency_actor(nagar_worker_call_t *call)
{
    /* Services calling without an actor are told apart by principal. */
    const char *user = nagar_actor_user(call);
    return user[0] ? user : nagar_worker_call_caller(call);
}

/* The lookup locks the row so that racing retries of one key queue. */
const nagar_idempotency_t notify_idempotency = {
    .lookup_sql = "SELECT method, encode(request_hash, 'hex'), encode(reply, 'hex') "
                  "FROM notifications.idempotency WHERE actor = $1 AND key = $2 FOR UPDATE",
    .store_sql = "INSERT INTO notifications.idempotency (actor, key, method, request_hash, reply) "
                 "VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'))",
    .actor = idempotency_actor,
};

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

static void page_token_encode(char *out, size_t out_size, long long id)
{
    char plain[32];
    int length = snprintf(plain, sizeof plain, "m%lld", id);
    sodium_bin2base64(out, out_size, (const unsigned char *) plain, (size_t) length,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The id a page token names; 0 for "" (the first page), -1 when bad. */
static long long page_token_decode(const char *token)
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

Nagar__Notifications__Channel notify_channel_value(const char *name)
{
    return strcmp(name, "sms") == 0 ? NAGAR__NOTIFICATIONS__CHANNEL__SMS
                                    : NAGAR__NOTIFICATIONS__CHANNEL__EMAIL;
}

bool notify_page_read(notify_page_t *page, nagar_worker_call_t *call, uint32_t page_size,
                      const char *page_token, int page_default, int page_max)
{
    if (page_size > (uint32_t) page_max) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "pageSize",
                               "pageSize must be 0 (the default, %d) to %d", page_default,
                               page_max);
        return false;
    }
    long long after = page_token_decode(page_token);
    if (after < 0) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "pageToken",
                               "pageToken is not one this service issued");
        return false;
    }
    page->size = page_size ? (int) page_size : page_default;
    snprintf(page->after, sizeof page->after, "%lld", after);
    snprintf(page->limit, sizeof page->limit, "%d", page->size + 1);
    return true;
}

int notify_page_rows(const notify_page_t *page, PGresult *rows, char *next, size_t next_size)
{
    int count = PQntuples(rows);
    next[0] = '\0';
    if (count <= page->size)
        return count;
    if (page->size > 0)
        page_token_encode(next, next_size, strtoll(PQgetvalue(rows, page->size - 1, 0), NULL, 10));
    return page->size;
}

void *notify_page_list(notify_t *self, nagar_worker_call_t *call, const notify_page_t *page,
                       PGresult *rows, size_t item_size, char *next, size_t next_size,
                       int *count)
{
    if (!rows) {
        nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
        return NULL;
    }
    *count = notify_page_rows(page, rows, next, next_size);
    void *items = nagar_reply_list((size_t) *count, item_size);
    if (!items) {
        PQclear(rows);
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    return items;
}
