/*
 * certificate_seal.h — the compact signed payload printed as a
 * certificate's QR code, and its offline verification.
 *
 * Text form (what the QR code holds):
 *
 *     "NC1." key_id "." base64url(nagar.certificates.Seal) "." base64url(signature)
 *
 * base64url without padding; the Ed25519 signature (libsodium) covers
 * everything before the last '.', so the version tag and the key id are
 * signed too. The Seal protobuf holds only what a reader compares with the
 * paper: certificate id, kind, ULB, registration number, version, the
 * subject's name, the event date and the date of issue — about 200
 * characters, which a version 10 QR code at level M carries.
 *
 * Verification needs nothing but the public key of the key id: a phone app
 * with the state's published keys can check a certificate while every
 * server is down. Whether the certificate was later superseded is a
 * question for the online verification route.
 *
 * Key files are those of common/token.h (nagar_token_keygen): <key_id>.key
 * holds the 64-byte libsodium secret key in hex (mode 0600), <key_id>.pub
 * the 32-byte public key in hex. A key id is 1..32 of [A-Za-z0-9_-] (no
 * '.', which separates the parts).
 */
#ifndef NAGAR_CERTIFICATE_SEAL_H
#define NAGAR_CERTIFICATE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define NAGAR_SEAL_TEXT_MAX 1024        /* longest payload text accepted */
#define NAGAR_SEAL_KEY_ID_MAX 32

/* The sealed fields as plain C, bounded; strings are UTF-8. */
typedef struct {
    char certificate_id[41];
    int kind;                               /* nagar.certificates.EventKind */
    char ulb[11];
    char registration_number[49];
    uint32_t version;
    char subject_name[257];
    char event_date[11];                    /* YYYY-MM-DD */
    char issued_on[11];
    char key_id[NAGAR_SEAL_KEY_ID_MAX + 1]; /* filled by verify; ignored by seal */
} nagar_seal_t;

typedef enum {
    NAGAR_SEAL_OK = 0,
    NAGAR_SEAL_MALFORMED,       /* not NC1.kid.body.sig, bad base64, bad protobuf, too long */
    NAGAR_SEAL_UNKNOWN_KEY,     /* signed under another key id than the one given */
    NAGAR_SEAL_BAD_SIGNATURE,   /* forged or altered */
} nagar_seal_result_t;

const char *nagar_seal_result_text(nagar_seal_result_t result);

typedef struct nagar_sealer_t nagar_sealer_t;

/* Loads <dir>/<key_id>.key; the key id is the file's name without ".key".
 * Returns NULL with the reason in error. */
nagar_sealer_t *nagar_sealer_new(const char *secret_key_path, char *error, size_t error_size);
void nagar_sealer_destroy(nagar_sealer_t **self_p);
const char *nagar_sealer_key_id(nagar_sealer_t *self);
void nagar_sealer_public_key(nagar_sealer_t *self, uint8_t public_key[32]);

/* The payload text for seal (malloc'd, caller frees), or NULL when a
 * field is not valid text of its bound or memory ran out. */
char *nagar_sealer_seal(nagar_sealer_t *self, const nagar_seal_t *seal);

/* Reads a <key_id>.pub file: the key id from its name, the key from its
 * hex content. Returns 0 or -1 with the reason in error. */
int nagar_seal_load_public_key(const char *path, char key_id[NAGAR_SEAL_KEY_ID_MAX + 1],
                               uint8_t public_key[32], char *error, size_t error_size);

/* The key id a payload claims, without checking anything else (to pick
 * the key from a key ring). Returns 0, or -1 when the payload does not
 * even have the NC1.kid. prefix. */
int nagar_seal_key_id_of(const char *payload, char key_id[NAGAR_SEAL_KEY_ID_MAX + 1]);

/* Checks the payload's form, key id (must equal key_id), signature and
 * content, and fills out (which is zeroed unless the result is OK). Any
 * change to the text, even of one character, is MALFORMED or
 * BAD_SIGNATURE: the base64 parts must be canonical. */
nagar_seal_result_t nagar_seal_verify(const char *payload, const char *key_id,
                                      const uint8_t public_key[32], nagar_seal_t *out);

#endif
