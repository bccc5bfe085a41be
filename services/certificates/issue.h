/*
 * issue.h — issued certificates: the append-only, signed, versioned record;
 * corrections; the PDF; verification.
 *
 * A certificate row is never changed. Each carries the signed QR payload
 * (common/certificate_seal.h) under the service's key id and is chained
 * per ULB (hash = SHA-256(previous hash || payload)), so a removed or
 * altered row shows. A correction is requested by the citizen who applied
 * or by staff of the ULB, approved by a registrar of the ULB, and issued
 * as version n+1 that names version n in `supersedes`; version n then
 * verifies as SUPERSEDED.
 */
#ifndef NAGAR_CERTIFICATES_ISSUE_H
#define NAGAR_CERTIFICATES_ISSUE_H

#include "certificates.h"

/* What a new certificate version is made of. */
typedef struct {
    const char *application_id;
    const char *ulb;
    const cert_kind_t *kind;
    const char *registration_number;
    const char *report_json;
    const char *subject_name;
    const char *event_date;
    const char *supersedes;         /* NULL for version 1 */
    const char *correction_id;      /* NULL unless issued for a correction */
    const char *correction_reason;  /* "" unless a new version */
    const char *notify_user;        /* the applicant: the outbox event's person */
} issue_request_t;

/* Inside the caller's transaction: signs and appends the certificate,
 * advances the ULB's chain, audits, queues "certificate.issued". Writes
 * the new id into certificate_id. Returns 0, 1 with outcome set, -1 on a
 * database error. */
int certificates_issue_certificate(certificates_t *self, nagar_worker_call_t *call,
                                   const issue_request_t *request,
                                   char certificate_id[CERT_ID_MAX + 1], nagar_outcome_t *outcome);

/* A certificate read from the database, as a message. */
typedef struct {
    Nagar__Certificates__Certificate message;
    ProtobufCMessage *report;
    Nagar__Certificates__FeeSettlement *fee;   /* its registration's fee settlement, or NULL */
    int64_t fee_paise;                  /* the application's fee */
    PGresult *row;
    const cert_kind_t *kind;
    const char *applicant;
    const char *registered_on;          /* dates in India Standard Time */
    const char *issued_on;
} cert_view_t;

/* 0, 1 when unknown, -1 on a database error. */
int cert_view_load(certificates_t *self, const char *certificate_id, cert_view_t *view);
void cert_view_clear(cert_view_t *view);

int certificates_certificate_get(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);
int certificates_certificate_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);
int certificates_certificate_verify(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                    void *arg);
int certificates_correction_request(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                    void *arg);
int certificates_correction_approve(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                    void *arg);
int certificates_correction_reject(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                   void *arg);
int certificates_correction_list(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);

/* Renders a loaded certificate as a PDF (malloc'd). ulb_name is the ULB's
 * name from identity (ulb.get), or "" when identity did not answer: the
 * page then names the ULB by its LGD code only. */
int certificates_issue_render_pdf(certificates_t *self, const cert_view_t *view,
                                  const char *ulb_name, uint8_t **pdf, size_t *size, char *error,
                                  size_t error_size);

/* search.c */
int certificates_certificate_search(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                    void *arg);
int certificates_audit_list(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
