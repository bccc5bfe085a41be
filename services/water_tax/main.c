/*
 * main.c — nagar-water-tax: wiring and command line.
 *
 *   nagar-water-tax                        serve "water_tax" on the bus
 *   nagar-water-tax verify [ULB]           verify the ledger chain(s); exit 0 when every chain
 *                                          is whole, 3 when one is broken (the first broken
 *                                          link is printed as ULB and sequence), 1 on errors
 *   nagar-water-tax provider-keygen FILE   a new HMAC key shared with the payment provider
 *
 * Settings (environment over the NAGAR_CONFIG file, see config.h):
 *   NAGAR_DB_CONNINFO                     libpq connection string (water_tax_app role)
 *   NAGAR_PAYMENT_PROVIDER_KEY_FILE       HMAC-SHA256 key shared with the payment provider
 *                                         (unset: online payments answer UNAVAILABLE)
 *   NAGAR_WATER_TAX_BUSINESS_DATE         YYYY-MM-DD to use as "today" (drills, tests,
 *                                         back-office catch-up); unset: today in IST
 *   NAGAR_WATER_TAX_BILL_CHUNK            connections per bill chunk (5000)
 *   NAGAR_WATER_TAX_BILL_TICK_MS          worker tick while idle (10)
 *   NAGAR_WATER_TAX_BILL_IDLE_POLL_MS     how often an idle worker looks for bill jobs (1000)
 *   NAGAR_WATER_TAX_OUTBOX_RELAY          relay outbox events to notifications (true)
 *   NAGAR_WATER_TAX_RELAY_INTERVAL_MS     how often the relay runs (1000)
 *   NAGAR_BUS_*                           as bus.h and bus_worker.h
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bill.h"
#include "bus_worker.h"
#include "connection.h"
#include "document.h"
#include "ledger.h"
#include "log.h"
#include "payment.h"
#include "reading.h"
#include "report.h"
#include "tariff.h"
#include "water_tax.h"

static const char *const GATEWAY[] = {"gateway", NULL};
/* Batch jobs (reading imports, bill runs, offline receipts, verification). */
static const char *const GATEWAY_BATCH[] = {"gateway", "batch", NULL};

#define WT(name) &nagar__water_tax__##name##__descriptor

static const nagar_method_t METHODS[] = {
    {"connection.apply", WT(apply_connection_request), GATEWAY, connection_apply},
    {"connection.decide", WT(decide_connection_request), GATEWAY, connection_decide},
    {"connection.disconnect", WT(change_connection_request), GATEWAY, connection_disconnect},
    {"connection.reconnect", WT(change_connection_request), GATEWAY, connection_reconnect},
    {"connection.get", WT(get_connection_request), GATEWAY_BATCH, connection_get},
    {"connection.list", WT(list_connections_request), GATEWAY_BATCH, connection_list},
    {"tariff.get", WT(get_tariff_request), GATEWAY_BATCH, tariff_get},
    {"tariff.set", WT(set_tariff_request), GATEWAY, tariff_set},
    {"reading.record", WT(record_reading_request), GATEWAY_BATCH, reading_record},
    {"reading.import", WT(import_readings_request), GATEWAY_BATCH, reading_import},
    {"reading.list", WT(list_readings_request), GATEWAY_BATCH, reading_list},
    {"meter.replace", WT(replace_meter_request), GATEWAY, meter_replace},
    {"bill.generate", WT(generate_bills_request), GATEWAY_BATCH, bill_generate},
    {"bill.status", WT(bill_job_status_request), GATEWAY_BATCH, bill_status},
    {"bill.get", WT(get_bill_request), GATEWAY_BATCH, bill_get},
    {"bill.pdf", WT(get_bill_request), GATEWAY_BATCH, bill_pdf},
    {"dues.get", WT(get_dues_request), GATEWAY_BATCH, dues_get},
    {"payment.record", WT(record_payment_request), GATEWAY_BATCH, payment_record},
    {"payment.reverse", WT(reverse_payment_request), GATEWAY, payment_reverse},
    {"receipt.get", WT(get_receipt_request), GATEWAY_BATCH, receipt_get},
    {"online.initiate", WT(initiate_online_payment_request), GATEWAY, online_initiate},
    {"online.callback", WT(online_payment_callback), GATEWAY, online_callback},
    {"online.get", WT(get_online_order_request), GATEWAY, online_get},
    {"ledger.verify", WT(verify_ledger_request), GATEWAY_BATCH, ledger_verify},
    {"report.dcb", WT(dcb_request), GATEWAY_BATCH, report_dcb},
    {"report.daily_collection", WT(daily_collection_request), GATEWAY_BATCH,
     report_daily_collection},
    {"report.defaulters", WT(defaulters_request), GATEWAY_BATCH, report_defaulters},
    {"notices.send", WT(send_notices_request), GATEWAY_BATCH, notices_send},
    {NULL, NULL, NULL, NULL},
};

int wt_rule_method(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg,
                   const char *function, const ProtobufCMessageDescriptor *reply_type,
                   bool mutation)
{
    wt_t *self = arg;
    return nagar_rules_method(&self->rules, call, request, NULL, function, reply_type, mutation,
                              NULL, NULL);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nagar-water-tax                        serve water_tax on the bus\n"
            "       nagar-water-tax verify [ULB]           verify the ledger chain(s)\n"
            "       nagar-water-tax provider-keygen FILE   create the payment provider key\n");
}

static int get_long(wt_t *self, const char *key, long default_value, long min, long max,
                    long *out)
{
    return nagar_service_config_long(self->config, WT_SERVICE, key, default_value, min, max, out);
}

static int connect_db(wt_t *self)
{
    self->rules.db = nagar_service_db_connect(self->config, WT_SERVICE);
    return self->rules.db ? 0 : -1;
}

static int load_settings(wt_t *self)
{
    char error[1024];
    const char *date = nagar_config_get(self->config, "NAGAR_WATER_TAX_BUSINESS_DATE", "");
    if (date[0]) {
        nagar_date_t parsed;
        if (nagar_date_parse(date, &parsed, error, sizeof error) != 0) {
            nagar_log_error("water_tax.config_invalid",
                            "NAGAR_WATER_TAX_BUSINESS_DATE=%s: %s", date, error);
            return -1;
        }
        nagar_date_format(parsed, self->rules.business_date);
        nagar_log_warn("water_tax.business_date_fixed",
                       "the business date is fixed at %s (NAGAR_WATER_TAX_BUSINESS_DATE); "
                       "payments are dated that day", self->rules.business_date);
    }
    const char *key_file = nagar_config_get(self->config, "NAGAR_PAYMENT_PROVIDER_KEY_FILE", "");
    if (key_file[0]) {
        self->provider = nagar_payment_provider_new(key_file, error, sizeof error);
        if (!self->provider) {
            nagar_log_error("water_tax.config_invalid", "%s", error);
            return -1;
        }
    } else {
        nagar_log_warn("water_tax.online_off", "NAGAR_PAYMENT_PROVIDER_KEY_FILE is not set: "
                       "online payments will be refused");
    }
    long tick_ms = 0;
    if (get_long(self, "NAGAR_WATER_TAX_BILL_CHUNK", 5000, 1, 100000, &self->bill_chunk) ||
        get_long(self, "NAGAR_WATER_TAX_BILL_IDLE_POLL_MS", 1000, 1, 600000,
                 &self->bill_idle_poll_ms) ||
        get_long(self, "NAGAR_WATER_TAX_BILL_TICK_MS", 10, 1, 60000, &tick_ms))
        return -1;
    return (int) tick_ms;
}

/* The worker's tick: the bill batch, and every relay interval the outbox. */
static void service_tick(nagar_worker_t *worker, void *arg)
{
    wt_t *self = arg;
    bill_tick(worker, self);
    if (self->relay && nagar_rules_monotonic_ms() >= self->relay_next_ms) {
        nagar_outbox_relay_run_once(self->relay, 100, 2000);
        self->relay_next_ms = nagar_rules_monotonic_ms() + self->relay_interval_ms;
    }
}

static int serve(wt_t *self)
{
    int tick_ms = load_settings(self);
    if (tick_ms < 0 || connect_db(self) != 0)
        return 1;
    char error[1024];
    nagar_bus_options_t options;
    if (nagar_bus_options_load(&options, self->config, error, sizeof error) != 0) {
        nagar_log_error("water_tax.config_invalid", "%s", error);
        return 1;
    }
    bool relay = true;
    if (nagar_config_get_bool(self->config, "NAGAR_WATER_TAX_OUTBOX_RELAY", true, &relay, error,
                              sizeof error) != 0) {
        nagar_log_error("water_tax.config_invalid", "%s", error);
        return 1;
    }
    if (get_long(self, "NAGAR_WATER_TAX_RELAY_INTERVAL_MS", 1000, 50, 600000,
                 &self->relay_interval_ms) != 0)
        return 1;
    if (relay) {
        self->bus = nagar_bus_client_new(&options, self->config, error, sizeof error);
        self->relay = self->bus ? nagar_outbox_relay_new(self->rules.db, self->bus, WT_SERVICE) : NULL;
        if (!self->relay) {
            nagar_log_error("water_tax.worker_failed", "the outbox relay could not start: %s",
                            self->bus ? "out of memory" : error);
            return 1;
        }
    }
    nagar_worker_t *worker =
        nagar_worker_new(&options, self->config, WT_SERVICE, METHODS, self, error, sizeof error);
    if (!worker) {
        nagar_log_error("water_tax.worker_failed", "%s", error);
        return 1;
    }
    nagar_worker_set_tick(worker, tick_ms, service_tick, self);
    json_t *fields = json_pack("{s:i, s:b, s:s, s:b}", "bill_chunk", (int) self->bill_chunk,
                               "online_payments", self->provider != NULL, "business_date",
                               self->rules.business_date[0] ? self->rules.business_date : "today", "relay",
                               relay);
    nagar_log_write(NAGAR_LOG_INFO, "water_tax.ready", fields,
                    "water_tax serving on the bus");
    int rc = nagar_worker_run(worker);
    nagar_worker_destroy(&worker);
    nagar_log_info("water_tax.stopped", "water_tax stopped");
    return rc == 0 ? 0 : 1;
}

/* Exit 0: every chain whole; 3: a chain is broken; 1: could not verify. */
static int verify(wt_t *self, const char *ulb)
{
    if (connect_db(self) != 0)
        return 1;
    return nagar_rules_verify_ledger(&self->rules, ulb);
}

int main(int argc, char **argv)
{
    nagar_log_init("water_tax");
    if (sodium_init() < 0) {
        nagar_log_error("water_tax.start_failed", "libsodium failed to initialise");
        return 1;
    }
    const char *command = argc > 1 ? argv[1] : "serve";
    if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    char error[1024];
    if (strcmp(command, "provider-keygen") == 0) {
        if (argc != 3) {
            usage(stderr);
            return 2;
        }
        if (nagar_payment_provider_keygen(argv[2], error, sizeof error) != 0) {
            nagar_log_error("water_tax.keygen_failed", "%s", error);
            return 1;
        }
        nagar_log_info("water_tax.provider_keygen", "payment provider key written to %s",
                       argv[2]);
        return 0;
    }
    wt_t self;
    memset(&self, 0, sizeof self);
    self.rules.service = WT_SERVICE;
    self.rules.error_prefix = "WT";
    self.rules.idempotency_lookup = "wt_idempotency_lookup";
    self.config = nagar_config_new(NULL, error, sizeof error);
    if (!self.config) {
        nagar_log_error("water_tax.config_invalid", "%s", error);
        return 1;
    }
    int rc;
    if (strcmp(command, "serve") == 0 && argc <= 2) {
        rc = serve(&self);
    } else if (strcmp(command, "verify") == 0 && argc <= 3) {
        rc = verify(&self, argc == 3 ? argv[2] : NULL);
    } else {
        usage(stderr);
        rc = 2;
    }
    nagar_outbox_relay_destroy(&self.relay);
    nagar_bus_client_destroy(&self.bus);
    nagar_payment_provider_destroy(&self.provider);
    nagar_db_destroy(&self.rules.db);
    nagar_document_shutdown();
    nagar_config_destroy(&self.config);
    return rc;
}
