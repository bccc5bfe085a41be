/*
 * payment.c — payments, reversals, online orders and the ledger check
 * (payment.h).
 *
 * The money flow (idempotency, receipt numbers, the ledger row, the
 * outbox event, the provider's signatures) and the ledger check are
 * common/service_rules.c, shared with water charges; here is what property
 * tax differs in: the pt_* rules, the account (propertyId), the owner's
 * contact and its message types.
 */
#include "payment.h"

#include "ledger.h"

#define RECEIPT &nagar__property_tax__receipt__descriptor
#define ORDER &nagar__property_tax__online_order__descriptor

/* What this service's payments differ in; the flow is common/service_rules.c. */
static nagar_rules_payments_t payments_of(pt_t *self)
{
    return (nagar_rules_payments_t){.rules = &self->rules, .provider = self->provider,
                                    .rule_prefix = "pt",
                                    .account_param = "property_id", .subject_kind = "property",
                                    .user_field = "ownerUserId", .receipt_type = RECEIPT,
                                    .order_type = ORDER};
}

int property_tax_payment_record(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_payment_record(&payments, call, request);
}

int property_tax_payment_reverse(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_payment_reverse(&payments, call, request);
}

int property_tax_online_initiate(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_online_initiate(&payments, call, request);
}

int property_tax_online_callback(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_online_callback(&payments, call, request);
}

/* ---- ledger.verify ------------------------------------------------------------------ */

int property_tax_ledger_verify(nagar_worker_call_t *call, const ProtobufCMessage *request,
                               void *arg)
{
    pt_t *self = arg;
    return nagar_ledger_check_method(self->rules.db, self->rules.service, call, request,
                                     &nagar__property_tax__verify_ledger_reply__descriptor);
}
