/*
 * token.h — signed bearer tokens (Ed25519, libsodium).
 *
 * Text form:  "v1." key_id "." base64url(TokenClaims protobuf) "." base64url(signature)
 * where the signature covers everything before the last '.'. The key id
 * lets identity rotate its signing key while tokens signed with the old
 * one stay verifiable until they expire.
 *
 * Key files (written by nagar-identity keygen): the signing key is the
 * 64-byte libsodium Ed25519 secret key in hex, in a file readable only by
 * identity; the public key is 32 bytes in hex, one file per key id, named
 * <key_id>.pub in a directory the gateway and every service read.
 *
 * Verification checks shape, key, signature, then the claims: type,
 * audience, expiry, and that neither issued-at nor not-before lies in the
 * future by more than NAGAR_TOKEN_CLOCK_SKEW_MS (a token "issued" in the
 * future is either forged by a clock-confused signer or made to outlive
 * its lifetime; either way it is refused).
 */
#ifndef NAGAR_TOKEN_H
#define NAGAR_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/token.pb-c.h"

#define NAGAR_TOKEN_MAX 1024          /* longest token text accepted */
#define NAGAR_TOKEN_KEY_ID_MAX 32
#define NAGAR_TOKEN_CLOCK_SKEW_MS 30000   /* how far issuer and verifier clocks may differ */
#define NAGAR_TOKEN_AUDIENCE_MAX 4        /* audiences one token may name */

/* The audience of access tokens: the API behind the gateway (every service). */
#define NAGAR_TOKEN_AUDIENCE_API "api"
/* The audience of refresh tokens: only identity exchanges them. */
#define NAGAR_TOKEN_AUDIENCE_IDENTITY "identity"
/* The audience of a password-change token (a login with a one-time
 * password): identity's staff.replace_one_time_password and nothing else. */
#define NAGAR_TOKEN_AUDIENCE_PASSWORD "password"

typedef enum {
    NAGAR_TOKEN_OK = 0,
    NAGAR_TOKEN_MALFORMED,       /* not v1.kid.claims.sig, bad base64, bad protobuf, too long */
    NAGAR_TOKEN_UNKNOWN_KEY,     /* key id not among the verifier's keys */
    NAGAR_TOKEN_BAD_SIGNATURE,   /* forged or altered */
    NAGAR_TOKEN_EXPIRED,
    NAGAR_TOKEN_WRONG_TYPE,      /* a refresh token used as an access token, or back */
    NAGAR_TOKEN_NOT_YET_VALID,   /* issued-at or not-before in the future (beyond the skew) */
    NAGAR_TOKEN_WRONG_AUDIENCE,  /* not meant for this verifier */
} nagar_token_result_t;

const char *nagar_token_result_text(nagar_token_result_t result);

/* Claims as plain C, bounded. */
typedef struct {
    Nagar__TokenType type;
    char user_id[96];
    char role[32];
    char ulb[16];
    char session_id[40];
    int64_t issued_at_ms;
    int64_t expires_at_ms;
    int64_t not_before_ms;                     /* 0: issued_at_ms */
    char audience[NAGAR_TOKEN_AUDIENCE_MAX][32];
    int audience_count;
    char job[48];                              /* GRANT only, as the rest below */
    char fy[16];
    char on_behalf_of[96];
    char key_id[NAGAR_TOKEN_KEY_ID_MAX + 1];   /* filled by verify */
} nagar_token_claims_t;

/* Adds an audience to claims being signed; false when full or too long. */
bool nagar_token_claims_add_audience(nagar_token_claims_t *claims, const char *audience);
/* Whether claims name audience. */
bool nagar_token_claims_have_audience(const nagar_token_claims_t *claims, const char *audience);

typedef struct nagar_token_signer_t nagar_token_signer_t;
typedef struct nagar_token_verifier_t nagar_token_verifier_t;

/* Creates a new key pair: writes <dir>/<key_id>.key (secret, mode 0600) and
 * <dir>/<key_id>.pub. Refuses to overwrite. */
int nagar_token_keygen(const char *dir, const char *key_id, char *error, size_t error_size);

nagar_token_signer_t *nagar_token_signer_new(const char *secret_key_path, const char *key_id,
                                             char *error, size_t error_size);
void nagar_token_signer_destroy(nagar_token_signer_t **self_p);
/* A malloc'd token for claims, or NULL when a field is too long. */
char *nagar_token_sign(nagar_token_signer_t *self, const nagar_token_claims_t *claims);

nagar_token_verifier_t *nagar_token_verifier_new(void);
void nagar_token_verifier_destroy(nagar_token_verifier_t **self_p);
/* Loads every <key_id>.pub in dir. Returns the number loaded or -1. */
int nagar_token_verifier_load_dir(nagar_token_verifier_t *self, const char *dir, char *error,
                                  size_t error_size);
int nagar_token_verifier_add_key(nagar_token_verifier_t *self, const char *key_id,
                                 const uint8_t public_key[32]);
/* Checks form, key and signature only, and decodes the claims (which must
 * say when the token was issued and expire after that): what a cache of
 * verified tokens keeps. Claims zeroed unless OK. */
nagar_token_result_t nagar_token_decode(nagar_token_verifier_t *self, const char *token,
                                        nagar_token_claims_t *claims);
/* The checks that depend on the use and the time: type, audience (unless
 * NULL), expiry, issued-at and not-before. */
nagar_token_result_t nagar_token_check_claims(const nagar_token_claims_t *claims,
                                              Nagar__TokenType expected_type,
                                              const char *audience, int64_t now_ms);
/* Both of the above: form, key, signature, type, audience (unless NULL),
 * expiry and issued-at / not-before (at now_ms, with
 * NAGAR_TOKEN_CLOCK_SKEW_MS); fills claims on OK (only then). */
nagar_token_result_t nagar_token_verify(nagar_token_verifier_t *self, const char *token,
                                        Nagar__TokenType expected_type, const char *audience,
                                        int64_t now_ms, nagar_token_claims_t *claims);

#endif
