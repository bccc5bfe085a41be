/*
 * issue.c — issued certificates (see issue.h): signing and appending a
 * version, reading one, its PDF, public verification, and corrections.
 *
 * The QR payload is made before the row is inserted and stored with it, so
 * a reprint years later carries exactly the payload that was signed on the
 * day of issue, under the key id of that day. The ULB's chain head is
 * locked while a version is appended, which also orders concurrent issues
 * within a ULB.
 */
#include "issue.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "application_view.h"
#include "fee_payment.h"
#include "identity_lookup.h"
#include "json_codec.h"
#include "log.h"

#define TIMESTAMP(column) \
    "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define SEAL_NAME_BYTES 120     /* the subject's name in the QR code, shortened */

static const char CERT_COLUMNS[] =
    "c.certificate_id, c.application_id, c.ulb, c.kind, c.registration_number, c.version, "
    "coalesce(c.supersedes, ''), coalesce((SELECT n.certificate_id FROM certificates.certificate n "
    "WHERE n.supersedes = c.certificate_id), ''), c.subject_name, c.event_date::text, "
    TIMESTAMP("c.issued_at") ", c.issued_by, c.key_id, c.qr_payload, c.report::text, "
    "c.correction_reason, a.applicant, "
    "coalesce(to_char(a.registered_at AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD'), ''), c.seq, "
    "to_char(c.issued_at AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD'), a.fee_paise, "
    FEE_SETTLEMENT_COLUMN("a");

enum {
    C_ID, C_APPLICATION, C_ULB, C_KIND, C_NUMBER, C_VERSION, C_SUPERSEDES, C_SUPERSEDED_BY,
    C_SUBJECT, C_EVENT_DATE, C_ISSUED_AT, C_ISSUED_BY, C_KEY_ID, C_PAYLOAD, C_REPORT,
    C_CORRECTION_REASON, C_APPLICANT, C_REGISTERED_ON, C_SEQ, C_ISSUED_ON, C_FEE_PAISE,
    C_FEE_SETTLEMENT,
};

int cert_view_load(certificates_t *self, const char *certificate_id, cert_view_t *view)
{
    memset(view, 0, sizeof *view);
    char sql[2400];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM certificates.certificate c JOIN certificates.application a "
             "ON a.application_id = c.application_id WHERE c.certificate_id = $1",
             CERT_COLUMNS);
    int found = cert_query_one(self, "cert_get", sql, certificate_id, &view->row);
    if (found != 0)
        return found;
    PGresult *r = view->row;
    view->kind = cert_kind(atoi(PQgetvalue(r, 0, C_KIND)));
    view->report = view->kind ? cert_report_from_json(view->kind, PQgetvalue(r, 0, C_REPORT))
                              : NULL;
    if (!view->report ||
        certificates_fee_settlement_decode(PQgetvalue(r, 0, C_FEE_SETTLEMENT), &view->fee) != 0) {
        cert_view_clear(view);
        return -1;
    }
    view->fee_paise = strtoll(PQgetvalue(r, 0, C_FEE_PAISE), NULL, 10);
    Nagar__Certificates__Certificate *m = &view->message;
    nagar__certificates__certificate__init(m);
    m->certificate_id = PQgetvalue(r, 0, C_ID);
    m->application_id = PQgetvalue(r, 0, C_APPLICATION);
    m->ulb = PQgetvalue(r, 0, C_ULB);
    m->kind = view->kind->kind;
    m->registration_number = PQgetvalue(r, 0, C_NUMBER);
    m->version = (uint32_t) strtoul(PQgetvalue(r, 0, C_VERSION), NULL, 10);
    m->supersedes = PQgetvalue(r, 0, C_SUPERSEDES);
    m->superseded_by = PQgetvalue(r, 0, C_SUPERSEDED_BY);
    m->subject_name = PQgetvalue(r, 0, C_SUBJECT);
    m->event_date = PQgetvalue(r, 0, C_EVENT_DATE);
    m->issued_at = PQgetvalue(r, 0, C_ISSUED_AT);
    m->issued_by = PQgetvalue(r, 0, C_ISSUED_BY);
    m->key_id = PQgetvalue(r, 0, C_KEY_ID);
    m->qr_payload = PQgetvalue(r, 0, C_PAYLOAD);
    m->correction_reason = PQgetvalue(r, 0, C_CORRECTION_REASON);
    cert_report_attach(view->kind, view->report, &m->birth, &m->death, &m->marriage);
    view->applicant = PQgetvalue(r, 0, C_APPLICANT);
    view->registered_on = PQgetvalue(r, 0, C_REGISTERED_ON);
    view->issued_on = PQgetvalue(r, 0, C_ISSUED_ON);
    m->fee_status = certificates_fee_status_of(view->fee_paise, view->fee);
    m->fee_settlement = view->fee;
    return 0;
}

void cert_view_clear(cert_view_t *view)
{
    cert_stored_free(view->row, view->report, view->fee);
    memset(view, 0, sizeof *view);
}

/* Copies text into out (size bytes) cut at a character boundary. */
static void copy_utf8_prefix(char *out, size_t size, const char *text)
{
    size_t length = strlen(text);
    if (length >= size) {
        length = size - 1;
        while (length > 0 && ((unsigned char) text[length] & 0xc0) == 0x80)
            length--;
    }
    memcpy(out, text, length);
    out[length] = '\0';
}

int certificates_issue_certificate(certificates_t *self, nagar_worker_call_t *call,
                                   const issue_request_t *request,
                                   char certificate_id[CERT_ID_MAX + 1], nagar_outcome_t *outcome)
{
    certificate_id[0] = '\0';
    uint32_t version = 1;
    if (request->supersedes) {
        const char *values[] = {request->supersedes};
        PGresult *result = nagar_service_query(
            self->db, "cert_version",
            "SELECT c.version, EXISTS (SELECT 1 FROM certificates.certificate n "
            "WHERE n.supersedes = c.certificate_id) FROM certificates.certificate c "
            "WHERE c.certificate_id = $1",
            1, values);
        if (!result)
            return -1;
        bool current = PQntuples(result) == 1 && strcmp(PQgetvalue(result, 0, 1), "f") == 0;
        if (current)
            version = (uint32_t) strtoul(PQgetvalue(result, 0, 0), NULL, 10) + 1;
        PQclear(result);
        if (!current) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "certificateId",
                              "certificate %s is not the current version; correct the current "
                              "one",
                              request->supersedes);
            return 1;
        }
    }
    char id[CERT_ID_MAX + 1];
    cert_new_id("C", id);
    nagar_seal_t seal;
    memset(&seal, 0, sizeof seal);
    snprintf(seal.certificate_id, sizeof seal.certificate_id, "%s", id);
    seal.kind = request->kind->kind;
    snprintf(seal.ulb, sizeof seal.ulb, "%s", request->ulb);
    snprintf(seal.registration_number, sizeof seal.registration_number, "%s",
             request->registration_number);
    seal.version = version;
    copy_utf8_prefix(seal.subject_name, SEAL_NAME_BYTES + 1, request->subject_name);
    snprintf(seal.event_date, sizeof seal.event_date, "%s", request->event_date);
    nagar_date_format(nagar_date_today_ist(), seal.issued_on);
    char *payload = nagar_sealer_seal(self->sealer, &seal);
    if (!payload) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "the certificate's QR payload could not be signed");
        return 1;
    }

    /* The rule function checks the registration and the version, chains it
     * (hash = SHA-256(the ULB's head hash || payload)) and records it. */
    char version_text[16];
    snprintf(version_text, sizeof version_text, "%u", version);
    json_t *cert = json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                             "certificateId", id, "applicationId", request->application_id,
                             "ulb", request->ulb, "kind", request->kind->kind,
                             "registrationNumber", request->registration_number, "version",
                             (int) version, "supersedes",
                             request->supersedes ? request->supersedes : "", "subjectName",
                             request->subject_name, "eventDate", request->event_date, "report",
                             request->report_json, "keyId", nagar_sealer_key_id(self->sealer),
                             "qrPayload", payload, "correctionId",
                             request->correction_id ? request->correction_id : "");
    free(payload);
    if (cert && json_object_set_new(cert, "correctionReason",
                                    json_string(request->correction_reason)) != 0) {
        json_decref(cert);
        cert = NULL;
    }
    char *cert_json = cert ? json_dumps(cert, JSON_COMPACT) : NULL;
    json_decref(cert);
    if (!cert_json)
        return -1;
    int rc = 0;
    const char *values[] = {cert_json};
    PGresult *result = cert_rule(self, call, "cert_issue",
                                 "SELECT cert_certificate_issue($1::jsonb, $2::jsonb)", 1, values,
                                 outcome, &rc);
    free(cert_json);
    if (!result)
        return rc;
    char hash_text[65];
    snprintf(hash_text, sizeof hash_text, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    json_t *detail = json_pack("{s:s, s:s, s:i, s:s?, s:s, s:s}", "applicationId",
                               request->application_id, "registrationNumber",
                               request->registration_number, "version", (int) version,
                               "supersedes", request->supersedes, "keyId",
                               nagar_sealer_key_id(self->sealer), "hash", hash_text);
    if (cert_audit(self, call, "certificate.issued", id, request->ulb, detail) != 0)
        return -1;
    const char *params[] = {"certificate_id", id, "registration_number",
                            request->registration_number, "kind", request->kind->name,
                            "version", version_text, "name", request->subject_name,
                            "certificate_no", request->registration_number, NULL};
    if (cert_event(self, "certificate.issued", request->ulb, request->application_id,
                   request->notify_user, params) != 0)
        return -1;
    snprintf(certificate_id, CERT_ID_MAX + 1, "%s", id);
    return 0;
}

/* ---- read, PDF ----------------------------------------------------------- */

/* Loads a certificate the actor may read, or answers the call. Returns 0
 * when loaded, -1 when the call was answered. */
static int load_readable(certificates_t *self, nagar_worker_call_t *call,
                         const char *certificate_id, cert_view_t *view)
{
    if (!cert_text_valid(certificate_id, 1, CERT_ID_MAX))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "certificateId", "certificateId is required");
    int rc = cert_view_load(self, certificate_id, view);
    if (rc < 0)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    if (rc == 1)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "certificateId",
                                      "no certificate has id %s", certificate_id);
    if (!cert_may_read(call, view->message.ulb, view->applicant)) {
        /* Not theirs to see: the same answer as no certificate at all
         * (issue 12), so an id reveals neither its ULB nor that it exists. */
        cert_view_clear(view);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "certificateId",
                                      "no certificate has id %s", certificate_id);
    }
    return 0;
}

int certificates_certificate_get(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                 void *arg)
{
    const Nagar__Certificates__GetCertificateRequest *request =
        (const Nagar__Certificates__GetCertificateRequest *) message;
    cert_view_t view;
    if (load_readable(arg, call, request->certificate_id, &view) != 0)
        return -1;
    int rc = nagar_worker_call_reply(call, &view.message.base);
    cert_view_clear(&view);
    return rc;
}

int certificates_issue_render_pdf(certificates_t *self, const cert_view_t *view,
                                  const char *ulb_name, uint8_t **pdf, size_t *size, char *error,
                                  size_t error_size)
{
    const Nagar__Certificates__Certificate *m = &view->message;
    nagar_document_t *document = nagar_document_new();
    if (!document) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    char text[NAGAR_DOCUMENT_TEXT_MAX];   /* never cut: every part is bounded well below */
    snprintf(text, sizeof text, "%s %s", view->kind->title_en, m->registration_number);
    nagar_document_set_title_metadata(document, text);
    nagar_document_add_title(document, view->kind->title_hi);
    nagar_document_add_title(document, view->kind->title_en);
    if (ulb_name[0])
        snprintf(text, sizeof text, "रजिस्ट्रार, %s (एलजीडी कोड %s) / Registrar, %s (LGD code %s)",
                 ulb_name, m->ulb, ulb_name, m->ulb);
    else
        snprintf(text, sizeof text,
                 "रजिस्ट्रार, नगरीय निकाय (एलजीडी कोड %s) / Registrar, urban local body (LGD code %s)",
                 m->ulb, m->ulb);
    nagar_document_add_title(document, text);
    nagar_document_add_field(document, "पंजीकरण संख्या", "Registration number",
                             m->registration_number);
    nagar_document_add_field(document, "पंजीकरण तिथि", "Date of registration",
                             view->registered_on);
    view->kind->render(document, view->report);
    nagar_document_add_field(document, "प्रमाण-पत्र संख्या", "Certificate number",
                             m->certificate_id);
    if (m->supersedes[0])
        snprintf(text, sizeof text, "%u — %s %s (%s)", m->version,
                 "supersedes / पूर्व प्रमाण-पत्र", m->supersedes, m->correction_reason);
    else
        snprintf(text, sizeof text, "%u", m->version);
    nagar_document_add_field(document, "संस्करण", "Version", text);
    nagar_document_add_field(document, "जारी करने की तिथि", "Date of issue", view->issued_on);
    /* The fee of the registration: paid (its receipt) or waived (why). */
    certificates_fee_settlement_describe(view->fee_paise, view->fee, text, sizeof text);
    nagar_document_add_field(document, "शुल्क", "Fee", text);
    nagar_document_add_footer(document, view->kind->legal_hi);
    nagar_document_add_footer(document, view->kind->legal_en);
    snprintf(text, sizeof text,
             "यह प्रमाण-पत्र डिजिटल रूप से हस्ताक्षरित है (कुंजी %s)। क्यूआर कोड को राज्य की "
             "सार्वजनिक कुंजी से ऑफ़लाइन सत्यापित करें।",
             m->key_id);
    nagar_document_add_footer(document, text);
    snprintf(text, sizeof text,
             "Digitally signed (key %s); no signature in ink is needed. Verify the QR code "
             "offline with the state's public key, or online at %s",
             m->key_id, self->verify_url);
    nagar_document_add_footer(document, text);
    nagar_document_set_qr(document, m->qr_payload, "सत्यापन हेतु स्कैन करें / Scan to verify");
    int rc = nagar_document_render_pdf(document, pdf, size, error, error_size);
    nagar_document_destroy(&document);
    return rc;
}

int certificates_certificate_pdf(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                 void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__GetCertificateRequest *request =
        (const Nagar__Certificates__GetCertificateRequest *) message;
    cert_view_t view;
    if (load_readable(self, call, request->certificate_id, &view) != 0)
        return -1;
    /* The ULB's name, asked after the read with a short deadline: a
     * certificate still prints (with the LGD code) while identity is down. */
    char ulb_name[NAGAR_IDENTITY_NAME_MAX];
    nagar_identity_ulb_name(self->bus, call, view.message.ulb, ulb_name);
    uint8_t *pdf = NULL;
    size_t size = 0;
    char error[512];
    if (certificates_issue_render_pdf(self, &view, ulb_name, &pdf, &size, error, sizeof error) !=
        0) {
        nagar_log_error("certificates.pdf_failed", "rendering certificate %s failed: %s",
                        request->certificate_id, error);
        cert_view_clear(&view);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "the certificate's PDF could not be rendered");
    }
    char file_name[96];
    snprintf(file_name, sizeof file_name, "%s-certificate-%s-v%u.pdf", view.kind->name,
             view.message.certificate_id, view.message.version);
    Nagar__Certificates__CertificatePdf reply = NAGAR__CERTIFICATES__CERTIFICATE_PDF__INIT;
    reply.certificate_id = view.message.certificate_id;
    reply.file_name = file_name;
    reply.content_type = "application/pdf";
    reply.pdf.data = pdf;
    reply.pdf.len = size;
    int rc = nagar_worker_call_reply(call, &reply.base);
    free(pdf);
    cert_view_clear(&view);
    return rc;
}

/* ---- verification (public) ------------------------------------------------- */

int certificates_certificate_verify(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                    void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__VerifyCertificateRequest *request =
        (const Nagar__Certificates__VerifyCertificateRequest *) message;
    Nagar__Certificates__VerifyCertificateReply reply =
        NAGAR__CERTIFICATES__VERIFY_CERTIFICATE_REPLY__INIT;
    reply.status = NAGAR__CERTIFICATES__VERIFY_STATUS__UNKNOWN;
    if (!request->payload[0] && !request->certificate_id[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "payload",
                                      "give the QR code's payload or the certificate number");
    if (strlen(request->payload) > NAGAR_SEAL_TEXT_MAX)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "payload",
                                      "payload is longer than any certificate's QR code");
    if (!cert_text_valid(request->certificate_id, 0, CERT_ID_MAX))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "certificateId", "certificateId is at most %d characters",
                                      CERT_ID_MAX);
    char certificate_id[CERT_ID_MAX + 1];
    snprintf(certificate_id, sizeof certificate_id, "%s", request->certificate_id);
    nagar_seal_t seal;
    memset(&seal, 0, sizeof seal);
    if (request->payload[0]) {
        char key_id[NAGAR_SEAL_KEY_ID_MAX + 1] = "";
        nagar_seal_result_t result = NAGAR_SEAL_MALFORMED;
        if (nagar_seal_key_id_of(request->payload, key_id) == 0) {
            result = NAGAR_SEAL_UNKNOWN_KEY;
            for (int i = 0; i < self->key_count; i++)
                if (strcmp(self->keys[i].key_id, key_id) == 0)
                    result = nagar_seal_verify(request->payload, key_id, self->keys[i].public_key,
                                               &seal);
        }
        if (result != NAGAR_SEAL_OK) {
            reply.reason = (char *) nagar_seal_result_text(result);
            return nagar_worker_call_reply(call, &reply.base);
        }
        if (certificate_id[0] && strcmp(certificate_id, seal.certificate_id) != 0) {
            reply.reason = "the payload is of another certificate than the number given";
            return nagar_worker_call_reply(call, &reply.base);
        }
        snprintf(certificate_id, sizeof certificate_id, "%s", seal.certificate_id);
    }
    cert_view_t view;
    int rc = cert_view_load(self, certificate_id, &view);
    if (rc < 0)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    if (rc == 1) {
        reply.reason = "no certificate with this number is in the register";
        return nagar_worker_call_reply(call, &reply.base);
    }
    /* A genuine payload must describe the registered row exactly. */
    if (request->payload[0] && (strcmp(view.message.registration_number,
                                       seal.registration_number) != 0 ||
                                view.message.version != seal.version ||
                                strcmp(view.message.ulb, seal.ulb) != 0)) {
        cert_view_clear(&view);
        reply.reason = "the payload does not match the register";
        return nagar_worker_call_reply(call, &reply.base);
    }
    reply.status = view.message.superseded_by[0] ? NAGAR__CERTIFICATES__VERIFY_STATUS__SUPERSEDED
                                                 : NAGAR__CERTIFICATES__VERIFY_STATUS__VALID;
    reply.certificate_id = view.message.certificate_id;
    reply.kind = view.message.kind;
    reply.ulb = view.message.ulb;
    reply.registration_number = view.message.registration_number;
    reply.version = view.message.version;
    reply.event_date = view.message.event_date;
    reply.issued_on = (char *) view.issued_on;
    reply.superseded_by = view.message.superseded_by;
    rc = nagar_worker_call_reply(call, &reply.base);
    cert_view_clear(&view);
    return rc;
}

/* ---- corrections ----------------------------------------------------------- */

static const char CORRECTION_COLUMNS[] =
    "r.correction_id, r.certificate_id, r.ulb, r.state, r.reason, r.requested_by, "
    TIMESTAMP("r.requested_at") ", coalesce(r.decided_by, ''), "
    "coalesce(" TIMESTAMP("r.decided_at") ", ''), r.decision_note, "
    "coalesce(r.new_certificate_id, ''), r.report::text, r.kind, r.seq";
#define CORRECTION_SEQ_COLUMN 13   /* r.seq: the cursor of a page of corrections */

typedef struct {
    Nagar__Certificates__Correction message;
    ProtobufCMessage *report;
    PGresult *row;
    const cert_kind_t *kind;
} correction_view_t;

static void correction_view_clear(correction_view_t *view)
{
    cert_stored_free(view->row, view->report, NULL);
    memset(view, 0, sizeof *view);
}

static int correction_fill(correction_view_t *view, PGresult *r, int row)
{
    view->kind = cert_kind(atoi(PQgetvalue(r, row, 12)));
    view->report = view->kind ? cert_report_from_json(view->kind, PQgetvalue(r, row, 11)) : NULL;
    if (!view->report)
        return -1;
    Nagar__Certificates__Correction *m = &view->message;
    nagar__certificates__correction__init(m);
    m->correction_id = PQgetvalue(r, row, 0);
    m->certificate_id = PQgetvalue(r, row, 1);
    m->ulb = PQgetvalue(r, row, 2);
    m->state = (Nagar__Certificates__CorrectionState) atoi(PQgetvalue(r, row, 3));
    m->reason = PQgetvalue(r, row, 4);
    m->requested_by = PQgetvalue(r, row, 5);
    m->requested_at = PQgetvalue(r, row, 6);
    m->decided_by = PQgetvalue(r, row, 7);
    m->decided_at = PQgetvalue(r, row, 8);
    m->decision_note = PQgetvalue(r, row, 9);
    m->new_certificate_id = PQgetvalue(r, row, 10);
    cert_report_attach(view->kind, view->report, &m->birth, &m->death, &m->marriage);
    return 0;
}

static int correction_load(certificates_t *self, const char *correction_id, bool lock,
                           correction_view_t *view)
{
    memset(view, 0, sizeof *view);
    char sql[1024];
    /* The app role cannot lock rows (it may not UPDATE them): the rule
     * function that changes the correction locks it and checks again. */
    (void) lock;
    snprintf(sql, sizeof sql, "SELECT %s FROM certificates.correction r WHERE r.correction_id = $1",
             CORRECTION_COLUMNS);
    int found = cert_query_one(self, "correction_get", sql, correction_id, &view->row);
    if (found != 0)
        return found;
    if (correction_fill(view, view->row, 0) != 0) {
        correction_view_clear(view);
        return -1;
    }
    return 0;
}

typedef struct {
    nagar_keyed_work_t base;          /* first: the key, the outcome */
    certificates_t *self;
    const char *certificate_id;       /* request */
    const char *correction_id;        /* approve / decline */
    const char *reason;
    const char *note;
    const char *report_json;
    bool approve;
    correction_view_t view;
    char new_certificate_id[CERT_ID_MAX + 1];
} correction_work_t;

/* Starts an attempt of a correction's transaction: forgets the last
 * attempt, then checks the key (nagar_keyed_work_begin). */
static bool correction_work_begin(correction_work_t *work, int *rc)
{
    correction_view_clear(&work->view);
    work->new_certificate_id[0] = '\0';
    return nagar_keyed_work_begin(&work->base, rc);
}

static int request_work(nagar_db_t *db, void *arg)
{
    (void) db;
    correction_work_t *work = arg;
    certificates_t *self = work->self;
    int begun;
    if (!correction_work_begin(work, &begun))
        return begun;
    cert_view_t certificate;
    int loaded = cert_view_load(self, work->certificate_id, &certificate);
    if (loaded < 0)
        return -1;
    if (loaded == 1) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__NOT_FOUND, "certificateId",
                          "no certificate has id %s", work->certificate_id);
        return 1;
    }
    /* The citizen who applied, or clerks and registrars of the ULB. */
    bool allowed =
        (nagar_actor_is(work->base.call, "CITIZEN") &&
         strcmp(certificate.applicant, nagar_actor_user(work->base.call)) == 0) ||
        ((nagar_actor_is(work->base.call, "CLERK") || nagar_actor_is(work->base.call, "REGISTRAR")) &&
         strcmp(nagar_actor_ulb(work->base.call), certificate.message.ulb) == 0);
    int rc = 0;
    if (!cert_may_read(work->base.call, certificate.message.ulb, certificate.applicant)) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__NOT_FOUND, "certificateId",
                          "no certificate has id %s", work->certificate_id);
        rc = 1;
    } else if (!allowed) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__PERMISSION_DENIED, "certificateId",
                          "a correction is requested by the certificate's applicant or by a "
                          "clerk or registrar of its ULB");
        rc = 1;
    } else if (certificate.message.superseded_by[0]) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "certificateId",
                          "certificate %s was superseded by %s; correct the current version",
                          work->certificate_id, certificate.message.superseded_by);
        rc = 1;
    }
    if (rc != 0) {
        cert_view_clear(&certificate);
        return rc;
    }
    char id[CERT_ID_MAX + 1];
    cert_new_id("R", id);
    char ulb[16];
    snprintf(ulb, sizeof ulb, "%s", certificate.message.ulb);
    cert_view_clear(&certificate);
    int rc_rule = 0;
    const char *values[] = {id, work->certificate_id, work->reason, work->report_json};
    PGresult *result = cert_rule(self, work->base.call, "correction_request",
                                 "SELECT cert_correction_request($1::jsonb, $2, $3, $4, $5::jsonb)",
                                 4, values, &work->base.outcome, &rc_rule);
    if (!result)
        return rc_rule;
    bool inserted = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    PQclear(result);
    if (!inserted) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__CONFLICT, "certificateId",
                          "a correction of certificate %s is already waiting for a registrar",
                          work->certificate_id);
        return 1;
    }
    if (cert_audit(self, work->base.call, "correction.requested", id, ulb,
                   json_pack("{s:s, s:s}", "certificateId", work->certificate_id, "reason",
                             work->reason)) != 0)
        return -1;
    if (correction_load(self, id, false, &work->view) != 0)
        return -1;
    return nagar_keyed_work_store(&work->base, &work->view.message.base);
}

/* Answers after the transaction (rc): the failure, the stored reply of a
 * key seen before, or the correction; clears the view. */
static int reply_correction(correction_work_t *work, int rc)
{
    rc = nagar_keyed_work_answer(&work->base, rc, &nagar__certificates__correction__descriptor,
                          &work->view.message.base);
    correction_view_clear(&work->view);
    return rc;
}

int certificates_correction_request(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                    void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__RequestCorrectionRequest *request =
        (const Nagar__Certificates__RequestCorrectionRequest *) message;
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    if (!nagar_actor_is(call, "CITIZEN") && !nagar_actor_is(call, "CLERK") &&
        !nagar_actor_is(call, "REGISTRAR"))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "corrections are requested by the applicant, a clerk or "
                                      "a registrar");
    if (!cert_check_text(&outcome, "certificateId", request->certificate_id, 1, CERT_ID_MAX,
                         "certificateId") ||
        !cert_check_text(&outcome, "reason", request->reason, 1, CERT_REASON_MAX,
                         "the reason for the correction"))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    /* The kind comes from the certificate; read it before validating. */
    cert_view_t certificate;
    int loaded = cert_view_load(self, request->certificate_id, &certificate);
    if (loaded < 0)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    if (loaded == 1)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "certificateId",
                                      "no certificate has id %s", request->certificate_id);
    const cert_kind_t *kind = certificate.kind;
    cert_view_clear(&certificate);
    const ProtobufCMessage *reports[] = {(const ProtobufCMessage *) request->birth,
                                         (const ProtobufCMessage *) request->death,
                                         (const ProtobufCMessage *) request->marriage};
    const char *names[] = {"birth", "death", "marriage"};
    const ProtobufCMessage *report = reports[kind->kind - 1];
    for (int i = 0; i < 3; i++)
        if (reports[i] && i != (int) kind->kind - 1)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, names[i],
                                          "certificate %s is a %s certificate: give the "
                                          "corrected report as \"%s\", not \"%s\"",
                                          request->certificate_id, kind->name, kind->name,
                                          names[i]);
    cert_subject_t subject;
    if (!kind->validate(report, kind->name, nagar_date_today_ist(), &outcome, &subject))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    char *report_json = cert_report_to_json(report);
    if (!report_json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "the corrected report could not be stored as JSON");
    correction_work_t work = {.base = CERT_KEYED_WORK(self, call, message), .self = self,
                              .certificate_id = request->certificate_id,
                              .reason = request->reason, .report_json = report_json};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, request_work, &work);
    free(report_json);
    return reply_correction(&work, rc);
}

static int decide_work(nagar_db_t *db, void *arg)
{
    (void) db;
    correction_work_t *work = arg;
    certificates_t *self = work->self;
    int begun;
    if (!correction_work_begin(work, &begun))
        return begun;
    int loaded = correction_load(self, work->correction_id, true, &work->view);
    if (loaded < 0)
        return -1;
    if (loaded == 1) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__NOT_FOUND, "correctionId",
                          "no correction has id %s", work->correction_id);
        return 1;
    }
    Nagar__Certificates__Correction *correction = &work->view.message;
    if (!cert_may_read(work->base.call, correction->ulb, correction->requested_by)) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__NOT_FOUND, "correctionId",
                          "no correction has id %s", work->correction_id);
        return 1;
    }
    if (!nagar_actor_is(work->base.call, "REGISTRAR") ||
        strcmp(nagar_actor_ulb(work->base.call), correction->ulb) != 0) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__PERMISSION_DENIED, "correctionId",
                          "only a registrar of ULB %s may decide correction %s", correction->ulb,
                          work->correction_id);
        return 1;
    }
    if (correction->state != NAGAR__CERTIFICATES__CORRECTION_STATE__PENDING) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "correctionId",
                          "correction %s was already decided", work->correction_id);
        return 1;
    }
    char correction_id[CERT_ID_MAX + 1], ulb[16];
    char *corrected = NULL;   /* the application's corrected fields, JSON */
    snprintf(correction_id, sizeof correction_id, "%s", correction->correction_id);
    snprintf(ulb, sizeof ulb, "%s", correction->ulb);
    if (work->approve) {
        cert_view_t old;
        if (cert_view_load(self, correction->certificate_id, &old) != 0)
            return -1;
        app_view_t app;
        int rc = certificates_app_view_load(self, old.message.application_id, true, &app);
        if (rc != 0) {
            cert_view_clear(&old);
            return -1;
        }
        cert_subject_t subject;
        char *report_json = cert_report_to_json(work->view.report);
        bool valid = report_json && work->view.kind->validate(work->view.report,
                                                             work->view.kind->name,
                                                             nagar_date_today_ist(),
                                                             &work->base.outcome, &subject);
        if (!report_json) {
            rc = -1;
        } else if (!valid) {
            rc = 1;
        } else {
            issue_request_t issue = {
                .application_id = old.message.application_id, .ulb = old.message.ulb,
                .kind = old.kind, .registration_number = old.message.registration_number,
                .report_json = report_json, .subject_name = subject.subject_name,
                .event_date = NULL, .supersedes = old.message.certificate_id,
                .correction_id = correction_id, .correction_reason = correction->reason,
                .notify_user = app.message.applicant};
            char event_date[NAGAR_DATE_TEXT_MAX];
            nagar_date_format(subject.event_date, event_date);
            issue.event_date = event_date;
            rc = certificates_issue_certificate(self, work->base.call, &issue,
                                                work->new_certificate_id, &work->base.outcome);
            if (rc == 0) {
                json_t *fields = json_pack("{s:s, s:s, s:s, s:s}", "subjectName",
                                           subject.subject_name, "eventDate", event_date,
                                           "parentNames", subject.parent_names, "informantMobile",
                                           subject.informant_mobile);
                json_t *report = json_loads(report_json, JSON_REJECT_DUPLICATES, NULL);
                if (fields && report && json_object_set_new(fields, "report", report) == 0)
                    corrected = json_dumps(fields, JSON_COMPACT);
                else
                    json_decref(report);
                json_decref(fields);
                rc = corrected ? 0 : -1;
            }
        }
        free(report_json);
        certificates_app_view_clear(&app);
        cert_view_clear(&old);
        if (rc != 0) {
            free(corrected);
            return rc;
        }
    }
    int rc_rule = 0;
    const char *values[] = {correction_id, work->approve ? "t" : "f", work->note,
                            work->approve ? work->new_certificate_id : NULL,
                            corrected ? corrected : "{}"};
    PGresult *result = cert_rule(self, work->base.call, "correction_decide",
                                 "SELECT cert_correction_decide($1::jsonb, $2, $3::boolean, $4, $5, "
                                 "$6::jsonb)", 5, values, &work->base.outcome, &rc_rule);
    free(corrected);
    if (!result)
        return rc_rule;
    PQclear(result);
    json_t *detail = json_pack("{s:s, s:s?}", "note", work->note, "newCertificateId",
                               work->approve ? work->new_certificate_id : NULL);
    if (cert_audit(self, work->base.call, work->approve ? "correction.approved" : "correction.declined",
                   correction_id, ulb, detail) != 0)
        return -1;
    if (work->approve) {
        cert_view_t issued;
        if (cert_view_load(self, work->new_certificate_id, &issued) != 0)
            return -1;
        int rc = nagar_keyed_work_store(&work->base, &issued.message.base);
        cert_view_clear(&issued);
        return rc;
    }
    correction_view_clear(&work->view);
    if (correction_load(self, correction_id, false, &work->view) != 0)
        return -1;
    return nagar_keyed_work_store(&work->base, &work->view.message.base);
}

static int decide(nagar_worker_call_t *call, const ProtobufCMessage *message,
                  certificates_t *self, bool approve)
{
    const Nagar__Certificates__DecideCorrectionRequest *request =
        (const Nagar__Certificates__DecideCorrectionRequest *) message;
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    if (!cert_check_text(&outcome, "correctionId", request->correction_id, 1, CERT_ID_MAX,
                         "correctionId") ||
        !cert_check_text(&outcome, "note", request->note, approve ? 0 : 1, CERT_REASON_MAX,
                         "the note (why the correction is declined)"))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    correction_work_t work = {.base = CERT_KEYED_WORK(self, call, message), .self = self,
                              .correction_id = request->correction_id, .note = request->note,
                              .approve = approve};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, decide_work, &work);
    if (!approve)
        return reply_correction(&work, rc);
    correction_view_clear(&work.view);
    if (rc != 0 || work.base.stored)   /* the failure, or the certificate first issued */
        return nagar_keyed_work_answer(&work.base, rc, &nagar__certificates__certificate__descriptor,
                                NULL);
    cert_view_t issued;
    if (cert_view_load(self, work.new_certificate_id, &issued) != 0)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    rc = nagar_worker_call_reply(call, &issued.message.base);
    cert_view_clear(&issued);
    return rc;
}

int certificates_correction_approve(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                    void *arg)
{
    return decide(call, message, arg, true);
}

int certificates_correction_reject(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                   void *arg)
{
    return decide(call, message, arg, false);
}

int certificates_correction_list(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                 void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__ListCorrectionsRequest *request =
        (const Nagar__Certificates__ListCorrectionsRequest *) message;
    const char *ulb, *requester;
    cert_page_t page;
    if (!cert_list_scope(call, request->ulb, "corrections", &ulb, &requester) ||
        !cert_page_read(&page, call, request->page_size, request->page_token))
        return -1;
    char state[8], sql[1400];
    snprintf(state, sizeof state, "%d", request->state);
    snprintf(sql, sizeof sql,
             "SELECT %s FROM certificates.correction r WHERE ($1::text IS NULL OR r.ulb = $1) "
             "AND ($2::text IS NULL OR r.requested_by = $2) AND ($3::int = 0 OR r.state = $3::int) "
             "AND ($4::bigint IS NULL OR r.seq < $4::bigint) ORDER BY r.seq DESC LIMIT $5::int",
             CORRECTION_COLUMNS);
    const char *values[] = {ulb, requester, state, cert_page_after(&page), page.limit};
    PGresult *result = nagar_service_query(self->db, "correction_list", sql, 5, values);
    if (!result)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    char next[128];
    int shown = cert_page_rows(&page, result, CORRECTION_SEQ_COLUMN, next, sizeof next);
    correction_view_t *views = calloc((size_t) shown + 1, sizeof *views);
    Nagar__Certificates__Correction **pointers = calloc((size_t) shown + 1, sizeof *pointers);
    int rc = 0;
    if (!views || !pointers)
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    for (int i = 0; rc == 0 && i < shown; i++) {
        if (correction_fill(&views[i], result, i) != 0)
            rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                        "a stored correction could not be read");
        pointers[i] = &views[i].message;
    }
    if (rc == 0) {
        Nagar__Certificates__ListCorrectionsReply reply =
            NAGAR__CERTIFICATES__LIST_CORRECTIONS_REPLY__INIT;
        reply.n_corrections = (size_t) shown;
        reply.corrections = pointers;
        reply.next_page_token = next;
        rc = nagar_worker_call_reply(call, &reply.base);
    }
    for (int i = 0; views && i < shown; i++)
        cert_stored_free(NULL, views[i].report, NULL);   /* the rows are result's */
    free(views);
    free(pointers);
    PQclear(result);
    return rc;
}
