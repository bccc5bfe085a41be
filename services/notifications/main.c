/*
 * main.c — nagar-notifications: wiring and command line.
 *
 *   nagar-notifications                   serve "notifications" on the bus
 *   nagar-notifications seal-keygen FILE  key that seals one-time-password bodies
 *   nagar-notifications sms-size TEXT     {"encoding","characters","segments"} of TEXT
 *
 * Settings (environment over the NAGAR_CONFIG file, see config.h):
 *   NAGAR_DB_CONNINFO            libpq connection string (notifications_app role)
 *   NAGAR_NOTIFY_SEAL_KEY_FILE   32-byte hex key sealing secret bodies until sent;
 *                                every process of the service needs the same one
 *                                (unset: a random key per process, with a warning)
 *   NAGAR_NOTIFY_TICK_MS         how often the delivery loop runs (100)
 *   NAGAR_NOTIFY_ULB_*           the ULB name cache, loaded from identity (ulb_names.h)
 *   NAGAR_NOTIFY_RESOLVE_*       finding the person of an event (recipients.h)
 *   NAGAR_PORTAL_URL             the citizen portal: messages link to <it>/property/<id>
 *   channels: NAGAR_NOTIFY_SMS_* (channel_sms.c), NAGAR_NOTIFY_SMTP_*
 *   (channel_email.c), NAGAR_NOTIFY_FILE_SINK (channel_file.c); delivery:
 *   NAGAR_NOTIFY_* in delivery.h; campaigns: campaign.h; NAGAR_BUS_* as bus.h
 */
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_worker.h"
#include "campaign.h"
#include "channel.h"
#include "delivery.h"
#include "events.h"
#include "key_file.h"
#include "log.h"
#include "my_messages.h"
#include "notify.h"
#include "program.h"
#include "recipients.h"
#include "templates.h"
#include "ulb_names.h"

/* Each may publish only the types whose rules name it (event_rules.h). */
static const char *const PUBLISHERS[] = {"certificates", "property_tax", "water_tax", NULL};
static const char *const IDENTITY[] = {"identity", NULL};
static const char *const GATEWAY[] = {"gateway", NULL};
static const char *const CAMPAIGNERS[] = {"gateway", "batch", "property_tax", "water_tax", NULL};

static const nagar_method_t METHODS[] = {
    {"event.deliver", &nagar__notifications__deliver_event_request__descriptor, PUBLISHERS,
     notifications_event_deliver},
    {"message.send", &nagar__notifications__send_message_request__descriptor, IDENTITY,
     notifications_message_send},
    {"message.list", &nagar__notifications__list_messages_request__descriptor, GATEWAY,
     notifications_message_list},
    {"message.mine", &nagar__notifications__list_my_messages_request__descriptor, GATEWAY,
     notifications_message_mine},
    {"event.list", &nagar__notifications__list_events_request__descriptor, GATEWAY,
     notifications_event_list},
    {"event.retry", &nagar__notifications__retry_event_request__descriptor, GATEWAY,
     notifications_event_retry},
    {"template.save", &nagar__notifications__save_template_request__descriptor, GATEWAY,
     notifications_template_save},
    {"template.list", &nagar__notifications__list_templates_request__descriptor, GATEWAY,
     notifications_template_list},
    {"optout.set", &nagar__notifications__set_opt_out_request__descriptor, GATEWAY,
     notifications_optout_set},
    {"campaign.start", &nagar__notifications__start_campaign_request__descriptor, CAMPAIGNERS,
     notifications_campaign_start},
    {"campaign.add_recipients", &nagar__notifications__add_recipients_request__descriptor,
     CAMPAIGNERS, notifications_campaign_add_recipients},
    {"campaign.status", &nagar__notifications__campaign_status_request__descriptor, CAMPAIGNERS,
     notifications_campaign_status},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nagar-notifications                    serve the notifications service\n"
            "       nagar-notifications seal-keygen FILE   create the key sealing OTP bodies\n"
            "       nagar-notifications sms-size TEXT      encoding and SMS parts of TEXT\n");
}

static int seal_keygen(const char *path)
{
    uint8_t key[NOTIFY_SEAL_KEY_BYTES];
    char error[1024];
    randombytes_buf(key, sizeof key);
    int rc = nagar_key_file_write(path, key, sizeof key, 0600, error, sizeof error);
    sodium_memzero(key, sizeof key);
    if (rc != 0) {
        nagar_log_error("notifications.keygen_failed", "%s", error);
        return 1;
    }
    nagar_log_info("notifications.seal_keygen", "seal key written to %s", path);
    return 0;
}

static int load_seal_key(notify_t *self)
{
    const char *path = nagar_config_get(self->config, "NAGAR_NOTIFY_SEAL_KEY_FILE", "");
    if (!path[0]) {
        randombytes_buf(self->seal_key, sizeof self->seal_key);
        nagar_log_warn("notifications.seal_key_ephemeral",
                       "NAGAR_NOTIFY_SEAL_KEY_FILE is not set: secret message bodies are sealed "
                       "with a key of this process only, so another process (or this one after "
                       "a restart) cannot send them; create one with nagar-notifications "
                       "seal-keygen FILE");
    } else {
        char error[1024];
        if (nagar_key_file_read(path, self->seal_key, sizeof self->seal_key, error,
                                sizeof error) != 0) {
            nagar_log_error("notifications.config_invalid", "NAGAR_NOTIFY_SEAL_KEY_FILE: %s",
                            error);
            return -1;
        }
    }
    unsigned char id[8];
    crypto_generichash(id, sizeof id, (const unsigned char *) "nagar-notify-seal", 17,
                       self->seal_key, sizeof self->seal_key);
    sodium_bin2hex(self->seal_key_id, sizeof self->seal_key_id, id, sizeof id);
    return 0;
}

typedef struct {
    notify_t *self;
    int64_t campaign_at_ms;
} tick_state_t;

static void tick(nagar_worker_t *worker, void *arg)
{
    (void) worker;
    tick_state_t *state = arg;
    int64_t now = zclock_mono();
    if (now >= state->campaign_at_ms) {
        notifications_campaign_tick(state->self);
        state->campaign_at_ms = now + 1000;
    }
    notifications_recipients_tick(state->self->recipients);
    notifications_delivery_tick(state->self->delivery);
    notifications_ulb_names_tick(state->self->ulb_names);
}

static int serve(notify_t *self)
{
    char error[1024];
    long tick_ms, per_minute, batch;
    if (nagar_config_get_int(self->config, "NAGAR_NOTIFY_TICK_MS", 100, 10, 5000, &tick_ms,
                             error, sizeof error) ||
        nagar_config_get_int(self->config, "NAGAR_NOTIFY_CAMPAIGN_PER_MINUTE", 60, 1, 100000,
                             &per_minute, error, sizeof error) ||
        nagar_config_get_int(self->config, "NAGAR_NOTIFY_CAMPAIGN_BATCH", 100, 1,
                             CAMPAIGN_BATCH_MAX, &batch, error, sizeof error)) {
        nagar_log_error("notifications.config_invalid", "%s", error);
        return 1;
    }
    self->campaign_per_minute = per_minute;
    self->campaign_batch = batch;
    if (load_seal_key(self) != 0 ||
        nagar_service_portal_url(self->config, NOTIFY_SERVICE, self->portal_url,
                                 sizeof self->portal_url) != 0)
        return 1;
    self->db = nagar_service_db_connect(self->config, NOTIFY_SERVICE);
    if (!self->db)
        return 1;
    self->delivery = notifications_delivery_new(self, error, sizeof error);
    if (!self->delivery) {
        nagar_log_error("notifications.config_invalid", "%s", error);
        return 1;
    }
    nagar_bus_options_t options;
    if (nagar_bus_options_load(&options, self->config, error, sizeof error) != 0) {
        nagar_log_error("notifications.config_invalid", "%s", error);
        return 1;
    }
    /* Calls out: identity (ULB names, contacts) and the publishers (the
     * persons of their records). Without it events wait, with the reason. */
    nagar_bus_client_t *bus = nagar_bus_client_new(&options, self->config, error, sizeof error);
    if (!bus)
        nagar_log_warn("notifications.ulb_names_unavailable",
                       "no bus client for identity and the publishers (%s); messages show LGD "
                       "codes instead of ULB names and events wait for their recipients",
                       error);
    self->ulb_names = notifications_ulb_names_new(self->config, bus, error, sizeof error);
    if (self->ulb_names)
        self->recipients = notifications_recipients_new(self, bus, error, sizeof error);
    if (!self->ulb_names || !self->recipients) {
        nagar_log_error("notifications.config_invalid", "%s", error);
        notifications_ulb_names_destroy(&self->ulb_names);
        nagar_bus_client_destroy(&bus);
        return 1;
    }
    nagar_worker_t *worker = nagar_worker_new(&options, self->config, "notifications", METHODS,
                                              self, error, sizeof error);
    if (!worker) {
        nagar_log_error("notifications.worker_failed", "%s", error);
        nagar_bus_client_destroy(&bus);
        notifications_recipients_destroy(&self->recipients);
        notifications_ulb_names_destroy(&self->ulb_names);
        return 1;
    }
    tick_state_t state = {.self = self, .campaign_at_ms = 0};
    nagar_worker_set_tick(worker, (int) tick_ms, tick, &state);
    nagar_service_keep_worker_alive(self->db, worker);
    nagar_service_keep_worker_alive_on_bus(bus, worker);
    nagar_log_info("notifications.ready", "notifications serving on the bus");
    int rc = nagar_worker_run(worker);
    nagar_worker_destroy(&worker);
    /* The client first: it completes the calls in flight through the cache
     * and the resolver. */
    nagar_bus_client_destroy(&bus);
    notifications_recipients_destroy(&self->recipients);
    notifications_ulb_names_destroy(&self->ulb_names);
    nagar_log_info("notifications.stopped", "notifications stopped");
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *command;
    int started = nagar_program_start(NOTIFY_SERVICE, argc, argv, usage, &command);
    if (started >= 0)
        return started;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        nagar_log_error("notifications.start_failed", "libcurl failed to initialise");
        return 1;
    }
    int rc;
    if (strcmp(command, "seal-keygen") == 0 && argc == 3) {
        rc = seal_keygen(argv[2]);
    } else if (strcmp(command, "sms-size") == 0 && argc == 3) {
        sms_size_t size;
        notifications_sms_size(argv[2], &size);
        printf("{\"encoding\":\"%s\",\"characters\":%d,\"segments\":%d}\n", size.encoding,
               size.characters, size.segments);
        rc = 0;
    } else if (strcmp(command, "serve") == 0 && argc <= 2) {
        char error[NAGAR_CONFIG_ERROR_MAX];
        notify_t self;
        memset(&self, 0, sizeof self);
        self.config = nagar_config_new(NULL, error, sizeof error);
        if (!self.config) {
            nagar_log_error("notifications.config_invalid", "%s", error);
            rc = 1;
        } else {
            rc = serve(&self);
        }
        notifications_delivery_destroy(&self.delivery);
        nagar_db_destroy(&self.db);
        sodium_memzero(self.seal_key, sizeof self.seal_key);
        nagar_config_destroy(&self.config);
    } else {
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
