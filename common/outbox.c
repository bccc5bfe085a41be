/*
 * outbox.c — the transactional outbox and its relay (see outbox.h).
 *
 * nagar_outbox_add takes the row's id from the table's sequence first, so
 * the event it stores already carries its final event_id ("<service>:<id>")
 * and the relay never has to rewrite a payload.
 *
 * The relay works inside one short transaction that first takes a
 * transaction-scoped advisory lock named after the service: only one
 * process of a service relays at a time, so two processes never send the
 * same event at once (the others return 0 at once). It sends the batch with every request in flight, waits for the
 * acknowledgements (bounded by timeout_ms), and marks sent exactly the
 * events that notifications acknowledged. Killed anywhere in between, the
 * transaction rolls back and the events are sent again later; notifications
 * de-duplicates by event_id. An event notifications refuses as malformed
 * (INVALID_ARGUMENT, FAILED_PRECONDITION, CONFLICT) would be refused
 * forever, so it is set aside with its reason instead of blocking the
 * queue; every other failure (notifications down, busy, not allowed yet)
 * keeps it pending and backs the relay off exponentially.
 */
#include "outbox.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define OUTBOX_BATCH_MAX 500
#define OUTBOX_PAYLOAD_MAX 65536
#define OUTBOX_BACKOFF_FIRST_MS 500
#define OUTBOX_BACKOFF_MAX_MS 30000

struct nagar_outbox_relay_t {
    nagar_db_t *db;
    nagar_bus_client_t *client;
    char service[64];
    int64_t retry_at_ms;        /* monotonic; 0 = now */
    int backoff_ms;
};

/* One event in flight. Heap-allocated so that a callback arriving after
 * the relay stopped waiting (it cannot, the client completes every request
 * by its deadline, but a wait is never trusted blindly) finds live memory. */
typedef struct {
    bool done;
    bool abandoned;
    nagar_status_code_t code;
    char message[256];
} outbox_slot_t;

static void slot_done(const nagar_bus_result_t *result, void *arg)
{
    outbox_slot_t *slot = arg;
    if (slot->abandoned) {
        free(slot);
        return;
    }
    slot->done = true;
    slot->code = result->code;
    snprintf(slot->message, sizeof slot->message, "%s: %s", nagar_status_name(result->code),
             result->message);
}

static PGresult *outbox_query(nagar_db_t *db, const char *name, const char *sql, int nparams,
                              const char *const *values)
{
    if (nagar_db_prepare(db, name, sql, nparams) != 0)
        return NULL;
    return nagar_db_exec(db, name, nparams, values);
}

int nagar_outbox_add(nagar_db_t *db, const char *service, Nagar__Notifications__Event *event)
{
    if (!db || !service || !service[0] || !event || !event->type || !event->type[0] ||
        !event->ulb || !event->ulb[0]) {
        nagar_log_error("outbox.add_invalid",
                        "an outbox event needs a service, a type and a ULB; the event was not "
                        "written");
        return -1;
    }
    PGresult *result = outbox_query(db, "nagar_outbox_next_id",
                                    "SELECT nextval(pg_get_serial_sequence('outbox', 'id'))", 0,
                                    NULL);
    if (!result)
        return -1;
    char id[32];
    snprintf(id, sizeof id, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);

    char event_id[128];
    snprintf(event_id, sizeof event_id, "%s:%s", service, id);
    char *caller_event_id = event->event_id;
    event->event_id = event_id;
    size_t size = protobuf_c_message_get_packed_size(&event->base);
    uint8_t *packed = size <= OUTBOX_PAYLOAD_MAX ? malloc(size ? size : 1) : NULL;
    char *hex = packed ? malloc(size * 2 + 1) : NULL;
    if (packed && hex) {
        protobuf_c_message_pack(&event->base, packed);
        sodium_bin2hex(hex, size * 2 + 1, packed, size);
    }
    event->event_id = caller_event_id;
    free(packed);
    if (!hex) {
        nagar_log_error("outbox.add_invalid",
                        "event %s of type %s is %zu bytes packed (at most %d) or memory ran out; "
                        "the event was not written",
                        event_id, event->type, size, OUTBOX_PAYLOAD_MAX);
        return -1;
    }
    const char *values[] = {id, event->type, event->ulb, hex};
    result = outbox_query(db, "nagar_outbox_insert",
                          "INSERT INTO outbox (id, event_type, ulb, payload) "
                          "VALUES ($1::bigint, $2, $3, decode($4, 'hex'))",
                          4, values);
    free(hex);
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

nagar_outbox_relay_t *nagar_outbox_relay_new(nagar_db_t *db, nagar_bus_client_t *client,
                                             const char *service)
{
    if (!db || !client || !service || strlen(service) >= 64)
        return NULL;
    nagar_outbox_relay_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->db = db;
    self->client = client;
    snprintf(self->service, sizeof self->service, "%s", service);
    self->backoff_ms = OUTBOX_BACKOFF_FIRST_MS;
    return self;
}

void nagar_outbox_relay_destroy(nagar_outbox_relay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

typedef struct {
    nagar_outbox_relay_t *self;
    int batch;
    int timeout_ms;
    int sent;               /* output: events marked sent */
    bool transient_failure; /* output: something must be retried later */
    char first_error[400];
} relay_work_t;

static bool permanently_refused(nagar_status_code_t code)
{
    return code == NAGAR__STATUS_CODE__INVALID_ARGUMENT ||
           code == NAGAR__STATUS_CODE__FAILED_PRECONDITION ||
           code == NAGAR__STATUS_CODE__CONFLICT;
}

static int mark_row(nagar_db_t *db, const char *id, bool delivered, bool refused,
                    const char *error)
{
    PGresult *result;
    if (delivered || refused) {
        char outcome[320];
        snprintf(outcome, sizeof outcome, "%s%s", delivered ? "delivered" : "rejected: ",
                 delivered ? "" : error);
        const char *values[] = {id, outcome};
        result = outbox_query(db, "nagar_outbox_mark_sent",
                              "UPDATE outbox SET sent_at = now(), outcome = $2, "
                              "attempts = attempts + 1 WHERE id = $1::bigint",
                              2, values);
    } else {
        const char *values[] = {id, error};
        result = outbox_query(db, "nagar_outbox_mark_failed",
                              "UPDATE outbox SET attempts = attempts + 1, last_error = $2 "
                              "WHERE id = $1::bigint",
                              2, values);
    }
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

static int relay_work(nagar_db_t *db, void *arg)
{
    relay_work_t *work = arg;
    nagar_outbox_relay_t *self = work->self;
    work->sent = 0;
    work->transient_failure = false;
    work->first_error[0] = '\0';

    char lock_name[96];
    snprintf(lock_name, sizeof lock_name, "nagar.outbox.%s", self->service);
    const char *lock_values[] = {lock_name};
    PGresult *result = outbox_query(db, "nagar_outbox_lock",
                                    "SELECT pg_try_advisory_xact_lock(hashtext($1))", 1,
                                    lock_values);
    if (!result)
        return -1;
    bool locked = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    PQclear(result);
    if (!locked)
        return 0;   /* another process of this service is relaying */

    char batch_text[16];
    snprintf(batch_text, sizeof batch_text, "%d", work->batch);
    const char *batch_values[] = {batch_text};
    PGresult *rows = outbox_query(db, "nagar_outbox_pending_rows",
                                  "SELECT id, encode(payload, 'hex') FROM outbox "
                                  "WHERE sent_at IS NULL ORDER BY id LIMIT $1::int",
                                  1, batch_values);
    if (!rows)
        return -1;
    int count = PQntuples(rows);
    if (count == 0) {
        PQclear(rows);
        return 0;
    }
    outbox_slot_t **slots = calloc((size_t) count, sizeof *slots);
    if (!slots) {
        PQclear(rows);
        return -1;
    }
    int in_flight = 0;
    for (int i = 0; i < count; i++) {
        slots[i] = calloc(1, sizeof *slots[i]);
        if (!slots[i])
            break;
        const char *hex = PQgetvalue(rows, i, 1);
        size_t hex_length = strlen(hex), size = 0;
        uint8_t *packed = malloc(hex_length / 2 + 1);
        Nagar__Notifications__Event *event = NULL;
        if (packed && sodium_hex2bin(packed, hex_length / 2 + 1, hex, hex_length, NULL, &size,
                                     NULL) == 0)
            event = nagar__notifications__event__unpack(NULL, size, packed);
        free(packed);
        if (!event) {
            /* Only nagar_outbox_add writes rows; an unreadable one was
             * tampered with or corrupted: set it aside, loudly. */
            slots[i]->done = true;
            slots[i]->code = NAGAR__STATUS_CODE__INVALID_ARGUMENT;
            snprintf(slots[i]->message, sizeof slots[i]->message,
                     "the stored payload is not a nagar.notifications.Event");
            continue;
        }
        Nagar__Notifications__DeliverEventRequest request =
            NAGAR__NOTIFICATIONS__DELIVER_EVENT_REQUEST__INIT;
        request.event = event;
        Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
        context.idempotency_key = event->event_id;
        nagar_bus_call_t call = {.service = "notifications", .method = "event.deliver",
                                 .context = &context, .request = &request.base,
                                 .timeout_ms = work->timeout_ms, .max_attempts = 1};
        if (nagar_bus_client_send(self->client, &call, slot_done, slots[i]) != 0) {
            slots[i]->done = true;
            slots[i]->code = NAGAR__STATUS_CODE__UNAVAILABLE;
            snprintf(slots[i]->message, sizeof slots[i]->message,
                     "UNAVAILABLE: the bus client refused the request (too many in flight)");
        } else {
            in_flight++;
        }
        nagar__notifications__event__free_unpacked(event, NULL);
    }
    if (in_flight > 0) {
        json_t *fields = json_pack("{s:s, s:i, s:s}", "service", self->service, "count",
                                   in_flight, "first_id", PQgetvalue(rows, 0, 0));
        nagar_log_write(NAGAR_LOG_INFO, "outbox.relay_sent", fields,
                        "sent %d outbox event(s) to notifications; waiting for acknowledgements",
                        in_flight);
    }
    /* The client completes every request by its deadline; the extra second
     * only guards against a clock step. */
    int64_t give_up = zclock_mono() + work->timeout_ms + 1000;
    for (;;) {
        int waiting = 0;
        for (int i = 0; i < count; i++)
            if (slots[i] && !slots[i]->done)
                waiting++;
        if (waiting == 0 || zclock_mono() >= give_up)
            break;
        nagar_bus_client_poll(self->client, 50);
    }

    int rc = 0;
    for (int i = 0; i < count; i++) {
        outbox_slot_t *slot = slots[i];
        if (!slot) {
            work->transient_failure = true;
            continue;
        }
        if (!slot->done) {
            slot->abandoned = true;   /* freed by its callback */
            work->transient_failure = true;
            continue;
        }
        const char *id = PQgetvalue(rows, i, 0);
        bool delivered = slot->code == NAGAR__STATUS_CODE__OK;
        bool refused = !delivered && permanently_refused(slot->code);
        if (!delivered && !refused) {
            work->transient_failure = true;
            if (!work->first_error[0])
                snprintf(work->first_error, sizeof work->first_error, "event %s:%s: %s",
                         self->service, id, slot->message);
        }
        if (refused) {
            json_t *fields = json_pack("{s:s, s:s}", "service", self->service, "outbox_id", id);
            nagar_log_write(NAGAR_LOG_ERROR, "outbox.event_rejected", fields,
                            "notifications refused outbox event %s:%s (%s); it is set aside "
                            "and will not be sent again — fix the publishing code",
                            self->service, id, slot->message);
        }
        if (rc == 0 && mark_row(db, id, delivered, refused, slot->message) != 0)
            rc = -1;
        if (rc == 0 && delivered)
            work->sent++;
        free(slot);
        slots[i] = NULL;
    }
    free(slots);
    PQclear(rows);
    return rc;
}

int nagar_outbox_relay_run_once(nagar_outbox_relay_t *self, int batch, int timeout_ms)
{
    if (!self)
        return -1;
    if (self->retry_at_ms && zclock_mono() < self->retry_at_ms)
        return 0;
    if (batch < 1)
        batch = 1;
    if (batch > OUTBOX_BATCH_MAX)
        batch = OUTBOX_BATCH_MAX;
    if (timeout_ms < 10)
        timeout_ms = 10;
    relay_work_t work = {.self = self, .batch = batch, .timeout_ms = timeout_ms};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, relay_work, &work);
    if (rc != 0) {
        nagar_log_warn("outbox.relay_failed", "relaying %s's outbox failed in the database: %s",
                       self->service, nagar_db_error(self->db));
        work.transient_failure = true;
        work.sent = 0;
    }
    if (work.transient_failure) {
        if (work.first_error[0])
            nagar_log_warn("outbox.relay_retry",
                           "%s; the event stays pending and is retried in %d ms (notifications "
                           "down or busy delays events, it never loses them)",
                           work.first_error, self->backoff_ms);
        self->retry_at_ms = zclock_mono() + self->backoff_ms;
        self->backoff_ms = self->backoff_ms * 2 > OUTBOX_BACKOFF_MAX_MS ? OUTBOX_BACKOFF_MAX_MS
                                                                        : self->backoff_ms * 2;
    } else {
        self->retry_at_ms = 0;
        self->backoff_ms = OUTBOX_BACKOFF_FIRST_MS;
    }
    if (work.sent > 0) {
        json_t *fields = json_pack("{s:s, s:i}", "service", self->service, "count", work.sent);
        nagar_log_write(NAGAR_LOG_INFO, "outbox.relayed", fields,
                        "%d outbox event(s) acknowledged by notifications", work.sent);
    }
    return rc != 0 ? -1 : work.sent;
}

long nagar_outbox_pending(nagar_db_t *db)
{
    PGresult *result = outbox_query(db, "nagar_outbox_pending_count",
                                    "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0, NULL);
    if (!result)
        return -1;
    long pending = strtol(PQgetvalue(result, 0, 0), NULL, 10);
    PQclear(result);
    return pending;
}
