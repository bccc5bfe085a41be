/*
 * search.c — finding certificates (registration number, name and date,
 * parents' names) and reading the audit trail.
 *
 * Scope is a SQL condition, never a filter after reading: ULB staff search
 * their own ULB, state admins any or all, citizens only the certificates
 * of their own applications. Pages are keyset pages on the append order,
 * newest first; name filters are case-insensitive substrings with the
 * LIKE wildcards of the input escaped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issue.h"

#define TIMESTAMP(column) \
    "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define LIKE_PATTERN(param) \
    "'%' || replace(replace(replace(" param ", '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'"

int certificates_certificate_search(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                    void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__SearchCertificatesRequest *request =
        (const Nagar__Certificates__SearchCertificatesRequest *) message;
    const char *ulb, *applicant;
    if (!cert_list_scope(call, request->ulb, "certificates", &ulb, &applicant))
        return -1;
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    nagar_date_t event_date;
    char event_date_text[NAGAR_DATE_TEXT_MAX] = "";
    if (!cert_check_text(&outcome, "registrationNumber", request->registration_number, 0, 48,
                         "registrationNumber") ||
        !cert_check_text(&outcome, "name", request->name, 0, CERT_NAME_MAX, "name") ||
        !cert_check_text(&outcome, "parentName", request->parent_name, 0, CERT_NAME_MAX,
                         "parentName"))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    if (request->event_date[0]) {
        char error[128];
        if (nagar_date_parse(request->event_date, &event_date, error, sizeof error) != 0)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                          "eventDate", "eventDate: %s", error);
        nagar_date_format(event_date, event_date_text);
    }
    cert_page_t page;
    if (!cert_page_read(&page, call, request->page_size, request->page_token))
        return -1;
    char kind[8];
    snprintf(kind, sizeof kind, "%d", request->kind);
    const char *values[] = {
        ulb,
        applicant,
        request->registration_number[0] ? request->registration_number : NULL,
        request->name[0] ? request->name : NULL,
        event_date_text[0] ? event_date_text : NULL,
        request->parent_name[0] ? request->parent_name : NULL,
        kind,
        request->include_superseded ? "t" : "f",
        cert_page_after(&page),
        page.limit,
    };
    PGresult *result = nagar_service_query(
        self->db, "cert_search",
        "SELECT c.certificate_id, c.ulb, c.kind, c.registration_number, c.version, "
        "c.subject_name, c.event_date::text, " TIMESTAMP("c.issued_at") ", "
        "EXISTS (SELECT 1 FROM certificates.certificate n WHERE n.supersedes = c.certificate_id), "
        "c.application_id, c.seq "
        "FROM certificates.certificate c JOIN certificates.application a "
        "ON a.application_id = c.application_id "
        "WHERE ($1::text IS NULL OR c.ulb = $1) AND ($2::text IS NULL OR a.applicant = $2) "
        "AND ($3::text IS NULL OR c.registration_number = $3) "
        "AND ($4::text IS NULL OR c.subject_name ILIKE " LIKE_PATTERN("$4") ") "
        "AND ($5::date IS NULL OR c.event_date = $5::date) "
        "AND ($6::text IS NULL OR a.parent_names ILIKE " LIKE_PATTERN("$6") ") "
        "AND ($7::int = 0 OR c.kind = $7::int) "
        "AND ($8::boolean OR NOT EXISTS (SELECT 1 FROM certificates.certificate n "
        "  WHERE n.supersedes = c.certificate_id)) "
        "AND ($9::bigint IS NULL OR c.seq < $9::bigint) "
        "ORDER BY c.seq DESC LIMIT $10::int",
        10, values);
    if (!result)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    char next[128];
    int shown = cert_page_rows(&page, result, 10, next, sizeof next);   /* c.seq */
    Nagar__Certificates__CertificateSummary **items =
        nagar_reply_list((size_t) shown, sizeof **items);
    for (int i = 0; items && i < shown; i++) {
        Nagar__Certificates__CertificateSummary *item = items[i];
        nagar__certificates__certificate_summary__init(item);
        item->certificate_id = PQgetvalue(result, i, 0);
        item->ulb = PQgetvalue(result, i, 1);
        item->kind = (Nagar__Certificates__EventKind) atoi(PQgetvalue(result, i, 2));
        item->registration_number = PQgetvalue(result, i, 3);
        item->version = (uint32_t) strtoul(PQgetvalue(result, i, 4), NULL, 10);
        item->subject_name = PQgetvalue(result, i, 5);
        item->event_date = PQgetvalue(result, i, 6);
        item->issued_at = PQgetvalue(result, i, 7);
        item->superseded = strcmp(PQgetvalue(result, i, 8), "t") == 0;
        item->application_id = PQgetvalue(result, i, 9);
    }
    Nagar__Certificates__SearchCertificatesReply reply =
        NAGAR__CERTIFICATES__SEARCH_CERTIFICATES_REPLY__INIT;
    return nagar_reply_page(call, &reply.base, "certificates", items, (size_t) shown, next,
                            result);
}

int certificates_audit_list(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__ListAuditRequest *request =
        (const Nagar__Certificates__ListAuditRequest *) message;
    const char *ulb = NULL;
    if (request->ulb[0] && !cert_ulb_valid(request->ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be empty or an LGD code of 1 to 10 digits");
    if (nagar_actor_is(call, "STATE_ADMIN")) {
        ulb = request->ulb[0] ? request->ulb : NULL;
    } else if ((nagar_actor_is(call, "REGISTRAR") || nagar_actor_is(call, "COMMISSIONER")) &&
               nagar_actor_ulb(call)[0]) {
        if (request->ulb[0] && strcmp(request->ulb, nagar_actor_ulb(call)) != 0)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "ulb",
                                          "the audit trail of ULB %s only",
                                          nagar_actor_ulb(call));
        ulb = nagar_actor_ulb(call);
    } else {
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "reading the audit trail needs the REGISTRAR, "
                                      "COMMISSIONER or STATE_ADMIN role");
    }
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    if (!cert_check_text(&outcome, "subject", request->subject, 0, CERT_ID_MAX, "subject"))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    cert_page_t page;
    if (!cert_page_read(&page, call, request->page_size, request->page_token))
        return -1;
    const char *values[] = {request->subject[0] ? request->subject : NULL, ulb,
                            cert_page_after(&page), page.limit};
    PGresult *result = nagar_service_query(
        self->db, "audit_list",
        "SELECT id, " TIMESTAMP("at") " AS at, actor, actor_role, action, subject, "
        "coalesce(ulb, '') AS ulb, detail::text AS detail FROM certificates.audit "
        "WHERE ($1::text IS NULL OR subject = $1) "
        "AND ($2::text IS NULL OR ulb = $2) AND ($3::bigint IS NULL OR id < $3::bigint) "
        "ORDER BY id DESC LIMIT $4::int",
        4, values);
    if (!result)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    char next[128];
    int shown = cert_page_rows(&page, result, 0, next, sizeof next);   /* id */
    Nagar__Certificates__ListAuditReply reply = NAGAR__CERTIFICATES__LIST_AUDIT_REPLY__INIT;
    return nagar_reply_rows(call, &reply.base, "entries", result, shown, next);
}
