/*
 * ulb_names.c — the ULB display-name cache (see ulb_names.h).
 *
 * The full load pages through ulb.list asynchronously from the tick, into a
 * fresh table that replaces the old one only when the last page arrived, so
 * a half-finished reload never hides names. A miss at render time asks
 * ulb.get synchronously with a short deadline: a body created after the
 * last load gets its name in its first SMS. Answers "not found" are
 * remembered (briefly) so an unknown code does not cost a call per event.
 */
#include "ulb_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto/identity.pb-c.h"

#define ULB_PAGE_SIZE 200

typedef struct {
    char name[ULB_NAME_TEXT_MAX];       /* "" = identity said it has no such ULB */
    int64_t expires_ms;                 /* monotonic; 0 = until the next reload */
} ulb_entry_t;

struct ulb_names_t {
    nagar_bus_client_t *client;         /* not owned; NULL = no bus */
    zhash_t *names;                     /* code -> ulb_entry_t */
    zhash_t *loading;                   /* being filled by a reload, or NULL */
    size_t max;
    int64_t refresh_ms, retry_ms;
    int timeout_ms;
    int64_t next_load_ms;               /* monotonic time the next reload is due */
    int64_t identity_down_until_ms;     /* no synchronous lookups before this */
    bool failing;                       /* last attempt failed (log once per streak) */
};

static void entry_destroy(void *item)
{
    free(item);
}

static zhash_t *table_new(void)
{
    return zhash_new();
}

static void display_name(const Nagar__Identity__Ulb *ulb, char out[ULB_NAME_TEXT_MAX])
{
    const char *type = ulb->type == NAGAR__IDENTITY__ULB_TYPE__NAGAR_NIGAM ? "Nagar Nigam"
                       : ulb->type == NAGAR__IDENTITY__ULB_TYPE__NAGAR_PALIKA_PARISHAD
                           ? "Nagar Palika Parishad"
                       : ulb->type == NAGAR__IDENTITY__ULB_TYPE__NAGAR_PARISHAD ? "Nagar Parishad"
                                                                               : "";
    snprintf(out, ULB_NAME_TEXT_MAX, "%s%s%s", ulb->name, type[0] ? " " : "", type);
}

/* Puts code's entry into table unless the table is full. */
static void table_put(ulb_names_t *self, zhash_t *table, const char *code, const char *name,
                      int64_t expires_ms)
{
    ulb_entry_t *entry = zhash_lookup(table, code);
    if (!entry) {
        if (zhash_size(table) >= self->max)
            return;
        entry = calloc(1, sizeof *entry);
        if (!entry || zhash_insert(table, code, entry) != 0) {
            free(entry);
            return;
        }
        zhash_freefn(table, code, entry_destroy);
    }
    snprintf(entry->name, sizeof entry->name, "%s", name);
    entry->expires_ms = expires_ms;
}

static bool unreachable(nagar_status_code_t code)
{
    return code != NAGAR__STATUS_CODE__OK && code != NAGAR__STATUS_CODE__NOT_FOUND &&
           code != NAGAR__STATUS_CODE__INVALID_ARGUMENT;
}

static void note_failure(ulb_names_t *self, const char *what, const char *message)
{
    self->identity_down_until_ms = zclock_mono() + self->retry_ms;
    if (!self->failing)
        nagar_log_warn("notifications.ulb_names_unavailable",
                       "identity did not answer %s (%s); messages show the ULB's LGD code "
                       "instead of its name until it does; retrying every %lld s",
                       what, message, (long long) (self->retry_ms / 1000));
    self->failing = true;
}

ulb_names_t *notifications_ulb_names_new(nagar_config_t *config, nagar_bus_client_t *client,
                                         char *error, size_t error_size)
{
    long max, refresh_s, retry_s, timeout_ms;
    if (nagar_config_get_int(config, "NAGAR_NOTIFY_ULB_CACHE_MAX", 2000, 1, 100000, &max, error,
                             error_size) ||
        nagar_config_get_int(config, "NAGAR_NOTIFY_ULB_REFRESH_S", 3600, 1, 86400 * 7,
                             &refresh_s, error, error_size) ||
        nagar_config_get_int(config, "NAGAR_NOTIFY_ULB_RETRY_S", 30, 1, 86400, &retry_s, error,
                             error_size) ||
        nagar_config_get_int(config, "NAGAR_NOTIFY_ULB_TIMEOUT_MS", 500, 50, 10000, &timeout_ms,
                             error, error_size))
        return NULL;
    ulb_names_t *self = calloc(1, sizeof *self);
    if (self)
        self->names = table_new();
    if (!self || !self->names) {
        snprintf(error, error_size, "out of memory for the ULB name cache");
        free(self);
        return NULL;
    }
    self->client = client;
    self->max = (size_t) max;
    self->refresh_ms = refresh_s * 1000;
    self->retry_ms = retry_s * 1000;
    self->timeout_ms = (int) timeout_ms;
    return self;
}

void notifications_ulb_names_destroy(ulb_names_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ulb_names_t *self = *self_p;
    zhash_destroy(&self->names);
    zhash_destroy(&self->loading);
    free(self);
    *self_p = NULL;
}

static void request_page(ulb_names_t *self, const char *page_token);

static void page_arrived(const nagar_bus_result_t *result, void *arg)
{
    ulb_names_t *self = arg;
    if (!self->loading)
        return;
    Nagar__Identity__ListUlbsReply *reply = NULL;
    if (result->code == NAGAR__STATUS_CODE__OK)
        reply = nagar__identity__list_ulbs_reply__unpack(NULL, result->payload_size,
                                                         result->payload);
    if (!reply) {
        zhash_destroy(&self->loading);
        note_failure(self, "ulb.list",
                     result->code == NAGAR__STATUS_CODE__OK ? "unreadable reply" : result->message);
        self->next_load_ms = zclock_mono() + self->retry_ms;
        return;
    }
    for (size_t i = 0; i < reply->n_ulbs; i++) {
        char name[ULB_NAME_TEXT_MAX];
        display_name(reply->ulbs[i], name);
        table_put(self, self->loading, reply->ulbs[i]->code, name, 0);
    }
    bool more = reply->next_page_token[0] && zhash_size(self->loading) < self->max;
    if (more)
        request_page(self, reply->next_page_token);
    nagar__identity__list_ulbs_reply__free_unpacked(reply, NULL);
    if (more)
        return;
    zhash_destroy(&self->names);
    self->names = self->loading;
    self->loading = NULL;
    self->next_load_ms = zclock_mono() + self->refresh_ms;
    self->failing = false;
    self->identity_down_until_ms = 0;
    json_t *fields = json_pack("{s:i}", "ulbs", (int) zhash_size(self->names));
    nagar_log_write(NAGAR_LOG_INFO, "notifications.ulb_names_loaded", fields,
                    "ULB names loaded from identity");
}

static void request_page(ulb_names_t *self, const char *page_token)
{
    Nagar__Identity__ListUlbsRequest request = NAGAR__IDENTITY__LIST_ULBS_REQUEST__INIT;
    request.page_size = ULB_PAGE_SIZE;
    request.page_token = (char *) page_token;
    nagar_bus_call_t call = {.service = "identity", .method = "ulb.list",
                             .request = &request.base, .timeout_ms = self->timeout_ms * 4,
                             .repeatable = true};   /* a read (bus_client.h) */
    if (nagar_bus_client_send(self->client, &call, page_arrived, self) != 0) {
        zhash_destroy(&self->loading);
        note_failure(self, "ulb.list", "the request could not be sent");
        self->next_load_ms = zclock_mono() + self->retry_ms;
    }
}

void notifications_ulb_names_tick(ulb_names_t *self)
{
    if (!self->client)
        return;
    nagar_bus_client_dispatch(self->client);
    if (self->loading || zclock_mono() < self->next_load_ms)
        return;
    self->loading = table_new();
    if (!self->loading)
        return;
    request_page(self, "");
}

bool notifications_ulb_names_lookup(ulb_names_t *self, const char *code,
                                    char out[ULB_NAME_TEXT_MAX])
{
    snprintf(out, ULB_NAME_TEXT_MAX, "%s", code);
    int64_t now = zclock_mono();
    ulb_entry_t *entry = zhash_lookup(self->names, code);
    if (entry && (entry->expires_ms == 0 || entry->expires_ms > now)) {
        if (!entry->name[0])
            return false;
        snprintf(out, ULB_NAME_TEXT_MAX, "%s", entry->name);
        return true;
    }
    if (!self->client || now < self->identity_down_until_ms)
        return false;

    Nagar__Identity__GetUlbRequest request = NAGAR__IDENTITY__GET_ULB_REQUEST__INIT;
    request.code = (char *) code;
    nagar_bus_call_t call = {.service = "identity", .method = "ulb.get", .request = &request.base,
                             .timeout_ms = self->timeout_ms, .max_attempts = 1,
                             .repeatable = true};   /* a read (bus_client.h) */
    ProtobufCMessage *reply = NULL;
    char message[256];
    nagar_status_code_t status =
        nagar_bus_client_call(self->client, &call, &nagar__identity__ulb__descriptor, &reply,
                              message, sizeof message, NULL, 0);
    if (status == NAGAR__STATUS_CODE__OK && reply) {
        char name[ULB_NAME_TEXT_MAX];
        display_name((const Nagar__Identity__Ulb *) reply, name);
        protobuf_c_message_free_unpacked(reply, NULL);
        table_put(self, self->names, code, name, 0);
        snprintf(out, ULB_NAME_TEXT_MAX, "%s", name);
        self->failing = false;
        return true;
    }
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);
    if (unreachable(status)) {
        note_failure(self, "ulb.get", message);
        return false;
    }
    /* Identity answered that it has no such body: remember that briefly. */
    table_put(self, self->names, code, "", now + self->retry_ms);
    return false;
}

size_t notifications_ulb_names_count(ulb_names_t *self)
{
    size_t count = 0;
    for (ulb_entry_t *entry = zhash_first(self->names); entry; entry = zhash_next(self->names))
        count += entry->name[0] != '\0';
    return count;
}
