/*
 * fee_payment.c — certificate fees paid or waived, and the day's
 * collection (see fee_payment.h). The checks, the receipt number and the
 * write are one rule each in sql/fee.sql, run in one transaction with an
 * idempotency record by nagar_rules_method: the same key gives the same
 * receipt however often a counter retries.
 */
#include "fee_payment.h"

#include <stdio.h>
#include <string.h>

#include "json_codec.h"
#include "money.h"

int fee_settlement_decode(const char *json, Nagar__Certificates__FeeSettlement **out)
{
    *out = NULL;
    if (!json || !json[0])
        return 0;
    nagar_json_error_t error;
    ProtobufCMessage *message = nagar_json_decode(&nagar__certificates__fee_settlement__descriptor,
                                                  json, strlen(json), NULL, &error);
    if (!message)
        return -1;
    *out = (Nagar__Certificates__FeeSettlement *) message;
    return 0;
}

Nagar__Certificates__FeeStatus fee_status_of(int64_t fee_paise,
                                             const Nagar__Certificates__FeeSettlement *settlement)
{
    if (settlement)
        return settlement->status;
    return fee_paise > 0 ? NAGAR__CERTIFICATES__FEE_STATUS__DUE
                         : NAGAR__CERTIFICATES__FEE_STATUS__NO_FEE;
}

void fee_settlement_describe(int64_t fee_paise,
                             const Nagar__Certificates__FeeSettlement *settlement, char *out,
                             size_t size)
{
    char amount[NAGAR_MONEY_TEXT_MAX];
    nagar_money_format(settlement ? settlement->amount_paise : fee_paise, amount);
    if (!settlement && fee_paise <= 0)
        snprintf(out, size, "शून्य / Nil");
    else if (!settlement)   /* registered before fees were recorded */
        snprintf(out, size, "रु. %s — अभिलिखित नहीं / Rs %s — not recorded", amount, amount);
    else if (settlement->status == NAGAR__CERTIFICATES__FEE_STATUS__PAID)
        snprintf(out, size, "रु. %s जमा, रसीद %s, %s / Rs %s paid, receipt %s of %s", amount,
                 settlement->receipt_no, settlement->settled_on, amount, settlement->receipt_no,
                 settlement->settled_on);
    else
        snprintf(out, size, "रु. %s माफ़ (आयुक्त, %s) / Rs %s waived by the commissioner on %s: %s",
                 amount, settlement->settled_on, amount, settlement->settled_on,
                 settlement->reason);
}

int application_pay_fee(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    certificates_t *self = arg;
    return nagar_rules_method(&self->rules, call, request, NULL, "cert_fee_pay",
                              &nagar__certificates__fee_settlement__descriptor, true, NULL, NULL);
}

int application_waive_fee(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    certificates_t *self = arg;
    return nagar_rules_method(&self->rules, call, request, NULL, "cert_fee_waive",
                              &nagar__certificates__fee_settlement__descriptor, true, NULL, NULL);
}

int fees_daily_collection(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    certificates_t *self = arg;
    return nagar_rules_method(&self->rules, call, request, NULL, "cert_fee_collection",
                              &nagar__certificates__fee_collection__descriptor, false, NULL, NULL);
}
