/*
 * payment.c — payments, reversals, online orders and the ledger check
 * (payment.h).
 *
 * Order of locks in a payment, always the same so two payments cannot
 * deadlock: the idempotency key's advisory lock, the receipt counter's
 * row, the ULB's ledger head, then the property's row (inside
 * pt_payment_apply). The ledger head lock serialises a ULB's money
 * movements; that is the price of one gap-free chain per ULB.
 */
#include "payment.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "ledger.h"
#include "log.h"
#include "receipt.h"

#define RECEIPT &nagar__property_tax__receipt__descriptor
#define ORDER &nagar__property_tax__online_order__descriptor

int dues_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_dues",
                         &nagar__property_tax__dues__descriptor, false, NULL);
}

int receipt_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_receipt_get", RECEIPT, false, NULL);
}

int online_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_online_get", ORDER, false, NULL);
}

static const char *text_of(json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

static int64_t int_of(json_t *object, const char *key)
{
    return (int64_t) json_integer_value(json_object_get(object, key));
}

/* The ledger row's detail: sorted, compact JSON, kept verbatim in the chain. */
static char *ledger_detail(const char *mode, const char *instrument_ref, const char *counter,
                           const char *paid_on, const char *by, const char *extra_key,
                           const char *extra_value)
{
    json_t *detail = json_pack("{s:s, s:s, s:s, s:s, s:s}", "mode", mode, "instrumentRef",
                               instrument_ref, "counter", counter, "paidOn", paid_on, "by", by);
    if (detail && extra_key)
        json_object_set_new(detail, extra_key, json_string(extra_value));
    char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(detail);
    return text;
}

typedef struct {
    pt_t *self;
    nagar_worker_call_t *call;
    const ProtobufCMessage *request;
    const char *request_json;
    ProtobufCMessage *reply;
    uint8_t *stored;
    size_t stored_size;
    nagar_outcome_t outcome;
} money_work_t;

static void money_work_reset(money_work_t *work)
{
    nagar_outcome_reset(&work->outcome);
    if (work->reply)
        protobuf_c_message_free_unpacked(work->reply, NULL);
    work->reply = NULL;
    free(work->stored);
    work->stored = NULL;
}

/* Appends the ledger row; outcome CONFLICT when the key already recorded
 * a movement (its idempotency record must then have been lost). */
static int append_ledger(money_work_t *work, const nagar_ledger_row_t *row,
                         nagar_ledger_result_t *result)
{
    if (nagar_ledger_append(work->self->rules.db, row, result) != 0)
        return nagar_rules_outcome_from_db(&work->self->rules, &work->outcome) ? 1 : -1;
    if (!result->created) {
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__CONFLICT, "idempotencyKey",
                          "the ledger already holds row %" PRId64
                          " for key %s; nothing was recorded",
                          result->seq, row->idempotency_key);
        return 1;
    }
    return 0;
}

/* ---- payment.record ---------------------------------------------------------- */

static int record_work(nagar_db_t *db, void *arg)
{
    money_work_t *work = arg;
    money_work_reset(work);
    pt_t *self = work->self;
    int seen = nagar_rules_idempotency_check(&self->rules, work->call, work->request, &work->stored,
                                             &work->stored_size, &work->outcome);
    if (seen != 0)
        return seen == 1 ? 0 : seen == 2 ? 1 : -1;

    char today[NAGAR_DATE_TEXT_MAX];
    nagar_rules_today(&self->rules, today);
    char *actor = nagar_rules_actor_json(work->call);
    if (!actor)
        return -1;
    const char *values[] = {actor, work->request_json, today};
    json_t *prep = NULL;
    int rc = nagar_rules_call_json(&self->rules, "call_pt_payment_prepare",
                                   "SELECT pt_payment_prepare($1::jsonb, $2::jsonb, "
                                   "$3::date)::text",
                                   3, values, &prep, &work->outcome);
    free(actor);
    if (rc != 0)
        return rc;

    char receipt[NAGAR_RECEIPT_NO_MAX];
    if (nagar_receipt_next(db, text_of(prep, "ulb"), text_of(prep, "fy"), text_of(prep, "counter"),
                           receipt, NULL) != 0) {
        json_decref(prep);
        return -1;
    }
    /* The event before the ledger row: the ULB's chain head stays locked from
     * the append to the commit, so the less after it, the better. */
    char amount[32];
    snprintf(amount, sizeof amount, "%" PRId64, int_of(prep, "amountPaise"));
    if (nagar_rules_outbox(&self->rules, "payment.received", text_of(prep, "ulb"),
                           text_of(prep, "ownerMobile"), text_of(prep, "ownerUserId"),
                           "receipt_no", receipt, "amount_paise", amount, "property_id",
                           text_of(prep, "propertyId"), NULL) != 0) {
        json_decref(prep);
        return -1;
    }
    char key[300];
    snprintf(key, sizeof key, "payment:%s:%s", nagar_actor_user(work->call),
             nagar_worker_call_context(work->call)->idempotency_key);
    char *detail = ledger_detail(text_of(prep, "mode"), text_of(prep, "instrumentRef"),
                                 text_of(prep, "counter"), today, nagar_actor_user(work->call),
                                 NULL, NULL);
    nagar_ledger_row_t row = {.ulb = text_of(prep, "ulb"), .idempotency_key = key,
                              .kind = "PAYMENT", .account = text_of(prep, "propertyId"),
                              .reference = receipt, .amount_paise = int_of(prep, "amountPaise"),
                              .detail = detail ? detail : "{}"};
    nagar_ledger_result_t ledger;
    rc = append_ledger(work, &row, &ledger);
    free(detail);
    if (rc != 0) {
        json_decref(prep);
        return rc;
    }

    char seq[32];
    snprintf(seq, sizeof seq, "%" PRId64, ledger.seq);
    const char *apply[] = {nagar_actor_user(work->call), text_of(prep, "propertyId"), amount,
                           text_of(prep, "mode"), text_of(prep, "instrumentRef"),
                           text_of(prep, "counter"), receipt, seq, today};
    json_t *result = NULL;
    rc = nagar_rules_call_json(&self->rules, "call_pt_payment_apply",
                               "SELECT pt_payment_apply($1, $2, $3::bigint, $4, $5, $6, $7, "
                               "$8::bigint, $9::date)::text",
                               9, apply, &result, &work->outcome);
    if (rc == 0)
        rc = nagar_rules_decode(&self->rules, result, RECEIPT, &work->reply, &work->outcome);
    json_decref(result);
    json_decref(prep);
    if (rc != 0)
        return rc;
    return nagar_rules_idempotency_store(&self->rules, work->call, work->request, work->reply);
}

static int run_money_work(pt_t *self, nagar_worker_call_t *call, const ProtobufCMessage *request,
                          nagar_db_work_fn *fn, const char *kind)
{
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !key[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "idempotencyKey",
                                      "%s moves money: send an Idempotency-Key, and the same key "
                                      "again when you retry",
                                      kind);
    char *json = nagar_json_encode(request);
    if (!json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                      "the request holds text that is not valid UTF-8");
    money_work_t work = {.self = self, .call = call, .request = request, .request_json = json};
    int rc = nagar_db_transaction(self->rules.db, NAGAR_DB_READ_COMMITTED, fn, &work);
    free(json);
    if (rc != 0) {
        nagar_outcome_t outcome = work.outcome;
        money_work_reset(&work);
        return nagar_rules_fail(&self->rules, call, rc, &outcome);
    }
    if (work.stored) {
        rc = nagar_idempotency_replay(call, RECEIPT, work.stored, work.stored_size);
    } else {
        const Nagar__PropertyTax__Receipt *receipt =
            (const Nagar__PropertyTax__Receipt *) work.reply;
        json_t *fields = json_pack("{s:s, s:s, s:I, s:I}", "receipt_no", receipt->receipt_no,
                                   "property_id", receipt->property_id, "amount_paise",
                                   (json_int_t) receipt->amount_paise, "ledger_seq",
                                   (json_int_t) receipt->ledger_seq);
        nagar_log_write(NAGAR_LOG_INFO, kind, fields, "money movement recorded");
        rc = nagar_worker_call_reply(call, work.reply);
    }
    money_work_reset(&work);
    return rc;
}

int payment_record(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return run_money_work(arg, call, request, record_work, "property_tax.payment_recorded");
}

/* ---- payment.reverse ---------------------------------------------------------- */

static int reverse_work(nagar_db_t *db, void *arg)
{
    money_work_t *work = arg;
    money_work_reset(work);
    pt_t *self = work->self;
    int seen = nagar_rules_idempotency_check(&self->rules, work->call, work->request, &work->stored,
                                             &work->stored_size, &work->outcome);
    if (seen != 0)
        return seen == 1 ? 0 : seen == 2 ? 1 : -1;
    char today[NAGAR_DATE_TEXT_MAX];
    nagar_rules_today(&self->rules, today);
    char *actor = nagar_rules_actor_json(work->call);
    if (!actor)
        return -1;
    const char *values[] = {actor, work->request_json, today};
    json_t *prep = NULL;
    int rc = nagar_rules_call_json(&self->rules, "call_pt_reverse_prepare",
                                   "SELECT pt_reverse_prepare($1::jsonb, $2::jsonb, "
                                   "$3::date)::text",
                                   3, values, &prep, &work->outcome);
    if (rc != 0) {
        free(actor);
        return rc;
    }
    char receipt[NAGAR_RECEIPT_NO_MAX];
    if (nagar_receipt_next(db, text_of(prep, "ulb"), text_of(prep, "fy"), text_of(prep, "counter"),
                           receipt, NULL) != 0) {
        free(actor);
        json_decref(prep);
        return -1;
    }
    /* One reversal per payment: the original receipt is the key. */
    char key[300];
    snprintf(key, sizeof key, "reversal:%s", text_of(prep, "receiptNo"));
    char *detail = ledger_detail("REVERSAL", text_of(prep, "receiptNo"), text_of(prep, "counter"),
                                 today, nagar_actor_user(work->call), "reason",
                                 text_of(prep, "reason"));
    nagar_ledger_row_t row = {.ulb = text_of(prep, "ulb"), .idempotency_key = key,
                              .kind = "REVERSAL", .account = text_of(prep, "propertyId"),
                              .reference = receipt, .amount_paise = int_of(prep, "amountPaise"),
                              .detail = detail ? detail : "{}"};
    nagar_ledger_result_t ledger;
    rc = append_ledger(work, &row, &ledger);
    free(detail);
    if (rc == 0) {
        char payment_id[32], seq[32], amount[32];
        snprintf(payment_id, sizeof payment_id, "%" PRId64, int_of(prep, "paymentId"));
        snprintf(seq, sizeof seq, "%" PRId64, ledger.seq);
        /* The event names the amount of the payment reversed, as paid (positive). */
        snprintf(amount, sizeof amount, "%" PRId64,
                 row.amount_paise < 0 ? -row.amount_paise : row.amount_paise);
        const char *apply[] = {actor, payment_id, receipt, text_of(prep, "counter"), seq,
                               text_of(prep, "reason"), today};
        json_t *result = NULL;
        rc = nagar_rules_call_json(&self->rules, "call_pt_reverse_apply",
                                   "SELECT pt_reverse_apply($1::jsonb, $2::bigint, $3, $4, "
                                   "$5::bigint, $6, $7::date)::text",
                                   7, apply, &result, &work->outcome);
        if (rc == 0)
            rc = nagar_rules_decode(&self->rules, result, RECEIPT, &work->reply, &work->outcome);
        json_decref(result);
        if (rc == 0 && nagar_rules_outbox(&self->rules, "payment.reversed", text_of(prep, "ulb"),
                                          text_of(prep, "ownerMobile"),
                                          text_of(prep, "ownerUserId"), "receipt_no",
                                          text_of(prep, "receiptNo"), "reversal_no", receipt,
                                          "amount_paise", amount, "reason",
                                          text_of(prep, "reason"), "property_id",
                                          text_of(prep, "propertyId"), NULL) != 0)
            rc = -1;
    }
    free(actor);
    json_decref(prep);
    if (rc != 0)
        return rc;
    return nagar_rules_idempotency_store(&self->rules, work->call, work->request, work->reply);
}

int payment_reverse(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return run_money_work(arg, call, request, reverse_work, "property_tax.payment_reversed");
}

/* ---- online payments ------------------------------------------------------------ */

static int sign_order(void *arg, ProtobufCMessage *reply, nagar_outcome_t *outcome)
{
    pt_t *self = arg;
    Nagar__PropertyTax__OnlineOrder *order = (Nagar__PropertyTax__OnlineOrder *) reply;
    char signature[NAGAR_PAYMENT_SIGNATURE_HEX];
    if (nagar_payment_provider_sign_order(self->provider, order->order_id, order->amount_paise,
                                          signature) != 0) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "order id %s cannot be signed", order->order_id);
        return 1;
    }
    /* An unset string points at protobuf-c's shared empty string: not ours to free. */
    if (order->merchant_signature != protobuf_c_empty_string)
        free(order->merchant_signature);
    order->merchant_signature = strdup(signature);
    return order->merchant_signature ? 0 : -1;
}

int online_initiate(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    pt_t *self = arg;
    if (!self->provider)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "online payments are not configured here "
                                      "(NAGAR_PAYMENT_PROVIDER_KEY_FILE); pay at a counter");
    return pt_sql_method(self, call, request, NULL, "pt_online_initiate", ORDER, true, sign_order);
}

static int callback_work(nagar_db_t *db, void *arg)
{
    money_work_t *work = arg;
    money_work_reset(work);
    pt_t *self = work->self;
    const Nagar__PropertyTax__OnlinePaymentCallback *callback =
        (const Nagar__PropertyTax__OnlinePaymentCallback *) work->request;
    char today[NAGAR_DATE_TEXT_MAX];
    nagar_rules_today(&self->rules, today);
    const char *values[] = {work->request_json, today};
    json_t *prep = NULL;
    int rc = nagar_rules_call_json(&self->rules, "call_pt_online_callback_prepare",
                                   "SELECT pt_online_callback_prepare($1::jsonb, $2::date)::text",
                                   2, values, &prep, &work->outcome);
    if (rc != 0)
        return rc;
    json_t *order = json_object_get(prep, "order");
    if (strcmp(text_of(prep, "action"), "pay") != 0) {
        rc = nagar_rules_decode(&self->rules, order, ORDER, &work->reply, &work->outcome);
        json_decref(prep);
        return rc;
    }
    char receipt[NAGAR_RECEIPT_NO_MAX];
    if (nagar_receipt_next(db, text_of(order, "ulb"), text_of(prep, "fy"), "ONLINE", receipt,
                           NULL) != 0) {
        json_decref(prep);
        return -1;
    }
    char key[300];
    snprintf(key, sizeof key, "online:%s", callback->order_id);
    char *detail = ledger_detail("ONLINE", callback->provider_ref, "ONLINE", today, "provider",
                                 "orderId", callback->order_id);
    nagar_ledger_row_t row = {.ulb = text_of(order, "ulb"), .idempotency_key = key,
                              .kind = "PAYMENT", .account = text_of(order, "propertyId"),
                              .reference = receipt, .amount_paise = int_of(order, "amountPaise"),
                              .detail = detail ? detail : "{}"};
    nagar_ledger_result_t ledger;
    rc = append_ledger(work, &row, &ledger);
    free(detail);
    char amount[32], seq[32];
    snprintf(amount, sizeof amount, "%" PRId64, row.amount_paise);
    snprintf(seq, sizeof seq, "%" PRId64, ledger.seq);
    json_t *result = NULL;
    if (rc == 0) {
        const char *apply[] = {"provider", text_of(order, "propertyId"), amount, "ONLINE",
                               callback->provider_ref, "ONLINE", receipt, seq, today};
        rc = nagar_rules_call_json(&self->rules, "call_pt_payment_apply",
                                   "SELECT pt_payment_apply($1, $2, $3::bigint, $4, $5, $6, $7, "
                                   "$8::bigint, $9::date)::text",
                                   9, apply, &result, &work->outcome);
        json_decref(result);
        result = NULL;
    }
    if (rc == 0) {
        const char *mark[] = {callback->order_id, receipt, callback->provider_ref};
        rc = nagar_rules_call_json(&self->rules, "call_pt_online_mark_paid",
                                   "SELECT pt_online_mark_paid($1, $2, $3)::text", 3, mark, &result,
                                   &work->outcome);
    }
    if (rc == 0)
        rc = nagar_rules_decode(&self->rules, result, ORDER, &work->reply, &work->outcome);
    json_decref(result);
    if (rc == 0 && nagar_rules_outbox(&self->rules, "payment.received", text_of(order, "ulb"),
                                      text_of(prep, "ownerMobile"), text_of(prep, "ownerUserId"),
                                      "receipt_no", receipt, "amount_paise", amount, "property_id",
                                      text_of(order, "propertyId"), NULL) != 0)
        rc = -1;
    json_decref(prep);
    return rc;
}

int online_callback(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    pt_t *self = arg;
    const Nagar__PropertyTax__OnlinePaymentCallback *callback =
        (const Nagar__PropertyTax__OnlinePaymentCallback *) request;
    if (!self->provider)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "online payments are not configured here");
    nagar_payment_callback_t signed_fields = {.order_id = callback->order_id,
                                              .provider_ref = callback->provider_ref,
                                              .amount_paise = callback->amount_paise,
                                              .status = callback->status};
    if (!nagar_payment_provider_verify_callback(self->provider, &signed_fields,
                                                callback->signature)) {
        json_t *fields = json_pack("{s:s, s:s}", "order_id", callback->order_id, "client_ip",
                                   nagar_worker_call_context(call)->client_ip
                                       ? nagar_worker_call_context(call)->client_ip : "");
        nagar_log_write(NAGAR_LOG_WARN, "property_tax.callback_forged", fields,
                        "a payment callback with a bad signature was refused");
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "signature",
                                      "the callback's signature does not verify; nothing was "
                                      "recorded");
    }
    char *json = nagar_json_encode(request);
    if (!json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                      "the request holds text that is not valid UTF-8");
    money_work_t work = {.self = self, .call = call, .request = request, .request_json = json};
    int rc = nagar_db_transaction(self->rules.db, NAGAR_DB_READ_COMMITTED, callback_work, &work);
    free(json);
    if (rc != 0) {
        nagar_outcome_t outcome = work.outcome;
        money_work_reset(&work);
        return nagar_rules_fail(&self->rules, call, rc, &outcome);
    }
    rc = nagar_worker_call_reply(call, work.reply);
    money_work_reset(&work);
    return rc;
}

/* ---- ledger.verify ------------------------------------------------------------------ */

int ledger_verify(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    pt_t *self = arg;
    const Nagar__PropertyTax__VerifyLedgerRequest *request =
        (const Nagar__PropertyTax__VerifyLedgerRequest *) message;
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
        nagar_log_error("property_tax.ledger_verify_failed", "%s", error);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "the ledger could not be read; retry later");
    }
    Nagar__PropertyTax__VerifyLedgerReply reply;
    nagar__property_tax__verify_ledger_reply__init(&reply);
    Nagar__PropertyTax__LedgerChainStatus *items = calloc(count ? count : 1, sizeof *items);
    Nagar__PropertyTax__LedgerChainStatus **pointers = calloc(count ? count : 1, sizeof *pointers);
    if (!items || !pointers) {
        free(items);
        free(pointers);
        free(chains);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        nagar__property_tax__ledger_chain_status__init(&items[i]);
        items[i].ulb = chains[i].ulb;
        items[i].ok = chains[i].ok;
        items[i].rows = chains[i].rows;
        items[i].broken_seq = chains[i].ok ? 0 : chains[i].broken_seq;
        items[i].problem = chains[i].problem;
        pointers[i] = &items[i];
        if (!chains[i].ok) {
            json_t *fields = json_pack("{s:s, s:I}", "ulb", chains[i].ulb, "seq",
                                       (json_int_t) chains[i].broken_seq);
            nagar_log_write(NAGAR_LOG_ERROR, "property_tax.ledger_broken", fields, "%s",
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
