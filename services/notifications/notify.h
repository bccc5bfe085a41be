/*
 * notify.h — what every part of nagar-notifications shares: the service's
 * state (one database connection, the delivery engine, settings), outcomes
 * of transactional work, actor checks, input validation, idempotency
 * records and the sealing of secret message bodies.
 *
 * The domain lives next door: events.c (event.deliver, message.send and
 * the queueing of messages), templates.c (master data and rendering),
 * delivery.c (the delivery loop and message.list), channel_*.c (SMS over
 * HTTP, e-mail over SMTP, a development file), campaign.c (reminder
 * campaigns, optout.set). main.c wires them.
 */
#ifndef NAGAR_NOTIFY_H
#define NAGAR_NOTIFY_H

#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "bus_worker.h"
#include "config.h"
#include "db.h"
#include "proto/notifications.pb-c.h"

#define NOTIFY_SEAL_KEY_BYTES crypto_secretbox_KEYBYTES

typedef struct delivery_t delivery_t;
typedef struct ulb_names_t ulb_names_t;

typedef struct {
    nagar_config_t *config;
    nagar_db_t *db;
    delivery_t *delivery;
    ulb_names_t *ulb_names;             /* display names of ULBs (ulb_names.h) */
    uint8_t seal_key[NOTIFY_SEAL_KEY_BYTES];
    char seal_key_id[17];               /* hex of 8 bytes of a hash of the key */
    long campaign_per_minute;           /* default throttle */
    long campaign_batch;                /* most recipients queued per tick */
} notify_t;

/* The result of work done inside a transaction, sent after it ends. */
typedef struct {
    nagar_status_code_t code;
    char field[96];
    char message[384];
} notify_outcome_t;

void notify_outcome_reset(notify_outcome_t *outcome);
void notify_outcome_set(notify_outcome_t *outcome, nagar_status_code_t code, const char *field,
                        const char *format, ...) __attribute__((format(printf, 4, 5)));

/* Answers the call after nagar_db_transaction returned rc (1: the outcome;
 * -1: a database failure, UNAVAILABLE when the connection is gone). */
int notify_fail_transaction(notify_t *self, nagar_worker_call_t *call, int rc,
                            const notify_outcome_t *outcome);

/* Runs a named statement (prepared once per connection). */
PGresult *notify_query(notify_t *self, const char *name, const char *sql, int nparams,
                       const char *const *values);

/* The actor the gateway vouched for; "" when absent. */
const char *notify_actor_user(nagar_worker_call_t *call);
const char *notify_actor_role(nagar_worker_call_t *call);
const char *notify_actor_ulb(nagar_worker_call_t *call);
bool notify_actor_is_staff(nagar_worker_call_t *call);   /* a ULB or state staff role */

/* Validation; lengths in Unicode characters of valid UTF-8. */
bool notify_text_valid(const char *text, size_t min, size_t max);   /* no control chars */
bool notify_body_text_valid(const char *text, size_t min, size_t max); /* allows \n */
bool notify_mobile_valid(const char *text);     /* ^[6-9][0-9]{9}$ */
bool notify_email_valid(const char *text);
bool notify_ulb_valid(const char *text);        /* ^[0-9]{1,10}$ */
bool notify_name_valid(const char *text, size_t max);   /* ^[a-z][a-z0-9_.]*$ */
size_t notify_utf8_length(const char *text);

/* Idempotency of a mutation inside its transaction, as in identity:
 * 0 new key (or none), 1 stored reply found (*reply_out malloc'd),
 * 2 conflict (outcome set), -1 database error. */
int notify_idempotency_check(notify_t *self, nagar_worker_call_t *call,
                             const ProtobufCMessage *request, uint8_t **reply_out,
                             size_t *reply_size, notify_outcome_t *outcome);
int notify_idempotency_store(notify_t *self, nagar_worker_call_t *call,
                             const ProtobufCMessage *request, const ProtobufCMessage *reply);
int notify_reply_stored(nagar_worker_call_t *call, const ProtobufCMessageDescriptor *type,
                        const uint8_t *reply, size_t reply_size);

/* Seals text with the service key: hex of nonce || ciphertext, malloc'd. */
char *notify_seal(notify_t *self, const char *text);
/* Opens what notify_seal made; NULL when it was sealed with another key or
 * was altered. Free with notify_free_secret. */
char *notify_unseal(notify_t *self, const char *hex);
void notify_free_secret(char *text);

/* Keyed BLAKE2b (the seal key) of bytes, as 64 hex characters. */
void notify_keyed_hash_hex(notify_t *self, const void *data, size_t size, char out[65]);

int64_t notify_now_ms(void);

/* Page tokens: an opaque base64url of a decimal id; 0 on "" . -1 when bad. */
void notify_page_token_encode(char *out, size_t out_size, long long id);
long long notify_page_token_decode(const char *token);

#endif
