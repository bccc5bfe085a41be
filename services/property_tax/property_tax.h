/*
 * property_tax.h — what every part of nagar-property-tax shares: the
 * service's state (one database connection, the payment provider key,
 * settings), the actor and business date handed to the rules, the mapping
 * of the rules' errors to typed statuses, idempotency records, the outbox,
 * and pt_sql_method, which runs one of the pt_* SQL functions of
 * migrations/002_rules.sql as a bus method.
 *
 * The domain lives next door: register.c (properties, owners, floors, CSV
 * import), rates.c (master data), assessment.c (self-assessment, mutation),
 * demand.c (the annual batch), payment.c (dues, counter and online payments,
 * reversals, the ledger), report.c (DCB, daily collection, defaulters).
 */
#ifndef NAGAR_PROPERTY_TAX_H
#define NAGAR_PROPERTY_TAX_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "bus_client.h"
#include "bus_worker.h"
#include "config.h"
#include "date.h"
#include "db.h"
#include "outbox.h"
#include "payment_provider.h"
#include "proto/property_tax.pb-c.h"

#define PT_SERVICE "property_tax"

typedef struct {
    nagar_config_t *config;
    nagar_db_t *db;
    nagar_payment_provider_t *provider;   /* NULL: online payments refused */
    char business_date[NAGAR_DATE_TEXT_MAX];  /* "" = today in IST */
    long demand_chunk;                    /* properties per demand chunk */
    long demand_idle_poll_ms;             /* how often an idle worker looks for jobs */
    int64_t demand_next_poll_ms;          /* monotonic */
    nagar_bus_client_t *bus;              /* the outbox relay's client; NULL: relay off */
    nagar_outbox_relay_t *relay;
    long relay_interval_ms;
    int64_t relay_next_ms;                /* monotonic */
} pt_t;

/* The outcome of transactional work, answered after the transaction. */
typedef struct {
    nagar_status_code_t code;
    char field[128];
    char message[512];
} pt_outcome_t;

void pt_outcome_reset(pt_outcome_t *outcome);
void pt_outcome_set(pt_outcome_t *outcome, nagar_status_code_t code, const char *field,
                    const char *format, ...) __attribute__((format(printf, 4, 5)));

/* Turns the database's last error into an outcome when it came from a
 * rule (SQLSTATE PTINV, PTNFD, PTDEN, PTCON, PTPRE, LGCON). Returns true
 * when it did. */
bool pt_outcome_from_db(pt_t *self, pt_outcome_t *outcome);

/* Answers the call after a failed transaction: the outcome when set, else
 * UNAVAILABLE (connection lost) or INTERNAL (logged). Returns -1. */
int pt_fail_transaction(pt_t *self, nagar_worker_call_t *call, int rc, const pt_outcome_t *outcome);

/* Runs a named statement (prepared once per connection). */
PGresult *pt_query(pt_t *self, const char *name, const char *sql, int nparams,
                   const char *const *values);

/* The actor as the rules expect it: {"userId","role","ulb"} (malloc'd). */
char *pt_actor_json(nagar_worker_call_t *call);
const char *pt_actor_user(nagar_worker_call_t *call);
const char *pt_actor_role(nagar_worker_call_t *call);
const char *pt_actor_ulb(nagar_worker_call_t *call);

/* The business date, "YYYY-MM-DD": NAGAR_PROPERTY_TAX_BUSINESS_DATE when
 * set, else today in India Standard Time. */
void pt_today(pt_t *self, char out[NAGAR_DATE_TEXT_MAX]);

/* Idempotency records (inside the transaction). check returns 0 for a new
 * (or empty) key, 1 with the stored reply in *reply_out (malloc'd), 2 on a
 * conflict (outcome set), -1 on a database error. Concurrent calls with one
 * key queue on an advisory lock, so exactly one does the work. */
int pt_idempotency_check(pt_t *self, nagar_worker_call_t *call, const ProtobufCMessage *request,
                         uint8_t **reply_out, size_t *reply_size, pt_outcome_t *outcome);
int pt_idempotency_store(pt_t *self, nagar_worker_call_t *call, const ProtobufCMessage *request,
                         const ProtobufCMessage *reply);
int pt_reply_stored(nagar_worker_call_t *call, const ProtobufCMessageDescriptor *type,
                    const uint8_t *reply, size_t reply_size);

/* Calls rule function(actor, request_json, today) and decodes its JSON
 * into a new reply message (free with protobuf_c_message_free_unpacked).
 * Inside a transaction. Returns 0, 1 with the outcome set, -1 on a database
 * error. */
int pt_call_rule(pt_t *self, nagar_worker_call_t *call, const char *function,
                 const char *request_json, const ProtobufCMessageDescriptor *reply_type,
                 ProtobufCMessage **reply, pt_outcome_t *outcome);

/* Runs "SELECT sql" returning one jsonb as text and parses it (NULL when
 * SQL NULL). Returns 0, 1 with the outcome set, -1 on a database error. */
int pt_call_json(pt_t *self, const char *name, const char *sql, int nparams,
                 const char *const *values, json_t **out, pt_outcome_t *outcome);

/* Fills a reply just before it is stored and sent (e.g. a signature). */
typedef int (pt_finish_fn)(pt_t *self, ProtobufCMessage *reply, pt_outcome_t *outcome);

/* A whole method: the request as JSON (request_json, or the request
 * encoded when NULL) through rule function in one transaction, with an
 * idempotency record when mutation is set, answered with reply_type. */
int pt_sql_method(pt_t *self, nagar_worker_call_t *call, const ProtobufCMessage *request,
                  const char *request_json, const char *function,
                  const ProtobufCMessageDescriptor *reply_type, bool mutation, pt_finish_fn *finish);

/* Appends an event to the outbox (inside the transaction). params are
 * name, value pairs, NULL-terminated. Returns 0 or -1. */
int pt_outbox(pt_t *self, const char *type, const char *ulb, const char *mobile,
              const char *user_id, ...) __attribute__((sentinel));

int64_t pt_monotonic_ms(void);

#endif
