/*
 * report.c — disconnection notices (report.h; the reports themselves are
 * wt_report_* in sql/report.sql, rows of main.c's RULE_METHODS):
 * wt_notices_send picks the defaulters and records the notices,
 * and each becomes a "water.disconnection_notice" event in the outbox in
 * the same transaction.
 */
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"

/* Keyset-paged by connection id (pageToken -> nextPageToken), all in the
 * rule function of sql/report.sql. */
typedef struct {
    nagar_keyed_work_t keyed;      /* the call, its request's idempotency record, the outcome */
    wt_t *self;
    const char *request_json;
    Nagar__WaterTax__SendNoticesReply *reply;
} notices_work_t;

static void notices_reply_free(Nagar__WaterTax__SendNoticesReply **reply_p)
{
    Nagar__WaterTax__SendNoticesReply *reply = *reply_p;
    if (!reply)
        return;
    for (size_t i = 0; i < reply->n_connection_ids; i++)
        free(reply->connection_ids[i]);
    free(reply->connection_ids);
    free(reply->pay_by);
    free(reply);
    *reply_p = NULL;
}

static int notices_work(nagar_db_t *db, void *arg)
{
    (void) db;
    notices_work_t *work = arg;
    wt_t *self = work->self;
    notices_reply_free(&work->reply);
    int rc;
    if (!nagar_keyed_work_begin(&work->keyed, &rc))
        return rc;
    char today[NAGAR_DATE_TEXT_MAX];
    nagar_rules_today(&self->rules, today);
    char *actor = nagar_rules_actor_json(work->keyed.call);
    if (!actor)
        return -1;
    const char *values[] = {actor, work->request_json, today};
    json_t *result = NULL;
    rc = nagar_rules_call_json(&self->rules, "call_wt_notices_send",
                               "SELECT wt_notices_send($1::jsonb, $2::jsonb, $3::date)::text", 3,
                               values, &result, &work->keyed.outcome);
    free(actor);
    if (rc != 0)
        return rc;
    json_t *notices = json_object_get(result, "notices");
    size_t count = json_array_size(notices);
    work->reply = calloc(1, sizeof *work->reply);
    if (!work->reply) {
        json_decref(result);
        return -1;
    }
    nagar__water_tax__send_notices_reply__init(work->reply);
    work->reply->connection_ids = calloc(count ? count : 1, sizeof(char *));
    work->reply->pay_by = strdup(json_string_value(json_object_get(result, "payBy")));
    if (!work->reply->connection_ids || !work->reply->pay_by) {
        json_decref(result);
        return -1;
    }
    const Nagar__WaterTax__SendNoticesRequest *request =
        (const Nagar__WaterTax__SendNoticesRequest *) work->keyed.request;
    for (size_t i = 0; i < count; i++) {
        json_t *notice = json_array_get(notices, i);
        const char *id = json_string_value(json_object_get(notice, "connectionId"));
        char amount[32];
        snprintf(amount, sizeof amount, "%" PRId64,
                 (int64_t) json_integer_value(json_object_get(notice, "outstandingPaise")));
        char subject[160];
        snprintf(subject, sizeof subject, "connection:%s", id);
        if (nagar_rules_outbox(&self->rules, "water.disconnection_notice", request->ulb, subject,
                               json_string_value(json_object_get(notice, "userId")), "name",
                               json_string_value(json_object_get(notice, "name")), "account", id,
                               "amount_paise", amount, "due_date",
                               json_string_value(json_object_get(notice, "payBy")), NULL) != 0) {
            json_decref(result);
            return -1;
        }
        work->reply->connection_ids[i] = strdup(id);
        if (!work->reply->connection_ids[i]) {
            json_decref(result);
            return -1;
        }
        work->reply->n_connection_ids = i + 1;
    }
    work->reply->notices = (int32_t) count;
    json_decref(result);
    return nagar_keyed_work_store(&work->keyed, &work->reply->base);
}

int water_tax_notices_send(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    wt_t *self = arg;
    char *json = nagar_json_encode(request);
    if (!json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                      "the request holds text that is not valid UTF-8");
    notices_work_t work = {.keyed = nagar_rules_keyed_work(&self->rules, call, request),
                           .self = self, .request_json = json};
    int rc = nagar_db_transaction(self->rules.db, NAGAR_DB_READ_COMMITTED, notices_work, &work);
    free(json);
    rc = nagar_rules_keyed_answer(&self->rules, &work.keyed, rc,
                                  &nagar__water_tax__send_notices_reply__descriptor,
                                  work.reply ? &work.reply->base : NULL);
    notices_reply_free(&work.reply);
    return rc;
}
