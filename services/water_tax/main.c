/*
 * main.c — nagar-water-tax: the method table and what the program adds to
 * common/service_rules.h's nagar_rules_main (which runs the command line,
 * the shared settings, the worker and the outbox relay): the bill batch's
 * settings and tick.
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
#include "bill.h"
#include "bus_worker.h"
#include "event_subjects.h"
#include "reading.h"
#include "receipt_pdf.h"
#include "report.h"
#include "water_tax.h"

static const char *const GATEWAY[] = {"gateway", NULL};
/* Batch jobs (reading imports, bill runs, offline receipts, verification). */
static const char *const GATEWAY_BATCH[] = {"gateway", "batch", NULL};

#define WT(name) &nagar__water_tax__##name##__descriptor
#define PAY(name) &nagar__payments__##name##__descriptor   /* proto/payments.proto */

/* Whose connection it is, asked by notifications to reach an event's person. */
static const char *const NOTIFICATIONS[] = {"notifications", NULL};
static const nagar_subject_source_t SUBJECTS[] = {
    {"connection", "subject_connection",
     "SELECT ulb, user_id, mobile FROM connection WHERE connection_id = $1"},
    {NULL, NULL, NULL},
};

static int subjects(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    wt_t *self = arg;
    return nagar_subjects_answer(self->rules.db, WT_SERVICE, SUBJECTS, call, request);
}

/* What water charges' money movements differ in: the wt_* rules
 * (sql/payment.sql, sql/online.sql, and sql/account.sql with
 * common/sql/accounts), the account (connectionId), the consumer's account
 * and the message types. The flow is common/rules_money.c, shared with
 * property tax: dues, counter payments (partial and advance), reversals as
 * entries, online payments through the payment provider; money moves through
 * common/ledger.h (one hash-chained row per movement, per ULB) with gap-free
 * receipt numbers from common/sql/receipt. Its handlers are the
 * nagar_rules_*_method rows below. */
static const nagar_rules_payments_t PAYMENTS = {
    .rule_prefix = "wt", .account_param = "connection_id", .subject_kind = "connection",
    .user_field = "userId", .receipt_type = WT(receipt), .order_type = WT(online_order),
    .ledger_reply_type = WT(verify_ledger_reply)};

/* Methods with a handler of their own: money movements (common), the
 * readings import, the bill job (which wakes the batch), the bill PDF,
 * notices, the ledger check (common). */
static const nagar_method_t METHODS[] = {
    {"reading.import", WT(import_readings_request), GATEWAY_BATCH, water_tax_reading_import},
    {"bill.generate", WT(generate_bills_request), GATEWAY_BATCH, water_tax_bill_generate},
    {"bill.pdf", WT(get_bill_request), GATEWAY_BATCH, water_tax_bill_pdf},
    {"payment.record", WT(record_payment_request), GATEWAY_BATCH,
     nagar_rules_payment_record_method},
    {"payment.reverse", WT(reverse_payment_request), GATEWAY, nagar_rules_payment_reverse_method},
    {"receipt.pdf", PAY(get_receipt_request), GATEWAY_BATCH, water_tax_receipt_pdf},
    {"online.initiate", WT(initiate_online_payment_request), GATEWAY,
     nagar_rules_online_initiate_method},
    {"online.callback", PAY(online_payment_callback), GATEWAY, nagar_rules_online_callback_method},
    {"ledger.verify", PAY(verify_ledger_request), GATEWAY_BATCH, nagar_rules_ledger_verify_method},
    {"notices.send", WT(send_notices_request), GATEWAY_BATCH, water_tax_notices_send},
    {"notify.subjects", &nagar__notifications__subjects_request__descriptor, NOTIFICATIONS,
     subjects},
    {NULL, NULL, NULL, NULL},
};

/* Methods that are one rule call (service_rules.h): method, request, callers,
 * the rule function of sql/, its reply, whether it mutates. */
static const nagar_rule_method_t RULE_METHODS[] = {
    {"connection.apply", WT(apply_connection_request), GATEWAY, "wt_connection_apply",
     WT(connection), true},
    {"connection.decide", WT(decide_connection_request), GATEWAY, "wt_connection_decide",
     WT(connection), true},
    {"connection.disconnect", WT(change_connection_request), GATEWAY, "wt_connection_disconnect",
     WT(connection), true},
    {"connection.reconnect", WT(change_connection_request), GATEWAY, "wt_connection_reconnect",
     WT(connection), true},
    {"connection.get", WT(get_connection_request), GATEWAY_BATCH, "wt_connection_get",
     WT(connection), false},
    {"connection.list", WT(list_connections_request), GATEWAY_BATCH, "wt_connection_list",
     WT(list_connections_reply), false},
    {"tariff.get", WT(get_tariff_request), GATEWAY_BATCH, "wt_tariff_get", WT(tariff), false},
    {"tariff.set", WT(set_tariff_request), GATEWAY, "wt_tariff_set", WT(tariff), true},
    {"reading.record", WT(record_reading_request), GATEWAY_BATCH, "wt_reading_record",
     WT(meter_reading), true},
    {"reading.list", WT(list_readings_request), GATEWAY_BATCH, "wt_reading_list",
     WT(list_readings_reply), false},
    {"meter.replace", WT(replace_meter_request), GATEWAY, "wt_meter_replace", WT(connection),
     true},
    {"bill.status", WT(bill_job_status_request), GATEWAY_BATCH, "wt_bill_status", WT(bill_job),
     false},
    {"bill.get", WT(get_bill_request), GATEWAY_BATCH, "wt_bill_get", WT(bill), false},
    {"dues.get", WT(get_dues_request), GATEWAY_BATCH, "wt_dues", WT(dues), false},
    {"receipt.get", PAY(get_receipt_request), GATEWAY_BATCH, "wt_receipt_get", WT(receipt), false},
    {"online.get", PAY(get_online_order_request), GATEWAY, "wt_online_get", WT(online_order),
     false},
    {"report.dcb", PAY(dcb_request), GATEWAY_BATCH, "wt_report_dcb", WT(dcb_report), false},
    {"report.daily_collection", PAY(daily_collection_request), GATEWAY_BATCH, "wt_report_daily",
     WT(daily_collection_report), false},
    {"report.defaulters", PAY(defaulters_request), GATEWAY_BATCH, "wt_report_defaulters",
     WT(defaulters_report), false},
    {NULL, NULL, NULL, NULL, NULL, false},
};

/* The bill batch's settings; answers the worker's idle tick in ms. */
static int load_settings(void *arg, nagar_config_t *config, json_t *ready)
{
    wt_t *self = arg;
    long tick_ms = 0;
    if (nagar_service_config_long(config, WT_SERVICE, "NAGAR_WATER_TAX_BILL_CHUNK", 5000, 1,
                                  100000, &self->bills.chunk) ||
        nagar_service_config_long(config, WT_SERVICE, "NAGAR_WATER_TAX_BILL_IDLE_POLL_MS", 1000,
                                  1, 600000, &self->bills.idle_poll_ms) ||
        nagar_service_config_long(config, WT_SERVICE, "NAGAR_WATER_TAX_BILL_TICK_MS", 10, 1,
                                  60000, &tick_ms))
        return -1;
    json_object_set_new(ready, "bill_chunk", json_integer((int) self->bills.chunk));
    return (int) tick_ms;
}

int main(int argc, char **argv)
{
    wt_t self = {.rules = {.service = WT_SERVICE}};
    water_tax_bill_batch_init(&self.bills);
    nagar_rules_service_t service = {
        .rules = &self.rules, .program = "nagar-water-tax",
        .settings_prefix = "NAGAR_WATER_TAX", .methods = METHODS,
        .rule_methods = RULE_METHODS, .arg = &self, .payments = &PAYMENTS, .bus = &self.bus,
        .settings = load_settings, .tick = water_tax_bill_tick};
    return nagar_rules_main(&service, argc, argv);
}
