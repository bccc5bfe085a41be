/*
 * payment.h — dues, counter and online payments, reversals, receipts and
 * the ledger.
 *
 *   dues.get          GetDuesRequest -> Dues                 owner, staff of the ULB
 *   payment.record    RecordPaymentRequest -> Receipt        CLERK, REVENUE_OFFICER, COMMISSIONER;
 *                                                            idempotency key required
 *   payment.reverse   ReversePaymentRequest -> Receipt       REVENUE_OFFICER; key required
 *   receipt.get       GetReceiptRequest -> Receipt
 *   online.initiate   InitiateOnlinePaymentRequest -> OnlineOrder   owner, staff; signed order
 *   online.callback   OnlinePaymentCallback -> OnlineOrder   the provider (public route);
 *                                                            HMAC-SHA256 verified first
 *   online.get        GetOnlineOrderRequest -> OnlineOrder
 *   ledger.verify     VerifyLedgerRequest -> VerifyLedgerReply   REVENUE_OFFICER, COMMISSIONER
 *                                                            (own ULB), STATE_ADMIN (any, or all)
 *
 * A payment is one transaction: idempotency record (concurrent retries of
 * one key queue on it), checks, the next receipt number of the ULB, year
 * and counter (common/sql/receipt), one ledger row (common/sql/ledger), the
 * apportionment (pt_payment_apply), an outbox event, and the stored reply.
 * A reversal is the same with a negative amount and negated allocations.
 */
#ifndef NAGAR_PROPERTY_TAX_PAYMENT_H
#define NAGAR_PROPERTY_TAX_PAYMENT_H

#include "property_tax.h"

int property_tax_payment_record(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                void *arg);
int property_tax_payment_reverse(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);
int property_tax_online_initiate(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);
int property_tax_online_callback(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);
int property_tax_ledger_verify(nagar_worker_call_t *call, const ProtobufCMessage *request,
                               void *arg);

#endif
