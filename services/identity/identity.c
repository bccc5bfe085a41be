/*
 * identity.c — helpers shared by nagar-identity's handlers: validation of
 * input text, opaque page tokens and where idempotency records live. The
 * scaffolding every service shares is common/service.c. See identity.h.
 */
#include "identity.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "text.h"

bool identity_mobile_valid(const char *text)
{
    return nagar_text_digits(text, 10, 10) && text[0] >= '6';
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
    return nagar_text_valid(text, min, max, false);
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

int identity_page_read(identity_page_t *page, nagar_worker_call_t *call, uint32_t page_size,
                       const char *page_token, uint32_t page_default, uint32_t page_max,
                       int count, bool (*key_ok)(const char *key))
{
    memset(page, 0, sizeof *page);
    page->size = page_size ? page_size : page_default;
    if (page->size > page_max)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "pageSize",
                                      "pageSize must be 1 to %" PRIu32 ", not %" PRIu32, page_max,
                                      page_size);
    snprintf(page->limit, sizeof page->limit, "%" PRIu32, page->size + 1);
    if (!page_token[0])
        return 0;
    if (count < 1 || count > 3 || identity_page_token_decode(page_token, page->parts, count) != count ||
        !key_ok(page->parts[count - 1]))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "pageToken",
                                      "pageToken is not one this service issued; start again "
                                      "without it");
    page->after = true;
    return 0;
}

int identity_page_end(const PGresult *result, const identity_page_t *page, const int *columns,
                      int count, char *next, size_t next_size)
{
    int rows = PQntuples(result);
    next[0] = '\0';
    if (rows <= (int) page->size)
        return rows;
    const char *parts[3];
    for (int i = 0; i < count && i < 3; i++)
        parts[i] = PQgetvalue(result, (int) page->size - 1, columns[i]);
    identity_page_token_encode(next, next_size, parts, count < 3 ? count : 3);
    return (int) page->size;
}

/* The lookup locks the row so that racing retries of one key queue. */
const nagar_idempotency_t identity_idempotency = {
    .lookup_sql = "SELECT method, encode(request_hash, 'hex'), encode(reply, 'hex') "
                  "FROM identity.idempotency WHERE actor = $1 AND key = $2 FOR UPDATE",
    .store_sql = "INSERT INTO identity.idempotency (actor, key, method, request_hash, reply) "
                 "VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'))",
};

/* The ids as one JSON array text (malloc'd; NULL when out of memory). */
static char *ids_json(char *const *ids, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; array && i < count; i++)
        if (json_array_append_new(array, json_string(ids[i])) != 0) {
            json_decref(array);
            array = NULL;
        }
    char *text = array ? json_dumps(array, JSON_COMPACT) : NULL;
    json_decref(array);
    return text;
}

int identity_lookup_by_ids(identity_t *self, nagar_worker_call_t *call, const char *name,
                           const char *sql, char *const *ids, size_t count,
                           PGresult **result_out, const char ***values_out)
{
    *result_out = NULL;
    *values_out = NULL;
    char *ids_text = ids_json(ids, count);
    const char **found = calloc(count ? count : 1, sizeof *found);
    if (!ids_text || !found) {
        free(ids_text);
        free(found);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    const char *values[] = {ids_text};
    PGresult *result = nagar_service_query(self->db, name, sql, 1, values);
    free(ids_text);
    if (!result) {
        free(found);
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    }
    for (size_t i = 0; i < count; i++)
        for (int row = 0; row < PQntuples(result) && !found[i]; row++)
            if (strcmp(PQgetvalue(result, row, 0), ids[i]) == 0)
                found[i] = PQgetvalue(result, row, 1);
    *result_out = result;
    *values_out = found;
    return 0;
}

bool identity_staff_user_id_valid(const char *user_id)
{
    return strncmp(user_id, "staff:", 6) == 0 && identity_text_valid(user_id, 7, 64);
}

int identity_username_check(nagar_worker_call_t *call, const char *username)
{
    if (identity_username_valid(username))
        return 0;
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "username",
                                  "username must be 3 to 64 of a-z, 0-9, '.', '_' and '-'");
}
