/*
 * identity.h — what every part of nagar-identity shares: the service's
 * state (one database connection, the token signer, settings), input
 * validation helpers, opaque page tokens and where idempotency records
 * live. Outcomes, failures, the actor and idempotency themselves are
 * common/service.h.
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
#include "service.h"
#include "text.h"
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
    nagar_worker_t *worker;             /* told when a revocation is written */
    long access_ttl_s;
    long refresh_ttl_s;
    long otp_ttl_s;
    long otp_resend_s;
    long otp_window_s;
    long otp_per_number;
    long otp_per_ip;
    long otp_max_attempts;
    long login_free_failures;           /* per account and address (login_throttle.h) */
    long login_client_free_failures;    /* per address */
    long login_account_free_failures;   /* per account, unknown addresses */
    long login_backoff_max_s;
    long login_window_s;
} identity_t;

#define IDENTITY_SERVICE "identity"

/* Validation. All lengths are in Unicode characters of valid UTF-8 (digits:
 * nagar_text_digits of common/text.h). */
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

/* A keyset page of a listing (staff.list, audit.list, ulb.list): the
 * query asks for limit (size + 1) rows after the key the page token
 * holds; the extra row says whether another page follows. */
typedef struct {
    uint32_t size;            /* rows a page shows */
    char limit[16];           /* size + 1, the query's LIMIT */
    bool after;               /* a token was given: parts hold the key to list after */
    char parts[3][201];
} identity_page_t;

/* Reads pageSize (0: page_default; at most page_max) and pageToken (count
 * parts, the last of which must pass key_ok) into page. 0, or -1 having
 * answered INVALID_ARGUMENT naming the field that is bad. */
int identity_page_read(identity_page_t *page, nagar_worker_call_t *call, uint32_t page_size,
                       const char *page_token, uint32_t page_default, uint32_t page_max,
                       int count, bool (*key_ok)(const char *key));
/* The end of a page: returns how many of result's rows to show; next
 * (size >= 512) is the token of the next page, the last shown row's
 * columns[0..count) encoded, or "" when this page is the last. */
int identity_page_end(const PGresult *result, const identity_page_t *page, const int *columns,
                      int count, char *next, size_t next_size);

/* Where identity keeps idempotency records (identity.idempotency), for
 * nagar_idempotency_check/store of common/service.h. */
extern const nagar_idempotency_t identity_idempotency;
/* A lookup by user ids (contact.lookup, staff.names): runs the named sql,
 * whose one parameter is the ids as a JSON array text (for "IN (SELECT
 * jsonb_array_elements_text($1::jsonb))") and whose rows are (id, value).
 * Returns 0 with *result_out (PQclear it) and *values_out (free it): one
 * value per id, in the request's order, NULL for an id no row has. On
 * failure answers the call and returns -1. */
int identity_lookup_by_ids(identity_t *self, nagar_worker_call_t *call, const char *name,
                           const char *sql, char *const *ids, size_t count,
                           PGresult **result_out, const char ***values_out);
/* "staff:<uuid>": the prefix and 7 to 64 characters in all. */
bool identity_staff_user_id_valid(const char *user_id);
/* The username rule of staff.create and staff.login; answers the call
 * INVALID_ARGUMENT (field "username") and returns -1 when broken. */
int identity_username_check(nagar_worker_call_t *call, const char *username);

/* The idempotency part of a mutation's work (nagar_keyed_work_t of
 * common/service.h), for the identity service. */
#define IDENTITY_KEYED_WORK(self_, call_, request_)                                         \
    {.records = &identity_idempotency, .db = (self_)->db, .service = IDENTITY_SERVICE,      \
     .call = (call_), .request = (request_)}

#endif
