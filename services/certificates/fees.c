/*
 * fees.c — late-registration windows and fees (see fees.h): assessing a
 * report, reading and saving schedules.
 *
 * A schedule is looked up for a date: the ULB's own newest version in
 * force on that date if it has one, else the state default's. Saving
 * never changes a row; it appends the next version through the rule
 * function cert_fee_schedule_save (sql/fee_schedule.sql: the app role only
 * reads the table; every row is on the hash-chained history), so what was
 * charged for any application can always be explained. Each version
 * carries the reason it was saved with (as rates and tariffs do), and any
 * version can be read back (fees.get with a version).
 */
#include "fees.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "log.h"

static const char SCHEDULE_COLUMNS[] =
    "ulb, effective_from::text, free_days, late_days, late_fee_paise, permission_days, "
    "permission_fee_paise, order_fee_paise, marriage_fee_paise, child_name_days, version, "
    "saved_by, to_char(saved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), reason";

static void schedule_from_row(Nagar__Certificates__FeeSchedule *schedule, PGresult *result,
                              int row)
{
    nagar__certificates__fee_schedule__init(schedule);
    schedule->ulb = PQgetvalue(result, row, 0);
    schedule->effective_from = PQgetvalue(result, row, 1);
    schedule->free_days = (uint32_t) strtoul(PQgetvalue(result, row, 2), NULL, 10);
    schedule->late_days = (uint32_t) strtoul(PQgetvalue(result, row, 3), NULL, 10);
    schedule->late_fee_paise = strtoll(PQgetvalue(result, row, 4), NULL, 10);
    schedule->permission_days = (uint32_t) strtoul(PQgetvalue(result, row, 5), NULL, 10);
    schedule->permission_fee_paise = strtoll(PQgetvalue(result, row, 6), NULL, 10);
    schedule->order_fee_paise = strtoll(PQgetvalue(result, row, 7), NULL, 10);
    schedule->marriage_fee_paise = strtoll(PQgetvalue(result, row, 8), NULL, 10);
    schedule->child_name_days = (uint32_t) strtoul(PQgetvalue(result, row, 9), NULL, 10);
    schedule->version = (uint32_t) strtoul(PQgetvalue(result, row, 10), NULL, 10);
    schedule->saved_by = PQgetvalue(result, row, 11);
    schedule->saved_at = PQgetvalue(result, row, 12);
    schedule->reason = PQgetvalue(result, row, 13);
}

/* The schedule in force for ulb on date (ulb "" = the state default). */
static PGresult *schedule_in_force(certificates_t *self, const char *ulb, const char *date)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM certificates.fee_schedule WHERE ulb IN ($1, '') "
             "AND effective_from <= $2::date ORDER BY (ulb = $1) DESC, effective_from DESC, "
             "version DESC LIMIT 1",
             SCHEDULE_COLUMNS);
    const char *values[] = {ulb, date};
    return nagar_service_query(self->db, "fees_in_force", sql, 2, values);
}

int certificates_fees_assess(certificates_t *self, const char *ulb, const cert_kind_t *kind,
                             nagar_date_t event_date, nagar_date_t report_date,
                             fee_assessment_t *out)
{
    memset(out, 0, sizeof *out);
    char date[NAGAR_DATE_TEXT_MAX];
    nagar_date_format(report_date, date);
    PGresult *result = schedule_in_force(self, ulb, date);
    if (!result)
        return -1;
    if (PQntuples(result) != 1) {
        PQclear(result);
        nagar_log_error("certificates.no_fee_schedule",
                        "no fee schedule is in force for ULB %s on %s, not even the state "
                        "default; re-run the migrations or save one with fees.set",
                        ulb, date);
        return -1;
    }
    Nagar__Certificates__FeeSchedule schedule;
    schedule_from_row(&schedule, result, 0);
    out->delay_days = nagar_date_diff_days(event_date, report_date);
    out->child_name_days = (long) schedule.child_name_days;
    if (kind->kind == NAGAR__CERTIFICATES__EVENT_KIND__MARRIAGE) {
        out->window = NAGAR__CERTIFICATES__LATE_WINDOW__NOT_APPLICABLE;
        out->fee_paise = schedule.marriage_fee_paise;
    } else if (out->delay_days <= (int32_t) schedule.free_days) {
        out->window = NAGAR__CERTIFICATES__LATE_WINDOW__IN_TIME;
    } else if (out->delay_days <= (int32_t) schedule.late_days) {
        out->window = NAGAR__CERTIFICATES__LATE_WINDOW__LATE_TO_30_DAYS;
        out->fee_paise = schedule.late_fee_paise;
    } else if (out->delay_days <= (int32_t) schedule.permission_days) {
        out->window = NAGAR__CERTIFICATES__LATE_WINDOW__LATE_TO_1_YEAR;
        out->fee_paise = schedule.permission_fee_paise;
        out->permission_required = true;
    } else {
        out->window = NAGAR__CERTIFICATES__LATE_WINDOW__LATE_OVER_1_YEAR;
        out->fee_paise = schedule.order_fee_paise;
        out->permission_required = true;
    }
    PQclear(result);
    return 0;
}

int certificates_fees_get(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__GetFeeScheduleRequest *request =
        (const Nagar__Certificates__GetFeeScheduleRequest *) message;
    if (request->ulb[0] && !cert_ulb_valid(request->ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be empty (the state default) or an LGD code of "
                                      "1 to 10 digits");
    char date[NAGAR_DATE_TEXT_MAX];
    if (request->on_date[0]) {
        nagar_date_t on;
        char error[160];
        if (nagar_date_parse(request->on_date, &on, error, sizeof error) != 0)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "onDate",
                                          "onDate: %s", error);
        nagar_date_format(on, date);
    } else {
        nagar_date_format(nagar_date_today_ist(), date);
    }
    PGresult *result = NULL;
    if (request->version) {
        char sql[1024], version[16];
        snprintf(sql, sizeof sql,
                 "SELECT %s FROM certificates.fee_schedule WHERE ulb = $1 AND version = $2::int",
                 SCHEDULE_COLUMNS);
        snprintf(version, sizeof version, "%u", request->version);
        const char *values[] = {request->ulb, version};
        result = nagar_service_query(self->db, "fees_version", sql, 2, values);
    } else {
        result = schedule_in_force(self, request->ulb, date);
    }
    if (!result)
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    if (PQntuples(result) != 1) {
        PQclear(result);
        if (request->version)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "version",
                                          "%s has no fee schedule version %u",
                                          request->ulb[0] ? request->ulb : "the state default",
                                          request->version);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "onDate",
                                      "no fee schedule is in force on %s", date);
    }
    Nagar__Certificates__FeeSchedule schedule;
    schedule_from_row(&schedule, result, 0);
    /* The law behind the figures (migration 005), beside them. */
    PGresult *basis = nagar_service_query(
        self->db, "fees_legal_basis",
        "SELECT figure, law, citation, confirmed, note FROM certificates.legal_basis "
        "ORDER BY figure",
        0, NULL);
    if (!basis) {
        PQclear(result);
        return nagar_service_fail(self->db, CERT_SERVICE, call, -1, NULL);
    }
    size_t count = (size_t) PQntuples(basis);
    Nagar__Certificates__LegalBasis *rows = calloc(count ? count : 1, sizeof *rows);
    Nagar__Certificates__LegalBasis **listed = calloc(count ? count : 1, sizeof *listed);
    if (!rows || !listed) {
        free(rows);
        free(listed);
        PQclear(basis);
        PQclear(result);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "out of memory; retry");
    }
    for (size_t i = 0; i < count; i++) {
        nagar__certificates__legal_basis__init(&rows[i]);
        rows[i].figure = PQgetvalue(basis, (int) i, 0);
        rows[i].law = PQgetvalue(basis, (int) i, 1);
        rows[i].citation = PQgetvalue(basis, (int) i, 2);
        rows[i].confirmed = strcmp(PQgetvalue(basis, (int) i, 3), "t") == 0;
        rows[i].note = PQgetvalue(basis, (int) i, 4);
        listed[i] = &rows[i];
    }
    schedule.n_legal_basis = count;
    schedule.legal_basis = listed;
    int rc = nagar_worker_call_reply(call, &schedule.base);
    free(listed);
    free(rows);
    PQclear(basis);
    PQclear(result);
    return rc;
}

typedef struct {
    nagar_keyed_work_t base;          /* first: the key, the outcome */
    certificates_t *self;
    const char *schedule_json;        /* the request's FeeSchedule, proto3 JSON */
    PGresult *row;
} save_work_t;

static int save_work(nagar_db_t *db, void *arg)
{
    (void) db;
    save_work_t *work = arg;
    PQclear(work->row);
    work->row = NULL;
    int begun;
    if (!nagar_keyed_work_begin(&work->base, &begun))
        return begun;
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM cert_fee_schedule_save($1::jsonb, $2::jsonb)",
             SCHEDULE_COLUMNS);
    const char *values[] = {work->schedule_json};
    int rc = 0;
    work->row = cert_rule(work->self, work->base.call, "fees_save", sql, 1, values,
                          &work->base.outcome, &rc);
    if (!work->row)
        return rc;
    Nagar__Certificates__FeeSchedule saved;
    schedule_from_row(&saved, work->row, 0);
    json_t *detail = nagar_json_encode_object(&saved.base);
    if (cert_audit(work->self, work->base.call, "fees.saved", saved.ulb[0] ? saved.ulb : "state",
                   saved.ulb, detail) != 0)
        return -1;
    return nagar_keyed_work_store(&work->base, &saved.base);
}

/* fees.set: the schedule is saved by the rule function cert_fee_schedule_save
 * (sql/fee_schedule.sql), which checks who may set which ULB's fees and the
 * schedule's rules (errors name the field) and records the actor for the
 * history; the app role cannot write the table itself. */
int certificates_fees_set(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__SetFeeScheduleRequest *request =
        (const Nagar__Certificates__SetFeeScheduleRequest *) message;
    const Nagar__Certificates__FeeSchedule *s = request->schedule;
    if (!s)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "schedule",
                                      "schedule is required");
    char *schedule_json = nagar_json_encode(&s->base);
    if (!schedule_json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "schedule",
                                      "schedule holds text that is not valid UTF-8");
    save_work_t work = {.base = CERT_KEYED_WORK(self, call, message), .self = self,
                        .schedule_json = schedule_json};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, save_work, &work);
    free(schedule_json);
    Nagar__Certificates__FeeSchedule saved = NAGAR__CERTIFICATES__FEE_SCHEDULE__INIT;
    if (rc == 0 && !work.base.stored)
        schedule_from_row(&saved, work.row, 0);
    rc = nagar_keyed_work_answer(&work.base, rc, &nagar__certificates__fee_schedule__descriptor,
                          &saved.base);
    PQclear(work.row);
    return rc;
}
