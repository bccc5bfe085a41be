/*
 * auth.c — the Authorization header, checked with common/authority.h (see
 * auth.h). Everything but the header's shape and the gateway's own words
 * for each refusal lives in common/, once for the gateway and every service.
 */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authority.h"

#define GATEWAY_TOKEN_CACHE_MAX 100000

struct gateway_auth_t {
    nagar_authority_t *authority;
};

gateway_auth_t *gateway_auth_new(const char *keys_dir, int64_t max_access_ttl_ms,
                                 size_t max_revocations, char *error, size_t error_size)
{
    gateway_auth_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    self->authority = nagar_authority_new(keys_dir, max_access_ttl_ms, max_revocations,
                                          GATEWAY_TOKEN_CACHE_MAX, error, error_size);
    if (!self->authority) {
        free(self);
        return NULL;
    }
    return self;
}

void gateway_auth_destroy(gateway_auth_t **self_p)
{
    gateway_auth_t *self = *self_p;
    if (!self)
        return;
    nagar_authority_destroy(&self->authority);
    free(self);
    *self_p = NULL;
}

gateway_auth_result_t gateway_auth_check(gateway_auth_t *self, const char *authorization,
                                         int64_t now_ms, nagar_token_claims_t *claims,
                                         const char **token_out)
{
    memset(claims, 0, sizeof *claims);
    *token_out = NULL;
    if (!authorization || !*authorization)
        return GATEWAY_AUTH_MISSING;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return GATEWAY_AUTH_MALFORMED;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    if (strlen(token) > NAGAR_TOKEN_MAX)
        return GATEWAY_AUTH_MALFORMED;
    switch (nagar_authority_check_access(self->authority, token, now_ms, claims)) {
    case NAGAR_AUTHORITY_OK: break;
    case NAGAR_AUTHORITY_FORGED: return GATEWAY_AUTH_FORGED;
    case NAGAR_AUTHORITY_EXPIRED: return GATEWAY_AUTH_EXPIRED;
    case NAGAR_AUTHORITY_WRONG_TYPE: return GATEWAY_AUTH_WRONG_TYPE;
    case NAGAR_AUTHORITY_NOT_YET_VALID: return GATEWAY_AUTH_NOT_YET_VALID;
    case NAGAR_AUTHORITY_WRONG_AUDIENCE: return GATEWAY_AUTH_WRONG_AUDIENCE;
    case NAGAR_AUTHORITY_TOO_LONG_LIVED: return GATEWAY_AUTH_TOO_LONG_LIVED;
    case NAGAR_AUTHORITY_REVOKED: return GATEWAY_AUTH_REVOKED;
    case NAGAR_AUTHORITY_ANONYMOUS: return GATEWAY_AUTH_MISSING;
    case NAGAR_AUTHORITY_MALFORMED:
    case NAGAR_AUTHORITY_OUT_OF_SCOPE:
    default: return GATEWAY_AUTH_MALFORMED;
    }
    *token_out = token;
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
    case GATEWAY_AUTH_NOT_YET_VALID:
        return "the access token is not valid yet (issued in the future); check the clocks and "
               "log in again";
    case GATEWAY_AUTH_WRONG_AUDIENCE: return "the token is not an access token for this API";
    }
    return "the access token was refused";
}

size_t gateway_auth_apply(gateway_auth_t *self, const Nagar__Identity__ListRevocationsReply *reply,
                          int64_t now_ms)
{
    return nagar_authority_apply(self->authority, reply, now_ms);
}

int64_t gateway_auth_cursor(gateway_auth_t *self)
{
    return nagar_authority_cursor(self->authority);
}

bool gateway_auth_synced(gateway_auth_t *self)
{
    return nagar_authority_synced(self->authority);
}

void gateway_auth_mark_synced(gateway_auth_t *self)
{
    nagar_authority_mark_synced(self->authority);
}

size_t gateway_auth_revocation_count(gateway_auth_t *self)
{
    return nagar_authority_revocation_count(self->authority);
}
