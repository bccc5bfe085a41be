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
 * <key_id>.pub in a directory the gateway reads.
 */
#ifndef NAGAR_TOKEN_H
#define NAGAR_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/token.pb-c.h"

#define NAGAR_TOKEN_MAX 1024          /* longest token text accepted */
#define NAGAR_TOKEN_KEY_ID_MAX 32

typedef enum {
    NAGAR_TOKEN_OK = 0,
    NAGAR_TOKEN_MALFORMED,       /* not v1.kid.claims.sig, bad base64, bad protobuf, too long */
    NAGAR_TOKEN_UNKNOWN_KEY,     /* key id not among the verifier's keys */
    NAGAR_TOKEN_BAD_SIGNATURE,   /* forged or altered */
    NAGAR_TOKEN_EXPIRED,
    NAGAR_TOKEN_WRONG_TYPE,      /* a refresh token used as an access token, or back */
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
    char key_id[NAGAR_TOKEN_KEY_ID_MAX + 1];   /* filled by verify */
} nagar_token_claims_t;

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
/* Checks form, key, signature, type and expiry (at now_ms) and fills claims. */
nagar_token_result_t nagar_token_verify(nagar_token_verifier_t *self, const char *token,
                                        Nagar__TokenType expected_type, int64_t now_ms,
                                        nagar_token_claims_t *claims);

#endif
