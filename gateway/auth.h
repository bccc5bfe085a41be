/*
 * auth.h — the gateway's reading of the Authorization header: the bearer
 * access token, checked without a round trip so that a request without a
 * valid one, or with a role its route does not admit, never reaches the bus.
 *
 * The checks themselves (signature with the public keys in
 * NAGAR_TOKEN_PUBLIC_KEYS_DIR, type, audience, expiry, issued-at and
 * not-before, lifetime, revocation) are common/authority.h's, the same
 * ones every service makes again on the token the gateway forwards: the
 * gateway's verdict is a fast first refusal, never a source of authority.
 * Identity publishes revocations as an ordered list (token.revocations,
 * after_id); the gateway polls it (http.c) and applies each page here.
 */
#ifndef GATEWAY_AUTH_H
#define GATEWAY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/identity.pb-c.h"
#include "token.h"

typedef struct gateway_auth_t gateway_auth_t;

typedef enum {
    GATEWAY_AUTH_OK = 0,
    GATEWAY_AUTH_MISSING,       /* no Authorization header */
    GATEWAY_AUTH_MALFORMED,     /* not "Bearer <token>", or a token that does not parse */
    GATEWAY_AUTH_FORGED,        /* unknown key or bad signature */
    GATEWAY_AUTH_EXPIRED,
    GATEWAY_AUTH_WRONG_TYPE,    /* a refresh token where an access token belongs */
    GATEWAY_AUTH_REVOKED,       /* logged out or the user was disabled */
    GATEWAY_AUTH_TOO_LONG_LIVED,/* lifetime beyond NAGAR_GATEWAY_ACCESS_TTL_MAX_MS */
    GATEWAY_AUTH_NOT_YET_VALID, /* issued-at or not-before in the future */
    GATEWAY_AUTH_WRONG_AUDIENCE,/* not an access token for the API (e.g. a grant) */
} gateway_auth_result_t;

/* Loads every <key_id>.pub in keys_dir. NULL with the reason in error. */
gateway_auth_t *gateway_auth_new(const char *keys_dir, int64_t max_access_ttl_ms,
                                 size_t max_revocations, char *error, size_t error_size);
void gateway_auth_destroy(gateway_auth_t **self_p);

/* Checks an Authorization header value (NULL when absent) at now_ms (wall
 * clock) and fills claims on OK, and *token with where the token itself
 * starts in authorization (what the gateway forwards). */
gateway_auth_result_t gateway_auth_check(gateway_auth_t *self, const char *authorization,
                                         int64_t now_ms, nagar_token_claims_t *claims,
                                         const char **token);

/* What a client is told for a result ("the access token has expired"). */
const char *gateway_auth_result_text(gateway_auth_result_t result);

/* Applies one page of revocations and advances the cursor. Returns how many
 * were new. */
size_t gateway_auth_apply(gateway_auth_t *self, const Nagar__Identity__ListRevocationsReply *reply,
                          int64_t now_ms);

/* The after_id for the next poll. */
int64_t gateway_auth_cursor(gateway_auth_t *self);

/* Whether at least one poll has succeeded since start. */
bool gateway_auth_synced(gateway_auth_t *self);
void gateway_auth_mark_synced(gateway_auth_t *self);

/* Entries held (sessions + users), for metrics. */
size_t gateway_auth_revocation_count(gateway_auth_t *self);

#endif
