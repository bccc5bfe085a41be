/*
 * main.c — nagar-property-tax: wiring and command line.
 *
 *   nagar-property-tax                        serve "property_tax" on the bus
 *   nagar-property-tax verify [ULB]           verify the ledger chain(s); exit 0 when every
 *                                             chain is whole, 3 when one is broken (the first
 *                                             broken link is printed as ULB and sequence), 1 on
 *                                             errors
 *   nagar-property-tax provider-keygen FILE   a new HMAC key shared with the payment provider
 *
 * Settings (environment over the NAGAR_CONFIG file, see config.h):
 *   NAGAR_DB_CONNINFO                       libpq connection string (property_tax_app role)
 *   NAGAR_PAYMENT_PROVIDER_KEY_FILE         HMAC-SHA256 key shared with the payment provider
 *                                           (unset: online payments answer UNAVAILABLE)
 *   NAGAR_PROPERTY_TAX_BUSINESS_DATE        YYYY-MM-DD to use as "today" (drills, tests,
 *                                           back-office catch-up); unset: today in IST
 *   NAGAR_PROPERTY_TAX_DEMAND_CHUNK         properties per demand chunk (5000)
 *   NAGAR_PROPERTY_TAX_DEMAND_TICK_MS       worker tick while idle (10)
 *   NAGAR_PROPERTY_TAX_DEMAND_IDLE_POLL_MS  how often an idle worker looks for demand jobs (1000)
 *   NAGAR_PROPERTY_TAX_OUTBOX_RELAY         relay outbox events to notifications (true)
 *   NAGAR_PROPERTY_TAX_RELAY_INTERVAL_MS    how often the relay runs (1000)
 *   NAGAR_BUS_*                             as bus.h and bus_worker.h
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assessment.h"
#include "bus_worker.h"
#include "demand.h"
#include "document.h"
#include "ledger.h"
#include "log.h"
#include "payment.h"
#include "property_tax.h"
#include "rates.h"
#include "receipt_pdf.h"
#include "register.h"
#include "report.h"

static const char *const GATEWAY[] = {"gateway", NULL};
/* Batch jobs (imports, the annual demand, offline receipts, verification). */
static const char *const GATEWAY_BATCH[] = {"gateway", "batch", NULL};

#define PT(name) &nagar__property_tax__##name##__descriptor

static const nagar_method_t METHODS[] = {
    {"property.create", PT(create_property_request), GATEWAY_BATCH, register_property_create},
    {"property.get", PT(get_property_request), GATEWAY_BATCH, register_property_get},
    {"property.list", PT(list_properties_request), GATEWAY_BATCH, register_property_list},
    {"property.import", PT(import_properties_request), GATEWAY_BATCH, register_property_import},
    {"rates.get", PT(get_rates_request), GATEWAY_BATCH, rates_get},
    {"rates.set", PT(set_rates_request), GATEWAY, rates_set},
    {"assessment.file", PT(file_assessment_request), GATEWAY, assessment_file},
    {"assessment.revise", PT(revise_assessment_request), GATEWAY, assessment_revise},
    {"assessment.decide", PT(decide_assessment_request), GATEWAY, assessment_decide},
    {"assessment.get", PT(get_assessment_request), GATEWAY, assessment_get},
    {"mutation.record", PT(record_mutation_request), GATEWAY, mutation_record},
    {"demand.generate", PT(generate_demand_request), GATEWAY_BATCH, demand_generate},
    {"demand.status", PT(demand_status_request), GATEWAY_BATCH, demand_status},
    {"dues.get", PT(get_dues_request), GATEWAY_BATCH, dues_get},
    {"payment.record", PT(record_payment_request), GATEWAY_BATCH, payment_record},
    {"payment.reverse", PT(reverse_payment_request), GATEWAY, payment_reverse},
    {"receipt.get", PT(get_receipt_request), GATEWAY_BATCH, receipt_get},
    {"receipt.pdf", PT(get_receipt_request), GATEWAY_BATCH, receipt_pdf},
    {"online.initiate", PT(initiate_online_payment_request), GATEWAY, online_initiate},
    {"online.callback", PT(online_payment_callback), GATEWAY, online_callback},
    {"online.get", PT(get_online_order_request), GATEWAY, online_get},
    {"ledger.verify", PT(verify_ledger_request), GATEWAY_BATCH, ledger_verify},
    {"report.dcb", PT(dcb_request), GATEWAY_BATCH, report_dcb},
    {"report.daily_collection", PT(daily_collection_request), GATEWAY_BATCH,
     report_daily_collection},
    {"report.defaulters", PT(defaulters_request), GATEWAY_BATCH, report_defaulters},
    {NULL, NULL, NULL, NULL},
};

int pt_sql_method(pt_t *self, nagar_worker_call_t *call, const ProtobufCMessage *request,
                  const char *request_json, const char *function,
                  const ProtobufCMessageDescriptor *reply_type, bool mutation,
                  nagar_rules_finish_fn *finish)
{
    return nagar_rules_method(&self->rules, call, request, request_json, function, reply_type,
                              mutation, finish, self);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nagar-property-tax                        serve property_tax on the bus\n"
            "       nagar-property-tax verify [ULB]           verify the ledger chain(s)\n"
            "       nagar-property-tax provider-keygen FILE   create the payment provider key\n");
}

static int get_long(pt_t *self, const char *key, long default_value, long min, long max,
                    long *out)
{
    return nagar_service_config_long(self->config, PT_SERVICE, key, default_value, min, max, out);
}

static int connect_db(pt_t *self)
{
    self->rules.db = nagar_service_db_connect(self->config, PT_SERVICE);
    return self->rules.db ? 0 : -1;
}

static int load_settings(pt_t *self)
{
    char error[1024];
    const char *date = nagar_config_get(self->config, "NAGAR_PROPERTY_TAX_BUSINESS_DATE", "");
    if (date[0]) {
        nagar_date_t parsed;
        if (nagar_date_parse(date, &parsed, error, sizeof error) != 0) {
            nagar_log_error("property_tax.config_invalid",
                            "NAGAR_PROPERTY_TAX_BUSINESS_DATE=%s: %s", date, error);
            return -1;
        }
        nagar_date_format(parsed, self->rules.business_date);
        nagar_log_warn("property_tax.business_date_fixed",
                       "the business date is fixed at %s (NAGAR_PROPERTY_TAX_BUSINESS_DATE); "
                       "payments are dated that day", self->rules.business_date);
    }
    const char *key_file = nagar_config_get(self->config, "NAGAR_PAYMENT_PROVIDER_KEY_FILE", "");
    if (key_file[0]) {
        self->provider = nagar_payment_provider_new(key_file, error, sizeof error);
        if (!self->provider) {
            nagar_log_error("property_tax.config_invalid", "%s", error);
            return -1;
        }
    } else {
        nagar_log_warn("property_tax.online_off", "NAGAR_PAYMENT_PROVIDER_KEY_FILE is not set: "
                       "online payments will be refused");
    }
    long tick_ms = 0;
    if (get_long(self, "NAGAR_PROPERTY_TAX_DEMAND_CHUNK", 5000, 1, 100000, &self->demand_chunk) ||
        get_long(self, "NAGAR_PROPERTY_TAX_DEMAND_IDLE_POLL_MS", 1000, 1, 600000,
                 &self->demand_idle_poll_ms) ||
        get_long(self, "NAGAR_PROPERTY_TAX_DEMAND_TICK_MS", 10, 1, 60000, &tick_ms))
        return -1;
    return (int) tick_ms;
}

/* The worker's tick: the demand batch, and every relay interval the outbox. */
static void service_tick(nagar_worker_t *worker, void *arg)
{
    pt_t *self = arg;
    demand_tick(worker, self);
    if (self->relay && nagar_rules_monotonic_ms() >= self->relay_next_ms) {
        nagar_outbox_relay_run_once(self->relay, 100, 2000);
        self->relay_next_ms = nagar_rules_monotonic_ms() + self->relay_interval_ms;
    }
}

static int serve(pt_t *self)
{
    int tick_ms = load_settings(self);
    if (tick_ms < 0 || connect_db(self) != 0)
        return 1;
    if (!nagar_document_available())
        nagar_log_warn("property_tax.receipt_pdf_off",
                       "this build cannot render PDFs (no pangocairo or libqrencode): "
                       "receipt.pdf will fail; add them to the Makefile's PKGS and rebuild");
    char error[1024];
    nagar_bus_options_t options;
    if (nagar_bus_options_load(&options, self->config, error, sizeof error) != 0) {
        nagar_log_error("property_tax.config_invalid", "%s", error);
        return 1;
    }
    bool relay = true;
    if (nagar_config_get_bool(self->config, "NAGAR_PROPERTY_TAX_OUTBOX_RELAY", true, &relay, error,
                              sizeof error) != 0) {
        nagar_log_error("property_tax.config_invalid", "%s", error);
        return 1;
    }
    if (get_long(self, "NAGAR_PROPERTY_TAX_RELAY_INTERVAL_MS", 1000, 50, 600000,
                 &self->relay_interval_ms) != 0)
        return 1;
    if (relay) {
        self->bus = nagar_bus_client_new(&options, self->config, error, sizeof error);
        self->relay =
            self->bus ? nagar_outbox_relay_new(self->rules.db, self->bus, PT_SERVICE) : NULL;
        if (!self->relay) {
            nagar_log_error("property_tax.worker_failed", "the outbox relay could not start: %s",
                            self->bus ? "out of memory" : error);
            return 1;
        }
    }
    nagar_worker_t *worker =
        nagar_worker_new(&options, self->config, PT_SERVICE, METHODS, self, error, sizeof error);
    if (!worker) {
        nagar_log_error("property_tax.worker_failed", "%s", error);
        return 1;
    }
    nagar_worker_set_tick(worker, tick_ms, service_tick, self);
    json_t *fields = json_pack("{s:i, s:b, s:s, s:b}", "demand_chunk", (int) self->demand_chunk,
                               "online_payments", self->provider != NULL, "business_date",
                               self->rules.business_date[0] ? self->rules.business_date
                                                            : "today",
                               "relay", relay);
    nagar_log_write(NAGAR_LOG_INFO, "property_tax.ready", fields,
                    "property_tax serving on the bus");
    int rc = nagar_worker_run(worker);
    nagar_worker_destroy(&worker);
    nagar_log_info("property_tax.stopped", "property_tax stopped");
    return rc == 0 ? 0 : 1;
}

/* Exit 0: every chain whole; 3: a chain is broken; 1: could not verify. */
static int verify(pt_t *self, const char *ulb)
{
    if (connect_db(self) != 0)
        return 1;
    return nagar_rules_verify_ledger(&self->rules, ulb);
}

int main(int argc, char **argv)
{
    nagar_log_init("property_tax");
    if (sodium_init() < 0) {
        nagar_log_error("property_tax.start_failed", "libsodium failed to initialise");
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
            nagar_log_error("property_tax.keygen_failed", "%s", error);
            return 1;
        }
        nagar_log_info("property_tax.provider_keygen", "payment provider key written to %s",
                       argv[2]);
        return 0;
    }
    pt_t self;
    memset(&self, 0, sizeof self);
    self.rules.service = PT_SERVICE;
    self.rules.error_prefix = "PT";
    self.rules.idempotency_lookup = "pt_idempotency_lookup";
    self.config = nagar_config_new(NULL, error, sizeof error);
    if (!self.config) {
        nagar_log_error("property_tax.config_invalid", "%s", error);
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
    nagar_config_destroy(&self.config);
    nagar_document_shutdown();   /* Pango's font caches, so a leak checker sees a clean exit */
    return rc;
}
