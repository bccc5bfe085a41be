/*
 * application_view.c — an application read from the database as its
 * message (see application_view.h): one column list, one decoder, for the
 * workflow's handlers and for issue.c's corrections alike.
 */
#include "application_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fee_payment.h"

#define TIMESTAMP(column) \
    "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The current certificate of an application is the one no other supersedes. */
const char APP_VIEW_COLUMNS[] =
    "a.application_id, a.ulb, a.kind, a.state, a.source, a.applicant, " TIMESTAMP("a.submitted_at")
    ", a.event_date::text, a.subject_name, a.report::text, a.delay_days, a.late_window, "
    "a.fee_paise, a.permission_required, a.permission_reference, "
    "coalesce(a.registration_number, ''), coalesce(" TIMESTAMP("a.registered_at") ", ''), "
    "coalesce(a.decided_by, ''), coalesce(a.rejection_reason, ''), "
    "coalesce((SELECT c.certificate_id FROM certificates.certificate c "
    "  WHERE c.application_id = a.application_id AND NOT EXISTS "
    "  (SELECT 1 FROM certificates.certificate n WHERE n.supersedes = c.certificate_id)), ''), "
    "a.seq, a.informant_mobile, " FEE_SETTLEMENT_COLUMN("a");

enum {
    COL_ID, COL_ULB, COL_KIND, COL_STATE, COL_SOURCE, COL_APPLICANT, COL_SUBMITTED, COL_EVENT_DATE,
    COL_SUBJECT, COL_REPORT, COL_DELAY, COL_WINDOW, COL_FEE, COL_PERMISSION_REQUIRED,
    COL_PERMISSION_REFERENCE, COL_REGISTRATION_NUMBER, COL_REGISTERED_AT, COL_DECIDED_BY,
    COL_REJECTION_REASON, COL_CERTIFICATE, COL_SEQ, COL_INFORMANT_MOBILE, COL_FEE_SETTLEMENT,
};

/* Fills view from row of result (which the view then owns unless shared). */
int certificates_app_view_fill(app_view_t *view, PGresult *result, int row)
{
    Nagar__Certificates__Application *m = &view->message;
    nagar__certificates__application__init(m);
    view->kind = cert_kind(atoi(PQgetvalue(result, row, COL_KIND)));
    if (!view->kind)
        return -1;
    view->report = cert_report_from_json(view->kind, PQgetvalue(result, row, COL_REPORT));
    if (!view->report)
        return -1;
    if (certificates_fee_settlement_decode(PQgetvalue(result, row, COL_FEE_SETTLEMENT),
                                           &view->fee) != 0) {
        protobuf_c_message_free_unpacked(view->report, NULL);
        view->report = NULL;
        return -1;
    }
    m->application_id = PQgetvalue(result, row, COL_ID);
    m->ulb = PQgetvalue(result, row, COL_ULB);
    m->kind = view->kind->kind;
    m->state = (Nagar__Certificates__ApplicationState) atoi(PQgetvalue(result, row, COL_STATE));
    m->source = PQgetvalue(result, row, COL_SOURCE);
    m->applicant = PQgetvalue(result, row, COL_APPLICANT);
    m->submitted_at = PQgetvalue(result, row, COL_SUBMITTED);
    m->event_date = PQgetvalue(result, row, COL_EVENT_DATE);
    m->subject_name = PQgetvalue(result, row, COL_SUBJECT);
    cert_report_attach(view->kind, view->report, &m->birth, &m->death, &m->marriage);
    m->delay_days = (uint32_t) strtoul(PQgetvalue(result, row, COL_DELAY), NULL, 10);
    m->late_window = (Nagar__Certificates__LateWindow) atoi(PQgetvalue(result, row, COL_WINDOW));
    m->fee_paise = strtoll(PQgetvalue(result, row, COL_FEE), NULL, 10);
    m->permission_required = strcmp(PQgetvalue(result, row, COL_PERMISSION_REQUIRED), "t") == 0;
    m->permission_reference = PQgetvalue(result, row, COL_PERMISSION_REFERENCE);
    m->registration_number = PQgetvalue(result, row, COL_REGISTRATION_NUMBER);
    m->registered_at = PQgetvalue(result, row, COL_REGISTERED_AT);
    m->decided_by = PQgetvalue(result, row, COL_DECIDED_BY);
    m->rejection_reason = PQgetvalue(result, row, COL_REJECTION_REASON);
    m->certificate_id = PQgetvalue(result, row, COL_CERTIFICATE);
    m->fee_status = certificates_fee_status_of(m->fee_paise, view->fee);
    m->fee_settlement = view->fee;
    return 0;
}

int certificates_app_view_load(certificates_t *self, const char *application_id, bool lock,
                               app_view_t *view)
{
    memset(view, 0, sizeof *view);
    char sql[4096];
    /* The app role cannot lock rows (it may not UPDATE them): the rule
     * function that changes the application locks it and checks again. */
    (void) lock;
    snprintf(sql, sizeof sql,
             "SELECT %s FROM certificates.application a WHERE a.application_id = $1",
             APP_VIEW_COLUMNS);
    int found = cert_query_one(self, "app_get", sql, application_id, &view->row);
    if (found != 0)
        return found;
    if (certificates_app_view_fill(view, view->row, 0) != 0) {
        certificates_app_view_clear(view);
        return -1;
    }
    return 0;
}

int certificates_app_view_load_visible(certificates_t *self, nagar_worker_call_t *call,
                                       const char *application_id, bool lock, app_view_t *view,
                                       nagar_outcome_t *outcome)
{
    int loaded = certificates_app_view_load(self, application_id, lock, view);
    if (loaded == 0 && !cert_may_read(call, view->message.ulb, view->message.applicant)) {
        certificates_app_view_clear(view);
        loaded = 1;
    }
    if (loaded == 1)
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__NOT_FOUND, "applicationId",
                          "no application has id %s", application_id);
    return loaded;
}

void certificates_app_view_clear(app_view_t *view)
{
    cert_stored_free(view->row, view->report, view->fee);
    memset(view, 0, sizeof *view);
}

const char *certificates_app_view_report_json(const app_view_t *view)
{
    return PQgetvalue(view->row, 0, COL_REPORT);
}

const int APP_VIEW_SEQ_COLUMN = COL_SEQ;
