/*
 * fee_payment.h — certificate fees collected before registration (issue 14
 * item 3): a late registration's fee (RBD Act s.13) or a marriage
 * certificate's is paid at a counter, with a receipt from a gap-free series,
 * or waived by the ULB's commissioner with a reason; registering a
 * fee-bearing application with neither is refused (workflow.c); the
 * certificate, the application and the ULB's day's collection show which.
 *
 * Or the applicant pays it online through the payment provider, by the
 * flow property tax and water charges use (common/service_rules.h,
 * nagar_rules_online_*): fee_online.initiate answers an order for the fee
 * the service computed (the request names no amount), signed for the
 * provider's checkout; fee_online.callback checks the provider's signature
 * (a forged one is refused and changes nothing) and settles the
 * application once — a repeated callback answers the order as it stands.
 * fee_receipt.pdf prints the receipt of a fee paid either way with
 * common/receipt_print.h; its QR code names the settlement's entry on the
 * hash-chained history (a certificate fee is on no ledger).
 *
 * The rules are SQL functions next to the data (sql/fee.sql), run through
 * common/service_rules.h: cert_fee_pay, cert_fee_waive, cert_fee_collection,
 * cert_online_initiate, cert_online_callback, cert_online_get,
 * cert_fee_receipt_get, cert_fee_refunds_list, cert_fee_refund_record.
 */
#ifndef CERT_FEE_PAYMENT_H
#define CERT_FEE_PAYMENT_H

#include "certificates.h"

/* The SQL expression of an application's settlement as FeeSettlement JSON
 * ("" when there is none), for the column lists of application and
 * certificate reads; alias is the application table's alias. */
#define FEE_SETTLEMENT_COLUMN(alias) \
    "coalesce(cert_fee_settlement_json(" alias ".application_id)::text, '')"

/* Decodes a settlement read with FEE_SETTLEMENT_COLUMN: *out NULL for "",
 * else a new message (free with protobuf_c_message_free_unpacked). Returns
 * 0, or -1 when the stored JSON does not decode. */
int certificates_fee_settlement_decode(const char *json, Nagar__Certificates__FeeSettlement **out);

/* NO_FEE, DUE, or the settlement's PAID / WAIVED. */
Nagar__Certificates__FeeStatus
certificates_fee_status_of(int64_t fee_paise, const Nagar__Certificates__FeeSettlement *settlement);

/* One line for the certificate: "Rs 50.00 paid, receipt ..., on ..." */
void certificates_fee_settlement_describe(int64_t fee_paise,
                                          const Nagar__Certificates__FeeSettlement *settlement,
                                          char *out, size_t size);

/* application.pay_fee, application.waive_fee, fees.daily_collection. */
int certificates_application_pay_fee(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                     void *arg);
int certificates_application_waive_fee(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                       void *arg);
int certificates_fees_daily_collection(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                       void *arg);

/* fee_online.initiate, fee_online.callback, fee_online.get, fee_receipt.pdf. */
int certificates_fee_online_initiate(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                     void *arg);
int certificates_fee_online_callback(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                     void *arg);
int certificates_fee_online_get(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                void *arg);
int certificates_fee_receipt_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);

/* fee_refund.list, fee_refund.record: a ULB's online payments due for a
 * refund (REFUND_DUE), and the record, once, that one was refunded (how,
 * the reference, the day, who; cert_fee_refunds_list and
 * cert_fee_refund_record, on the history), which tells the applicant. */
int certificates_fee_refunds_list(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                  void *arg);
int certificates_fee_refund_record(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                   void *arg);

#endif
