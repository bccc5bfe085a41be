/*
 * certificates.c — helpers shared by nagar-certificates' handlers: who may
 * read what, validation naming the field, ids, page tokens, where
 * idempotency records live, audit rows and outbox events. The scaffolding
 * every service shares is common/service.c. See certificates.h.
 */
#include "certificates.h"

#include "service_rules.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "log.h"
#include "text.h"

bool cert_actor_is_staff_of(nagar_worker_call_t *call, const char *ulb)
{
    bool staff = nagar_actor_is(call, "CLERK") || nagar_actor_is(call, "REGISTRAR") ||
                 nagar_actor_is(call, "COMMISSIONER");
    return staff && ulb && ulb[0] && strcmp(nagar_actor_ulb(call), ulb) == 0;
}

bool cert_may_read(nagar_worker_call_t *call, const char *ulb, const char *applicant)
{
    if (nagar_actor_is(call, "STATE_ADMIN") || cert_actor_is_staff_of(call, ulb))
        return true;
    return nagar_actor_is(call, "CITIZEN") && applicant &&
           strcmp(applicant, nagar_actor_user(call)) == 0;
}

bool cert_text_valid(const char *text, size_t min, size_t max)
{
    if (!text)
        return min == 0;
    if (!nagar_text_valid(text, min, max, false))
        return false;
    /* Blank text is no text: "   " is not a name. */
    return min == 0 || strspn(text, " ") < strlen(text);
}

bool cert_check_text(nagar_outcome_t *outcome, const char *path, const char *text, size_t min,
                     size_t max, const char *what)
{
    if (cert_text_valid(text, min, max))
        return true;
    if (min > 0 && (!text || !text[0]))
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path, "%s is required",
                          what);
    else
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path,
                          "%s must be %zu to %zu printable characters", what, min, max);
    return false;
}

bool cert_check_date(nagar_outcome_t *outcome, const char *path, const char *text,
                     nagar_date_t today, bool required, nagar_date_t *date)
{
    memset(date, 0, sizeof *date);
    if (!text || !text[0]) {
        if (!required)
            return true;
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path,
                          "%s is required (YYYY-MM-DD)", path);
        return false;
    }
    char error[160];
    if (nagar_date_parse(text, date, error, sizeof error) != 0) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path, "%s: %s", path,
                          error);
        return false;
    }
    if (nagar_date_compare(*date, today) > 0) {
        char today_text[NAGAR_DATE_TEXT_MAX];
        nagar_date_format(today, today_text);
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path,
                          "%s %s is in the future (today is %s in India)", path, text, today_text);
        return false;
    }
    return true;
}

bool cert_check_mobile(nagar_outcome_t *outcome, const char *path, const char *mobile)
{
    if (!mobile || !mobile[0])
        return true;
    size_t length = strnlen(mobile, 11);
    bool ok = length == 10 && mobile[0] >= '6' && mobile[0] <= '9';
    for (size_t i = 0; ok && i < length; i++)
        ok = mobile[i] >= '0' && mobile[i] <= '9';
    if (!ok)
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, path,
                          "%s must be a 10-digit Indian mobile number starting with 6 to 9", path);
    return ok;
}

bool cert_ulb_valid(const char *ulb)
{
    return nagar_text_digits(ulb, 1, 10);
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

bool cert_list_scope(nagar_worker_call_t *call, const char *asked_ulb, const char *what,
                     const char **ulb, const char **user)
{
    *ulb = *user = NULL;
    if (asked_ulb[0] && !cert_ulb_valid(asked_ulb)) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                               "ulb must be empty or an LGD code of 1 to 10 digits");
        return false;
    }
    if (nagar_actor_is(call, "STATE_ADMIN") || nagar_actor_is(call, "CITIZEN")) {
        *ulb = asked_ulb[0] ? asked_ulb : NULL;
        if (nagar_actor_is(call, "CITIZEN"))
            *user = nagar_actor_user(call);
        return true;
    }
    const char *own = nagar_actor_ulb(call);
    if (!cert_actor_is_staff_of(call, own)) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                               "listing %s needs a citizen, ULB staff or state admin token",
                               what);
        return false;
    }
    if (asked_ulb[0] && strcmp(asked_ulb, own) != 0) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "ulb",
                               "staff of ULB %s see that ULB's %s only", own, what);
        return false;
    }
    *ulb = own;
    return true;
}

/* Tokens are base64url of "c1:<cursor>". */
static void page_token_encode(char *out, size_t out_size, const char *cursor)
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

static bool page_token_decode(const char *token, char cursor[32])
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

bool cert_page_read(cert_page_t *page, nagar_worker_call_t *call, uint32_t page_size,
                    const char *page_token)
{
    memset(page, 0, sizeof *page);
    page->size = page_size ? page_size : CERT_PAGE_DEFAULT;
    if (page->size > CERT_PAGE_MAX) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "pageSize",
                               "pageSize must be 1 to %d, not %u", CERT_PAGE_MAX, page_size);
        return false;
    }
    if (page_token[0] && !page_token_decode(page_token, page->cursor)) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "pageToken",
                               "pageToken is not one this service issued; start again "
                               "without it");
        return false;
    }
    snprintf(page->limit, sizeof page->limit, "%u", page->size + 1);
    return true;
}

const char *cert_page_after(const cert_page_t *page)
{
    return page->cursor[0] ? page->cursor : NULL;
}

int cert_page_rows(const cert_page_t *page, PGresult *result, int column, char *next,
                   size_t next_size)
{
    int rows = PQntuples(result);
    next[0] = '\0';
    if (rows <= (int) page->size)
        return rows;
    if (page->size > 0)
        page_token_encode(next, next_size, PQgetvalue(result, (int) page->size - 1, column));
    return (int) page->size;
}

/* The same statements as common/service_rules.c's (the fee rules of
 * fee_payment.c keep their records through it), so the prepared statements
 * of one connection agree; idempotency_lookup (common/sql/idempotency) takes
 * the key's advisory lock, so two first uses of a key queue. */
const nagar_idempotency_t cert_idempotency = {
    .lookup_sql = "SELECT method, request_hash, reply FROM idempotency_lookup($1, $2)",
    .store_sql = "INSERT INTO idempotency (actor, key, method, request_hash, reply) "
                 "VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'))",
};

PGresult *cert_rule(certificates_t *self, nagar_worker_call_t *call, const char *name,
                    const char *sql, int nvalues, const char *const *values,
                    nagar_outcome_t *outcome, int *rc)
{
    const char *all[8];
    char *actor = nagar_rules_actor_json(call);
    if (!actor || nvalues > 7) {
        free(actor);
        *rc = -1;
        return NULL;
    }
    all[0] = actor;
    for (int i = 0; i < nvalues; i++)
        all[i + 1] = values[i];
    PGresult *result = nagar_service_query(self->db, name, sql, nvalues + 1, all);
    free(actor);
    if (!result) {
        nagar_rules_t rules = {.db = self->db, .service = CERT_SERVICE};
        *rc = nagar_rules_outcome_from_db(&rules, outcome) ? 1 : -1;
    }
    return result;
}

int cert_audit(certificates_t *self, nagar_worker_call_t *call, const char *action,
               const char *subject, const char *ulb, json_t *detail)
{
    static const nagar_audit_t trail = {
        .service = CERT_SERVICE,
        .insert_sql = "INSERT INTO certificates.audit (actor, actor_role, action, subject, ulb, "
                      "detail, request_id, client_ip) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, "
                      "$8)",
    };
    return nagar_audit_append(&trail, self->db, call, NULL, NULL, action, subject, ulb, detail);
}

int cert_event(certificates_t *self, const char *type, const char *ulb,
               const char *application_id, const char *applicant, const char *const *params)
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
    bool citizen = applicant && strncmp(applicant, "citizen:", 8) == 0;
    recipient.user_id = (char *) (citizen ? applicant : "");
    char subject[CERT_ID_MAX + 16];
    snprintf(subject, sizeof subject, "application:%s", application_id);
    event.subject = subject;
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

void cert_report_attach(const cert_kind_t *kind, ProtobufCMessage *report,
                        Nagar__Certificates__BirthReport **birth,
                        Nagar__Certificates__DeathReport **death,
                        Nagar__Certificates__MarriageReport **marriage)
{
    if (kind->kind == NAGAR__CERTIFICATES__EVENT_KIND__BIRTH)
        *birth = (Nagar__Certificates__BirthReport *) report;
    else if (kind->kind == NAGAR__CERTIFICATES__EVENT_KIND__DEATH)
        *death = (Nagar__Certificates__DeathReport *) report;
    else
        *marriage = (Nagar__Certificates__MarriageReport *) report;
}

void cert_stored_free(PGresult *row, ProtobufCMessage *report,
                      Nagar__Certificates__FeeSettlement *fee)
{
    if (report)
        protobuf_c_message_free_unpacked(report, NULL);
    if (fee)
        protobuf_c_message_free_unpacked(&fee->base, NULL);
    PQclear(row);
}

int cert_query_one(certificates_t *self, const char *name, const char *sql, const char *id,
                   PGresult **row)
{
    const char *values[] = {id};
    *row = nagar_service_query(self->db, name, sql, 1, values);
    if (!*row)
        return -1;
    if (PQntuples(*row) != 1) {
        PQclear(*row);
        *row = NULL;
        return 1;
    }
    return 0;
}

bool cert_check_informant(nagar_outcome_t *outcome, const char *prefix,
                          const Nagar__Certificates__Informant *informant)
{
    char path[128];
    if (!informant) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
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

bool cert_check_sex(nagar_outcome_t *outcome, const char *prefix, Nagar__Certificates__Sex sex)
{
    if (sex != NAGAR__CERTIFICATES__SEX__SEX_UNSPECIFIED)
        return true;
    char path[128];
    nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                      cert_path(path, sizeof path, prefix, "sex"),
                      "sex is required: MALE, FEMALE or TRANSGENDER");
    return false;
}

bool cert_check_place(nagar_outcome_t *outcome, const char *prefix, const char *event,
                      Nagar__Certificates__PlaceKind kind, const char *name, const char *what)
{
    char path[128];
    if (kind == NAGAR__CERTIFICATES__PLACE_KIND__PLACE_KIND_UNSPECIFIED) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                          cert_path(path, sizeof path, prefix, "placeKind"),
                          "the place of %s is required: HOSPITAL, HOUSE or OTHER_PLACE", event);
        return false;
    }
    return cert_check_text(outcome, cert_path(path, sizeof path, prefix, "placeName"), name, 1,
                           200, what);
}

const char *cert_sex_text(char *out, size_t size, Nagar__Certificates__Sex sex)
{
    snprintf(out, size, "%s / %s", cert_sex_hi(sex), cert_sex_en(sex));
    return out;
}

const char *cert_place_text(char *out, size_t size, Nagar__Certificates__PlaceKind kind,
                            const char *name)
{
    snprintf(out, size, "%s: %s", cert_place_kind_text(kind), name);
    return out;
}

const char CERT_RBD_LEGAL_HI[] =
    "जन्म और मृत्यु रजिस्ट्रीकरण अधिनियम, 1969 (2023 में यथासंशोधित) की धारा 12/17 "
    "तथा मध्यप्रदेश जन्म और मृत्यु रजिस्ट्रीकरण नियम, 2024 के अंतर्गत जारी";
const char CERT_RBD_LEGAL_EN[] =
    "Issued under sections 12/17 of the Registration of Births and Deaths Act, 1969 "
    "(as amended in 2023) and the Madhya Pradesh Registration of Births and Deaths "
    "Rules, 2024";

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
