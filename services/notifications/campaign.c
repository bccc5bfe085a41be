/*
 * campaign.c — reminder campaigns and opt-out (see campaign.h).
 *
 * A recipient is named by its account (and the owner's user id when
 * known), never by a contact. One whose params are refused is kept as
 * failed with the reason, and the rest of the batch goes on. The tick turns
 * recipients into events at the campaign's rate; the resolver
 * (recipients.c) finds each owner's contact as for any event.
 */
#include "campaign.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "event_params.h"
#include "event_rules.h"
#include "events.h"
#include "recipients.h"
#include "log.h"

#define CAMPAIGN_PARAMS_MAX (2 * EVENT_RULES_PARAMS_MAX)
#define TIME_TEXT(column)                                                                     \
    "coalesce(to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '')"

static const char *kind_name(Nagar__Notifications__CampaignKind kind)
{
    return kind == NAGAR__NOTIFICATIONS__CAMPAIGN_KIND__PROPERTY_TAX ? "property_tax"
           : kind == NAGAR__NOTIFICATIONS__CAMPAIGN_KIND__WATER_TAX  ? "water_tax"
                                                                     : NULL;
}

/* The tax services admitted by the method table feed campaigns on their
 * own authority (water tax's notices); everyone else acts for a person — a
 * user through the gateway, an operator's campaign grant through
 * nagar-batch — and needs a verified role for the ULB: the batch key alone
 * starts nothing (issue 12). */
static bool campaign_allowed(nagar_worker_call_t *call, const char *ulb)
{
    const char *caller = nagar_worker_call_caller(call);
    if (strcmp(caller, "property_tax") == 0 || strcmp(caller, "water_tax") == 0)
        return true;
    const char *role = notify_actor_role(call);
    if (strcmp(role, "STATE_ADMIN") == 0)
        return true;
    return (strcmp(role, "COMMISSIONER") == 0 || strcmp(role, "REVENUE_OFFICER") == 0) &&
           strcmp(nagar_actor_ulb(call), ulb) == 0;
}

/* Whether the caller may know a campaign of ulb exists at all: the tax
 * services, a STATE_ADMIN, or someone of that ULB. Another ULB's campaign is
 * answered as a missing one (issue 12), whatever the caller's role. */
static bool campaign_visible(nagar_worker_call_t *call, const char *ulb)
{
    const char *caller = nagar_worker_call_caller(call);
    if (strcmp(caller, "property_tax") == 0 || strcmp(caller, "water_tax") == 0 ||
        strcmp(notify_actor_role(call), "STATE_ADMIN") == 0)
        return true;
    return notify_actor_role(call)[0] && strcmp(nagar_actor_ulb(call), ulb) == 0;
}

static bool cycle_valid(const char *cycle)
{
    size_t length = strnlen(cycle, 41);
    if (length < 1 || length > 40)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = cycle[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* A campaign's reminders are its kind's events (due.reminder.<kind>, as if
 * published by that service): staff through the gateway, the batch tool or
 * that service may run one, and its params are checked against the type.
 * Loads the rule, or answers the call and returns false. */
static bool campaign_rule(notify_t *self, nagar_worker_call_t *call, const char *kind,
                          event_rule_t *rule)
{
    const char *caller = nagar_worker_call_caller(call);
    if (strcmp(caller, "gateway") != 0 && strcmp(caller, "batch") != 0 &&
        strcmp(caller, kind) != 0) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "kind",
                               "a %s campaign is run by staff, the batch tool or %s, not by %s",
                               kind, kind, caller);
        return false;
    }
    char type[64];
    snprintf(type, sizeof type, "due.reminder.%s", kind);
    if (notifications_event_rule_load(self, type, kind, rule) != 0) {
        nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
        return false;
    }
    if (!rule->known || !rule->publisher) {
        notifications_event_rule_clear(rule);
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "kind",
                               "event type %s has no rules for %s (notifications migrations)",
                               type, kind);
        return false;
    }
    return true;
}

/* Checks params against the campaign's rule and returns their JSON text
 * (normalised values), or NULL with outcome set. *account receives the
 * recipient's account when account is not NULL. */
static char *campaign_params(const event_rule_t *rule, const char *kind, const char *ulb,
                             Nagar__Notifications__Param **params, size_t count,
                             const char *field, char *account, size_t account_size,
                             nagar_outcome_t *outcome)
{
    char type[64];
    snprintf(type, sizeof type, "due.reminder.%s", kind);
    template_param_t checked[EVENT_RULES_PARAMS_MAX];
    event_rule_values_t *values = malloc(sizeof *values);
    if (!values) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
        return NULL;
    }
    char *text = NULL;
    if (notifications_event_rule_check_params(rule, type, ulb, params, count, field, checked,
                                              values, outcome)) {
        if (account) {
            account[0] = '\0';
            for (size_t i = 0; i < count; i++)
                if (strcmp(checked[i].name, "account") == 0)
                    snprintf(account, account_size, "%s", checked[i].value);
        }
        if (account && !account[0])
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                              "a recipient is named by its account (param account: the %s "
                              "it is about)",
                              rule->subject_kind);
        else if (!(text = notifications_events_params_json(checked, count)))
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    free(values);
    return text;
}

/* Reads the campaign with its progress counters. */
static PGresult *campaign_row(notify_t *self, const char *id)
{
    const char *values[] = {id};
    return nagar_service_query(
        self->db, "campaign_get",
        "SELECT c.id, c.ulb, c.kind, c.cycle, c.state, c.per_minute, " TIME_TEXT("c.created_at")
        ", (SELECT count(*) FROM notifications.campaign_recipient r WHERE r.campaign_id = c.id), "
        "(SELECT count(*) FROM notifications.campaign_recipient r WHERE r.campaign_id = c.id "
        "  AND r.queued_at IS NOT NULL AND r.outcome = 'queued'), "
        "(SELECT count(*) FROM notifications.message m WHERE m.campaign_id = c.id "
        "  AND m.status = 'sent'), "
        "(SELECT count(*) FROM notifications.message m WHERE m.campaign_id = c.id "
        "  AND m.status = 'dead'), "
        "(SELECT count(*) FROM notifications.message m WHERE m.campaign_id = c.id "
        "  AND m.status = 'suppressed'), "
        "(SELECT count(*) FROM notifications.campaign_recipient r WHERE r.campaign_id = c.id "
        "  AND r.queued_at IS NULL), "
        "(SELECT count(*) FROM notifications.campaign_recipient r WHERE r.campaign_id = c.id "
        "  AND r.outcome LIKE 'failed%') "
        "FROM notifications.campaign c WHERE c.id = $1::bigint",
        1, values);
}

static int reply_campaign(notify_t *self, nagar_worker_call_t *call, const char *id,
                          bool existing)
{
    PGresult *row = campaign_row(self, id);
    if (!row)
        return nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
    if (PQntuples(row) != 1) {
        PQclear(row);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "campaignId",
                                      "no campaign %s", id);
    }
    Nagar__Notifications__Campaign reply = NAGAR__NOTIFICATIONS__CAMPAIGN__INIT;
    reply.campaign_id = PQgetvalue(row, 0, 0);
    reply.ulb = PQgetvalue(row, 0, 1);
    reply.kind = strcmp(PQgetvalue(row, 0, 2), "property_tax") == 0
                     ? NAGAR__NOTIFICATIONS__CAMPAIGN_KIND__PROPERTY_TAX
                     : NAGAR__NOTIFICATIONS__CAMPAIGN_KIND__WATER_TAX;
    reply.cycle = PQgetvalue(row, 0, 3);
    const char *state = PQgetvalue(row, 0, 4);
    reply.state = strcmp(state, "open") == 0     ? NAGAR__NOTIFICATIONS__CAMPAIGN_STATE__OPEN
                  : strcmp(state, "closed") == 0 ? NAGAR__NOTIFICATIONS__CAMPAIGN_STATE__CLOSED
                                                 : NAGAR__NOTIFICATIONS__CAMPAIGN_STATE__DONE;
    reply.per_minute = (uint32_t) strtoul(PQgetvalue(row, 0, 5), NULL, 10);
    reply.created_at = PQgetvalue(row, 0, 6);
    reply.recipients = (uint32_t) strtoul(PQgetvalue(row, 0, 7), NULL, 10);
    reply.queued = (uint32_t) strtoul(PQgetvalue(row, 0, 8), NULL, 10);
    reply.sent = (uint32_t) strtoul(PQgetvalue(row, 0, 9), NULL, 10);
    reply.dead = (uint32_t) strtoul(PQgetvalue(row, 0, 10), NULL, 10);
    reply.suppressed = (uint32_t) strtoul(PQgetvalue(row, 0, 11), NULL, 10);
    reply.pending = (uint32_t) strtoul(PQgetvalue(row, 0, 12), NULL, 10);
    reply.failed = (uint32_t) strtoul(PQgetvalue(row, 0, 13), NULL, 10);
    reply.existing = existing;
    if (!campaign_visible(call, reply.ulb)) {
        PQclear(row);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "campaignId",
                                      "no campaign %s", id);
    }
    if (!campaign_allowed(call, reply.ulb)) {
        PQclear(row);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "campaigns of a ULB are for its COMMISSIONER or REVENUE_"
                                      "OFFICER, or a STATE_ADMIN");
    }
    int rc = nagar_worker_call_reply(call, &reply.base);
    PQclear(row);
    return rc;
}

int notifications_campaign_start(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                 void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__StartCampaignRequest *request =
        (const Nagar__Notifications__StartCampaignRequest *) message;
    if (!notify_ulb_valid(request->ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be the LGD code of the ULB (1 to 10 digits)");
    if (!campaign_allowed(call, request->ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "campaigns of a ULB are for its COMMISSIONER or "
                                      "REVENUE_OFFICER, or a STATE_ADMIN");
    const char *kind = kind_name(request->kind);
    if (!kind)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "kind",
                                      "kind must be PROPERTY_TAX or WATER_TAX");
    if (!cycle_valid(request->cycle))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "cycle",
                                      "cycle names the round of reminders, e.g. the due date "
                                      "2026-06-30: 1 to 40 of [0-9A-Za-z._-]");
    if (request->per_minute > 100000)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "perMinute",
                                      "perMinute is at most 100000");
    event_rule_t rule;
    if (!campaign_rule(self, call, kind, &rule))
        return -1;
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    char *params = campaign_params(&rule, kind, request->ulb, request->params,
                                   request->n_params, "params", NULL, 0, &outcome);
    notifications_event_rule_clear(&rule);
    if (!params) {
        notifications_event_rule_log_refusal(nagar_worker_call_caller(call), kind, &outcome);
        return nagar_worker_call_fail(call, outcome.code, outcome.field, "%s", outcome.message);
    }
    char per_minute[24];
    snprintf(per_minute, sizeof per_minute, "%ld",
             request->per_minute ? (long) request->per_minute : self->campaign_per_minute);
    const char *created_by = nagar_actor_user(call)[0] ? nagar_actor_user(call)
                                                         : nagar_worker_call_caller(call);
    const char *values[] = {request->ulb, kind, request->cycle, per_minute, params, created_by};
    PGresult *result = nagar_service_query(
        self->db, "campaign_insert",
        "INSERT INTO notifications.campaign (ulb, kind, cycle, per_minute, params, created_by) "
        "VALUES ($1, $2, $3, $4::int, $5::jsonb, $6) ON CONFLICT (ulb, kind, cycle) DO NOTHING "
        "RETURNING id",
        6, values);
    free(params);
    if (!result)
        return nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
    bool existing = PQntuples(result) == 0;
    char id[24];
    if (existing) {
        PQclear(result);
        result = nagar_service_query(self->db, "campaign_find",
                                     "SELECT id FROM notifications.campaign "
                                     "WHERE ulb = $1 AND kind = $2 AND cycle = $3",
                                     3, values);
        if (!result || PQntuples(result) != 1) {
            if (result)
                PQclear(result);
            return nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
        }
    }
    snprintf(id, sizeof id, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    json_t *fields = json_pack("{s:s, s:s, s:s, s:s, s:b}", "campaign_id", id, "ulb",
                               request->ulb, "kind", kind, "cycle", request->cycle, "existing",
                               existing);
    nagar_log_write(NAGAR_LOG_INFO, "notifications.campaign_started", fields,
                    existing ? "campaign was started before; returning it" : "campaign started");
    return reply_campaign(self, call, id, existing);
}

typedef struct {
    notify_t *self;
    nagar_worker_call_t *call;
    const Nagar__Notifications__AddRecipientsRequest *request;
    const char *kind;
    char **params;              /* each recipient's checked params, JSON text; NULL: refused */
    char (*subjects)[120];      /* each recipient's record */
    char (*refusals)[700];      /* why a recipient was refused */
    uint32_t added;
    uint32_t present;
    nagar_outcome_t outcome;
} add_work_t;

static int add_work(nagar_db_t *db, void *arg)
{
    (void) db;
    add_work_t *work = arg;
    notify_t *self = work->self;
    nagar_outcome_reset(&work->outcome);
    work->added = work->present = 0;
    const char *id_values[] = {work->request->campaign_id};
    PGresult *result = nagar_service_query(self->db, "campaign_lock",
                                           "SELECT ulb, state FROM notifications.campaign "
                                           "WHERE id = $1::bigint FOR UPDATE",
                                           1, id_values);
    if (!result)
        return -1;
    if (PQntuples(result) != 1) {
        PQclear(result);
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__NOT_FOUND, "campaignId",
                          "no campaign %s", work->request->campaign_id);
        return 1;
    }
    bool visible = campaign_visible(work->call, PQgetvalue(result, 0, 0));
    bool allowed = campaign_allowed(work->call, PQgetvalue(result, 0, 0));
    bool open = strcmp(PQgetvalue(result, 0, 1), "open") == 0;
    PQclear(result);
    if (!visible) {
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__NOT_FOUND, "campaignId",
                          "no campaign %s", work->request->campaign_id);
        return 1;
    }
    if (!allowed) {
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                          "campaigns of a ULB are for its COMMISSIONER or REVENUE_OFFICER, or "
                          "a STATE_ADMIN");
        return 1;
    }
    if (!open) {
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "campaignId",
                          "campaign %s is closed: its last batch was added; start a new cycle "
                          "for new reminders",
                          work->request->campaign_id);
        return 1;
    }
    for (size_t i = 0; i < work->request->n_recipients; i++) {
        const Nagar__Notifications__CampaignRecipient *item = work->request->recipients[i];
        const Nagar__Notifications__Recipient *r = item->recipient;
        /* One per account and campaign; a recipient refused for its params
         * is kept as failed, with the reason, and counted. */
        char key[300], outcome[720];
        bool refused = !work->params[i];
        if (refused) {
            char id[33];
            nagar_bus_new_id(id);
            snprintf(key, sizeof key, "refused:%s", id);
        }
        else
            snprintf(key, sizeof key, "%s", work->subjects[i]);
        snprintf(outcome, sizeof outcome, "failed: %s", refused ? work->refusals[i] : "");
        const char *values[] = {work->request->campaign_id,
                                key,
                                r && r->language[0] ? r->language : "hi",
                                r ? r->user_id : "",
                                refused ? "[]" : work->params[i],
                                refused ? "" : work->subjects[i],
                                refused ? outcome : NULL};
        result = nagar_service_query(
            self->db, "campaign_recipient_insert",
            "INSERT INTO notifications.campaign_recipient (campaign_id, recipient_key, language, "
            "user_id, params, subject, queued_at, outcome) VALUES ($1::bigint, $2, $3, $4, "
            "$5::jsonb, $6, CASE WHEN $7::text IS NULL THEN NULL ELSE now() END, "
            "coalesce($7, '')) ON CONFLICT (campaign_id, recipient_key) DO NOTHING RETURNING id",
            7, values);
        if (!result)
            return -1;
        if (PQntuples(result) == 1)
            work->added++;
        else
            work->present++;
        PQclear(result);
    }
    if (work->request->last_batch) {
        result = nagar_service_query(self->db, "campaign_close",
                                     "UPDATE notifications.campaign SET state = 'closed' "
                                     "WHERE id = $1::bigint AND state = 'open'",
                                     1, id_values);
        if (!result)
            return -1;
        PQclear(result);
    }
    return 0;
}

static int added_reply(nagar_worker_call_t *call,
                       const Nagar__Notifications__AddRecipientsRequest *request, uint32_t added,
                       uint32_t present);

int notifications_campaign_add_recipients(nagar_worker_call_t *call,
                                          const ProtobufCMessage *message, void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__AddRecipientsRequest *request =
        (const Nagar__Notifications__AddRecipientsRequest *) message;
    char *end = NULL;
    if (!request->campaign_id[0] || strtoll(request->campaign_id, &end, 10) <= 0 || *end)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "campaignId",
                                      "campaignId must be the id campaign.start returned");
    if (request->n_recipients > CAMPAIGN_BATCH_MAX)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "recipients",
                                      "at most %d recipients per call; send the rest in further "
                                      "batches",
                                      CAMPAIGN_BATCH_MAX);
    /* The campaign's kind says whose reminders these are and what they may carry. */
    const char *id_values[] = {request->campaign_id};
    PGresult *found = nagar_service_query(self->db, "campaign_kind",
                                          "SELECT kind, ulb FROM notifications.campaign "
                                          "WHERE id = $1::bigint",
                                          1, id_values);
    if (!found)
        return nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
    if (PQntuples(found) != 1) {
        PQclear(found);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "campaignId",
                                      "no campaign %s", request->campaign_id);
    }
    char kind[32], ulb[16];
    snprintf(kind, sizeof kind, "%s", PQgetvalue(found, 0, 0));
    snprintf(ulb, sizeof ulb, "%s", PQgetvalue(found, 0, 1));
    PQclear(found);
    event_rule_t rule;
    if (!campaign_rule(self, call, kind, &rule))
        return -1;
    size_t n = request->n_recipients ? request->n_recipients : 1;
    char **params = calloc(n, sizeof *params);
    char (*subjects)[120] = calloc(n, sizeof *subjects);
    char (*refusals)[700] = calloc(n, sizeof *refusals);
    int rc = params && subjects && refusals ? 0 : -2;
    for (size_t i = 0; rc == 0 && i < request->n_recipients; i++) {
        char field[64];
        nagar_outcome_t outcome;
        nagar_outcome_reset(&outcome);
        snprintf(field, sizeof field, "recipients[%zu].recipient", i);
        if (!notifications_events_named_recipient_check(request->recipients[i]->recipient, field,
                                                        &outcome)) {
            notifications_event_rule_log_refusal(nagar_worker_call_caller(call), kind, &outcome);
            rc = nagar_worker_call_fail(call, outcome.code, outcome.field, "%s",
                                        outcome.message);
            rc = rc < 0 ? rc : -1;
            break;
        }
        snprintf(field, sizeof field, "recipients[%zu].params", i);
        char account[80];
        params[i] = campaign_params(&rule, kind, ulb, request->recipients[i]->params,
                                    request->recipients[i]->n_params, field, account,
                                    sizeof account, &outcome);
        if (params[i]) {
            snprintf(subjects[i], sizeof subjects[i], "%s:%s", rule.subject_kind, account);
        } else {
            snprintf(refusals[i], sizeof refusals[i], "%s%s%s", outcome.field,
                     outcome.field[0] ? ": " : "", outcome.message);
            notifications_event_rule_log_refusal(nagar_worker_call_caller(call), kind, &outcome);
        }
    }
    notifications_event_rule_clear(&rule);
    if (rc == 0) {
        add_work_t work = {.self = self, .call = call, .request = request, .kind = kind,
                           .params = params, .subjects = subjects, .refusals = refusals};
        rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, add_work, &work);
        if (rc != 0)
            rc = nagar_service_fail(self->db, NOTIFY_SERVICE, call, rc, &work.outcome);
        else
            rc = added_reply(call, request, work.added, work.present);
    } else if (rc == -2) {
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; params && i < request->n_recipients; i++)
        free(params[i]);
    free(params);
    free(subjects);
    free(refusals);
    return rc;
}

static int added_reply(nagar_worker_call_t *call,
                       const Nagar__Notifications__AddRecipientsRequest *request, uint32_t added,
                       uint32_t present)
{
    json_t *fields = json_pack("{s:s, s:i, s:i, s:b}", "campaign_id", request->campaign_id,
                               "added", (int) added, "already_present", (int) present,
                               "last_batch", request->last_batch);
    nagar_log_write(NAGAR_LOG_INFO, "notifications.campaign_recipients", fields,
                    "campaign recipients added");
    Nagar__Notifications__AddRecipientsReply reply =
        NAGAR__NOTIFICATIONS__ADD_RECIPIENTS_REPLY__INIT;
    reply.added = added;
    reply.already_present = present;
    return nagar_worker_call_reply(call, &reply.base);
}

int notifications_campaign_status(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                  void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__CampaignStatusRequest *request =
        (const Nagar__Notifications__CampaignStatusRequest *) message;
    char *end = NULL;
    if (!request->campaign_id[0] || strtoll(request->campaign_id, &end, 10) <= 0 || *end)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "campaignId",
                                      "campaignId must be the id campaign.start returned");
    return reply_campaign(self, call, request->campaign_id, false);
}

/* ---- the tick ---------------------------------------------------------------------- */

typedef struct {
    notify_t *self;
    int queued;
} tick_work_t;

/* Turns up to allowance of the campaign's pending recipients into events
 * (due.reminder.<kind>, as the kind's service's): the resolver finds each
 * account's owner and contact as for any event. Returns how many, or -1. */
static int queue_recipients(notify_t *self, tick_work_t *work, PGresult *campaign, int row,
                            long allowance)
{
    const char *campaign_id = PQgetvalue(campaign, row, 0);
    const char *ulb = PQgetvalue(campaign, row, 1);
    const char *kind = PQgetvalue(campaign, row, 2);
    char limit[24];
    snprintf(limit, sizeof limit, "%ld", allowance);
    const char *values[] = {campaign_id, limit};
    PGresult *recipients = nagar_service_query(
        self->db, "campaign_pending",
        "SELECT id, subject, language, user_id, params::text "
        "FROM notifications.campaign_recipient WHERE campaign_id = $1::bigint "
        "AND queued_at IS NULL ORDER BY id LIMIT $2::int FOR UPDATE SKIP LOCKED",
        2, values);
    if (!recipients)
        return -1;
    char type[64];
    snprintf(type, sizeof type, "due.reminder.%s", kind);
    event_rule_t rule;
    if (notifications_event_rule_load(self, type, kind, &rule) != 0) {
        PQclear(recipients);
        return -1;
    }
    bool essential = rule.essential;
    notifications_event_rule_clear(&rule);
    json_t *campaign_params = json_loads(PQgetvalue(campaign, row, 3), 0, NULL);
    int done = 0, rc = 0;
    for (int i = 0; i < PQntuples(recipients) && rc == 0; i++) {
        const char *recipient_id = PQgetvalue(recipients, i, 0);
        json_t *own_params = json_loads(PQgetvalue(recipients, i, 4), 0, NULL);
        /* The recipient's value wins over the campaign's. */
        template_param_t params[CAMPAIGN_PARAMS_MAX];
        size_t count =
            notifications_events_params_from_json(campaign_params, params, 0, CAMPAIGN_PARAMS_MAX);
        count =
            notifications_events_params_from_json(own_params, params, count, CAMPAIGN_PARAMS_MAX);
        char *params_json = notifications_events_params_json(params, count);
        json_decref(own_params);
        if (!params_json) {
            rc = -1;
            break;
        }
        char event_id[96];
        snprintf(event_id, sizeof event_id, "campaign:%s:%s", campaign_id, recipient_id);
        event_record_t record = {.event_id = event_id, .type = type, .ulb = ulb, .source = kind,
                                 .subject = PQgetvalue(recipients, i, 1),
                                 .user_id = PQgetvalue(recipients, i, 3),
                                 .language = PQgetvalue(recipients, i, 2),
                                 .params_json = params_json,
                                 .occurred_at_ms = nagar_bus_now_ms(), .essential = essential,
                                 .campaign_id = campaign_id};
        enqueued_ids_t ids;
        rc = notifications_events_record(self, &record, &ids) < 0 ? -1 : 0;
        free(params_json);
        if (rc != 0)
            break;
        const char *mark_values[] = {recipient_id};
        PGresult *marked =
            nagar_service_query(self->db, "campaign_recipient_mark",
                                "UPDATE notifications.campaign_recipient SET queued_at = "
                                "now(), outcome = 'queued' WHERE id = $1::bigint",
                                1, mark_values);
        if (!marked) {
            rc = -1;
            break;
        }
        PQclear(marked);
        work->queued++;
        done++;
    }
    json_decref(campaign_params);
    PQclear(recipients);
    return rc != 0 ? -1 : done;
}

static int tick_work(nagar_db_t *db, void *arg)
{
    (void) db;
    tick_work_t *work = arg;
    notify_t *self = work->self;
    work->queued = 0;
    char batch[24];
    snprintf(batch, sizeof batch, "%ld", self->campaign_batch);
    const char *values[] = {batch};
    /* Credit: per_minute per 60 s since the last run, at most a minute's worth. */
    PGresult *campaigns = nagar_service_query(
        self->db, "campaign_due",
        "SELECT id, ulb, kind, params::text, state, "
        "least(floor(extract(epoch FROM now() - last_enqueue_at) * per_minute / 60.0), "
        "      per_minute, $1::int)::int, per_minute "
        "FROM notifications.campaign WHERE state IN ('open', 'closed') "
        "ORDER BY last_enqueue_at LIMIT 5 FOR UPDATE SKIP LOCKED",
        1, values);
    if (!campaigns)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(campaigns) && rc == 0; i++) {
        long allowance = strtol(PQgetvalue(campaigns, i, 5), NULL, 10);
        if (allowance < 1)
            continue;
        int done = queue_recipients(self, work, campaigns, i, allowance);
        if (done < 0) {
            rc = -1;
            break;
        }
        char done_text[16];
        snprintf(done_text, sizeof done_text, "%d", done);
        const char *update_values[] = {PQgetvalue(campaigns, i, 0), done_text};
        PGresult *updated = nagar_service_query(
            self->db, "campaign_advance",
            "UPDATE notifications.campaign SET last_enqueue_at = greatest("
            "  last_enqueue_at + make_interval(secs => $2::int * 60.0 / per_minute), "
            "  now() - interval '60 seconds'), "
            "state = CASE WHEN state = 'closed' AND NOT EXISTS (SELECT 1 FROM "
            "  notifications.campaign_recipient r WHERE r.campaign_id = $1::bigint "
            "  AND r.queued_at IS NULL) THEN 'done' ELSE state END "
            "WHERE id = $1::bigint",
            2, update_values);
        if (!updated) {
            rc = -1;
            break;
        }
        PQclear(updated);
    }
    PQclear(campaigns);
    return rc;
}

void notifications_campaign_tick(notify_t *self)
{
    tick_work_t work = {.self = self};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, tick_work, &work);
    if (rc != 0) {
        nagar_log_warn("notifications.campaign_tick_failed",
                       "queueing campaign recipients failed: %s; retried next tick",
                       nagar_db_error(self->db));
        return;
    }
    if (work.queued) {
        json_t *fields = json_pack("{s:i}", "queued", work.queued);
        nagar_log_write(NAGAR_LOG_INFO, "notifications.campaign_progress", fields,
                        "campaign recipients handed to the resolver");
        notifications_recipients_wake(self->recipients);
    }
}

/* ---- opt-out ------------------------------------------------------------------------- */

int notifications_optout_set(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__SetOptOutRequest *request =
        (const Nagar__Notifications__SetOptOutRequest *) message;
    int named = (request->user_id[0] != '\0') + (request->mobile[0] != '\0') +
                (request->email[0] != '\0');
    if (named != 1)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                      "name exactly one of userId, mobile, email");
    const char *role = notify_actor_role(call);
    char subject[300];
    if (request->user_id[0]) {
        if (!notify_text_valid(request->user_id, 1, 100))
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "userId",
                                          "userId is at most 100 printable characters");
        bool own = strcmp(role, "CITIZEN") == 0 &&
                   strcmp(request->user_id, nagar_actor_user(call)) == 0;
        if (!own && !notify_actor_is_staff(call))
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "userId",
                                          "a citizen may only change their own opt-out");
        snprintf(subject, sizeof subject, "user:%s", request->user_id);
    } else {
        if (!notify_actor_is_staff(call))
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                          "opting a number or address out is done by staff at "
                                          "the citizen's request; citizens use their user id");
        if (request->mobile[0] && !notify_mobile_valid(request->mobile))
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "mobile",
                                          "mobile must be a 10-digit Indian mobile number");
        if (request->email[0] && !notify_email_valid(request->email))
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "email",
                                          "email must be a plain address such as a@b.in");
        snprintf(subject, sizeof subject, "%s:%s", request->mobile[0] ? "mobile" : "email",
                 request->mobile[0] ? request->mobile : request->email);
    }
    const char *values[] = {subject, request->opted_out ? "t" : "f", nagar_actor_user(call)};
    PGresult *result = nagar_service_query(
        self->db, "optout_upsert",
        "INSERT INTO notifications.opt_out (subject, opted_out, updated_by) "
        "VALUES ($1, $2::boolean, $3) ON CONFLICT (subject) DO UPDATE SET "
        "opted_out = excluded.opted_out, updated_by = excluded.updated_by, updated_at = now() "
        "RETURNING " TIME_TEXT("updated_at"),
        3, values);
    if (!result)
        return nagar_service_fail(self->db, NOTIFY_SERVICE, call, -1, NULL);
    json_t *fields = json_pack("{s:b, s:s}", "opted_out", request->opted_out, "by",
                               nagar_actor_user(call));
    nagar_log_write(NAGAR_LOG_INFO, "notifications.opt_out", fields, "opt-out recorded");
    Nagar__Notifications__OptOut reply = NAGAR__NOTIFICATIONS__OPT_OUT__INIT;
    reply.subject = subject;
    reply.opted_out = request->opted_out;
    reply.updated_at = PQgetvalue(result, 0, 0);
    int rc = nagar_worker_call_reply(call, &reply.base);
    PQclear(result);
    return rc;
}
