/*
 * workflow.c — applications and the registrar's decisions (see
 * workflow.h), and the child's name added later (RBD Act section 14);
 * an application as read is application_view.c's.
 *
 * Every decision re-reads the application under a row lock inside its
 * transaction and checks the actor's ULB against the locked row, not
 * against anything the caller sent. Registration numbers come from one
 * counter row per (ULB, kind, year), incremented in the registering
 * transaction: a rollback gives the number back, so the register has no
 * gaps, and concurrent registrars queue on the row.
 */
#include "workflow.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "application_view.h"
#include "fee_payment.h"
#include "fees.h"
#include "issue.h"
#include "json_codec.h"
#include "log.h"
#include "money.h"

/* Answers a mutation of an application after its transaction (rc): the
 * failure, the stored reply of a key seen before, or the view; clears it. */
static int reply_view(nagar_keyed_work_t *work, int rc, app_view_t *view)
{
    rc = nagar_keyed_work_answer(work, rc, &nagar__certificates__application__descriptor,
                          &view->message.base);
    certificates_app_view_clear(view);
    return rc;
}

/* ---- submit ---------------------------------------------------------------- */

typedef struct {
    nagar_keyed_work_t base;          /* first: the key, the outcome */
    certificates_t *self;
    const cert_kind_t *kind;
    const char *ulb;
    const char *report_json;
    const cert_subject_t *subject;
    const char *permission_reference;
    app_view_t view;
} submit_work_t;

static int submit_work(nagar_db_t *db, void *arg)
{
    (void) db;
    submit_work_t *work = arg;
    certificates_t *self = work->self;
    certificates_app_view_clear(&work->view);
    int begun;
    if (!nagar_keyed_work_begin(&work->base, &begun))
        return begun;

    nagar_date_t today = nagar_date_today_ist();
    fee_assessment_t fee;
    if (certificates_fees_assess(self, work->ulb, work->kind, work->subject->event_date, today,
                                 &fee) != 0)
        return -1;
    char id[CERT_ID_MAX + 1], event_date[NAGAR_DATE_TEXT_MAX], fee_paise[24];
    cert_new_id("A", id);
    nagar_date_format(work->subject->event_date, event_date);
    snprintf(fee_paise, sizeof fee_paise, "%" PRId64, fee.fee_paise);
    json_t *app = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:b, s:s, s:s}",
                            "applicationId", id, "ulb", work->ulb, "kind", work->kind->kind,
                            "eventDate", event_date, "subjectName", work->subject->subject_name,
                            "report", "", "parentNames", work->subject->parent_names,
                            "delayDays", (int) fee.delay_days, "lateWindow", (int) fee.window,
                            "feePaise", (json_int_t) fee.fee_paise, "permissionRequired",
                            fee.permission_required, "permissionReference",
                            work->permission_reference, "informantMobile",
                            work->subject->informant_mobile);
    json_t *report = json_loads(work->report_json, JSON_REJECT_DUPLICATES, NULL);
    char *app_json = NULL;
    if (app && report && json_object_set_new(app, "report", report) == 0)
        app_json = json_dumps(app, JSON_COMPACT);
    else
        json_decref(report);
    json_decref(app);
    if (!app_json)
        return -1;
    int rc = 0;
    const char *values[] = {app_json};
    PGresult *result = cert_rule(self, work->base.call, "app_submit",
                                 "SELECT cert_application_submit($1::jsonb, $2::jsonb)", 1, values,
                                 &work->base.outcome, &rc);
    free(app_json);
    if (!result)
        return rc;
    PQclear(result);
    json_t *detail = json_pack("{s:s, s:s, s:i, s:i, s:I, s:b}", "kind", work->kind->name,
                               "eventDate", event_date, "delayDays", (int) fee.delay_days,
                               "lateWindow", (int) fee.window, "feePaise",
                               (json_int_t) fee.fee_paise, "permissionRequired",
                               fee.permission_required);
    if (cert_audit(self, work->base.call, "application.submitted", id, work->ulb, detail) != 0)
        return -1;
    const char *params[] = {"application_id", id, "kind", work->kind->name, "fee_paise",
                            fee_paise, NULL};
    if (cert_event(self, "certificate.application_received", work->ulb, id,
                   nagar_actor_user(work->base.call), params) != 0)
        return -1;
    int loaded = certificates_app_view_load(self, id, false, &work->view);
    if (loaded != 0)
        return -1;
    return nagar_keyed_work_store(&work->base, &work->view.message.base);
}

int certificates_workflow_submit(certificates_t *self, nagar_worker_call_t *call,
                                 const cert_kind_t *kind, const ProtobufCMessage *request,
                                 const char *ulb, const ProtobufCMessage *report,
                                 const char *permission_reference)
{
    bool citizen = nagar_actor_is(call, "CITIZEN");
    bool staff = nagar_actor_is(call, "CLERK") || nagar_actor_is(call, "REGISTRAR");
    if (!citizen && !staff)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "a %s is applied for by a citizen or reported by a clerk "
                                      "or registrar of the ULB",
                                      kind->name);
    if (staff) {
        if (!ulb[0])
            ulb = nagar_actor_ulb(call);
        else if (strcmp(ulb, nagar_actor_ulb(call)) != 0)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "ulb",
                                          "staff report events for their own ULB (%s) only, "
                                          "not %s",
                                          nagar_actor_ulb(call), ulb);
    }
    if (!cert_ulb_valid(ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be the LGD code (1 to 10 digits) of the ULB "
                                      "where the %s took place",
                                      kind->name);
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    cert_subject_t subject;
    if (!kind->validate(report, kind->name, nagar_date_today_ist(), &outcome, &subject) ||
        !cert_check_text(&outcome, "permissionReference", permission_reference, 0, 100,
                         "permissionReference"))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    char *report_json = cert_report_to_json(report);
    if (!report_json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "the report could not be stored as JSON");
    submit_work_t work = {.base = CERT_KEYED_WORK(self, call, request), .self = self, .kind = kind,
                          .ulb = ulb, .report_json = report_json, .subject = &subject,
                          .permission_reference = permission_reference};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, submit_work, &work);
    free(report_json);
    if (rc == 0 && !work.base.stored) {
        json_t *fields = json_pack("{s:s, s:s, s:s}", "application_id",
                                   work.view.message.application_id, "kind", kind->name, "ulb",
                                   ulb);
        nagar_log_write(NAGAR_LOG_INFO, "certificates.application_submitted", fields,
                        "%s application received", kind->name);
    }
    return reply_view(&work.base, rc, &work.view);
}

/* ---- read ------------------------------------------------------------------ */

int certificates_application_get(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                 void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__GetApplicationRequest *request =
        (const Nagar__Certificates__GetApplicationRequest *) message;
    if (!cert_text_valid(request->application_id, 1, CERT_ID_MAX))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "applicationId", "applicationId is required");
    app_view_t view;
    nagar_outcome_t outcome = {0};
    int rc = certificates_app_view_load_visible(self, call, request->application_id, false, &view,
                                                &outcome);
    if (rc != 0)
        return nagar_service_fail(self->db, CERT_SERVICE, call, rc, &outcome);
    rc = nagar_worker_call_reply(call, &view.message.base);
    certificates_app_view_clear(&view);
    return rc;
}

int certificates_application_list(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                  void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__ListApplicationsRequest *request =
        (const Nagar__Certificates__ListApplicationsRequest *) message;
    const char *ulb, *applicant;
    cert_page_t page;
    if (!cert_list_scope(call, request->ulb, "applications", &ulb, &applicant) ||
        !cert_page_read(&page, call, request->page_size, request->page_token))
        return -1;
    char state[8], kind[8];
    snprintf(state, sizeof state, "%d", request->state);
    snprintf(kind, sizeof kind, "%d", request->kind);
    char sql[4096];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM certificates.application a WHERE ($1::text IS NULL OR a.ulb = $1) "
             "AND ($2::text IS NULL OR a.applicant = $2) AND ($3::int = 0 OR a.state = $3::int) "
             "AND ($4::int = 0 OR a.kind = $4::int) AND ($5::bigint IS NULL OR a.seq < $5::bigint) "
             "ORDER BY a.seq DESC LIMIT $6::int",
             APP_VIEW_COLUMNS);
    const char *values[] = {ulb, applicant, state, kind, cert_page_after(&page), page.limit};
    PGresult *result = nagar_service_query(self->db, "app_list", sql, 6, values);
    if (!result)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    char next[128];
    int shown = cert_page_rows(&page, result, APP_VIEW_SEQ_COLUMN, next, sizeof next);
    app_view_t *views = calloc((size_t) shown + 1, sizeof *views);
    Nagar__Certificates__Application **pointers = calloc((size_t) shown + 1, sizeof *pointers);
    int rc = 0;
    if (!views || !pointers) {
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
        shown = 0;
    }
    int filled = 0;
    for (; rc == 0 && filled < shown; filled++) {
        if (certificates_app_view_fill(&views[filled], result, filled) != 0) {
            rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                        "a stored application could not be read");
            break;
        }
        pointers[filled] = &views[filled].message;
    }
    if (rc == 0) {
        Nagar__Certificates__ListApplicationsReply reply =
            NAGAR__CERTIFICATES__LIST_APPLICATIONS_REPLY__INIT;
        reply.n_applications = (size_t) shown;
        reply.applications = pointers;
        reply.next_page_token = next;
        rc = nagar_worker_call_reply(call, &reply.base);
    }
    for (int i = 0; views && i < shown; i++)
        cert_stored_free(NULL, views[i].report, views[i].fee);   /* the rows are result's */
    free(views);
    free(pointers);
    PQclear(result);
    return rc;
}

/* ---- decisions ------------------------------------------------------------- */

typedef struct {
    nagar_keyed_work_t base;          /* first: the key, the outcome */
    certificates_t *self;
    const char *application_id;
    bool reject;
    const char *reason;                 /* reject */
    const char *permission_reference;   /* register */
    const char *remarks;
    app_view_t view;
    char certificate_id[CERT_ID_MAX + 1];
} decide_work_t;

/* Loads and locks the application and checks that the actor is a
 * registrar of its ULB and that it still waits for a decision. */
static int lock_for_registrar(decide_work_t *work, bool must_be_submitted)
{
    int loaded = certificates_app_view_load_visible(
        work->self, work->base.call, work->application_id, true, &work->view, &work->base.outcome);
    if (loaded != 0)
        return loaded;
    if (!nagar_actor_is(work->base.call, "REGISTRAR") ||
        strcmp(nagar_actor_ulb(work->base.call), work->view.message.ulb) != 0) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__PERMISSION_DENIED, "applicationId",
                          "only a registrar of the application's ULB may decide it");
        return 1;
    }
    if (must_be_submitted && work->view.message.state != NAGAR__CERTIFICATES__APPLICATION_STATE__SUBMITTED) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "applicationId",
                          "application %s was already %s", work->application_id,
                          work->view.message.state ==
                                 NAGAR__CERTIFICATES__APPLICATION_STATE__REGISTERED
                             ? "registered"
                             : "rejected");
        return 1;
    }
    return 0;
}

static int register_work(decide_work_t *work)
{
    certificates_t *self = work->self;
    Nagar__Certificates__Application *app = &work->view.message;
    const char *reference = work->permission_reference[0] ? work->permission_reference
                                                          : app->permission_reference;
    if (app->permission_required && !reference[0]) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION,
                          "permissionReference",
                          "this %s was reported %u days after the event: registering it needs "
                          "the reference of %s (RBD Act section 13(%s))",
                          work->view.kind->name, app->delay_days,
                          app->late_window == NAGAR__CERTIFICATES__LATE_WINDOW__LATE_TO_1_YEAR
                             ? "the District Registrar's written permission"
                             : "an executive magistrate's order",
                          app->late_window == NAGAR__CERTIFICATES__LATE_WINDOW__LATE_TO_1_YEAR ? "2"
                                                                                              : "3");
        return 1;
    }
    /* The fee first (issue 14 item 3): paid, with a receipt, or waived by
     * the commissioner. A settlement is never changed
     * or removed (append-only), so once read as settled it stays so; a
     * payment refuses an application no longer SUBMITTED under the row lock
     * the rule function's UPDATE takes too. */
    if (app->fee_paise > 0 && !work->view.fee) {
        char amount[NAGAR_MONEY_TEXT_MAX];
        nagar_money_format(app->fee_paise, amount);
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "feeStatus",
                          "application %s owes a fee of Rs %s (%s): it is registered once the fee "
                          "is paid at a counter (with a receipt) or waived by the commissioner",
                          app->application_id, amount,
                          app->late_window == NAGAR__CERTIFICATES__LATE_WINDOW__NOT_APPLICABLE
                              ? "the marriage certificate's fee, MP Compulsory Registration of "
                                "Marriages Rules, 2008"
                              : "late registration, RBD Act section 13");
        return 1;
    }
    int rc = 0;
    const char *values[] = {app->application_id, reference};
    PGresult *result = cert_rule(self, work->base.call, "app_register",
                                 "SELECT cert_application_register($1::jsonb, $2, $3)", 2, values,
                                 &work->base.outcome, &rc);
    if (!result)
        return rc;
    char number[64];
    snprintf(number, sizeof number, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    json_t *detail = json_pack("{s:s, s:s, s:s}", "registrationNumber", number,
                               "permissionReference", reference, "remarks", work->remarks);
    if (cert_audit(self, work->base.call, "application.registered", app->application_id, app->ulb,
                   detail) != 0)
        return -1;
    const char *params[] = {"application_id", app->application_id, "registration_number", number,
                            "kind", work->view.kind->name, "name", app->subject_name, NULL};
    if (cert_event(self, "certificate.registered", app->ulb, app->application_id,
                   app->applicant, params) != 0)
        return -1;
    issue_request_t issue = {.application_id = app->application_id,
                             .ulb = app->ulb,
                             .kind = work->view.kind,
                             .registration_number = number,
                             .report_json = certificates_app_view_report_json(&work->view),
                             .subject_name = app->subject_name,
                             .event_date = app->event_date,
                             .supersedes = NULL,
                             .correction_id = NULL,
                             .correction_reason = "",
                             .notify_user = app->applicant};
    return certificates_issue_certificate(self, work->base.call, &issue, work->certificate_id,
                                          &work->base.outcome);
}

static int reject_work(decide_work_t *work)
{
    certificates_t *self = work->self;
    Nagar__Certificates__Application *app = &work->view.message;
    int rc = 0;
    const char *values[] = {app->application_id, work->reason};
    PGresult *result = cert_rule(self, work->base.call, "app_reject",
                                 "SELECT cert_application_reject($1::jsonb, $2, $3)", 2, values,
                                 &work->base.outcome, &rc);
    if (!result)
        return rc;
    PQclear(result);
    if (cert_audit(self, work->base.call, "application.rejected", app->application_id, app->ulb,
                   json_pack("{s:s}", "reason", work->reason)) != 0)
        return -1;
    const char *params[] = {"application_id", app->application_id, "reason", work->reason,
                            "kind", work->view.kind->name, "name", app->subject_name, NULL};
    return cert_event(self, "certificate.rejected", app->ulb, app->application_id,
                      app->applicant, params);
}

static int decide_work(nagar_db_t *db, void *arg)
{
    (void) db;
    decide_work_t *work = arg;
    certificates_app_view_clear(&work->view);
    work->certificate_id[0] = '\0';
    int begun;
    if (!nagar_keyed_work_begin(&work->base, &begun))
        return begun;
    int rc = lock_for_registrar(work, true);
    if (rc != 0)
        return rc;
    rc = work->reject ? reject_work(work) : register_work(work);
    if (rc != 0)
        return rc;
    if (work->reject) {
        certificates_app_view_clear(&work->view);
        if (certificates_app_view_load(work->self, work->application_id, false, &work->view) != 0)
            return -1;
        return nagar_keyed_work_store(&work->base, &work->view.message.base);
    }
    cert_view_t certificate;
    if (cert_view_load(work->self, work->certificate_id, &certificate) != 0)
        return -1;
    rc = nagar_keyed_work_store(&work->base, &certificate.message.base);
    cert_view_clear(&certificate);
    return rc;
}

int certificates_application_register(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                      void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__RegisterApplicationRequest *request =
        (const Nagar__Certificates__RegisterApplicationRequest *) message;
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    if (!cert_check_text(&outcome, "applicationId", request->application_id, 1, CERT_ID_MAX,
                         "applicationId") ||
        !cert_check_text(&outcome, "permissionReference", request->permission_reference, 0, 100,
                         "permissionReference") ||
        !cert_check_text(&outcome, "remarks", request->remarks, 0, CERT_REASON_MAX, "remarks"))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    decide_work_t work = {.base = CERT_KEYED_WORK(self, call, message), .self = self,
                          .application_id = request->application_id, .reject = false,
                          .permission_reference = request->permission_reference,
                          .remarks = request->remarks};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, decide_work, &work);
    certificates_app_view_clear(&work.view);
    if (rc != 0 || work.base.stored)   /* the failure, or the certificate first issued */
        return nagar_keyed_work_answer(&work.base, rc, &nagar__certificates__certificate__descriptor,
                                NULL);
    cert_view_t certificate;
    rc = cert_view_load(self, work.certificate_id, &certificate);
    if (rc != 0)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    json_t *fields = json_pack("{s:s, s:s, s:s}", "application_id", request->application_id,
                               "certificate_id", work.certificate_id, "registration_number",
                               certificate.message.registration_number);
    nagar_log_write(NAGAR_LOG_INFO, "certificates.registered", fields,
                    "application registered and certificate issued");
    rc = nagar_worker_call_reply(call, &certificate.message.base);
    cert_view_clear(&certificate);
    return rc;
}

int certificates_application_reject(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                    void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__RejectApplicationRequest *request =
        (const Nagar__Certificates__RejectApplicationRequest *) message;
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    if (!cert_check_text(&outcome, "applicationId", request->application_id, 1, CERT_ID_MAX,
                         "applicationId") ||
        !cert_check_text(&outcome, "reason", request->reason, 1, CERT_REASON_MAX,
                         "the reason for rejecting"))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    decide_work_t work = {.base = CERT_KEYED_WORK(self, call, message), .self = self,
                          .application_id = request->application_id, .reject = true,
                          .reason = request->reason, .remarks = ""};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, decide_work, &work);
    return reply_view(&work.base, rc, &work.view);
}

/* ---- the child's name, added later (RBD Act section 14) -------------------- */

typedef struct {
    nagar_keyed_work_t base;          /* first: the key, the outcome */
    certificates_t *self;
    const char *application_id;
    const char *child_name;
    app_view_t view;
} name_work_t;

static int name_work(nagar_db_t *db, void *arg)
{
    (void) db;
    name_work_t *work = arg;
    certificates_t *self = work->self;
    certificates_app_view_clear(&work->view);
    int begun;
    if (!nagar_keyed_work_begin(&work->base, &begun))
        return begun;
    int loaded = certificates_app_view_load_visible(self, work->base.call, work->application_id,
                                                    true, &work->view, &work->base.outcome);
    if (loaded != 0)
        return loaded;
    Nagar__Certificates__Application *app = &work->view.message;
    if (nagar_actor_is(work->base.call, "COMMISSIONER") || nagar_actor_is(work->base.call, "STATE_ADMIN")) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__PERMISSION_DENIED, "applicationId",
                          "the child's name is given by the applicant or entered by a clerk or "
                          "registrar of the application's ULB");
        return 1;
    }
    if (app->kind != NAGAR__CERTIFICATES__EVENT_KIND__BIRTH) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "applicationId",
                          "application %s is not a birth", app->application_id);
        return 1;
    }
    bool registered = app->state == NAGAR__CERTIFICATES__APPLICATION_STATE__REGISTERED;
    if (app->state == NAGAR__CERTIFICATES__APPLICATION_STATE__REJECTED) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "applicationId",
                          "application %s was rejected", app->application_id);
        return 1;
    }
    if (app->birth->child_name[0]) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "childName",
                          "the child's name is already entered; a change is a correction "
                          "(POST /api/v1/certificates/{certificateId}/corrections)");
        return 1;
    }
    if (registered && !nagar_actor_is(work->base.call, "REGISTRAR")) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__PERMISSION_DENIED, "applicationId",
                          "once registered, the child's name is entered by a registrar of ULB %s",
                          app->ulb);
        return 1;
    }
    /* RBD Act s.14, MP RBD Rules 2024 r.10: the window runs from the date of
     * registration (legal_basis childNameDays); before registration the
     * name goes into the report like any other field. */
    if (registered) {
        nagar_date_t born, today = nagar_date_today_ist();
        char error[128];
        if (nagar_date_parse(app->event_date, &born, error, sizeof error) != 0)
            return -1;
        fee_assessment_t fee;
        if (certificates_fees_assess(self, app->ulb, work->view.kind, born, today, &fee) != 0)
            return -1;
        const char *id_values[] = {app->application_id};
        PGresult *since = nagar_service_query(
            self->db, "app_days_registered",
            "SELECT (now() AT TIME ZONE 'Asia/Kolkata')::date - "
            "(registered_at AT TIME ZONE 'Asia/Kolkata')::date, "
            "to_char(registered_at AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD') "
            "FROM certificates.application WHERE application_id = $1",
            1, id_values);
        if (!since)
            return -1;
        long days = strtol(PQgetvalue(since, 0, 0), NULL, 10);
        char registered_on[NAGAR_DATE_TEXT_MAX];
        snprintf(registered_on, sizeof registered_on, "%s", PQgetvalue(since, 0, 1));
        PQclear(since);
        if (days > fee.child_name_days) {
            nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION,
                              "childName",
                              "the window for entering a child's name (%ld days from the date "
                              "of registration, RBD Act section 14) closed; registered on %s",
                              fee.child_name_days, registered_on);
            return 1;
        }
    }
    int rc = 0;
    const char *values[] = {app->application_id, work->child_name};
    PGresult *result = cert_rule(self, work->base.call, "app_child_name",
                                 "SELECT cert_application_child_name($1::jsonb, $2, $3)", 2, values,
                                 &work->base.outcome, &rc);
    if (!result)
        return rc;
    char *report_json = strdup(PQgetvalue(result, 0, 0));
    PQclear(result);
    if (!report_json)
        return -1;
    rc = cert_audit(self, work->base.call, "application.child_name_entered", app->application_id,
                        app->ulb, json_pack("{s:s}", "childName", work->child_name));
    if (rc == 0 && registered) {
        issue_request_t issue = {
            .application_id = app->application_id, .ulb = app->ulb, .kind = work->view.kind,
            .registration_number = app->registration_number, .report_json = report_json,
            .subject_name = work->child_name, .event_date = app->event_date,
            .supersedes = app->certificate_id, .correction_id = NULL,
            .correction_reason = "name of the child entered (RBD Act section 14)",
            .notify_user = app->applicant};
        char certificate_id[CERT_ID_MAX + 1];
        rc = certificates_issue_certificate(self, work->base.call, &issue, certificate_id,
                                            &work->base.outcome);
    }
    free(report_json);
    if (rc != 0)
        return rc;
    certificates_app_view_clear(&work->view);
    if (certificates_app_view_load(self, work->application_id, false, &work->view) != 0)
        return -1;
    return nagar_keyed_work_store(&work->base, &work->view.message.base);
}

int certificates_birth_set_child_name(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                      void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__SetChildNameRequest *request =
        (const Nagar__Certificates__SetChildNameRequest *) message;
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    if (!cert_check_text(&outcome, "applicationId", request->application_id, 1, CERT_ID_MAX,
                         "applicationId") ||
        !cert_check_text(&outcome, "childName", request->child_name, 1, CERT_NAME_MAX,
                         "the child's name"))
        return nagar_service_fail(self->db, CERT_SERVICE, call, 1, &outcome);
    name_work_t work = {.base = CERT_KEYED_WORK(self, call, message), .self = self,
                        .application_id = request->application_id,
                        .child_name = request->child_name};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, name_work, &work);
    return reply_view(&work.base, rc, &work.view);
}
