/*
 * main.c — nagar-property-tax: the method table and what the program adds
 * to common/service_rules.h's nagar_rules_main (which runs the command line,
 * the shared settings, the worker and the outbox relay): the demand batch's
 * settings and tick, and the warning when receipts cannot be rendered.
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
 *   NAGAR_PROPERTY_TAX_NOTICE_CHUNK         bills whose owners are messaged per chunk (500)
 *   NAGAR_PORTAL_URL                        the citizen portal's address ("https://nagar.example.in"):
 *                                           demand notices' QR code opens <it>/property/<id>;
 *                                           unset: notices say to pay at the counter
 *   NAGAR_PROPERTY_TAX_OUTBOX_RELAY         relay outbox events to notifications (true)
 *   NAGAR_PROPERTY_TAX_RELAY_INTERVAL_MS    how often the relay runs (1000)
 *   NAGAR_BUS_*                             as bus.h and bus_worker.h
 */
#include <stdio.h>
#include <string.h>

#include "bus_worker.h"
#include "demand.h"
#include "document.h"
#include "event_subjects.h"
#include "log.h"
#include "notice.h"
#include "property_tax.h"
#include "receipt_pdf.h"
#include "register.h"

static const char *const GATEWAY[] = {"gateway", NULL};
/* Batch jobs (imports, the annual demand, offline receipts, verification). */
static const char *const GATEWAY_BATCH[] = {"gateway", "batch", NULL};

/* Who owns a property, asked by notifications to reach an event's person. */
static const char *const NOTIFICATIONS[] = {"notifications", NULL};
static const nagar_subject_source_t SUBJECTS[] = {
    {"property", "subject_property",
     "SELECT p.ulb, coalesce(o.user_id, ''), coalesce(o.mobile, ''), "
     "coalesce('owner:' || o.ordinal, '') FROM property p "
     "LEFT JOIN property_owner o ON o.property_id = p.property_id "
     "WHERE p.property_id = $1 ORDER BY o.ordinal"},
    {NULL, NULL, NULL},
};

static int subjects(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    pt_t *self = arg;
    return nagar_subjects_answer(self->rules.db, PT_SERVICE, SUBJECTS, call, request);
}

#define PT(name) &nagar__property_tax__##name##__descriptor
#define PAY(name) &nagar__payments__##name##__descriptor   /* proto/payments.proto */

/* What property tax's money movements differ in: the pt_* rules
 * (sql/payment.sql, sql/online.sql, and sql/account.sql with
 * common/sql/accounts), the account (propertyId), the owner's account and
 * the message types. The flow is common/rules_money.c, shared with water
 * charges: a payment is one transaction — idempotency record (concurrent
 * retries of one key queue on it), checks, the next receipt number of the
 * ULB, year and counter (common/sql/receipt), one ledger row
 * (common/sql/ledger), the apportionment (pt_payment_apply), an outbox
 * event, and the stored reply; a reversal is the same with a negative amount
 * and negated allocations; online.callback verifies the provider's
 * HMAC-SHA256 first. Its handlers are the nagar_rules_*_method rows below. */
static const nagar_rules_payments_t PAYMENTS = {
    .rule_prefix = "pt", .account_param = "property_id", .subject_kind = "property",
    .user_field = "ownerUserId", .receipt_type = PT(receipt), .order_type = PT(online_order),
    .ledger_reply_type = PT(verify_ledger_reply)};

/* Methods with a handler of their own: money movements (common), the CSV
 * import, the demand job (which wakes the batch), the receipt PDF, the ledger
 * check (common), the demand notices (data with the portal address, PDFs). */
static const nagar_method_t METHODS[] = {
    {"property.import", PT(import_properties_request), GATEWAY_BATCH,
     property_tax_register_property_import},
    {"demand.generate", PT(generate_demand_request), GATEWAY_BATCH, property_tax_demand_generate},
    {"payment.record", PT(record_payment_request), GATEWAY_BATCH,
     nagar_rules_payment_record_method},
    {"payment.reverse", PT(reverse_payment_request), GATEWAY, nagar_rules_payment_reverse_method},
    {"receipt.pdf", PAY(get_receipt_request), GATEWAY_BATCH, property_tax_receipt_pdf},
    {"online.initiate", PT(initiate_online_payment_request), GATEWAY,
     nagar_rules_online_initiate_method},
    {"online.callback", PAY(online_payment_callback), GATEWAY, nagar_rules_online_callback_method},
    {"ledger.verify", PAY(verify_ledger_request), GATEWAY_BATCH, nagar_rules_ledger_verify_method},
    {"demand_notice.get", PT(get_demand_notice_request), GATEWAY_BATCH,
     property_tax_demand_notice_get},
    {"demand_notice.pdf", PT(get_demand_notice_request), GATEWAY_BATCH,
     property_tax_demand_notice_pdf},
    {"demand_notice.ward_pdf", PT(ward_notices_request), GATEWAY_BATCH,
     property_tax_demand_notice_ward_pdf},
    {"notify.subjects", &nagar__notifications__subjects_request__descriptor, NOTIFICATIONS,
     subjects},
    {NULL, NULL, NULL, NULL},
};

/* Methods that are one rule call (service_rules.h): method, request, callers,
 * the rule function of sql/, its reply, whether it mutates. */
static const nagar_rule_method_t RULE_METHODS[] = {
    {"property.create", PT(create_property_request), GATEWAY_BATCH, "pt_property_create",
     PT(property), true},
    {"property.get", PT(get_property_request), GATEWAY_BATCH, "pt_property_get", PT(property),
     false},
    {"property.list", PT(list_properties_request), GATEWAY_BATCH, "pt_property_list",
     PT(list_properties_reply), false},
    {"rates.get", PT(get_rates_request), GATEWAY_BATCH, "pt_rates_get", PT(rate_schedule), false},
    {"rates.set", PT(set_rates_request), GATEWAY, "pt_rates_set", PT(rate_schedule), true},
    {"assessment.file", PT(file_assessment_request), GATEWAY, "pt_assessment_file",
     PT(assessment), true},
    {"assessment.revise", PT(revise_assessment_request), GATEWAY, "pt_assessment_revise",
     PT(assessment), true},
    {"assessment.decide", PT(decide_assessment_request), GATEWAY, "pt_assessment_decide",
     PT(assessment), true},
    {"assessment.get", PT(get_assessment_request), GATEWAY, "pt_assessment_get", PT(assessment),
     false},
    {"assessment.list", PT(list_assessments_request), GATEWAY, "pt_assessment_list",
     PT(list_assessments_reply), false},
    {"mutation.record", PT(record_mutation_request), GATEWAY, "pt_mutation_record", PT(mutation),
     true},
    {"mutation.apply", PT(apply_mutation_request), GATEWAY, "pt_mutation_apply",
     PT(mutation_application), true},
    {"mutation.decide", PT(decide_mutation_application_request), GATEWAY, "pt_mutation_decide",
     PT(mutation_application), true},
    {"mutation.get", PT(get_mutation_application_request), GATEWAY,
     "pt_mutation_application_get", PT(mutation_application), false},
    {"mutation.list", PT(list_mutation_applications_request), GATEWAY,
     "pt_mutation_application_list", PT(list_mutation_applications_reply), false},
    {"demand.status", PT(demand_status_request), GATEWAY_BATCH, "pt_demand_status",
     PT(demand_job), false},
    {"dues.get", PT(get_dues_request), GATEWAY_BATCH, "pt_dues", PT(dues), false},
    {"receipt.get", PAY(get_receipt_request), GATEWAY_BATCH, "pt_receipt_get", PT(receipt), false},
    {"online.get", PAY(get_online_order_request), GATEWAY, "pt_online_get", PT(online_order),
     false},
    {"report.dcb", PAY(dcb_request), GATEWAY_BATCH, "pt_report_dcb", PT(dcb_report), false},
    {"report.daily_collection", PAY(daily_collection_request), GATEWAY_BATCH, "pt_report_daily",
     PT(daily_collection_report), false},
    {"report.defaulters", PAY(defaulters_request), GATEWAY_BATCH, "pt_report_defaulters",
     PT(defaulters_report), false},
    {NULL, NULL, NULL, NULL, NULL, false},
};

/* NAGAR_PORTAL_URL: an http(s) address of printable characters without
 * quotes or spaces (it is printed and put in QR codes), without a trailing
 * slash (kept off here). Unset is allowed: notices then have no QR code. */
static int load_portal_url(pt_t *self, nagar_config_t *config)
{
    if (nagar_service_portal_url(config, PT_SERVICE, self->portal_url, sizeof self->portal_url) !=
        0)
        return -1;
    if (!self->portal_url[0])
        nagar_log_warn("property_tax.portal_url_unset",
                       "NAGAR_PORTAL_URL is not set: demand notices carry no QR code to the "
                       "payment page and say to pay at the counter");
    return 0;
}

/* The demand batch's settings; answers the worker's idle tick in ms. */
static int load_settings(void *arg, nagar_config_t *config, json_t *ready)
{
    pt_t *self = arg;
    long tick_ms = 0;
    if (nagar_service_config_long(config, PT_SERVICE, "NAGAR_PROPERTY_TAX_DEMAND_CHUNK", 5000, 1,
                                  100000, &self->demand.chunk) ||
        nagar_service_config_long(config, PT_SERVICE, "NAGAR_PROPERTY_TAX_DEMAND_IDLE_POLL_MS",
                                  1000, 1, 600000, &self->demand.idle_poll_ms) ||
        nagar_service_config_long(config, PT_SERVICE, "NAGAR_PROPERTY_TAX_DEMAND_TICK_MS", 10, 1,
                                  60000, &tick_ms) ||
        nagar_service_config_long(config, PT_SERVICE, "NAGAR_PROPERTY_TAX_NOTICE_CHUNK", 500, 1,
                                  10000, &self->notice_messages.chunk))
        return -1;
    self->notice_messages.idle_poll_ms = self->demand.idle_poll_ms;
    json_object_set_new(ready, "demand_chunk", json_integer((int) self->demand.chunk));
    if (load_portal_url(self, config) != 0)
        return -1;
    json_object_set_new(ready, "portal_url", json_string(self->portal_url));
    return (int) tick_ms;
}

static void warn_without_pdf(void *arg)
{
    (void) arg;
    if (!nagar_document_available())
        nagar_log_warn("property_tax.receipt_pdf_off",
                       "this build cannot render PDFs (no pangocairo or libqrencode): "
                       "receipt.pdf will fail; add them to the Makefile's PKGS and rebuild");
}

int main(int argc, char **argv)
{
    pt_t self = {.rules = {.service = PT_SERVICE}};
    property_tax_demand_batch_init(&self.demand);
    property_tax_demand_notice_messages_init(&self.notice_messages);
    nagar_rules_service_t service = {
        .rules = &self.rules, .program = "nagar-property-tax",
        .settings_prefix = "NAGAR_PROPERTY_TAX", .methods = METHODS,
        .rule_methods = RULE_METHODS, .arg = &self,
        .payments = &PAYMENTS, .bus = &self.bus, .settings = load_settings,
        .connected = warn_without_pdf, .tick = property_tax_demand_tick};
    return nagar_rules_main(&service, argc, argv);
}
