/*
 * fee_payment.c — certificate fees paid or waived, and the day's
 * collection (see fee_payment.h). The checks, the receipt number and the
 * write are one rule each in sql/fee.sql, run in one transaction with an
 * idempotency record by nagar_rules_method: the same key gives the same
 * receipt however often a counter retries. Online payments and the printed
 * receipt are the tax services' code (rules_money.c, receipt_print.c) with
 * certificates' rules and messages.
 */
#include "fee_payment.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "json_codec.h"
#include "money.h"
#include "receipt_print.h"

int certificates_fee_settlement_decode(const char *json, Nagar__Certificates__FeeSettlement **out)
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

Nagar__Certificates__FeeStatus
certificates_fee_status_of(int64_t fee_paise, const Nagar__Certificates__FeeSettlement *settlement)
{
    if (settlement)
        return settlement->status;
    return fee_paise > 0 ? NAGAR__CERTIFICATES__FEE_STATUS__DUE
                         : NAGAR__CERTIFICATES__FEE_STATUS__NO_FEE;
}

void certificates_fee_settlement_describe(int64_t fee_paise,
                                          const Nagar__Certificates__FeeSettlement *settlement,
                                          char *out, size_t size)
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

int certificates_application_pay_fee(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                     void *arg)
{
    certificates_t *self = arg;
    return nagar_rules_method(&self->rules, call, request, NULL, "cert_fee_pay",
                              &nagar__certificates__fee_settlement__descriptor, true, NULL, NULL);
}

int certificates_application_waive_fee(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                       void *arg)
{
    certificates_t *self = arg;
    return nagar_rules_method(&self->rules, call, request, NULL, "cert_fee_waive",
                              &nagar__certificates__fee_settlement__descriptor, true, NULL, NULL);
}

int certificates_fees_daily_collection(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                       void *arg)
{
    certificates_t *self = arg;
    return nagar_rules_method(&self->rules, call, request, NULL, "cert_fee_collection",
                              &nagar__certificates__fee_collection__descriptor, false, NULL, NULL);
}

/* ---- online ------------------------------------------------------------------------ */

/* The applicant's messages of a verified callback, in its transaction: the
 * callback rule answers action "recorded" when it settled the fee now
 * (certificate.fee_paid, with the receipt) and "refund_due" when the money
 * arrived after the fee was settled another way or the application decided
 * (certificate.fee_refund_due: the ULB will refund it); a repeated callback
 * answers "done" and tells nobody again. Never payment.received: that type
 * is the tax services' (notifications takes it from them only). The event
 * names the application and the applicant's user id, never a contact. */
static int callback_events(nagar_rules_t *rules, json_t *answer)
{
    const char *action = json_string_value(json_object_get(answer, "action"));
    bool paid = action && strcmp(action, "recorded") == 0;
    if (!action || (!paid && strcmp(action, "refund_due") != 0))
        return 0;
    const char *ulb = json_string_value(json_object_get(answer, "ulb"));
    const char *application = json_string_value(json_object_get(answer, "applicationId"));
    const char *applicant = json_string_value(json_object_get(answer, "applicantUserId"));
    const char *kind = json_string_value(json_object_get(answer, "kind"));
    const char *receipt = json_string_value(json_object_get(answer, "receiptNo"));
    if (!ulb || !application || !kind || (paid && !receipt))
        return -1;
    char subject[CERT_ID_MAX + 16], amount[32];
    snprintf(subject, sizeof subject, "application:%s", application);
    snprintf(amount, sizeof amount, "%lld",
             (long long) json_integer_value(json_object_get(answer, "amountPaise")));
    const char *user = applicant && strncmp(applicant, "citizen:", 8) == 0 ? applicant : "";
    if (paid)
        return nagar_rules_outbox(rules, "certificate.fee_paid", ulb, subject, user,
                                  "application_id", application, "kind", kind, "amount_paise",
                                  amount, "receipt_no", receipt, NULL);
    return nagar_rules_outbox(rules, "certificate.fee_refund_due", ulb, subject, user,
                              "application_id", application, "kind", kind, "amount_paise",
                              amount, NULL);
}

/* What certificates' online payments differ in (common/rules_money.c). */
static nagar_rules_payments_t payments_of(certificates_t *self)
{
    return (nagar_rules_payments_t){.rules = &self->rules, .provider = self->provider,
                                    .rule_prefix = "cert", .account_param = "application_id",
                                    .subject_kind = "application",
                                    .user_field = "applicantUserId",
                                    .receipt_type = &nagar__certificates__fee_settlement__descriptor,
                                    .order_type = &nagar__certificates__fee_order__descriptor,
                                    .callback_events = callback_events};
}

int certificates_fee_online_initiate(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                     void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_online_initiate(&payments, call, request);
}

int certificates_fee_online_callback(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                     void *arg)
{
    nagar_rules_payments_t payments = payments_of(arg);
    return nagar_rules_online_callback(&payments, call, request);
}

int certificates_fee_online_get(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                void *arg)
{
    certificates_t *self = arg;
    return nagar_rules_method(&self->rules, call, request, NULL, "cert_online_get",
                              &nagar__certificates__fee_order__descriptor, false, NULL, NULL);
}

/* ---- refunds ----------------------------------------------------------------------- */

int certificates_fee_refunds_list(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                  void *arg)
{
    certificates_t *self = arg;
    return nagar_rules_method(&self->rules, call, request, NULL, "cert_fee_refunds_list",
                              &nagar__certificates__list_fee_refunds_reply__descriptor, false,
                              NULL, NULL);
}

/* The applicant is told the refund was made (certificate.fee_refunded), in
 * the transaction that records it: about the application, naming the
 * applicant's user id; the reference stays with staff (a UTR is no text a
 * message may carry). */
static int refund_event(void *arg, ProtobufCMessage *reply, nagar_outcome_t *outcome)
{
    (void) outcome;
    certificates_t *self = arg;
    const Nagar__Certificates__FeeOrder *order = (const Nagar__Certificates__FeeOrder *) reply;
    if (!order->refund)
        return -1;
    const char *values[] = {order->application_id};
    PGresult *rows = nagar_service_query(
        self->db, "fee_refund_applicant",
        "SELECT applicant, CASE kind WHEN 1 THEN 'birth' WHEN 2 THEN 'death' ELSE 'marriage' END "
        "FROM certificates.application WHERE application_id = $1",
        1, values);
    if (!rows)
        return -1;
    int rc = -1;
    if (PQntuples(rows) == 1) {
        const char *applicant = PQgetvalue(rows, 0, 0);
        char subject[CERT_ID_MAX + 16], amount[32];
        snprintf(subject, sizeof subject, "application:%s", order->application_id);
        snprintf(amount, sizeof amount, "%lld", (long long) order->amount_paise);
        rc = nagar_rules_outbox(&self->rules, "certificate.fee_refunded", order->ulb, subject,
                                strncmp(applicant, "citizen:", 8) == 0 ? applicant : "",
                                "application_id", order->application_id, "kind",
                                PQgetvalue(rows, 0, 1), "amount_paise", amount, "refunded_on",
                                order->refund->refunded_on, NULL);
    }
    PQclear(rows);
    return rc;
}

int certificates_fee_refund_record(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                   void *arg)
{
    certificates_t *self = arg;
    return nagar_rules_method(&self->rules, call, request, NULL, "cert_fee_refund_record",
                              &nagar__certificates__fee_order__descriptor, true, refund_event,
                              self);
}

/* ---- the receipt ------------------------------------------------------------------- */

static const nagar_print_label_t FEE_HEADS[] = {
    {"LATE_FEE_30_DAYS", "विलंब शुल्क (21 दिन के बाद, 30 दिन के भीतर)",
     "Late registration fee (after 21, within 30 days)"},
    {"LATE_FEE_1_YEAR", "विलंब शुल्क (30 दिन के बाद, एक वर्ष के भीतर)",
     "Late registration fee (after 30 days, within one year)"},
    {"LATE_FEE_OVER_1_YEAR", "विलंब शुल्क (एक वर्ष के बाद)",
     "Late registration fee (after one year)"},
    {"MARRIAGE_CERTIFICATE_FEE", "विवाह प्रमाण-पत्र शुल्क", "Marriage certificate fee"},
    {NULL, NULL, NULL},
};

int certificates_fee_receipt_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg)
{
    certificates_t *self = arg;
    const nagar_receipt_print_t print = {
        .rules = &self->rules, .bus = self->bus, .rule = "cert_fee_receipt_get",
        /* The informant pays a birth's or death's fee; a marriage's, the couple. */
        .payer_sql = "SELECT coalesce(left(coalesce(nullif(report->'informant'->>'name', ''), "
                     "subject_name), 300), '') FROM certificates.application "
                     "WHERE application_id = $1",
        .account_field = "applicationId", .period_field = "period",
        .title_hi = "प्रमाण-पत्र शुल्क रसीद", .title_en = "Certificate Fee Receipt",
        .name_en = "Certificate fee", .file_prefix = "certificate-fee-receipt",
        .qr_tag = "NAGAR-CERT-FEE-RECEIPT", .account_hi = "आवेदन क्रमांक",
        .account_en = "Application id", .payer_hi = "भुगतानकर्ता (सूचनादाता / आवेदक)",
        .payer_en = "Payer (informant or applicants)", .heads = FEE_HEADS,
        .reply_type = &nagar__certificates__fee_receipt_pdf__descriptor,
        /* The settlement's entry on the hash-chained history (migration 007),
         * by the index of migration 011: a settlement is inserted one row
         * per statement, so its entry's first row holds the receipt number. */
        .proof_sql = "SELECT seq::text, encode(hash, 'hex') FROM certificates.history "
                     "WHERE tbl = 'fee_settlement' AND op = 'INSERT' AND ulb = $1 "
                     "AND (new_rows::jsonb) -> 0 ->> 'receipt_no' = $2::text",
        .proof_hi = "शुल्क इतिहास", .proof_en = "fee history", .no_advance = true};
    return nagar_receipt_print_method(&print, call, request);
}
