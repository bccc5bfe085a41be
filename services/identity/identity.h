/*
 * identity.h — what every part of nagar-identity shares: the service's
 * state (one database connection, the token signer, settings), the way a
 * handler reports an outcome from inside a transaction, the actor checks,
 * input validation helpers, opaque page tokens and idempotency records.
 *
 * The domain lives next door: ulb.c (master data), otp.c (citizen login),
 * staff.c (accounts and roles), session.c (tokens, refresh, logout,
 * revocations), audit.c (the append-only log). main.c wires them.
 */
#ifndef NAGAR_IDENTITY_H
#define NAGAR_IDENTITY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "bus_client.h"
#include "bus_worker.h"
#include "config.h"
#include "db.h"
#include "proto/identity.pb-c.h"
#include "token.h"

#define IDENTITY_OTP_KEY_BYTES 32

typedef struct {
    nagar_config_t *config;
    nagar_db_t *db;
    nagar_token_signer_t *signer;
    nagar_token_verifier_t *verifier;   /* our own public keys, for refresh and logout */
    char key_id[NAGAR_TOKEN_KEY_ID_MAX + 1];
    uint8_t otp_key[IDENTITY_OTP_KEY_BYTES];
    char otp_sink_path[PATH_MAX];       /* "" = no delivery configured */
    bool otp_via_notifications;         /* NAGAR_IDENTITY_OTP_VIA=notifications */
    long otp_send_timeout_ms;           /* NAGAR_IDENTITY_OTP_SEND_TIMEOUT_MS */
    nagar_bus_client_t *notify_client;  /* calls notifications' message.send */
    long access_ttl_s;
    long refresh_ttl_s;
    long otp_ttl_s;
    long otp_resend_s;
    long otp_window_s;
    long otp_per_number;
    long otp_per_ip;
    long otp_max_attempts;
    long login_max_failures;
    long login_lock_s;
} identity_t;

/* The result of work done inside a transaction, sent after it ends. */
typedef struct {
    nagar_status_code_t code;
    char field[64];
    char message[384];
} identity_outcome_t;

void identity_outcome_reset(identity_outcome_t *outcome);
void identity_outcome_set(identity_outcome_t *outcome, nagar_status_code_t code, const char *field,
                          const char *format, ...) __attribute__((format(printf, 4, 5)));

/* Answers the call after nagar_db_transaction returned rc: the outcome when
 * rc is 1, a database failure when rc is -1 (UNAVAILABLE when the
 * connection is gone, INTERNAL otherwise; logged, never with values).
 * Returns -1. */
int identity_fail_transaction(identity_t *self, nagar_worker_call_t *call, int rc,
                              const identity_outcome_t *outcome);

/* Runs a named statement (prepared once per connection). */
PGresult *identity_query(identity_t *self, const char *name, const char *sql, int nparams,
                         const char *const *values);

/* The actor the gateway vouched for; fields are "" when absent. */
const char *identity_actor_user(nagar_worker_call_t *call);
const char *identity_actor_role(nagar_worker_call_t *call);
const char *identity_actor_ulb(nagar_worker_call_t *call);
bool identity_actor_is(nagar_worker_call_t *call, const char *role);

/* Validation. All lengths are in Unicode characters of valid UTF-8. */
bool identity_matches_digits(const char *text, size_t min, size_t max);
bool identity_mobile_valid(const char *text);        /* ^[6-9][0-9]{9}$ */
bool identity_username_valid(const char *text);      /* ^[a-z0-9._-]{3,64}$ */
/* Valid UTF-8 without control characters, min..max characters. */
bool identity_text_valid(const char *text, size_t min, size_t max);
/* CLERK, REGISTRAR, REVENUE_OFFICER, COMMISSIONER, STATE_ADMIN. */
bool identity_staff_role_valid(const char *role);

/* Opaque page tokens: "v1" and up to 3 parts, base64url. encode writes
 * into out (size >= 512); decode fills parts (each up to 200 bytes) and
 * returns the number of parts or -1 when the token is not one of ours. */
void identity_page_token_encode(char *out, size_t out_size, const char *const *parts, int count);
int identity_page_token_decode(const char *token, char parts[][201], int max_parts);

/* Idempotency of a mutation (inside its transaction). check returns 0 when
 * the key is new (or empty), 1 when a stored reply of the same request was
 * found (stored in *reply_out, malloc'd, caller frees), or 2 when the key
 * was used for another request (CONFLICT, outcome set), -1 on a database
 * error. */
int identity_idempotency_check(identity_t *self, nagar_worker_call_t *call,
                               const ProtobufCMessage *request, uint8_t **reply_out,
                               size_t *reply_size, identity_outcome_t *outcome);
int identity_idempotency_store(identity_t *self, nagar_worker_call_t *call,
                               const ProtobufCMessage *request, const ProtobufCMessage *reply);

/* Replies with a stored reply of type and marks it replayed. */
int identity_reply_stored(nagar_worker_call_t *call, const ProtobufCMessageDescriptor *type,
                          const uint8_t *reply, size_t reply_size);

/* Milliseconds since the epoch. */
int64_t identity_now_ms(void);

#endif
