/*
 * payment.c — dues, payments, reversals, online orders and the ledger check
 * (payment.h). The money flow is common/service_rules.c, shared with
 * property tax: the same ledger, receipts and payment provider; here are
 * the rules of migrations/002_rules.sql (wt_payment_*, wt_reverse_*,
 * wt_online_*), the account (connectionId) and the consumer's contact.
 */
#include "payment.h"

#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "log.h"

#define RECEIPT &nagar__water_tax__receipt__descriptor
#define ORDER &nagar__water_tax__online_order__descriptor

int dues_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_dues", &nagar__water_tax__dues__descriptor,
                          false);
}

int receipt_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_receipt_get", RECEIPT, false);
}

int online_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_online_get", ORDER, false);
}

/* What this service's payments differ in; the flow is common/service_rules.c. */
static nagar_rules_payments_t payments_of(wt_t *self)
{
    return (nagar_rules_payments_t){.rules = &self->rules, .provider = self->provider,
                                    .rule_prefix = "wt", .account_field = "connectionId",
                                    .account_param = "connection_id", .mobile_field = "mobile",
                                    .user_field = "userId", .receipt_type = RECEIPT,
                                    .order_type = ORDER};
}

int payment_record(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_payment_record(&payments, call, request);
}

int payment_reverse(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_payment_reverse(&payments, call, request);
}

int online_initiate(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_online_initiate(&payments, call, request);
}

int online_callback(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_online_callback(&payments, call, request);
}

/* ---- ledger.verify ------------------------------------------------------------------ */

int ledger_verify(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    wt_t *self = arg;
    const Nagar__WaterTax__VerifyLedgerRequest *request =
        (const Nagar__WaterTax__VerifyLedgerRequest *) message;
    const char *role = nagar_actor_role(call);
    bool state = strcmp(role, "STATE_ADMIN") == 0;
    if (!nagar_actor_user(call)[0] ||
        (!state && strcmp(role, "COMMISSIONER") != 0 && strcmp(role, "REVENUE_OFFICER") != 0))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "verifying the ledger needs STATE_ADMIN, COMMISSIONER or "
                                      "REVENUE_OFFICER");
    const char *ulb = request->ulb;
    if (ulb[0] && (strspn(ulb, "0123456789") != strlen(ulb) || strlen(ulb) > 10))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be the LGD code of a ULB (1 to 10 digits)");
    if (!state && (!ulb[0] || strcmp(ulb, nagar_actor_ulb(call)) != 0))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "a %s may verify the ledger of their own ULB %s only",
                                      role, nagar_actor_ulb(call));
    nagar_ledger_chain_status_t *chains = NULL;
    size_t count = 0;
    char error[512];
    int broken = nagar_ledger_verify(self->rules.db, ulb, &chains, &count, error, sizeof error);
    if (broken < 0) {
        nagar_log_error("water_tax.ledger_verify_failed", "%s", error);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "the ledger could not be read; retry later");
    }
    Nagar__WaterTax__VerifyLedgerReply reply;
    nagar__water_tax__verify_ledger_reply__init(&reply);
    Nagar__WaterTax__LedgerChainStatus *items = calloc(count ? count : 1, sizeof *items);
    Nagar__WaterTax__LedgerChainStatus **pointers = calloc(count ? count : 1, sizeof *pointers);
    if (!items || !pointers) {
        free(items);
        free(pointers);
        free(chains);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        nagar__water_tax__ledger_chain_status__init(&items[i]);
        items[i].ulb = chains[i].ulb;
        items[i].ok = chains[i].ok;
        items[i].rows = chains[i].rows;
        items[i].broken_seq = chains[i].ok ? 0 : chains[i].broken_seq;
        items[i].problem = chains[i].problem;
        pointers[i] = &items[i];
        if (!chains[i].ok) {
            json_t *fields = json_pack("{s:s, s:I}", "ulb", chains[i].ulb, "seq",
                                       (json_int_t) chains[i].broken_seq);
            nagar_log_write(NAGAR_LOG_ERROR, "water_tax.ledger_broken", fields, "%s",
                            chains[i].problem);
        }
    }
    reply.n_chains = count;
    reply.chains = pointers;
    reply.ok = broken == 0;
    int rc = nagar_worker_call_reply(call, &reply.base);
    free(items);
    free(pointers);
    free(chains);
    return rc;
}
