/*
 * auth.c — token verification and the revocation sets; see auth.h.
 *
 * Both sets are CZMQ hashes of id -> revoked_at_ms. Pruning is done while
 * applying a page (at most every poll), never on the request path, so a
 * request costs one signature check and two hash lookups.
 */
#include "auth.h"

#include <czmq.h>
#include <string.h>

#include "log.h"

struct gateway_auth_t {
    nagar_token_verifier_t *verifier;
    int64_t max_ttl_ms;
    size_t max_entries;
    zhashx_t *sessions;     /* session id -> int64_t revoked_at_ms */
    zhashx_t *users;        /* user id -> int64_t revoked_before_ms */
    int64_t cursor;
    bool synced;
};

static void time_free(void **item)
{
    free(*item);
    *item = NULL;
}

gateway_auth_t *gateway_auth_new(const char *keys_dir, int64_t max_access_ttl_ms,
                                 size_t max_revocations, char *error, size_t error_size)
{
    gateway_auth_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    self->max_ttl_ms = max_access_ttl_ms;
    self->max_entries = max_revocations;
    self->verifier = nagar_token_verifier_new();
    self->sessions = zhashx_new();
    self->users = zhashx_new();
    if (!self->verifier || !self->sessions || !self->users) {
        snprintf(error, error_size, "out of memory");
        gateway_auth_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->sessions, time_free);
    zhashx_set_destructor(self->users, time_free);
    char load_error[512] = "";
    int loaded = nagar_token_verifier_load_dir(self->verifier, keys_dir, load_error,
                                               sizeof load_error);
    if (loaded <= 0) {
        snprintf(error, error_size,
                 "no token public keys could be loaded from NAGAR_TOKEN_PUBLIC_KEYS_DIR=%s: %s; "
                 "run nagar-identity keygen and point the gateway at its .pub files",
                 keys_dir, loaded == 0 ? "the directory holds no <key_id>.pub file" : load_error);
        gateway_auth_destroy(&self);
        return NULL;
    }
    return self;
}

void gateway_auth_destroy(gateway_auth_t **self_p)
{
    gateway_auth_t *self = *self_p;
    if (!self)
        return;
    nagar_token_verifier_destroy(&self->verifier);
    zhashx_destroy(&self->sessions);
    zhashx_destroy(&self->users);
    free(self);
    *self_p = NULL;
}

static const int64_t *lookup_time(zhashx_t *hash, const char *key)
{
    return key[0] ? zhashx_lookup(hash, key) : NULL;
}

gateway_auth_result_t gateway_auth_check(gateway_auth_t *self, const char *authorization,
                                         int64_t now_ms, nagar_token_claims_t *claims)
{
    if (!authorization || !*authorization)
        return GATEWAY_AUTH_MISSING;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return GATEWAY_AUTH_MALFORMED;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    if (strlen(token) > NAGAR_TOKEN_MAX)
        return GATEWAY_AUTH_MALFORMED;
    switch (nagar_token_verify(self->verifier, token, NAGAR__TOKEN_TYPE__ACCESS, now_ms, claims)) {
    case NAGAR_TOKEN_OK: break;
    case NAGAR_TOKEN_UNKNOWN_KEY:
    case NAGAR_TOKEN_BAD_SIGNATURE: return GATEWAY_AUTH_FORGED;
    case NAGAR_TOKEN_EXPIRED: return GATEWAY_AUTH_EXPIRED;
    case NAGAR_TOKEN_WRONG_TYPE: return GATEWAY_AUTH_WRONG_TYPE;
    case NAGAR_TOKEN_MALFORMED:
    default: return GATEWAY_AUTH_MALFORMED;
    }
    if (claims->expires_at_ms - claims->issued_at_ms > self->max_ttl_ms)
        return GATEWAY_AUTH_TOO_LONG_LIVED;
    if (lookup_time(self->sessions, claims->session_id))
        return GATEWAY_AUTH_REVOKED;
    const int64_t *before = lookup_time(self->users, claims->user_id);
    if (before && claims->issued_at_ms <= *before)
        return GATEWAY_AUTH_REVOKED;
    return GATEWAY_AUTH_OK;
}

const char *gateway_auth_result_text(gateway_auth_result_t result)
{
    switch (result) {
    case GATEWAY_AUTH_OK: return "ok";
    case GATEWAY_AUTH_MISSING:
        return "this route needs a login: send \"Authorization: Bearer <access token>\"";
    case GATEWAY_AUTH_MALFORMED:
        return "the Authorization header is not \"Bearer <access token>\" with a well-formed token";
    case GATEWAY_AUTH_FORGED: return "the access token's signature is not valid";
    case GATEWAY_AUTH_EXPIRED:
        return "the access token has expired; exchange the refresh token at /api/v1/auth/refresh";
    case GATEWAY_AUTH_WRONG_TYPE: return "a refresh token was sent where an access token belongs";
    case GATEWAY_AUTH_REVOKED: return "the session has ended (logged out or account disabled); log in again";
    case GATEWAY_AUTH_TOO_LONG_LIVED: return "the access token's lifetime exceeds what this gateway accepts";
    }
    return "the access token was refused";
}

/* Drops entries whose tokens have all expired by now. */
static void prune(zhashx_t *hash, int64_t horizon_ms)
{
    zlistx_t *keys = zhashx_keys(hash);
    if (!keys)
        return;
    for (const char *key = zlistx_first(keys); key; key = zlistx_next(keys)) {
        const int64_t *at = zhashx_lookup(hash, key);
        if (at && *at < horizon_ms)
            zhashx_delete(hash, key);
    }
    zlistx_destroy(&keys);
}

/* Keeps the newest of two times for key. */
static bool remember(zhashx_t *hash, const char *key, int64_t at_ms)
{
    int64_t *existing = zhashx_lookup(hash, key);
    if (existing) {
        if (at_ms > *existing)
            *existing = at_ms;
        return false;
    }
    int64_t *value = malloc(sizeof *value);
    if (!value)
        return false;
    *value = at_ms;
    zhashx_insert(hash, key, value);
    return true;
}

size_t gateway_auth_apply(gateway_auth_t *self, const Nagar__Identity__ListRevocationsReply *reply,
                          int64_t now_ms)
{
    size_t added = 0;
    int64_t horizon = now_ms - self->max_ttl_ms;
    for (size_t i = 0; i < reply->n_revocations; i++) {
        const Nagar__Identity__Revocation *r = reply->revocations[i];
        if (r->id > self->cursor)
            self->cursor = r->id;
        /* A revocation older than every live token changes nothing. */
        if (r->revoked_at_ms < horizon)
            continue;
        if (r->session_id && r->session_id[0] && strlen(r->session_id) < 64)
            added += remember(self->sessions, r->session_id, r->revoked_at_ms);
        if (r->user_id && r->user_id[0] && strlen(r->user_id) < 128)
            added += remember(self->users, r->user_id, r->revoked_at_ms);
    }
    prune(self->sessions, horizon);
    prune(self->users, horizon);
    size_t total = zhashx_size(self->sessions) + zhashx_size(self->users);
    if (total > self->max_entries)
        nagar_log_warn("gateway.revocations_over_bound",
                       "%zu revocations are live, more than NAGAR_GATEWAY_REVOCATIONS_MAX=%zu; "
                       "they are all kept (dropping one would re-admit a revoked token): raise "
                       "the bound or shorten access-token lifetimes", total, self->max_entries);
    return added;
}

int64_t gateway_auth_cursor(gateway_auth_t *self)
{
    return self->cursor;
}

bool gateway_auth_synced(gateway_auth_t *self)
{
    return self->synced;
}

void gateway_auth_mark_synced(gateway_auth_t *self)
{
    self->synced = true;
}

size_t gateway_auth_revocation_count(gateway_auth_t *self)
{
    return zhashx_size(self->sessions) + zhashx_size(self->users);
}
