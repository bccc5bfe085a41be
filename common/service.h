/*
 * service.h — the scaffolding every service's handlers share: the outcome
 * of work done inside a transaction, answering a call after a failed
 * transaction, running named statements, the actor the worker verified
 * from the call's signed token or grant (authority.h), and idempotency
 * records.
 *
 * It also holds the start-up steps every service's main.c repeats.
 *
 * Each service used to carry its own copy of these (identity, certificates,
 * notifications, the rules of water tax); they differed only in the
 * service's name and where the idempotency table lives, so those are
 * parameters here. Domain checks (who may read what, text rules) stay in
 * the services.
 */
#ifndef NAGAR_SERVICE_H
#define NAGAR_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "bus_client.h"
#include "bus_worker.h"
#include "config.h"
#include "db.h"
#include "idempotency_key.h"

/* ---- start-up ---------------------------------------------------------------- */

/* Connects to the service's own database as NAGAR_DB_CONNINFO says; NULL
 * (logged as "<service>.config_invalid" or "<service>.db_connect_failed",
 * naming the database and the role to use) when it cannot. */
nagar_db_t *nagar_service_db_connect(nagar_config_t *config, const char *service);

/* While db waits for a server (a fail-over, NAGAR_DB_RECONNECT_WAIT_MS),
 * or a bus client the worker calls other services with waits for their
 * answer (bus may be NULL), worker keeps heartbeating, so the brokers do
 * not give up on it. */
void nagar_service_keep_worker_alive(nagar_db_t *db, nagar_worker_t *worker);
void nagar_service_keep_worker_alive_on_bus(nagar_bus_client_t *bus, nagar_worker_t *worker);

/* Reads an integer setting within [min, max]; -1 (logged as
 * "<service>.config_invalid", naming the key) when it is not one. */
int nagar_service_config_long(nagar_config_t *config, const char *service, const char *key,
                              long default_value, long min, long max, long *out);

/* Reads NAGAR_PORTAL_URL into out without a trailing '/': "" when unset,
 * else an http:// or https:// address of printable characters without
 * spaces or quotes (it goes into messages and QR codes) that fits. -1
 * (logged as "<service>.config_invalid") when it is not one. */
int nagar_service_portal_url(nagar_config_t *config, const char *service, char *out,
                             size_t out_size);

/* ---- outcomes --------------------------------------------------------------- */

/* The result of work done inside a transaction, answered after it ends:
 * a handler cannot reply from inside, because the transaction may still
 * fail to commit or be retried. */
typedef struct {
    nagar_status_code_t code;
    char field[128];     /* JSON path of the offending field; "" for none */
    char message[512];
} nagar_outcome_t;

void nagar_outcome_reset(nagar_outcome_t *outcome);
void nagar_outcome_set(nagar_outcome_t *outcome, nagar_status_code_t code, const char *field,
                       const char *format, ...) __attribute__((format(printf, 4, 5)));

/* ---- failures and statements ------------------------------------------------ */

/* Answers the call after nagar_db_transaction returned rc: the outcome when
 * rc is 1 and one is set; else, for rc -1, UNAVAILABLE when the connection
 * is gone and INTERNAL otherwise, logged as "<service>.db_error" (the
 * database's message, never the request's values); anything else is
 * logged as "<service>.internal_error". Returns -1. */
int nagar_service_fail(nagar_db_t *db, const char *service, nagar_worker_call_t *call, int rc,
                       const nagar_outcome_t *outcome);
/* The same, with retry_advice after "the <service> database is
 * unreachable; " instead of "retry later" (money services remind the
 * caller to keep the idempotency key). */
int nagar_service_fail_advising(nagar_db_t *db, const char *service, nagar_worker_call_t *call,
                                int rc, const nagar_outcome_t *outcome,
                                const char *retry_advice);

/* Runs a named statement, prepared once per connection. NULL on failure
 * (nagar_db_error() says why). */
PGresult *nagar_service_query(nagar_db_t *db, const char *name, const char *sql, int nparams,
                              const char *const *values);

/* ---- the actor -------------------------------------------------------------- */

/* Whom the call acts for, as the worker verified it from the access token
 * or grant the call carries (common/authority.h): never a field the
 * caller wrote. Each part is "" when the call acts for nobody (no
 * credential: a service acting on its own, or an anonymous user). For a
 * grant, user is the operator, role the job's role and ulb its scope. */
const char *nagar_actor_user(nagar_worker_call_t *call);
const char *nagar_actor_role(nagar_worker_call_t *call);
const char *nagar_actor_ulb(nagar_worker_call_t *call);
/* A signed-in actor with exactly this role (an anonymous call has none). */
bool nagar_actor_is(nagar_worker_call_t *call, const char *role);
/* The clerk a receipts.replay grant replays for ("" otherwise): recorded
 * next to the operator who replayed the slips. */
const char *nagar_actor_on_behalf_of(nagar_worker_call_t *call);
/* Whose idempotency keys the call's are: the clerk of a replay grant (the
 * slips' keys are theirs, whoever replays them), else the user. */
const char *nagar_actor_key_owner(nagar_worker_call_t *call);

/* ---- replies ------------------------------------------------------------------ */

/* Room for a reply's repeated message field: count zeroed messages of
 * item_size bytes and the array of pointers to them that protobuf-c reads
 * (a NULL after the last), in one allocation that one free() releases.
 * NULL when out of memory. Used as
 *     Nagar__Pkg__Item **items = nagar_reply_list(count, sizeof **items);
 * then each items[i] initialised and filled. (Every listing used to calloc
 * the messages and the pointers apart and free both on every path.) */
void *nagar_reply_list(size_t count, size_t item_size);

/* Sets the listing parts of reply (a message whose descriptor is set): its
 * repeated message field named field ("entries") to the count messages of
 * items (a nagar_reply_list), and, when next_page_token is not NULL, its
 * string field next_page_token to it ("" on the last page). 0, or -1 when
 * reply has no such fields (a slip in the caller's code). The descriptor
 * finds the fields, so one function serves every listing's reply type. */
int nagar_reply_page_set(ProtobufCMessage *reply, const char *field, void *items, size_t count,
                         const char *next_page_token);

/* Ends a listing: nagar_reply_page_set, then answers call with reply.
 * Always frees items and clears rows (the result the items point into;
 * NULL for none). items NULL (nagar_reply_list ran out of memory) answers
 * INTERNAL "out of memory", so a caller fills items only when it is not
 * NULL and leaves the failure to this. Returns what nagar_worker_call_reply
 * or nagar_worker_call_fail returned. Every listing used to write these
 * steps out: set the count, the items and the token, reply, free, clear. */
int nagar_reply_page(nagar_worker_call_t *call, ProtobufCMessage *reply, const char *field,
                     void *items, size_t count, const char *next_page_token, PGresult *rows);

/* Fills message (initialised) from one row of rows: each singular field
 * of message for which rows has a column of the same name (the SELECT
 * says "... AS at" where an expression would be named otherwise). A
 * string points into rows, which must outlive message; an integer or a
 * bool ("t"/"f") is parsed; a NULL leaves the field's default. 0, or -1
 * when a named column's value does not parse as its field's type, or the
 * field is of a kind this does not fill (a message, bytes, an enum, a
 * float, a repeated or oneof field). */
int nagar_message_from_row(ProtobufCMessage *message, const PGresult *rows, int row);

/* A listing whose items are its rows: the first count rows of rows, each
 * an item of reply's repeated field named field filled by
 * nagar_message_from_row, answered by nagar_reply_page (which clears
 * rows). A row that cannot be read answers INTERNAL. */
int nagar_reply_rows(nagar_worker_call_t *call, ProtobufCMessage *reply, const char *field,
                     PGresult *rows, int count, const char *next_page_token);

/* ---- idempotency -------------------------------------------------------------- */

/* Where and how a service keeps its idempotency records: one row per
 * (actor, key) holding the method, a BLAKE2b hash of method and request,
 * and the encoded reply. The statements are compiled into the service,
 * never built from input. */
typedef struct {
    /* ($1 actor, $2 key) -> (method, request hash hex, reply hex); it must
     * lock the key (FOR UPDATE or an advisory lock) so racing retries queue. */
    const char *lookup_sql;
    /* ($1 actor, $2 key, $3 method, $4 request hash hex, $5 reply hex) */
    const char *store_sql;
    /* Who the key belongs to; NULL means nagar_actor_key_owner. */
    const char *(*actor)(nagar_worker_call_t *call);
} nagar_idempotency_t;

/* What nagar_idempotency_check found. */
typedef enum {
    NAGAR_IDEMPOTENCY_ERROR = -1,       /* the database failed */
    NAGAR_IDEMPOTENCY_NEW = 0,          /* a new key, or none: do the work */
    NAGAR_IDEMPOTENCY_ANSWERED = 1,     /* the same request was answered before */
    NAGAR_IDEMPOTENCY_REFUSED = 2,      /* a bad key, or one used for another request */
} nagar_idempotency_seen_t;

/* Inside the mutation's transaction. NEW when the key is new (or absent);
 * ANSWERED with the first reply in *reply_out (malloc'd, caller frees);
 * REFUSED with the outcome set when the key breaks the rule of
 * idempotency_key.h or was used for another request; ERROR when the
 * database failed. */
nagar_idempotency_seen_t nagar_idempotency_check(const nagar_idempotency_t *self, nagar_db_t *db,
                                                 nagar_worker_call_t *call,
                                                 const ProtobufCMessage *request,
                                                 uint8_t **reply_out, size_t *reply_size,
                                                 nagar_outcome_t *outcome);
/* What a transaction's work (db.h's nagar_db_work_fn) returns once the
 * key was seen before: 0 for ANSWERED (commit; the stored reply answers),
 * 1 for REFUSED (roll back; the outcome answers), -1 for ERROR. Work
 * goes on only for NEW. */
int nagar_idempotency_work_result(nagar_idempotency_seen_t seen);

/* Records the reply of a mutation that carried a key (in its transaction). */
int nagar_idempotency_store(const nagar_idempotency_t *self, nagar_db_t *db,
                            nagar_worker_call_t *call, const ProtobufCMessage *request,
                            const ProtobufCMessage *reply);
/* Answers the call with a stored reply of type, marked replayed. */
int nagar_idempotency_replay(nagar_worker_call_t *call, const ProtobufCMessageDescriptor *type,
                             const uint8_t *reply, size_t reply_size);

/* ---- a keyed mutation's transaction work ---------------------------------- */

/* What the transaction work (db.h's nagar_db_work_fn) of a mutation that
 * may carry an idempotency key keeps for it: the first member of each
 * handler's work struct, its first five members set by the handler. Every
 * service used to write out the same reset / check / store / replay steps
 * around each of its mutations. */
typedef struct {
    const nagar_idempotency_t *records;   /* where the service keeps its records */
    nagar_db_t *db;
    const char *service;                  /* names the failure's log line */
    nagar_worker_call_t *call;
    const ProtobufCMessage *request;
    uint8_t *stored;                      /* the first reply, when the key was answered */
    size_t stored_size;
    nagar_outcome_t outcome;
} nagar_keyed_work_t;

/* Starts an attempt (a transaction may run again): forgets the last
 * attempt's outcome and stored reply, then checks the key. true when the
 * work goes on; false with *rc the work's result (0 answered before,
 * 1 refused with the outcome set, -1 a database error). Work without a
 * request (a step that keeps no record, such as an anonymous call) only
 * forgets. */
bool nagar_keyed_work_begin(nagar_keyed_work_t *work, int *rc);
/* Records reply for the key, inside the transaction (nothing without a
 * request). */
int nagar_keyed_work_store(nagar_keyed_work_t *work, const ProtobufCMessage *reply);
/* After the transaction (rc, its result): answers the call with the
 * failure (nagar_service_fail), the stored reply of type marked replayed,
 * or reply; frees the stored reply. reply may be NULL when rc != 0 or a
 * reply is stored. */
int nagar_keyed_work_answer(nagar_keyed_work_t *work, int rc,
                            const ProtobufCMessageDescriptor *type,
                            const ProtobufCMessage *reply);

/* ---- the audit trail ------------------------------------------------------ */

/* Where a service's audit rows go: its own append-only table, with the
 * columns (actor, actor_role, action, subject, ulb, detail jsonb,
 * request_id, client_ip); the statement is compiled into the service. */
typedef struct {
    const char *service;        /* logs "<service>.audit" */
    const char *insert_sql;     /* ($1 actor .. $8 client_ip) */
} nagar_audit_t;

/* Reading a trail back (audit.list): the SELECT names its columns as the
 * service's AuditEntry names its fields (id, at, actor, actor_role,
 * action, subject, ulb, detail) and nagar_reply_rows answers with them.
 * Identity's and certificates' AuditEntry are the same row, but numbered
 * differently on the wire (identity's has no actor_role or ulb, so its
 * action is field 4 where certificates' actor_role is): one message would
 * change the wire for one of them, so they stay two messages and share
 * this reader, which goes by the fields' names. */

/* Appends one row inside the caller's transaction: who (actor and
 * actor_role when given and not "", else the call's verified actor), what
 * (action), on what (subject, and ulb: "" for state-level changes), and
 * the request it came with; call may be NULL for command-line steps,
 * which then name the actor. detail (stolen) is a JSON object of what
 * changed. Returns 0 or -1 on a database error. */
int nagar_audit_append(const nagar_audit_t *trail, nagar_db_t *db, nagar_worker_call_t *call,
                       const char *actor, const char *actor_role, const char *action,
                       const char *subject, const char *ulb, json_t *detail);

#endif
