/*
 * fees.c — late-registration windows and fees (see fees.h): assessing a
 * report, reading and saving schedules.
 *
 * A schedule is looked up for a date: the ULB's own newest version in
 * force on that date if it has one, else the state default's. Saving
 * never changes a row; it appends the next version (the table is
 * INSERT/SELECT only for the app role), so what was charged for any
 * application can always be explained from the history. Each version
 * carries the reason it was saved with (as rates and tariffs do), and any
 * version can be read back (fees.get with a version).
 */
#include "fees.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "log.h"
#include "text.h"

#define FEE_MAX_PAISE 100000000LL      /* Rs 10 lakh: far above any real fee */
#define FEE_REASON_MAX 500             /* as rates' and tariffs' reasons */

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
    const Nagar__Certificates__FeeSchedule *schedule;
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
    const Nagar__Certificates__FeeSchedule *s = work->schedule;
    char lock_name[32];
    snprintf(lock_name, sizeof lock_name, "fees:%s", s->ulb);
    const char *lock[] = {lock_name};
    PGresult *result = nagar_service_query(work->self->db, "fees_lock",
                                           "SELECT pg_advisory_xact_lock(hashtext($1))", 1, lock);
    if (!result)
        return -1;
    PQclear(result);
    char numbers[8][24];
    snprintf(numbers[0], sizeof numbers[0], "%u", s->free_days);
    snprintf(numbers[1], sizeof numbers[1], "%u", s->late_days);
    snprintf(numbers[2], sizeof numbers[2], "%" PRId64, s->late_fee_paise);
    snprintf(numbers[3], sizeof numbers[3], "%u", s->permission_days);
    snprintf(numbers[4], sizeof numbers[4], "%" PRId64, s->permission_fee_paise);
    snprintf(numbers[5], sizeof numbers[5], "%" PRId64, s->order_fee_paise);
    snprintf(numbers[6], sizeof numbers[6], "%" PRId64, s->marriage_fee_paise);
    snprintf(numbers[7], sizeof numbers[7], "%u", s->child_name_days);
    const char *values[] = {s->ulb, s->effective_from, numbers[0], numbers[1], numbers[2],
                            numbers[3], numbers[4], numbers[5], numbers[6], numbers[7],
                            nagar_actor_user(work->base.call), s->reason};
    char sql[1400];
    snprintf(sql, sizeof sql,
             "INSERT INTO certificates.fee_schedule (ulb, effective_from, version, free_days, "
             "late_days, late_fee_paise, permission_days, permission_fee_paise, "
             "order_fee_paise, marriage_fee_paise, child_name_days, saved_by, reason) "
             "SELECT $1, $2::date, coalesce(max(version), 0) + 1, $3::int, $4::int, $5::bigint, "
             "$6::int, $7::bigint, $8::bigint, $9::bigint, $10::int, $11, $12 "
             "FROM certificates.fee_schedule WHERE ulb = $1 RETURNING %s",
             SCHEDULE_COLUMNS);
    work->row = nagar_service_query(work->self->db, "fees_insert", sql, 12, values);
    if (!work->row)
        return -1;
    Nagar__Certificates__FeeSchedule saved;
    schedule_from_row(&saved, work->row, 0);
    json_t *detail = nagar_json_encode_object(&saved.base);
    if (cert_audit(work->self, work->base.call, "fees.saved", s->ulb[0] ? s->ulb : "state", s->ulb,
                   detail) != 0)
        return -1;
    return nagar_keyed_work_store(&work->base, &saved.base);
}

int certificates_fees_set(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    certificates_t *self = arg;
    const Nagar__Certificates__SetFeeScheduleRequest *request =
        (const Nagar__Certificates__SetFeeScheduleRequest *) message;
    const Nagar__Certificates__FeeSchedule *s = request->schedule;
    if (!s)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "schedule",
                                      "schedule is required");
    bool state_admin = nagar_actor_is(call, "STATE_ADMIN");
    if (!state_admin && !nagar_actor_is(call, "COMMISSIONER"))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "saving fee schedules needs the STATE_ADMIN or "
                                      "COMMISSIONER role");
    if (s->ulb[0] && !cert_ulb_valid(s->ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "schedule.ulb",
                                      "schedule.ulb must be empty (the state default) or an LGD "
                                      "code of 1 to 10 digits");
    if (!state_admin && strcmp(s->ulb, nagar_actor_ulb(call)) != 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "schedule.ulb",
                                      "a commissioner sets the fees of ULB %s only",
                                      nagar_actor_ulb(call));
    nagar_date_t effective;
    char error[160];
    if (nagar_date_parse(s->effective_from, &effective, error, sizeof error) != 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "schedule.effectiveFrom", "schedule.effectiveFrom: %s",
                                      error);
    if (s->free_days < 1 || s->free_days >= s->late_days || s->late_days >= s->permission_days ||
        s->permission_days > 3660)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "schedule.freeDays",
                                      "the windows must satisfy 1 <= freeDays < lateDays < "
                                      "permissionDays <= 3660 (the law's defaults are 21, 30 "
                                      "and 365)");
    const struct {
        const char *field;
        int64_t value;
    } amounts[] = {{"schedule.lateFeePaise", s->late_fee_paise},
                   {"schedule.permissionFeePaise", s->permission_fee_paise},
                   {"schedule.orderFeePaise", s->order_fee_paise},
                   {"schedule.marriageFeePaise", s->marriage_fee_paise}};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++)
        if (amounts[i].value < 0 || amounts[i].value > FEE_MAX_PAISE)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                          amounts[i].field,
                                          "%s must be 0 to %lld paise, not %" PRId64,
                                          amounts[i].field, FEE_MAX_PAISE, amounts[i].value);
    if (!nagar_text_valid(s->reason, 1, FEE_REASON_MAX, false))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "schedule.reason",
                                      "schedule.reason must say why this version is saved: 1 to "
                                      "%d characters of valid UTF-8 without control characters",
                                      FEE_REASON_MAX);
    if (s->child_name_days < 1 || s->child_name_days > 20 * 366)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "schedule.childNameDays",
                                      "schedule.childNameDays must be 1 to %d", 20 * 366);
    save_work_t work = {.base = CERT_KEYED_WORK(self, call, message), .self = self, .schedule = s};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, save_work, &work);
    Nagar__Certificates__FeeSchedule saved = NAGAR__CERTIFICATES__FEE_SCHEDULE__INIT;
    if (rc == 0 && !work.base.stored)
        schedule_from_row(&saved, work.row, 0);
    rc = nagar_keyed_work_answer(&work.base, rc, &nagar__certificates__fee_schedule__descriptor,
                          &saved.base);
    PQclear(work.row);
    return rc;
}
