/*
 * rules_money.c — money movements (service_rules.h, nagar_rules_payment_*,
 * nagar_rules_online_*, and as method-table handlers nagar_rules_*_method):
 * each one call of a SECURITY DEFINER rule function that checks it, takes
 * the receipt number, appends the ledger row and records the payment, then
 * the event and the idempotency record in the same transaction. The services' messages differ only in type and in the
 * account field, so they are read and written by field name
 * (message_fields.h).
 */
#include "service_rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "ledger.h"
#include "log.h"
#include "message_fields.h"

static const char *text_of(json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

static int64_t int_of(json_t *object, const char *key)
{
    return (int64_t) json_integer_value(json_object_get(object, key));
}

typedef struct {
    const nagar_rules_payments_t *payments;
    nagar_worker_call_t *call;
    const ProtobufCMessage *request;
    const char *request_json;
    nagar_rules_answer_t answer;
} money_work_t;

/* Calls rule <prefix>_<what>(args) answering jsonb; cast the arguments in args. */
static int call_rule(money_work_t *work, const char *what, const char *args, int nparams,
                     const char *const *values, json_t **out)
{
    const nagar_rules_payments_t *payments = work->payments;
    char name[96], sql[256];
    snprintf(name, sizeof name, "call_%s_%s", payments->rule_prefix, what);
    snprintf(sql, sizeof sql, "SELECT %s_%s(%s)::text", payments->rule_prefix, what, args);
    return nagar_rules_call_json(payments->rules, name, sql, nparams, values, out,
                                 &work->answer.keyed.outcome);
}

/* The start of every counter movement: the idempotency record (a stored
 * reply or a conflict ends it), the business date and the actor. Returns 0
 * with *actor (malloc'd) set to go on, 0 with work->answer.keyed.stored set
 * when the stored reply answers, 1 with the outcome set, -1 on a database
 * error. */
static int money_begin(money_work_t *work, char today[NAGAR_DATE_TEXT_MAX], char **actor)
{
    nagar_rules_t *rules = work->payments->rules;
    *actor = NULL;
    int rc;
    if (!nagar_keyed_work_begin(&work->answer.keyed, &rc))
        return rc;
    nagar_rules_today(rules, today);
    *actor = nagar_rules_actor_json(work->call);
    return *actor ? 0 : -1;
}

/* Decodes the "receipt" (or "order") of a money rule's answer into the reply. */
static int money_reply(money_work_t *work, json_t *result, const char *key,
                       const ProtobufCMessageDescriptor *type, const char *rule)
{
    json_t *message = json_object_get(result, key);
    if (!json_is_object(message)) {
        nagar_outcome_set(&work->answer.keyed.outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "%s_%s answered no %s; nothing was recorded",
                          work->payments->rule_prefix, rule, key);
        return 1;
    }
    return nagar_rules_decode(work->payments->rules, message, type, &work->answer.reply,
                              &work->answer.keyed.outcome);
}

/* The record a payment's event is about, "<subject_kind>:<account>" (the
 * property or connection): notifications asks the service for its persons. */
static const char *subject_of(const nagar_rules_payments_t *payments, const char *account,
                              char subject[static 160])
{
    snprintf(subject, 160, "%s:%s", payments->subject_kind, account ? account : "");
    return subject;
}

/* Event payment.received of a payment recorded now (at a counter or
 * online): its receipt, amount and account. 0, or -1 when it could not be
 * added to the outbox. */
static int payment_received(const nagar_rules_payments_t *payments, const char *ulb,
                            const char *account, const char *user, const char *receipt_no,
                            int64_t amount_paise)
{
    char amount[32], subject[160];
    snprintf(amount, sizeof amount, "%" PRId64, amount_paise);
    return nagar_rules_outbox(payments->rules, "payment.received", ulb,
                              subject_of(payments, account, subject), user, "receipt_no",
                              receipt_no, "amount_paise", amount, payments->account_param,
                              account, NULL) != 0
               ? -1
               : 0;
}

/* The event of a counter movement, from the rule's answer and the reply. */
typedef int money_event_fn(money_work_t *work, json_t *result);

/* A counter movement, inside its transaction: the idempotency record, then
 * rule <prefix>_<rule>(actor, request, today[, key]), which checks the
 * request and does the whole movement (receipt number, ledger row,
 * allocation) in one call, as each statement more would be a round trip
 * with the ULB's ledger head locked; its receipt decoded into the reply;
 * then the event and the idempotency record, which hold protobuf bytes
 * made here. */
static int counter_movement(money_work_t *work, const char *rule, const char *key,
                            money_event_fn *event)
{
    nagar_rules_answer_reset(&work->answer);
    char today[NAGAR_DATE_TEXT_MAX], *actor;
    int rc = money_begin(work, today, &actor);
    if (rc != 0 || work->answer.keyed.stored)
        return rc;
    const char *values[] = {actor, work->request_json, today, key};
    json_t *result = NULL;
    rc = key ? call_rule(work, rule, "$1::jsonb, $2::jsonb, $3::date, $4", 4, values, &result)
             : call_rule(work, rule, "$1::jsonb, $2::jsonb, $3::date", 3, values, &result);
    free(actor);
    if (rc == 0)
        rc = money_reply(work, result, "receipt", work->payments->receipt_type, rule);
    if (rc == 0)
        rc = event(work, result);
    json_decref(result);
    if (rc != 0)
        return rc;
    return nagar_keyed_work_store(&work->answer.keyed, work->answer.reply);
}

static int payment_recorded_event(money_work_t *work, json_t *result)
{
    const nagar_rules_payments_t *payments = work->payments;
    const ProtobufCMessage *reply = work->answer.reply;
    return payment_received(payments, text_of(result, "ulb"),
                            nagar_message_text(reply, payments->account_param),
                            text_of(result, payments->user_field),
                            nagar_message_text(reply, "receipt_no"),
                            nagar_message_int(reply, "amount_paise"));
}

/* A counter payment: rule <prefix>_payment_record under the payment's own
 * key (the caller's idempotency key, owned by its actor). */
static int record_work(nagar_db_t *db, void *arg)
{
    (void) db;
    money_work_t *work = arg;
    char key[300];
    snprintf(key, sizeof key, "payment:%s:%s", nagar_actor_key_owner(work->call),
             nagar_worker_call_context(work->call)->idempotency_key);
    return counter_movement(work, "payment_record", key, payment_recorded_event);
}

/* The event names the amount of the payment reversed, as paid (positive). */
static int payment_reversed_event(money_work_t *work, json_t *result)
{
    const nagar_rules_payments_t *payments = work->payments;
    int64_t reversed = int_of(result, "amountPaise");
    char amount[32], subject[160];
    snprintf(amount, sizeof amount, "%" PRId64, reversed < 0 ? -reversed : reversed);
    return nagar_rules_outbox(payments->rules, "payment.reversed", text_of(result, "ulb"),
                              subject_of(payments, text_of(result, "account"), subject),
                              text_of(result, payments->user_field), "receipt_no",
                              text_of(result, "receiptNo"), "reversal_no",
                              nagar_message_text(work->answer.reply, "receipt_no"),
                              "amount_paise", amount, "reason", text_of(result, "reason"),
                              payments->account_param, text_of(result, "account"), NULL) != 0
               ? -1
               : 0;
}

/* A reversal: rule <prefix>_payment_reverse does the whole movement (the
 * checks, the receipt number, the negative ledger row, the negating
 * payment). */
static int reverse_work(nagar_db_t *db, void *arg)
{
    (void) db;
    return counter_movement(arg, "payment_reverse", NULL, payment_reversed_event);
}

/* Runs fn over request in one transaction, re-run on a lost connection when
 * retried (the idempotency record makes that safe). true when it committed:
 * *work holds the reply or the stored one, for the caller to answer and
 * reset; false when the call was answered with the failure (*answer is what
 * answering returned). */
static bool money_transaction(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                              const ProtobufCMessage *request, nagar_db_work_fn *fn, bool retried,
                              money_work_t *work, int *answer)
{
    *work = (money_work_t){.payments = payments, .call = call, .request = request,
                           .answer.keyed = nagar_rules_keyed_work(payments->rules, call, request)};
    char *json = nagar_json_encode(request);
    if (!json) {
        *answer = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                         "the request holds text that is not valid UTF-8");
        return false;
    }
    work->request_json = json;
    nagar_db_t *db = payments->rules->db;
    int rc = retried ? nagar_db_transaction_idempotent(db, NAGAR_DB_READ_COMMITTED, fn, work)
                     : nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, fn, work);
    free(json);
    work->request_json = NULL;
    if (rc == 0)
        return true;
    *answer = nagar_rules_keyed_answer(payments->rules, &work->answer.keyed, rc, NULL, NULL);
    nagar_rules_answer_reset(&work->answer);
    return false;
}

/* Runs fn in one transaction and answers; logged under event kind
 * ("<service>.payment_recorded") when money moved (not for a replay). */
static int run_money_work(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                          const ProtobufCMessage *request, nagar_db_work_fn *fn,
                          const char *kind)
{
    const char *key = nagar_worker_call_context(call)->idempotency_key;
    if (!key || !key[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "idempotencyKey",
                                      "%s moves money: send an Idempotency-Key, and the same key "
                                      "again when you retry",
                                      kind);
    money_work_t work;
    int answer;
    if (!money_transaction(payments, call, request, fn, true, &work, &answer))
        return answer;
    if (!work.answer.keyed.stored) {   /* money moved now, not a replay */
        json_t *fields = json_pack(
            "{s:s, s:s, s:I, s:I}", "receipt_no", nagar_message_text(work.answer.reply, "receipt_no"),
            payments->account_param, nagar_message_text(work.answer.reply, payments->account_param),
            "amount_paise", (json_int_t) nagar_message_int(work.answer.reply, "amount_paise"), "ledger_seq",
            (json_int_t) nagar_message_int(work.answer.reply, "ledger_seq"));
        nagar_log_write(NAGAR_LOG_INFO, kind, fields, "money movement recorded");
    }
    int rc = nagar_rules_keyed_answer(payments->rules, &work.answer.keyed, 0,
                                      payments->receipt_type, work.answer.reply);
    nagar_rules_answer_reset(&work.answer);
    return rc;
}

int nagar_rules_payment_record(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                               const ProtobufCMessage *request)
{
    char kind[96];
    return run_money_work(payments, call, request, record_work,
                          nagar_rules_event_name(payments->rules, kind, "payment_recorded"));
}

int nagar_rules_payment_reverse(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                                const ProtobufCMessage *request)
{
    char kind[96];
    return run_money_work(payments, call, request, reverse_work,
                          nagar_rules_event_name(payments->rules, kind, "payment_reversed"));
}

static int sign_order(void *arg, ProtobufCMessage *reply, nagar_outcome_t *outcome)
{
    const nagar_rules_payments_t *payments = arg;
    const char *order_id = nagar_message_text(reply, "order_id");
    char **merchant_signature = nagar_message_text_slot(reply, "merchant_signature");
    char signature[NAGAR_PAYMENT_SIGNATURE_HEX];
    if (!merchant_signature ||
        nagar_payment_provider_sign_order(payments->provider, order_id,
                                          nagar_message_int(reply, "amount_paise"), signature) != 0) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "order id %s cannot be signed", order_id);
        return 1;
    }
    /* An unset string points at protobuf-c's shared empty string: not ours to free. */
    if (*merchant_signature != protobuf_c_empty_string)
        free(*merchant_signature);
    *merchant_signature = strdup(signature);
    return *merchant_signature ? 0 : -1;
}

int nagar_rules_online_initiate(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                                const ProtobufCMessage *request)
{
    if (!payments->provider)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "online payments are not configured here "
                                      "(NAGAR_PAYMENT_PROVIDER_KEY_FILE); pay at a counter");
    char function[64];
    snprintf(function, sizeof function, "%s_online_initiate", payments->rule_prefix);
    return nagar_rules_method(payments->rules, call, request, NULL, function,
                              payments->order_type, true, sign_order, (void *) payments);
}

/* A verified callback: rule <prefix>_online_callback records a SUCCESS once
 * (receipt at counter ONLINE, ledger row, payment, the order marked paid)
 * and answers the order; the event goes out when money was recorded now. */
static int callback_work(nagar_db_t *db, void *arg)
{
    (void) db;
    money_work_t *work = arg;
    nagar_rules_answer_reset(&work->answer);
    const nagar_rules_payments_t *payments = work->payments;
    nagar_rules_t *rules = payments->rules;
    char today[NAGAR_DATE_TEXT_MAX];
    nagar_rules_today(rules, today);
    char *actor = nagar_rules_actor_json(work->call);
    if (!actor)
        return -1;
    const char *values[] = {actor, work->request_json, today};
    json_t *result = NULL;
    int rc = call_rule(work, "online_callback", "$1::jsonb, $2::jsonb, $3::date", 3, values,
                       &result);
    free(actor);
    if (rc == 0)
        rc = money_reply(work, result, "order", payments->order_type, "online_callback");
    if (rc == 0 && strcmp(text_of(result, "action"), "paid") == 0)
        rc = payment_received(payments, text_of(result, "ulb"), text_of(result, "account"),
                              text_of(result, payments->user_field), text_of(result, "receiptNo"),
                              int_of(result, "amountPaise"));
    if (rc == 0 && payments->callback_events && payments->callback_events(rules, result) != 0)
        rc = -1;
    json_decref(result);
    return rc;
}

int nagar_rules_online_callback(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                                const ProtobufCMessage *request)
{
    if (!payments->provider)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "online payments are not configured here");
    const char *order_id = nagar_message_text(request, "order_id");
    nagar_payment_callback_t signed_fields = {.order_id = order_id,
                                              .provider_ref = nagar_message_text(request, "provider_ref"),
                                              .amount_paise = nagar_message_int(request, "amount_paise"),
                                              .status = nagar_message_text(request, "status")};
    if (!nagar_payment_provider_verify_callback(payments->provider, &signed_fields,
                                                nagar_message_text(request, "signature"))) {
        const char *client_ip = nagar_worker_call_context(call)->client_ip;
        json_t *fields = json_pack("{s:s, s:s}", "order_id", order_id, "client_ip",
                                   client_ip ? client_ip : "");
        char event[96];
        nagar_log_write(NAGAR_LOG_WARN, nagar_rules_event_name(payments->rules, event, "callback_forged"),
                        fields, "a payment callback with a bad signature was refused");
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "signature",
                                      "the callback's signature does not verify; nothing was "
                                      "recorded");
    }
    money_work_t work;
    int answer;
    if (!money_transaction(payments, call, request, callback_work, false, &work, &answer))
        return answer;
    int rc = nagar_worker_call_reply(call, work.answer.reply);
    nagar_rules_answer_reset(&work.answer);
    return rc;
}

/* ---- as method-table handlers ------------------------------------------------------ */

/* A money method in the table of a service that describes no payments (or,
 * for ledger.verify, no ledger reply): a mistake in its main.c. */
static int no_payments(nagar_worker_call_t *call)
{
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                  "method '%s' moves money, but the service describes no "
                                  "payments (nagar_rules_service_t.payments)",
                                  nagar_worker_call_method(call));
}

typedef int money_fn(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                     const ProtobufCMessage *request);

/* movement with the service's payments: arg begins with its nagar_rules_t
 * (service_rules.h), whose payments nagar_rules_main set. */
static int with_payments(money_fn *movement, nagar_worker_call_t *call,
                         const ProtobufCMessage *request, void *arg)
{
    const nagar_rules_payments_t *payments = ((const nagar_rules_t *) arg)->payments;
    return payments ? movement(payments, call, request) : no_payments(call);
}

int nagar_rules_payment_record_method(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                      void *arg)
{
    return with_payments(nagar_rules_payment_record, call, request, arg);
}

int nagar_rules_payment_reverse_method(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                       void *arg)
{
    return with_payments(nagar_rules_payment_reverse, call, request, arg);
}

int nagar_rules_online_initiate_method(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                       void *arg)
{
    return with_payments(nagar_rules_online_initiate, call, request, arg);
}

int nagar_rules_online_callback_method(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                       void *arg)
{
    return with_payments(nagar_rules_online_callback, call, request, arg);
}

/* ledger.verify of the ledger the payments go on. */
static int ledger_verify(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                         const ProtobufCMessage *request)
{
    if (!payments->ledger_reply_type)
        return no_payments(call);
    return nagar_ledger_check_method(payments->rules->db, payments->rules->service, call, request,
                                     payments->ledger_reply_type);
}

int nagar_rules_ledger_verify_method(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                     void *arg)
{
    return with_payments(ledger_verify, call, request, arg);
}
