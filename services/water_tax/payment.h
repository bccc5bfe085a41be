/*
 * payment.h — what a connection owes, counter payments (partial and
 * advance), reversals as entries, online payments through the payment
 * provider, receipts, and the ledger's chain check. Money moves through
 * common/ledger.h (one hash-chained row per movement, per ULB) with
 * gap-free receipt numbers from common/sql/receipt.
 */
#ifndef NAGAR_WATER_TAX_PAYMENT_H
#define NAGAR_WATER_TAX_PAYMENT_H

#include "water_tax.h"

int water_tax_payment_record(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int water_tax_payment_reverse(nagar_worker_call_t *call, const ProtobufCMessage *request,
                              void *arg);
int water_tax_online_initiate(nagar_worker_call_t *call, const ProtobufCMessage *request,
                              void *arg);
int water_tax_online_callback(nagar_worker_call_t *call, const ProtobufCMessage *request,
                              void *arg);
int water_tax_ledger_verify(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
