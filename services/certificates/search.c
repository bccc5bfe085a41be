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

int certificate_search(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__SearchCertificatesRequest *request =
        (const Nagar__Certificates__SearchCertificatesRequest *) message;
    const char *ulb = NULL, *applicant = NULL;
    if (request->ulb[0] && !cert_ulb_valid(request->ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be empty or an LGD code of 1 to 10 digits");
    if (nagar_actor_is(call, "STATE_ADMIN")) {
        ulb = request->ulb[0] ? request->ulb : NULL;
    } else if (nagar_actor_is(call, "CITIZEN")) {
        ulb = request->ulb[0] ? request->ulb : NULL;
        applicant = nagar_actor_user(call);
    } else if (cert_actor_is_staff_of(call, nagar_actor_ulb(call))) {
        if (request->ulb[0] && strcmp(request->ulb, nagar_actor_ulb(call)) != 0)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "ulb",
                                          "staff of ULB %s search that ULB's register only",
                                          nagar_actor_ulb(call));
        ulb = nagar_actor_ulb(call);
    } else {
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "searching certificates needs a citizen, ULB staff or "
                                      "state admin token");
    }
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
    uint32_t page_size;
    if (!cert_page_size(&outcome, request->page_size, &page_size))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    char cursor[32] = "";
    if (request->page_token[0] && !cert_page_token_decode(request->page_token, cursor))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "pageToken",
                                      "pageToken is not one this service issued; start again "
                                      "without it");
    char kind[8], limit[16];
    snprintf(kind, sizeof kind, "%d", request->kind);
    snprintf(limit, sizeof limit, "%u", page_size + 1);
    const char *values[] = {
        ulb,
        applicant,
        request->registration_number[0] ? request->registration_number : NULL,
        request->name[0] ? request->name : NULL,
        event_date_text[0] ? event_date_text : NULL,
        request->parent_name[0] ? request->parent_name : NULL,
        kind,
        request->include_superseded ? "t" : "f",
        cursor[0] ? cursor : NULL,
        limit,
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
    int rows = PQntuples(result);
    int shown = rows > (int) page_size ? (int) page_size : rows;
    Nagar__Certificates__CertificateSummary *items = calloc((size_t) shown + 1, sizeof *items);
    Nagar__Certificates__CertificateSummary **pointers =
        calloc((size_t) shown + 1, sizeof *pointers);
    if (!items || !pointers) {
        free(items);
        free(pointers);
        PQclear(result);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    for (int i = 0; i < shown; i++) {
        Nagar__Certificates__CertificateSummary *item = &items[i];
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
        pointers[i] = item;
    }
    Nagar__Certificates__SearchCertificatesReply reply =
        NAGAR__CERTIFICATES__SEARCH_CERTIFICATES_REPLY__INIT;
    reply.n_certificates = (size_t) shown;
    reply.certificates = pointers;
    char next[128] = "";
    if (rows > (int) page_size)
        cert_page_token_encode(next, sizeof next, PQgetvalue(result, shown - 1, 10));
    reply.next_page_token = next;
    int rc = nagar_worker_call_reply(call, &reply.base);
    free(items);
    free(pointers);
    PQclear(result);
    return rc;
}

int audit_list(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
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
    uint32_t page_size;
    if (!cert_check_text(&outcome, "subject", request->subject, 0, CERT_ID_MAX, "subject") ||
        !cert_page_size(&outcome, request->page_size, &page_size))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    char cursor[32] = "";
    if (request->page_token[0] && !cert_page_token_decode(request->page_token, cursor))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "pageToken",
                                      "pageToken is not one this service issued");
    char limit[16];
    snprintf(limit, sizeof limit, "%u", page_size + 1);
    const char *values[] = {request->subject[0] ? request->subject : NULL, ulb,
                            cursor[0] ? cursor : NULL, limit};
    PGresult *result = nagar_service_query(
        self->db, "audit_list",
        "SELECT id, " TIMESTAMP("at") ", actor, actor_role, action, subject, coalesce(ulb, ''), "
        "detail::text FROM certificates.audit WHERE ($1::text IS NULL OR subject = $1) "
        "AND ($2::text IS NULL OR ulb = $2) AND ($3::bigint IS NULL OR id < $3::bigint) "
        "ORDER BY id DESC LIMIT $4::int",
        4, values);
    if (!result)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    int rows = PQntuples(result);
    int shown = rows > (int) page_size ? (int) page_size : rows;
    Nagar__Certificates__AuditEntry *entries = calloc((size_t) shown + 1, sizeof *entries);
    Nagar__Certificates__AuditEntry **pointers = calloc((size_t) shown + 1, sizeof *pointers);
    if (!entries || !pointers) {
        free(entries);
        free(pointers);
        PQclear(result);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    for (int i = 0; i < shown; i++) {
        nagar__certificates__audit_entry__init(&entries[i]);
        entries[i].id = strtoll(PQgetvalue(result, i, 0), NULL, 10);
        entries[i].at = PQgetvalue(result, i, 1);
        entries[i].actor = PQgetvalue(result, i, 2);
        entries[i].actor_role = PQgetvalue(result, i, 3);
        entries[i].action = PQgetvalue(result, i, 4);
        entries[i].subject = PQgetvalue(result, i, 5);
        entries[i].ulb = PQgetvalue(result, i, 6);
        entries[i].detail = PQgetvalue(result, i, 7);
        pointers[i] = &entries[i];
    }
    Nagar__Certificates__ListAuditReply reply = NAGAR__CERTIFICATES__LIST_AUDIT_REPLY__INIT;
    reply.n_entries = (size_t) shown;
    reply.entries = pointers;
    char next[128] = "";
    if (rows > (int) page_size)
        cert_page_token_encode(next, sizeof next, PQgetvalue(result, shown - 1, 0));
    reply.next_page_token = next;
    int rc = nagar_worker_call_reply(call, &reply.base);
    free(entries);
    free(pointers);
    PQclear(result);
    return rc;
}
