/*
 * delivery.c — the delivery loop and message.list (see delivery.h).
 *
 * The database is the queue: status queued -> sending (claimed, with a
 * lease) -> sent | queued again (retry, deferral) | dead | suppressed.
 * Every state change of a claimed message is conditional on it still
 * being 'sending', so a process whose lease ran out cannot overwrite the
 * outcome of the process that took the message over.
 */
#include "delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "log.h"

#define MAX_IN_FLIGHT_LIMIT 256
#define LIST_PAGE_DEFAULT 50
#define LIST_PAGE_MAX 200
#define TIME_TEXT(column)                                                                     \
    "coalesce(to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '')"

typedef struct {
    transfer_t *transfer;
    int64_t message_id;
    int attempts;
    bool email;
} in_flight_t;

struct delivery_t {
    notify_t *owner;
    CURLM *multi;
    channel_t *sms;
    channel_t *email;
    file_channel_t *file;
    long timeout_ms;
    long connect_timeout_ms;
    long max_attempts;
    long retry_base_ms;
    long retry_max_ms;
    long max_in_flight;
    long tick_budget_ms;
    long rate_limit;
    long rate_window_s;
    bool quiet;
    int quiet_start_min;
    int quiet_end_min;
    in_flight_t *flights;
    int flight_count;
};

static int get_long(notify_t *owner, const char *key, long default_value, long min, long max,
                    long *out, char *error, size_t error_size)
{
    return nagar_config_get_int(owner->config, key, default_value, min, max, out, error,
                                error_size);
}

static int parse_quiet_hours(delivery_t *self, const char *text, char *error, size_t error_size)
{
    if (!text[0] || strcmp(text, "off") == 0) {
        self->quiet = false;
        return 0;
    }
    int h1, m1, h2, m2;
    char tail;
    if (sscanf(text, "%2d:%2d-%2d:%2d%c", &h1, &m1, &h2, &m2, &tail) != 4 || h1 < 0 || h1 > 23 ||
        h2 < 0 || h2 > 23 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59 || (h1 == h2 && m1 == m2)) {
        snprintf(error, error_size, "NAGAR_NOTIFY_QUIET_HOURS=\"%.40s\" must be HH:MM-HH:MM in "
                 "IST (e.g. 21:00-08:00) or off", text);
        return -1;
    }
    self->quiet = true;
    self->quiet_start_min = h1 * 60 + m1;
    self->quiet_end_min = h2 * 60 + m2;
    return 0;
}

delivery_t *notifications_delivery_new(notify_t *owner, char *error, size_t error_size)
{
    delivery_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    self->owner = owner;
    if (get_long(owner, "NAGAR_NOTIFY_HTTP_TIMEOUT_MS", 10000, 100, 120000, &self->timeout_ms,
                 error, error_size) ||
        get_long(owner, "NAGAR_NOTIFY_CONNECT_TIMEOUT_MS", 3000, 50, 60000,
                 &self->connect_timeout_ms, error, error_size) ||
        get_long(owner, "NAGAR_NOTIFY_MAX_ATTEMPTS", 6, 1, 100, &self->max_attempts, error,
                 error_size) ||
        get_long(owner, "NAGAR_NOTIFY_RETRY_BASE_MS", 30000, 10, 86400000, &self->retry_base_ms,
                 error, error_size) ||
        get_long(owner, "NAGAR_NOTIFY_RETRY_MAX_MS", 3600000, 10, 86400000, &self->retry_max_ms,
                 error, error_size) ||
        get_long(owner, "NAGAR_NOTIFY_MAX_IN_FLIGHT", 16, 1, MAX_IN_FLIGHT_LIMIT,
                 &self->max_in_flight, error, error_size) ||
        get_long(owner, "NAGAR_NOTIFY_TICK_BUDGET_MS", 300, 10, 1000, &self->tick_budget_ms,
                 error, error_size) ||
        get_long(owner, "NAGAR_NOTIFY_RATE_PER_RECIPIENT", 5, 1, 100000, &self->rate_limit,
                 error, error_size) ||
        get_long(owner, "NAGAR_NOTIFY_RATE_WINDOW_S", 3600, 1, 7 * 86400, &self->rate_window_s,
                 error, error_size) ||
        parse_quiet_hours(self, nagar_config_get(owner->config, "NAGAR_NOTIFY_QUIET_HOURS",
                                                 "21:00-08:00"),
                          error, error_size))
        goto failed;
    if (self->connect_timeout_ms > self->timeout_ms)
        self->connect_timeout_ms = self->timeout_ms;
    self->flights = calloc((size_t) self->max_in_flight, sizeof *self->flights);
    self->multi = curl_multi_init();
    if (!self->flights || !self->multi) {
        snprintf(error, error_size, "out of memory");
        goto failed;
    }
    self->sms = notifications_sms_channel_new(owner->config, self->timeout_ms,
                                              self->connect_timeout_ms, error, error_size);
    if (!self->sms && error[0])
        goto failed;
    self->email = notifications_email_channel_new(owner->config, self->timeout_ms,
                                                  self->connect_timeout_ms, error, error_size);
    if (!self->email && error[0])
        goto failed;
    self->file = notifications_file_channel_new(owner->config, error, error_size);
    if (!self->file && error[0])
        goto failed;
    json_t *fields = json_pack("{s:s, s:s, s:b, s:i, s:i, s:i}", "sms",
                               self->sms ? "http" : self->file ? "file" : "none", "email",
                               self->email ? "smtp" : self->file ? "file" : "none", "quiet_hours",
                               self->quiet, "max_attempts", (int) self->max_attempts,
                               "timeout_ms", (int) self->timeout_ms, "max_in_flight",
                               (int) self->max_in_flight);
    nagar_log_write(NAGAR_LOG_INFO, "notifications.channels", fields, "delivery channels ready");
    if (self->file)
        nagar_log_warn("notifications.file_channel",
                       "the development file channel is on (NAGAR_NOTIFY_FILE_SINK): message "
                       "texts, one-time passwords included, are written to a file");
    return self;
failed:
    notifications_delivery_destroy(&self);
    return NULL;
}

void notifications_delivery_destroy(delivery_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    delivery_t *self = *self_p;
    if (self->flight_count > 0)
        nagar_log_warn("notifications.delivery_abandoned",
                       "%d transfer(s) were in flight at shutdown; their messages are sent again "
                       "when their lease ends",
                       self->flight_count);
    for (int i = 0; i < self->flight_count; i++) {
        curl_multi_remove_handle(self->multi, self->flights[i].transfer->easy);
        notifications_transfer_destroy(&self->flights[i].transfer);
    }
    if (self->multi)
        curl_multi_cleanup(self->multi);
    notifications_channel_destroy(&self->sms);
    notifications_channel_destroy(&self->email);
    notifications_file_channel_destroy(&self->file);
    free(self->flights);
    free(self);
    *self_p = NULL;
}

bool notifications_delivery_has_channel(delivery_t *self, const char *channel)
{
    if (self->file)
        return true;
    return strcmp(channel, "sms") == 0 ? self->sms != NULL : self->email != NULL;
}

/* ---- outcomes ------------------------------------------------------------------ */

static void log_outcome(nagar_log_level_t level, const char *event, int64_t id, int attempts,
                        const char *detail, const char *format)
{
    json_t *fields = json_pack("{s:I, s:i, s:s}", "message_id", (json_int_t) id, "attempts",
                               attempts, "detail", detail);
    nagar_log_write(level, event, fields, format, (long long) id);
}

static void exec_update(delivery_t *self, const char *name, const char *sql, int nparams,
                        const char *const *values, int64_t id)
{
    PGresult *result = nagar_service_query(self->owner->db, name, sql, nparams, values);
    if (result) {
        PQclear(result);
        return;
    }
    /* The lease runs out and the message is claimed again: late, not lost. */
    nagar_log_error("notifications.update_failed",
                    "recording the outcome of message %lld failed: %s; it will be retried when "
                    "its lease ends",
                    (long long) id, nagar_db_error(self->owner->db));
}

static void record_result(delivery_t *self, int64_t id, int attempts, const send_result_t *result)
{
    char id_text[24], delay_text[24];
    snprintf(id_text, sizeof id_text, "%lld", (long long) id);
    if (result->status == SEND_OK) {
        const char *values[] = {id_text, result->provider_id};
        exec_update(self, "message_sent",
                    "UPDATE notifications.message SET status = 'sent', sent_at = now(), "
                    "provider_message_id = $2, last_error = '', body_sealed = NULL, "
                    "seal_key_id = NULL, lease_until = NULL, updated_at = now() "
                    "WHERE id = $1::bigint AND status = 'sending'",
                    2, values, id);
        log_outcome(NAGAR_LOG_INFO, "notifications.sent", id, attempts, result->provider_id,
                    "message %lld sent");
        return;
    }
    if (result->status == SEND_RETRY && attempts < self->max_attempts) {
        /* base * 2^(attempt-1), capped, jittered over its upper half. */
        double delay = (double) self->retry_base_ms;
        for (int i = 1; i < attempts && delay < (double) self->retry_max_ms; i++)
            delay *= 2;
        if (delay > (double) self->retry_max_ms)
            delay = (double) self->retry_max_ms;
        long jittered = (long) (delay / 2 + (delay / 2) * (randombytes_uniform(10001) / 10000.0));
        snprintf(delay_text, sizeof delay_text, "%ld", jittered);
        const char *values[] = {id_text, result->error, delay_text};
        exec_update(self, "message_retry",
                    "UPDATE notifications.message SET status = 'queued', last_error = $2, "
                    "next_attempt_at = now() + make_interval(secs => $3::bigint / 1000.0), "
                    "lease_until = NULL, updated_at = now() "
                    "WHERE id = $1::bigint AND status = 'sending'",
                    3, values, id);
        log_outcome(NAGAR_LOG_WARN, "notifications.retry", id, attempts, result->error,
                    "message %lld failed; retrying later");
        return;
    }
    const char *values[] = {id_text, result->error};
    exec_update(self, "message_dead",
                "UPDATE notifications.message SET status = 'dead', last_error = $2, "
                "body_sealed = NULL, seal_key_id = NULL, lease_until = NULL, updated_at = now() "
                "WHERE id = $1::bigint AND status = 'sending'",
                2, values, id);
    log_outcome(NAGAR_LOG_ERROR, "notifications.dead", id, attempts, result->error,
                "message %lld dead-lettered");
}

static void defer_message(delivery_t *self, int64_t id, long seconds, const char *why)
{
    char id_text[24], seconds_text[24];
    snprintf(id_text, sizeof id_text, "%lld", (long long) id);
    snprintf(seconds_text, sizeof seconds_text, "%ld", seconds);
    const char *values[] = {id_text, seconds_text, why};
    /* A deferral is not an attempt. */
    exec_update(self, "message_defer",
                "UPDATE notifications.message SET status = 'queued', attempts = attempts - 1, "
                "next_attempt_at = now() + make_interval(secs => $2::bigint), last_error = $3, "
                "lease_until = NULL, updated_at = now() "
                "WHERE id = $1::bigint AND status = 'sending'",
                3, values, id);
    json_t *fields = json_pack("{s:I, s:i, s:s}", "message_id", (json_int_t) id, "seconds",
                               (int) seconds, "reason", why);
    nagar_log_write(NAGAR_LOG_INFO, "notifications.deferred", fields, "message %lld deferred",
                    (long long) id);
}

static void suppress_message(delivery_t *self, int64_t id)
{
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%lld", (long long) id);
    const char *values[] = {id_text};
    exec_update(self, "message_suppress",
                "UPDATE notifications.message SET status = 'suppressed', "
                "last_error = 'the recipient opted out of non-essential messages', "
                "body_sealed = NULL, seal_key_id = NULL, lease_until = NULL, updated_at = now() "
                "WHERE id = $1::bigint AND status = 'sending'",
                1, values, id);
    json_t *fields = json_pack("{s:I}", "message_id", (json_int_t) id);
    nagar_log_write(NAGAR_LOG_INFO, "notifications.suppressed", fields,
                    "message %lld not sent: the recipient opted out", (long long) id);
}

/* Seconds until the quiet window ends, 0 when it is not quiet now (IST is
 * UTC+05:30 all year). */
static long quiet_seconds_left(delivery_t *self)
{
    if (!self->quiet)
        return 0;
    long second_of_day = (long) ((time(NULL) + 19800) % 86400);
    long minute = second_of_day / 60;
    bool inside = self->quiet_start_min < self->quiet_end_min
                      ? minute >= self->quiet_start_min && minute < self->quiet_end_min
                      : minute >= self->quiet_start_min || minute < self->quiet_end_min;
    if (!inside)
        return 0;
    long left = ((long) self->quiet_end_min * 60 - second_of_day + 86400) % 86400;
    return left > 0 ? left : 60;
}

/* ---- claiming and starting ------------------------------------------------------ */

enum {
    COL_ID, COL_CHANNEL, COL_ADDRESS, COL_ESSENTIAL, COL_SUBJECT, COL_BODY, COL_SEALED,
    COL_DLT, COL_SEGMENTS, COL_ENCODING, COL_ATTEMPTS, COL_EXPIRED, COL_OPTED_OUT, COL_RECENT,
};

/* Returns whether the message was handed to a channel (counts against the
 * rate limit), false when it was deferred, suppressed or failed early. */
static bool start_one(delivery_t *self, PGresult *rows, int row, long quiet_left,
                      long earlier_in_batch)
{
    int64_t id = strtoll(PQgetvalue(rows, row, COL_ID), NULL, 10);
    int attempts = atoi(PQgetvalue(rows, row, COL_ATTEMPTS));
    bool essential = strcmp(PQgetvalue(rows, row, COL_ESSENTIAL), "t") == 0;
    bool email = strcmp(PQgetvalue(rows, row, COL_CHANNEL), "email") == 0;
    send_result_t result = {.status = SEND_REJECTED};

    if (strcmp(PQgetvalue(rows, row, COL_EXPIRED), "t") == 0) {
        snprintf(result.error, sizeof result.error,
                 "expired before it could be sent (its validity ended)");
        record_result(self, id, attempts, &result);
        return false;
    }
    if (!essential) {
        if (strcmp(PQgetvalue(rows, row, COL_OPTED_OUT), "t") == 0) {
            suppress_message(self, id);
            return false;
        }
        if (quiet_left > 0) {
            defer_message(self, id, quiet_left, "quiet hours (IST)");
            return false;
        }
        if (strtol(PQgetvalue(rows, row, COL_RECENT), NULL, 10) + earlier_in_batch >=
            self->rate_limit) {
            long wait = self->rate_window_s / self->rate_limit;
            defer_message(self, id, wait > 0 ? wait : 1, "per-recipient rate limit");
            return false;
        }
    }
    char *unsealed = NULL;
    const char *body = PQgetvalue(rows, row, COL_BODY);
    if (!PQgetisnull(rows, row, COL_SEALED)) {
        unsealed = notify_unseal(self->owner, PQgetvalue(rows, row, COL_SEALED));
        if (!unsealed) {
            snprintf(result.error, sizeof result.error,
                     "the sealed body cannot be opened with this process's key "
                     "(NAGAR_NOTIFY_SEAL_KEY_FILE differs or was replaced)");
            record_result(self, id, attempts, &result);
            return false;
        }
        body = unsealed;
    }
    outgoing_t message = {.message_id = id,
                          .address = PQgetvalue(rows, row, COL_ADDRESS),
                          .subject = PQgetvalue(rows, row, COL_SUBJECT),
                          .body = body,
                          .dlt_template_id = PQgetvalue(rows, row, COL_DLT),
                          .encoding = PQgetvalue(rows, row, COL_ENCODING),
                          .segments = atoi(PQgetvalue(rows, row, COL_SEGMENTS))};
    channel_t *channel = email ? self->email : self->sms;
    transfer_t *transfer = NULL;
    if (channel)
        transfer = notifications_channel_start(channel, &message, &result);
    else if (self->file) {
        notifications_file_channel_send(self->file, email ? "email" : "sms", &message, &result);
        notify_free_secret(unsealed);
        record_result(self, id, attempts, &result);
        return result.status == SEND_OK;
    } else {
        result.status = SEND_RETRY;
        snprintf(result.error, sizeof result.error,
                 "no %s channel is configured in this process", email ? "e-mail" : "SMS");
    }
    notify_free_secret(unsealed);
    if (!transfer) {
        record_result(self, id, attempts, &result);
        return false;
    }
    if (curl_multi_add_handle(self->multi, transfer->easy) != CURLM_OK) {
        notifications_transfer_destroy(&transfer);
        result.status = SEND_RETRY;
        snprintf(result.error, sizeof result.error, "libcurl refused the transfer");
        record_result(self, id, attempts, &result);
        return false;
    }
    self->flights[self->flight_count++] =
        (in_flight_t) {.transfer = transfer, .message_id = id, .attempts = attempts,
                       .email = email};
    return true;
}

static void claim(delivery_t *self)
{
    long room = self->max_in_flight - self->flight_count;
    if (room <= 0)
        return;
    char limit[24], lease[24], window[24];
    snprintf(limit, sizeof limit, "%ld", room);
    snprintf(lease, sizeof lease, "%ld", self->timeout_ms / 1000 + 30);
    snprintf(window, sizeof window, "%ld", self->rate_window_s);
    const char *values[] = {limit, lease, window};
    PGresult *rows = nagar_service_query(
        self->owner->db, "message_claim",
        "WITH due AS ("
        "  SELECT id FROM notifications.message "
        "  WHERE (status = 'queued' AND next_attempt_at <= now()) "
        "     OR (status = 'sending' AND lease_until < now()) "
        "  ORDER BY next_attempt_at, id LIMIT $1::int FOR UPDATE SKIP LOCKED) "
        "UPDATE notifications.message m SET status = 'sending', attempts = m.attempts + 1, "
        "  lease_until = now() + make_interval(secs => $2::int), updated_at = now() "
        "FROM due WHERE m.id = due.id "
        "RETURNING m.id, m.channel, m.address, m.essential, m.subject, m.body, "
        "  encode(m.body_sealed, 'hex'), m.dlt_template_id, m.segments, m.encoding, m.attempts, "
        "  (m.expires_at IS NOT NULL AND m.expires_at < now()), "
        "  EXISTS (SELECT 1 FROM notifications.opt_out o WHERE o.opted_out AND o.subject IN "
        "    ('mobile:' || m.address, 'email:' || m.address, 'user:' || m.user_id)), "
        "  (SELECT count(*) FROM notifications.message s WHERE s.address = m.address "
        "    AND NOT s.essential AND s.id <> m.id AND ((s.status = 'sent' "
        "    AND s.sent_at > now() - make_interval(secs => $3::int)) OR s.status = 'sending'))",
        3, values);
    if (!rows) {
        nagar_log_warn("notifications.claim_failed", "claiming due messages failed: %s",
                       nagar_db_error(self->owner->db));
        return;
    }
    long quiet_left = quiet_seconds_left(self);
    /* Rows claimed together all saw the same count of recent messages:
     * add the ones this batch already let through for the same address. */
    int count = PQntuples(rows);
    int *earlier = calloc((size_t) count + 1, sizeof *earlier);
    for (int i = 0; i < count; i++) {
        long extra = 0;
        for (int j = 0; earlier && j < i; j++)
            if (earlier[j] && strcmp(PQgetvalue(rows, j, COL_ADDRESS),
                                     PQgetvalue(rows, i, COL_ADDRESS)) == 0)
                extra++;
        bool non_essential = strcmp(PQgetvalue(rows, i, COL_ESSENTIAL), "t") != 0;
        bool passes = start_one(self, rows, i, quiet_left, extra);
        if (earlier)
            earlier[i] = non_essential && passes;
    }
    free(earlier);
    PQclear(rows);
}

static void harvest(delivery_t *self)
{
    int queued;
    CURLMsg *done;
    while ((done = curl_multi_info_read(self->multi, &queued))) {
        if (done->msg != CURLMSG_DONE)
            continue;
        int index = -1;
        for (int i = 0; i < self->flight_count; i++)
            if (self->flights[i].transfer->easy == done->easy_handle)
                index = i;
        CURLcode code = done->data.result;
        curl_multi_remove_handle(self->multi, done->easy_handle);
        if (index < 0)
            continue;
        in_flight_t flight = self->flights[index];
        self->flights[index] = self->flights[--self->flight_count];
        send_result_t result = {.status = SEND_RETRY};
        notifications_channel_finish(flight.email ? self->email : self->sms, flight.transfer, code,
                                     &result);
        notifications_transfer_destroy(&flight.transfer);
        record_result(self, flight.message_id, flight.attempts, &result);
    }
}

void notifications_delivery_tick(delivery_t *self)
{
    int64_t end = zclock_mono() + self->tick_budget_ms;
    int running = 0;
    curl_multi_perform(self->multi, &running);
    harvest(self);
    claim(self);
    while (self->flight_count > 0) {
        curl_multi_perform(self->multi, &running);
        harvest(self);
        int64_t left = end - zclock_mono();
        if (self->flight_count == 0 || left <= 0)
            break;
        curl_multi_poll(self->multi, NULL, 0, (int) (left < 50 ? left : 50), NULL);
    }
}

/* ---- message.list ----------------------------------------------------------------- */

static const char *const STATUS_NAMES[] = {"", "queued", "sending", "sent", "dead",
                                           "suppressed"};

static Nagar__Notifications__MessageStatus status_value(const char *name)
{
    for (int i = 1; i <= 5; i++)
        if (strcmp(name, STATUS_NAMES[i]) == 0)
            return (Nagar__Notifications__MessageStatus) i;
    return NAGAR__NOTIFICATIONS__MESSAGE_STATUS__MESSAGE_STATUS_UNSPECIFIED;
}

int notifications_message_list(nagar_worker_call_t *call, const ProtobufCMessage *message,
                               void *arg)
{
    notify_t *self = arg;
    const Nagar__Notifications__ListMessagesRequest *request =
        (const Nagar__Notifications__ListMessagesRequest *) message;
    if (!notify_actor_is_staff(call))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "delivery status is for staff");
    bool state_admin = strcmp(notify_actor_role(call), "STATE_ADMIN") == 0;
    const char *ulb = request->ulb;
    if (ulb[0] && !notify_ulb_valid(ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be an LGD code of 1 to 10 digits");
    if (!state_admin) {
        if (ulb[0] && strcmp(ulb, nagar_actor_ulb(call)) != 0)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "ulb",
                                          "staff of ULB %s may only see that ULB's messages",
                                          nagar_actor_ulb(call));
        ulb = nagar_actor_ulb(call);
        if (!ulb[0])
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                          "the actor's role is not scoped to a ULB");
    }
    if (!notify_text_valid(request->address, 0, 254))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "address",
                                      "address must be a mobile number or e-mail address");
    if (!notify_text_valid(request->event_id, 0, 200))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "eventId",
                                      "eventId is at most 200 printable characters");
    if ((unsigned) request->status > 5)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "status",
                                      "status must be one of QUEUED, SENDING, SENT, DEAD, "
                                      "SUPPRESSED");
    char *end = NULL;
    if (request->campaign_id[0] &&
        (strtoll(request->campaign_id, &end, 10) <= 0 || !end || *end))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "campaignId",
                                      "campaignId must be a campaign's id");
    notify_page_t page;
    if (!notify_page_read(&page, call, request->page_size, request->page_token,
                          LIST_PAGE_DEFAULT, LIST_PAGE_MAX))
        return -1;
    const char *values[] = {ulb,
                            request->address,
                            request->event_id,
                            STATUS_NAMES[request->status],
                            request->campaign_id,
                            page.after,
                            page.limit};
    PGresult *rows = nagar_service_query(
        self->db, "message_list",
        "SELECT id, event_id, type, ulb, channel, address, language, status, attempts, "
        "last_error, body, subject, segments, encoding, " TIME_TEXT("created_at") ", "
        TIME_TEXT("next_attempt_at") ", " TIME_TEXT("sent_at") ", provider_message_id, "
        "coalesce(campaign_id::text, '') FROM notifications.message "
        "WHERE ($1 = '' OR ulb = $1) AND ($2 = '' OR address = $2) AND ($3 = '' OR event_id = $3) "
        "AND ($4 = '' OR status = $4) AND ($5 = '' OR campaign_id = $5::bigint) "
        "AND ($6::bigint = 0 OR id < $6::bigint) ORDER BY id DESC LIMIT $7::int",
        7, values);
    char next[64];
    int count;
    Nagar__Notifications__MessageInfo **items =
        notify_page_list(self, call, &page, rows, sizeof **items, next, sizeof next, &count);
    if (!items)
        return -1;
    for (int i = 0; i < count; i++) {
        Nagar__Notifications__MessageInfo *m = items[i];
        nagar__notifications__message_info__init(m);
        m->message_id = PQgetvalue(rows, i, 0);
        m->event_id = PQgetvalue(rows, i, 1);
        m->type = PQgetvalue(rows, i, 2);
        m->ulb = PQgetvalue(rows, i, 3);
        m->channel = notify_channel_value(PQgetvalue(rows, i, 4));
        m->address = PQgetvalue(rows, i, 5);
        m->language = PQgetvalue(rows, i, 6);
        m->status = status_value(PQgetvalue(rows, i, 7));
        m->attempts = (uint32_t) strtoul(PQgetvalue(rows, i, 8), NULL, 10);
        m->last_error = PQgetvalue(rows, i, 9);
        m->body = PQgetvalue(rows, i, 10);
        m->subject = PQgetvalue(rows, i, 11);
        m->segments = (uint32_t) strtoul(PQgetvalue(rows, i, 12), NULL, 10);
        m->encoding = PQgetvalue(rows, i, 13);
        m->created_at = PQgetvalue(rows, i, 14);
        m->next_attempt_at = PQgetvalue(rows, i, 15);
        m->sent_at = PQgetvalue(rows, i, 16);
        m->provider_message_id = PQgetvalue(rows, i, 17);
        m->campaign_id = PQgetvalue(rows, i, 18);
    }
    Nagar__Notifications__ListMessagesReply reply =
        NAGAR__NOTIFICATIONS__LIST_MESSAGES_REPLY__INIT;
    return nagar_reply_page(call, &reply.base, "messages", items, (size_t) count, next, rows);
}
