/*
 * payment.c — dues, payments, reversals, online orders and the ledger check
 * (payment.h). The money flow and the ledger check are
 * common/service_rules.c, shared with property tax: the same ledger,
 * receipts and payment provider; here are the rules of
 * sql/payment.sql and sql/online.sql (wt_payment_*, wt_reverse_*, wt_online_*), the
 * account (connectionId), the consumer's contact and the message types.
 */
#include "payment.h"

#include "ledger.h"

#define RECEIPT &nagar__water_tax__receipt__descriptor
#define ORDER &nagar__water_tax__online_order__descriptor

/* What this service's payments differ in; the flow is common/service_rules.c. */
static nagar_rules_payments_t payments_of(wt_t *self)
{
    return (nagar_rules_payments_t){.rules = &self->rules, .provider = self->provider,
                                    .rule_prefix = "wt",
                                    .account_param = "connection_id", .subject_kind = "connection",
                                    .user_field = "userId", .receipt_type = RECEIPT,
                                    .order_type = ORDER};
}

int water_tax_payment_record(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_payment_record(&payments, call, request);
}

int water_tax_payment_reverse(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_payment_reverse(&payments, call, request);
}

int water_tax_online_initiate(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_online_initiate(&payments, call, request);
}

int water_tax_online_callback(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_online_callback(&payments, call, request);
}

/* ---- ledger.verify ------------------------------------------------------------------ */

int water_tax_ledger_verify(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    wt_t *self = arg;
    return nagar_ledger_check_method(self->rules.db, self->rules.service, call, request,
                                     &nagar__water_tax__verify_ledger_reply__descriptor);
}
