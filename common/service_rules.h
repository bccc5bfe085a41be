/*
 * service_rules.h — running a service's rules, written as SQL functions
 * next to its data, as bus methods, and the program around them.
 *
 * Property tax and water charges both run their rules through it (their
 * main.c is a method table, a nagar_rules_service_t and what their payments
 * differ in, a nagar_rules_payments_t), so the next service that keeps its rules
 * in SQL does not copy them. A
 * rule is a SQL function f(actor jsonb, request jsonb, today date) that
 * checks the actor's reach, validates every field (raising SQLSTATE
 * NRINV, NRNFD, NRDEN, NRCON or NRPRE with the field's JSON path as
 * DETAIL, through rule_fail of common/sql/rules) and answers the reply
 * message in proto3 JSON.
 *
 * It builds on common/service.h (outcomes, failures, the actor,
 * idempotency records) and adds what only rule-running services need:
 *
 *   - maps those SQLSTATEs (and LGCON from the ledger) to typed statuses;
 *   - hands the rules the actor as vouched for by the gateway and the
 *     business date (fixed for drills and tests, else today in IST);
 *   - keeps idempotency records (table idempotency and its lookup function
 *     idempotency_lookup(actor, key) of common/sql/idempotency, which takes
 *     the key's advisory lock), so one key gives one result however often
 *     it is retried;
 *   - runs a whole method in one transaction (nagar_rules_method);
 *   - appends notification events to the outbox;
 *   - moves money through the ledger: counter payments, reversals and
 *     online payments through the payment provider (nagar_rules_payment_*,
 *     nagar_rules_online_*), the same flow for every service that keeps
 *     an account (a property, a connection) with rules named alike;
 *   - runs the program (nagar_rules_main): the command line, the settings
 *     such services share, the worker with the outbox relay on its tick.
 *
 * One header, the module in four files by job: service_rules.c (rule
 * calls, and a method-table row that names its rule), rules_money.c (money
 * movements), rules_batch.c (batch jobs), rules_program.c (the program).
 * The ledger check the services answer is beside the ledger (ledger.h).
 *
 * Messages that differ between the services only in their type (Receipt,
 * OnlineOrder, VerifyLedgerReply, ...) are read and built by field name
 * through their protobuf-c descriptors.
 *
 * The context is a plain struct the service fills once at start.
 */
#ifndef NAGAR_SERVICE_RULES_H
#define NAGAR_SERVICE_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "bus_client.h"
#include "bus_worker.h"
#include "config.h"
#include "date.h"
#include "db.h"
#include "payment_provider.h"
#include "service.h"

/* A method whose whole body is one rule call is a row of the service's
 * rule-method table, not a handler of its own:
 *
 *     {"rates.get", PT(get_rates_request), GATEWAY_BATCH, "pt_rates_get",
 *      PT(rate_schedule), false},
 *
 * the method, its request type and callers as in a nagar_method_t row, the
 * rule function, the reply type and whether it mutates (an idempotency
 * record when it does). nagar_rules_main serves these rows beside the
 * service's own methods (nagar_rules_service_t.rule_methods), each through
 * nagar_rules_method. The table ends with a row whose name is NULL. The
 * service's arg (nagar_rules_service_t.arg) must begin with its
 * nagar_rules_t. */
typedef struct {
    const char *name;                           /* "rates.get" */
    const ProtobufCMessageDescriptor *request_type;
    const char *const *callers;
    const char *function;                       /* "pt_rates_get" (compiled in, never input) */
    const ProtobufCMessageDescriptor *reply_type;
    bool mutation;
} nagar_rule_method_t;

/* What a service's money movements differ in (below, "Money movements"). */
typedef struct nagar_rules_payments nagar_rules_payments_t;

typedef struct {
    nagar_db_t *db;
    const char *service;            /* "water_tax": logs, outbox event ids */
    char business_date[NAGAR_DATE_TEXT_MAX];   /* "" = today in IST */
    const nagar_rule_method_t *rule_methods;   /* set by nagar_rules_main */
    /* The money flow the nagar_rules_*_method handlers run; set by
     * nagar_rules_main from nagar_rules_service_t.payments (NULL: none). */
    const nagar_rules_payments_t *payments;
} nagar_rules_t;

/* "<service>.<what>", the stable name of a log event, into out. */
const char *nagar_rules_event_name(const nagar_rules_t *self, char out[96], const char *what);

/* What one rule run leaves to answer with: its reply, or the reply stored
 * under the idempotency key (a replay), or the refusal. keyed is the
 * call's idempotency record as every keyed mutation keeps it
 * (nagar_keyed_work_t of service.h, from nagar_rules_keyed_work): its
 * stored reply and outcome are the replay and the refusal. */
typedef struct {
    nagar_keyed_work_t keyed;
    ProtobufCMessage *reply;
} nagar_rules_answer_t;

/* Frees what answer holds (the reply, the stored reply, the outcome) and
 * empties it, for a fresh run or the end; keyed's call and request stay. */
void nagar_rules_answer_reset(nagar_rules_answer_t *answer);

/* Turns the database's last error into an outcome when it came from a rule
 * or the ledger. Returns true when it did. */
bool nagar_rules_outcome_from_db(nagar_rules_t *self, nagar_outcome_t *outcome);

/* Answers the call after a failed transaction: the outcome when set (from
 * any rc), else as nagar_service_fail, telling the caller to retry with the
 * same idempotency key when the database is unreachable. Returns -1. */
int nagar_rules_fail(nagar_rules_t *self, nagar_worker_call_t *call, int rc,
                     const nagar_outcome_t *outcome);

/* The actor as the rules take it: {"userId","role","ulb","requestId"}
 * (malloc'd). Its parts are nagar_actor_user/role/ulb of service.h and the
 * request's id, which the rules record in the audit trail and history. */
char *nagar_rules_actor_json(nagar_worker_call_t *call);

/* The business date, "YYYY-MM-DD". */
void nagar_rules_today(nagar_rules_t *self, char out[NAGAR_DATE_TEXT_MAX]);

/* Idempotency records: the rules' table (common/sql/idempotency, whose
 * lookup takes the key's advisory lock so racing retries queue) for the
 * keyed work of service.h — nagar_keyed_work_begin at each attempt's start
 * and nagar_keyed_work_store before the commit, inside the transaction —
 * of call; request NULL keeps no record (a read). */
nagar_keyed_work_t nagar_rules_keyed_work(nagar_rules_t *self, nagar_worker_call_t *call,
                                          const ProtobufCMessage *request);

/* After the transaction (rc its result): a failure as nagar_rules_fail, else
 * as nagar_keyed_work_answer (the stored reply of type, replayed, or reply).
 * Frees the stored reply. */
int nagar_rules_keyed_answer(nagar_rules_t *self, nagar_keyed_work_t *keyed, int rc,
                             const ProtobufCMessageDescriptor *type,
                             const ProtobufCMessage *reply);

/* Runs "SELECT sql" answering one jsonb as text and parses it (NULL for SQL
 * NULL). Returns 0, 1 with the outcome set, -1 on a database error. */
int nagar_rules_call_json(nagar_rules_t *self, const char *name, const char *sql, int nparams,
                          const char *const *values, json_t **out,
                          nagar_outcome_t *outcome);

/* Calls rule function(actor, request_json, today) and decodes its JSON into
 * a new reply (free with protobuf_c_message_free_unpacked). */
int nagar_rules_call(nagar_rules_t *self, nagar_worker_call_t *call, const char *function,
                     const char *request_json, const ProtobufCMessageDescriptor *reply_type,
                     ProtobufCMessage **reply, nagar_outcome_t *outcome);

/* Decodes a rule's JSON into a message; outcome INTERNAL when it does not fit. */
int nagar_rules_decode(nagar_rules_t *self, json_t *json, const ProtobufCMessageDescriptor *type,
                       ProtobufCMessage **reply, nagar_outcome_t *outcome);

/* Fills a reply just before it is stored and sent (a signature, a PDF). */
typedef int (nagar_rules_finish_fn)(void *arg, ProtobufCMessage *reply,
                                    nagar_outcome_t *outcome);

/* A whole method: the request (as request_json, or encoded when NULL)
 * through rule function in one transaction, with an idempotency record when
 * mutation is set, answered with reply_type. */
int nagar_rules_method(nagar_rules_t *self, nagar_worker_call_t *call,
                       const ProtobufCMessage *request, const char *request_json,
                       const char *function, const ProtobufCMessageDescriptor *reply_type,
                       bool mutation, nagar_rules_finish_fn *finish, void *finish_arg);

/* An import: rows (a JSON array, stolen) for ulb go to rule function as
 * {"ulb", "rows"} through nagar_rules_method (a mutation), answered with
 * reply_type. A ulb that is not valid UTF-8 is INVALID_ARGUMENT "ulb". */
int nagar_rules_import(nagar_rules_t *self, nagar_worker_call_t *call,
                       const ProtobufCMessage *request, const char *ulb, json_t *rows,
                       const char *function, const ProtobufCMessageDescriptor *reply_type);

/* Appends a notification event (inside the transaction). subject is the
 * record it is about ("property:<id>"; "" for a ULB-wide fact) and user_id
 * the person's account when the record has one ("" lets notifications ask
 * the record): events never carry a contact (common/event_subjects.h).
 * params are name, value pairs, NULL-terminated, at most 8. Returns 0 or
 * -1. */
int nagar_rules_outbox(nagar_rules_t *self, const char *type, const char *ulb,
                       const char *subject, const char *user_id, ...) __attribute__((sentinel));

/* The same, for one person of the record: user_id when they have an
 * account, else person, the record's own key for them as its
 * notify.subjects answers it ("owner:2"; never a contact). */
int nagar_rules_outbox_person(nagar_rules_t *self, const char *type, const char *ulb,
                              const char *subject, const char *user_id, const char *person, ...)
    __attribute__((sentinel));

/* Money movements. Each is one call of a SECURITY DEFINER rule function,
 * which checks it, takes the receipt number (common/sql/receipt), appends
 * the ledger row (common/sql/ledger) and records the payment — the app role
 * can do none of these itself: <rule_prefix>_payment_record(actor, request,
 * today, ledger key) for a counter payment, _payment_reverse(actor, request,
 * today) for a reversal, _online_callback(actor, request, today) for the
 * provider's verified callback (the last two are accounts_payment_reverse and
 * accounts_online_callback of common/sql/accounts). Each answers the Receipt
 * (or the OnlineOrder) with "ulb", the account and <user_field>, the
 * owner's user id, for the event added here in the same transaction (it
 * names the record "<subject_kind>:<account>", never a contact). Locks
 * are always taken in one order (the idempotency key's advisory lock, [the
 * online order,] the account's row, the receipt counter's row, then the
 * ULB's ledger head, held to the commit and so
 * taken last) so two money movements cannot deadlock. The messages are read
 * by field name: Receipt has receipt_no, <account_param>, amount_paise,
 * ledger_seq; OnlineOrder has order_id, amount_paise, merchant_signature;
 * the callback has order_id, provider_ref, amount_paise, status, signature. */
struct nagar_rules_payments {
    nagar_rules_t *rules;
    nagar_payment_provider_t *provider;   /* NULL: online payments refused */
    const char *rule_prefix;      /* "pt" (a compiled-in name, never input) */
    const char *account_param;    /* "property_id": event param, log and Receipt field */
    const char *subject_kind;     /* "property": the account's record kind in events */
    const char *user_field;       /* "ownerUserId": the owner's account in the rules' JSON */
    const ProtobufCMessageDescriptor *receipt_type;
    const ProtobufCMessageDescriptor *order_type;
    /* VerifyLedgerReply of nagar_rules_ledger_verify_method (NULL: the
     * service answers no ledger.verify). */
    const ProtobufCMessageDescriptor *ledger_reply_type;
    /* Optional: the service's own events of a verified callback, added in
     * its transaction from the rule's answer (any "action"); 0 or -1. For a
     * service whose callbacks are not "paid" money on a ledger
     * (certificates' fee paid, or due for a refund). */
    int (*callback_events)(nagar_rules_t *rules, json_t *answer);
};

/* payment.record: needs an idempotency key; logs <service>.payment_recorded. */
int nagar_rules_payment_record(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                               const ProtobufCMessage *request);
/* payment.reverse: a negative entry; logs <service>.payment_reversed. */
int nagar_rules_payment_reverse(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                                const ProtobufCMessage *request);
/* online.initiate: the order from the rules, signed for the checkout. */
int nagar_rules_online_initiate(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                                const ProtobufCMessage *request);
/* online.callback: the provider's signature verified first (a forged one is
 * logged as <service>.callback_forged and refused), then a SUCCESS is
 * recorded once per order. */
int nagar_rules_online_callback(const nagar_rules_payments_t *payments, nagar_worker_call_t *call,
                                const ProtobufCMessage *request);

/* The same, and ledger.verify (nagar_ledger_check_method of ledger.h,
 * answering payments->ledger_reply_type), as handlers of a service's method
 * table (nagar_method_t) for a service run by nagar_rules_main with
 * nagar_rules_service_t.payments set: its arg begins with its
 * nagar_rules_t, whose payments name the flow, so the service writes no
 * handler of its own for them:
 *
 *     {"payment.record", PT(record_payment_request), GATEWAY_BATCH,
 *      nagar_rules_payment_record_method},
 *
 * Without payments they answer INTERNAL. */
int nagar_rules_payment_record_method(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                      void *arg);
int nagar_rules_payment_reverse_method(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                       void *arg);
int nagar_rules_online_initiate_method(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                       void *arg);
int nagar_rules_online_callback_method(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                       void *arg);
int nagar_rules_ledger_verify_method(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                     void *arg);

int64_t nagar_rules_monotonic_ms(void);

/* A batch job run in chunks from the worker's tick: the annual demand, the
 * monthly bills, the demand notices' messages. Rule <function>(limit int)
 * — or (limit int, today date) when dated is set — runs the next chunk of
 * the oldest waiting job in one transaction (so a killed process loses only
 * its open chunk, and several processes share the work) and answers NULL
 * when no job waits, else {"job": {...}, "done": bool, ...}. each() (when
 * set) sees every chunk's answer, and done() (when set) the job once it is
 * done, both in the chunk's transaction (to add events). Logged as
 * <service>.<name>_chunk (debug), <name>_done and <name>_chunk_failed, with
 * the job's fields named in log_fields ({log name, job key} pairs, ended by
 * {NULL, NULL}). */
typedef int nagar_rules_batch_done_fn(nagar_rules_t *rules, json_t *job);
typedef int nagar_rules_batch_each_fn(nagar_rules_t *rules, json_t *chunk);

typedef struct {
    const char *name;                     /* "demand" (compiled in, never input) */
    const char *function;                 /* "pt_demand_run_chunk" */
    const char *const (*log_fields)[2];
    nagar_rules_batch_done_fn *done;
    nagar_rules_batch_each_fn *each;
    bool dated;                           /* the rule takes the business date too */
    long chunk;                           /* rows per chunk, the service's setting */
    long idle_poll_ms;                    /* how often an idle worker looks for a job */
    int64_t next_poll_ms;                 /* monotonic; 0 = at the next tick */
} nagar_rules_batch_t;

/* One chunk: 1 when one ran, 0 when no job waits, -1 when it failed (rolled
 * back and logged; whoever runs next redoes it). */
int nagar_rules_batch_run_chunk(nagar_rules_t *self, nagar_rules_batch_t *batch);

/* For the worker's tick: a chunk when one is due — at every tick while a job
 * has work, else every idle_poll_ms. */
void nagar_rules_batch_tick(nagar_rules_t *self, nagar_rules_batch_t *batch);

/* For a done(): the event type (e.g. "demand.raised") of a bill run that
 * is done, ULB-wide (no subject or user) with the params given (name,
 * value pairs, NULL-terminated, at most 6) and then "bills" (the job's
 * billsCreated) and "job_id" (its jobId). Nothing when the job has no ULB
 * (a run of every ULB). 0, or -1 when the event could not be added. */
int nagar_rules_batch_raised(nagar_rules_t *rules, json_t *job, const char *type, ...)
    __attribute__((sentinel));

/* ---- the program ---------------------------------------------------------------- */

/* What a rules service's program differs in. nagar_rules_main does the rest:
 *
 *   <program>                        serve <service> on the bus
 *   <program> verify [ULB]           nagar_ledger_check (ledger.h)
 *   <program> provider-keygen FILE   a new key shared with the payment provider
 *
 * with the settings all of them share (environment over NAGAR_CONFIG):
 * <settings_prefix>_BUSINESS_DATE (YYYY-MM-DD, unset: today in IST),
 * NAGAR_PAYMENT_PROVIDER_KEY_FILE (unset: online payments refused),
 * <settings_prefix>_OUTBOX_RELAY (true), <settings_prefix>_RELAY_INTERVAL_MS
 * (1000), NAGAR_DB_CONNINFO and NAGAR_BUS_*. Logs <service>.config_invalid,
 * .online_off, .business_date_fixed, .worker_failed, .ready (with the
 * service's own fields), .stopped, .provider_keygen and .keygen_failed. */
typedef struct {
    nagar_rules_t *rules;             /* service set;
                                         db and business_date are filled in here */
    const char *program;              /* "nagar-water-tax", for the usage */
    const char *settings_prefix;      /* "NAGAR_WATER_TAX" */
    const nagar_method_t *methods;    /* the service's own handlers */
    const nagar_rule_method_t *rule_methods;   /* methods that are one rule call; NULL: none */
    void *arg;                        /* given to the methods and the hooks */
    /* What the service's money movements differ in, for the
     * nagar_rules_*_method rows of its methods: a compiled-in description
     * whose rules and provider (the key of NAGAR_PAYMENT_PROVIDER_KEY_FILE)
     * nagar_rules_main fills in a copy of its own. NULL: no money methods. */
    const nagar_rules_payments_t *payments;
    nagar_bus_client_t **bus;         /* where the outbox relay's client goes (NULL: relay off) */
    /* The service's own settings, read after the shared ones: adds them to
     * the fields of <service>.ready and answers the worker's idle tick in ms,
     * or -1 when one is invalid (logged). */
    int (*settings)(void *arg, nagar_config_t *config, json_t *ready);
    /* Once the database is connected, before the bus: the service's own
     * start checks. NULL: none. */
    void (*connected)(void *arg);
    /* The service's batch work on the worker's tick; the outbox relay runs
     * after it, every relay interval. NULL: none. */
    void (*tick)(nagar_worker_t *worker, void *arg);
} nagar_rules_service_t;

/* Runs the program and answers its exit code: 0 done, 1 failed, 2 usage
 * (verify: 0 whole, 3 broken, 1 could not verify). Destroys what it made
 * (the database connection, the provider, the bus client) before it returns. */
int nagar_rules_main(const nagar_rules_service_t *service, int argc, char **argv);

#endif
