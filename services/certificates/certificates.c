/*
 * certificates.c — helpers shared by nagar-certificates' handlers:
 * outcomes, actor checks, validation naming the field, ids, page tokens,
 * idempotency records, audit rows and outbox events. See certificates.h.
 */
#include "certificates.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "log.h"

void cert_outcome_reset(cert_outcome_t *outcome)
{
    outcome->code = NAGAR__STATUS_CODE__OK;
    outcome->field[0] = '\0';
    outcome->message[0] = '\0';
}

void cert_outcome_set(cert_outcome_t *outcome, nagar_status_code_t code, const char *field,
                      const char *format, ...)
{
    outcome->code = code;
    snprintf(outcome->field, sizeof outcome->field, "%s", field ? field : "");
    va_list args;
    va_start(args, format);
    vsnprintf(outcome->message, sizeof outcome->message, format, args);
    va_end(args);
}

int cert_fail(certificates_t *self, nagar_worker_call_t *call, int rc,
              const cert_outcome_t *outcome)
{
    if (rc == 1 && outcome && outcome->code != NAGAR__STATUS_CODE__OK)
        return nagar_worker_call_fail(call, outcome->code,
                                      outcome->field[0] ? outcome->field : NULL, "%s",
                                      outcome->message);
    const char *sqlstate = nagar_db_sqlstate(self->db);
    if (rc != -1 || !sqlstate[0]) {
        nagar_log_error("certificates.internal_error", "method '%s' ended without an outcome (%d)",
                        nagar_worker_call_method(call), rc);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "certificates could not complete '%s'; nothing was changed",
                                      nagar_worker_call_method(call));
    }
    bool connection_lost = strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57", 2) == 0;
    nagar_log_error("certificates.db_error", "method '%s' failed in the database: %s",
                    nagar_worker_call_method(call), nagar_db_error(self->db));
    if (connection_lost)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "the certificates database is unreachable; retry later");
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                  "certificates could not complete '%s' (database error %s); "
                                  "nothing was changed",
                                  nagar_worker_call_method(call), sqlstate);
}

PGresult *cert_query(certificates_t *self, const char *name, const char *sql, int nparams,
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

const char *cert_actor_user(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->user_id ? actor->user_id : "";
}

const char *cert_actor_role(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->role ? actor->role : "";
}

const char *cert_actor_ulb(nagar_worker_call_t *call)
{
    const Nagar__Actor *actor = actor_of(call);
    return actor && actor->ulb ? actor->ulb : "";
}

bool cert_actor_is(nagar_worker_call_t *call, const char *role)
{
    return cert_actor_user(call)[0] != '\0' && strcmp(cert_actor_role(call), role) == 0;
}

bool cert_actor_is_staff_of(nagar_worker_call_t *call, const char *ulb)
{
    bool staff = cert_actor_is(call, "CLERK") || cert_actor_is(call, "REGISTRAR") ||
                 cert_actor_is(call, "COMMISSIONER");
    return staff && ulb && ulb[0] && strcmp(cert_actor_ulb(call), ulb) == 0;
}

bool cert_may_read(nagar_worker_call_t *call, const char *ulb, const char *applicant)
{
    if (cert_actor_is(call, "STATE_ADMIN") || cert_actor_is_staff_of(call, ulb))
        return true;
    return cert_actor_is(call, "CITIZEN") && applicant && strcmp(applicant, cert_actor_user(call)) == 0;
}

bool cert_text_valid(const char *text, size_t min, size_t max)
{
    if (!text)
        return min == 0;
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
        if ((extra == 1 && code < 0x80) || (extra == 2 && code < 0x800) ||
            (extra == 3 && code < 0x10000) || (code >= 0xd800 && code <= 0xdfff) ||
            code > 0x10ffff || (code >= 0x80 && code < 0xa0))
            return false;
        p += extra + 1;
        if (++characters > max)
            return false;
    }
    /* Blank text is no text: "   " is not a name. */
    if (min > 0) {
        bool blank = true;
        for (p = (const unsigned char *) text; *p; p++)
            if (*p != ' ')
                blank = false;
        if (blank)
            return false;
    }
    return characters >= min;
}

bool cert_check_text(cert_outcome_t *outcome, const char *path, const char *text, size_t min,
                     size_t max, const char *what)
{
    if (cert_text_valid(text, min, max))
        return true;
    if (min > 0 && (!text || !text[0]))
        cert_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path, "%s is required",
                         what);
    else
        cert_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path,
                         "%s must be %zu to %zu printable characters", what, min, max);
    return false;
}

bool cert_check_date(cert_outcome_t *outcome, const char *path, const char *text,
                     nagar_date_t today, bool required, nagar_date_t *date)
{
    memset(date, 0, sizeof *date);
    if (!text || !text[0]) {
        if (!required)
            return true;
        cert_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path,
                         "%s is required (YYYY-MM-DD)", path);
        return false;
    }
    char error[160];
    if (nagar_date_parse(text, date, error, sizeof error) != 0) {
        cert_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path, "%s: %s", path,
                         error);
        return false;
    }
    if (nagar_date_compare(*date, today) > 0) {
        char today_text[NAGAR_DATE_TEXT_MAX];
        nagar_date_format(today, today_text);
        cert_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path,
                         "%s %s is in the future (today is %s in India)", path, text, today_text);
        return false;
    }
    return true;
}

bool cert_check_mobile(cert_outcome_t *outcome, const char *path, const char *mobile)
{
    if (!mobile || !mobile[0])
        return true;
    size_t length = strnlen(mobile, 11);
    bool ok = length == 10 && mobile[0] >= '6' && mobile[0] <= '9';
    for (size_t i = 0; ok && i < length; i++)
        ok = mobile[i] >= '0' && mobile[i] <= '9';
    if (!ok)
        cert_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path,
                         "%s must be a 10-digit Indian mobile number starting with 6 to 9", path);
    return ok;
}

bool cert_ulb_valid(const char *ulb)
{
    size_t length = ulb ? strnlen(ulb, 11) : 0;
    if (length < 1 || length > 10)
        return false;
    for (size_t i = 0; i < length; i++)
        if (ulb[i] < '0' || ulb[i] > '9')
            return false;
    return true;
}

const char *cert_path(char *out, size_t size, const char *prefix, const char *name)
{
    snprintf(out, size, "%s%s%s", prefix, prefix[0] ? "." : "", name);
    return out;
}

void cert_new_id(const char *prefix, char out[CERT_ID_MAX + 1])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";   /* Crockford */
    uint8_t random[16];
    randombytes_buf(random, sizeof random);
    int used = snprintf(out, CERT_ID_MAX + 1, "%s", prefix);
    for (int i = 0; i < 16 && used < CERT_ID_MAX; i++)
        out[used++] = alphabet[random[i] & 31];
    out[used] = '\0';
}

void cert_page_token_encode(char *out, size_t out_size, const char *cursor)
{
    char plain[48];
    int length = snprintf(plain, sizeof plain, "c1:%s", cursor);
    if (length < 0 || (size_t) length >= sizeof plain ||
        sodium_base64_encoded_len((size_t) length, sodium_base64_VARIANT_URLSAFE_NO_PADDING) >
            out_size) {
        out[0] = '\0';
        return;
    }
    sodium_bin2base64(out, out_size, (const unsigned char *) plain, (size_t) length,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool cert_page_token_decode(const char *token, char cursor[32])
{
    size_t length = strnlen(token, 65);
    if (length == 0 || length > 64)
        return false;
    unsigned char plain[64];
    size_t decoded = 0;
    if (sodium_base642bin(plain, sizeof plain - 1, token, length, NULL, &decoded, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return false;
    plain[decoded] = '\0';
    if (decoded < 4 || decoded > 3 + 18 || memcmp(plain, "c1:", 3) != 0)
        return false;
    for (size_t i = 3; i < decoded; i++)
        if (plain[i] < '0' || plain[i] > '9')
            return false;
    memcpy(cursor, plain + 3, decoded - 3 + 1);
    return true;
}

bool cert_page_size(cert_outcome_t *outcome, uint32_t requested, uint32_t *page_size)
{
    *page_size = requested ? requested : CERT_PAGE_DEFAULT;
    if (*page_size > CERT_PAGE_MAX) {
        cert_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "pageSize",
                         "pageSize must be 1 to %d, not %u", CERT_PAGE_MAX, requested);
        return false;
    }
    return true;
}

/* BLAKE2b of the method name and the serialized request. */
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

int cert_idempotency_check(certificates_t *self, nagar_worker_call_t *call,
                           const ProtobufCMessage *request, uint8_t **reply_out,
                           size_t *reply_size, cert_outcome_t *outcome)
{
    *reply_out = NULL;
    *reply_size = 0;
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !key[0])
        return 0;
    if (!cert_text_valid(key, 1, 128)) {
        cert_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "idempotencyKey",
                         "the idempotency key must be 1 to 128 printable characters");
        return 2;
    }
    char hash_hex[65];
    if (request_hash(call, request, hash_hex) != 0)
        return -1;
    const char *values[] = {cert_actor_user(call), key};
    PGresult *result = cert_query(
        self, "idem_get",
        "SELECT method, encode(request_hash, 'hex'), encode(reply, 'hex') "
        "FROM certificates.idempotency WHERE actor = $1 AND key = $2 FOR UPDATE",
        2, values);
    if (!result)
        return -1;
    int rc = 0;
    if (PQntuples(result) == 1) {
        if (strcmp(PQgetvalue(result, 0, 0), nagar_worker_call_method(call)) != 0 ||
            strcmp(PQgetvalue(result, 0, 1), hash_hex) != 0) {
            cert_outcome_set(outcome, NAGAR__STATUS_CODE__CONFLICT, "idempotencyKey",
                             "idempotency key \"%s\" was already used for a different request; "
                             "use a new key for a new request",
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

int cert_idempotency_store(certificates_t *self, nagar_worker_call_t *call,
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
    const char *values[] = {cert_actor_user(call), key, nagar_worker_call_method(call), hash_hex,
                            reply_hex};
    PGresult *result = cert_query(
        self, "idem_put",
        "INSERT INTO certificates.idempotency (actor, key, method, request_hash, reply) "
        "VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'))",
        5, values);
    free(packed);
    free(reply_hex);
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

int cert_reply_stored(nagar_worker_call_t *call, const ProtobufCMessageDescriptor *type,
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

int cert_audit(certificates_t *self, nagar_worker_call_t *call, const char *action,
               const char *subject, const char *ulb, json_t *detail)
{
    const Nagar__RequestContext *context = nagar_worker_call_context(call);
    char *detail_text = json_dumps(detail ? detail : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(detail);
    if (!detail_text)
        return -1;
    const char *values[] = {
        cert_actor_user(call),
        cert_actor_role(call),
        action,
        subject,
        ulb && ulb[0] ? ulb : NULL,
        detail_text,
        context->request_id ? context->request_id : "",
        context->client_ip ? context->client_ip : "",
    };
    PGresult *result = cert_query(
        self, "audit_append",
        "INSERT INTO certificates.audit (actor, actor_role, action, subject, ulb, detail, "
        "request_id, client_ip) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
        8, values);
    free(detail_text);
    if (!result)
        return -1;
    PQclear(result);
    nagar_log_info("certificates.audit", "%s by %s on %s", action, values[0], subject);
    return 0;
}

int cert_event(certificates_t *self, const char *type, const char *ulb, const char *user_id,
               const char *mobile, const char *const *params)
{
    Nagar__Notifications__Event event = NAGAR__NOTIFICATIONS__EVENT__INIT;
    Nagar__Notifications__Recipient recipient = NAGAR__NOTIFICATIONS__RECIPIENT__INIT;
    Nagar__Notifications__Param param_values[8];
    Nagar__Notifications__Param *param_pointers[8];
    size_t count = 0;
    for (size_t i = 0; params && params[i] && params[i + 1] && count < 8; i += 2) {
        nagar__notifications__param__init(&param_values[count]);
        param_values[count].name = (char *) params[i];
        param_values[count].value = (char *) params[i + 1];
        param_pointers[count] = &param_values[count];
        count++;
    }
    recipient.user_id = (char *) (user_id ? user_id : "");
    recipient.mobile = (char *) (mobile ? mobile : "");
    event.type = (char *) type;
    event.ulb = (char *) ulb;
    event.occurred_at_ms = nagar_bus_now_ms();
    event.recipient = &recipient;
    event.n_params = count;
    event.params = param_pointers;
    /* Registration outcomes matter to the family: not subject to opt-out. */
    event.essential = true;
    return nagar_outbox_add(self->db, CERT_SERVICE, &event);
}

/* ---- kinds and reports ------------------------------------------------------ */

const cert_kind_t *cert_kind(int kind)
{
    switch (kind) {
    case NAGAR__CERTIFICATES__EVENT_KIND__BIRTH:
        return &CERT_KIND_BIRTH;
    case NAGAR__CERTIFICATES__EVENT_KIND__DEATH:
        return &CERT_KIND_DEATH;
    case NAGAR__CERTIFICATES__EVENT_KIND__MARRIAGE:
        return &CERT_KIND_MARRIAGE;
    default:
        return NULL;
    }
}

ProtobufCMessage *cert_report_from_json(const cert_kind_t *kind, const char *json)
{
    nagar_json_error_t error;
    ProtobufCMessage *message =
        nagar_json_decode(kind->report_type, json, strlen(json), NULL, &error);
    if (!message)
        nagar_log_error("certificates.report_unreadable",
                        "a stored %s report does not decode (%s: %s)", kind->name, error.path,
                        error.message);
    return message;
}

char *cert_report_to_json(const ProtobufCMessage *report)
{
    return nagar_json_encode(report);
}

bool cert_check_informant(cert_outcome_t *outcome, const char *prefix,
                          const Nagar__Certificates__Informant *informant)
{
    char path[128];
    if (!informant) {
        cert_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                         cert_path(path, sizeof path, prefix, "informant"),
                         "the informant (who reports the event, RBD Act sections 8 and 9) is "
                         "required");
        return false;
    }
    return cert_check_text(outcome, cert_path(path, sizeof path, prefix, "informant.name"),
                           informant->name, 1, CERT_NAME_MAX, "the informant's name") &&
           cert_check_text(outcome, cert_path(path, sizeof path, prefix, "informant.relation"),
                           informant->relation, 1, 60,
                           "the informant's relation to the event") &&
           cert_check_text(outcome, cert_path(path, sizeof path, prefix, "informant.address"),
                           informant->address, 1, CERT_ADDRESS_MAX, "the informant's address") &&
           cert_check_mobile(outcome, cert_path(path, sizeof path, prefix, "informant.mobile"),
                             informant->mobile);
}

const char *cert_sex_hi(Nagar__Certificates__Sex sex)
{
    switch (sex) {
    case NAGAR__CERTIFICATES__SEX__MALE:
        return "पुरुष";
    case NAGAR__CERTIFICATES__SEX__FEMALE:
        return "स्त्री";
    case NAGAR__CERTIFICATES__SEX__TRANSGENDER:
        return "उभयलिंगी";
    default:
        return "";
    }
}

const char *cert_sex_en(Nagar__Certificates__Sex sex)
{
    switch (sex) {
    case NAGAR__CERTIFICATES__SEX__MALE:
        return "Male";
    case NAGAR__CERTIFICATES__SEX__FEMALE:
        return "Female";
    case NAGAR__CERTIFICATES__SEX__TRANSGENDER:
        return "Transgender";
    default:
        return "";
    }
}

const char *cert_place_kind_text(Nagar__Certificates__PlaceKind kind)
{
    switch (kind) {
    case NAGAR__CERTIFICATES__PLACE_KIND__HOSPITAL:
        return "अस्पताल / Hospital";
    case NAGAR__CERTIFICATES__PLACE_KIND__HOUSE:
        return "घर / House";
    case NAGAR__CERTIFICATES__PLACE_KIND__OTHER_PLACE:
        return "अन्य / Other";
    default:
        return "";
    }
}
