/*
 * certificate_seal.c — signing and offline checking of certificate QR
 * payloads (see certificate_seal.h).
 *
 * Parsing is strict so that exactly one text verifies for one signed
 * content: the base64url parts are decoded and encoded again and must come
 * back identical (otherwise the unused low bits of the last character could
 * change without changing the bytes), and every sealed string must be valid
 * text within its bound.
 */
#include "certificate_seal.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/certificates.pb-c.h"

#include "key_file.h"
#include "text.h"

_Static_assert(NAGAR_SEAL_KEY_ID_MAX == NAGAR_KEY_ID_MAX, "seal key ids are key_file.h's");

#define SEAL_PREFIX "NC1."
#define SEAL_BODY_MAX 700

struct nagar_sealer_t {
    uint8_t *secret_key;                    /* sodium_malloc'd, 64 bytes */
    uint8_t public_key[crypto_sign_PUBLICKEYBYTES];
    char key_id[NAGAR_SEAL_KEY_ID_MAX + 1];
};

const char *nagar_seal_result_text(nagar_seal_result_t result)
{
    switch (result) {
    case NAGAR_SEAL_OK:
        return "valid";
    case NAGAR_SEAL_MALFORMED:
        return "malformed payload";
    case NAGAR_SEAL_UNKNOWN_KEY:
        return "signed under an unknown key id";
    case NAGAR_SEAL_BAD_SIGNATURE:
        return "signature does not verify (forged or altered)";
    }
    return "unknown result";
}

/* The key id from a path "<dir>/<key_id><suffix>". */
static int key_id_from_path(const char *path, const char *suffix, char *key_id, char *error,
                            size_t error_size)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    const char *base = basename(copy);
    size_t length = strlen(base), suffix_length = strlen(suffix);
    if (length <= suffix_length || strcmp(base + length - suffix_length, suffix) != 0 ||
        !nagar_key_id_valid(base, length - suffix_length)) {
        snprintf(error, error_size,
                 "key file %s must be named <key id>%s with a key id of 1 to %d of "
                 "[A-Za-z0-9_-]",
                 path, suffix, NAGAR_SEAL_KEY_ID_MAX);
        return -1;
    }
    memcpy(key_id, base, length - suffix_length);
    key_id[length - suffix_length] = '\0';
    return 0;
}

nagar_sealer_t *nagar_sealer_new(const char *secret_key_path, char *error, size_t error_size)
{
    nagar_sealer_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    self->secret_key = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!self->secret_key ||
        key_id_from_path(secret_key_path, ".key", self->key_id, error, error_size) != 0 ||
        nagar_key_file_read(secret_key_path, self->secret_key, crypto_sign_SECRETKEYBYTES, error,
                      error_size) != 0) {
        if (!self->secret_key)
            snprintf(error, error_size, "out of memory");
        nagar_sealer_destroy(&self);
        return NULL;
    }
    crypto_sign_ed25519_sk_to_pk(self->public_key, self->secret_key);
    return self;
}

void nagar_sealer_destroy(nagar_sealer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    nagar_sealer_t *self = *self_p;
    sodium_free(self->secret_key);   /* zeroes the memory */
    free(self);
    *self_p = NULL;
}

const char *nagar_sealer_key_id(nagar_sealer_t *self)
{
    return self->key_id;
}

void nagar_sealer_public_key(nagar_sealer_t *self, uint8_t public_key[32])
{
    memcpy(public_key, self->public_key, crypto_sign_PUBLICKEYBYTES);
}

/* Valid text (common/text.h), at most size - 1 bytes. */
static bool field_ok(const char *text, size_t size)
{
    return strnlen(text, size) < size && nagar_text_valid(text, 0, SIZE_MAX, false);
}

static bool seal_fields_ok(const nagar_seal_t *seal)
{
    return field_ok(seal->certificate_id, sizeof seal->certificate_id) &&
           seal->certificate_id[0] && field_ok(seal->ulb, sizeof seal->ulb) && seal->ulb[0] &&
           field_ok(seal->registration_number, sizeof seal->registration_number) &&
           field_ok(seal->subject_name, sizeof seal->subject_name) &&
           field_ok(seal->event_date, sizeof seal->event_date) &&
           field_ok(seal->issued_on, sizeof seal->issued_on) && seal->kind >= 0 &&
           seal->kind <= 3;
}

char *nagar_sealer_seal(nagar_sealer_t *self, const nagar_seal_t *seal)
{
    if (!self || !seal || !seal_fields_ok(seal))
        return NULL;
    Nagar__Certificates__Seal message = NAGAR__CERTIFICATES__SEAL__INIT;
    message.certificate_id = (char *) seal->certificate_id;
    message.kind = (Nagar__Certificates__EventKind) seal->kind;
    message.ulb = (char *) seal->ulb;
    message.registration_number = (char *) seal->registration_number;
    message.version = seal->version;
    message.subject_name = (char *) seal->subject_name;
    message.event_date = (char *) seal->event_date;
    message.issued_on = (char *) seal->issued_on;
    size_t packed_size = protobuf_c_message_get_packed_size(&message.base);
    if (packed_size > SEAL_BODY_MAX)
        return NULL;
    uint8_t packed[SEAL_BODY_MAX];
    protobuf_c_message_pack(&message.base, packed);

    size_t body_b64 = sodium_base64_encoded_len(packed_size,
                                                sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t sig_b64 = sodium_base64_encoded_len(crypto_sign_BYTES,
                                               sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t total = strlen(SEAL_PREFIX) + strlen(self->key_id) + 1 + body_b64 + 1 + sig_b64;
    if (total > NAGAR_SEAL_TEXT_MAX + 1)
        return NULL;
    char *text = malloc(total);
    if (!text)
        return NULL;
    int used = snprintf(text, total, SEAL_PREFIX "%s.", self->key_id);
    sodium_bin2base64(text + used, body_b64, packed, packed_size,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t signed_length = strlen(text);
    uint8_t signature[crypto_sign_BYTES];
    crypto_sign_detached(signature, NULL, (const unsigned char *) text, signed_length,
                         self->secret_key);
    text[signed_length] = '.';
    sodium_bin2base64(text + signed_length + 1, sig_b64, signature, sizeof signature,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

int nagar_seal_load_public_key(const char *path, char key_id[NAGAR_SEAL_KEY_ID_MAX + 1],
                               uint8_t public_key[32], char *error, size_t error_size)
{
    if (key_id_from_path(path, ".pub", key_id, error, error_size) != 0)
        return -1;
    return nagar_key_file_read(path, public_key, crypto_sign_PUBLICKEYBYTES, error, error_size);
}

int nagar_seal_key_id_of(const char *payload, char key_id[NAGAR_SEAL_KEY_ID_MAX + 1])
{
    if (!payload || strncmp(payload, SEAL_PREFIX, strlen(SEAL_PREFIX)) != 0)
        return -1;
    const char *start = payload + strlen(SEAL_PREFIX);
    const char *dot = strchr(start, '.');
    if (!dot || !nagar_key_id_valid(start, (size_t) (dot - start)))
        return -1;
    memcpy(key_id, start, (size_t) (dot - start));
    key_id[dot - start] = '\0';
    return 0;
}

/* Decodes canonical unpadded base64url of text[0..length) into out. */
static bool decode_canonical(const char *text, size_t length, uint8_t *out, size_t out_size,
                             size_t *decoded)
{
    if (length == 0 || sodium_base642bin(out, out_size, text, length, NULL, decoded, NULL,
                                         sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return false;
    char again[NAGAR_SEAL_TEXT_MAX + 1];
    if (sodium_base64_encoded_len(*decoded, sodium_base64_VARIANT_URLSAFE_NO_PADDING) >
        sizeof again)
        return false;
    sodium_bin2base64(again, sizeof again, out, *decoded,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strlen(again) == length && memcmp(again, text, length) == 0;
}

static bool copy_field(char *out, size_t size, const char *value)
{
    if (!value || !field_ok(value, size))
        return false;
    snprintf(out, size, "%s", value);
    return true;
}

nagar_seal_result_t nagar_seal_verify(const char *payload, const char *key_id,
                                      const uint8_t public_key[32], nagar_seal_t *out)
{
    memset(out, 0, sizeof *out);
    if (!payload || strnlen(payload, NAGAR_SEAL_TEXT_MAX + 1) > NAGAR_SEAL_TEXT_MAX)
        return NAGAR_SEAL_MALFORMED;
    char claimed[NAGAR_SEAL_KEY_ID_MAX + 1];
    if (nagar_seal_key_id_of(payload, claimed) != 0)
        return NAGAR_SEAL_MALFORMED;
    const char *body = payload + strlen(SEAL_PREFIX) + strlen(claimed) + 1;
    const char *last_dot = strchr(body, '.');
    if (!last_dot || strchr(last_dot + 1, '.'))
        return NAGAR_SEAL_MALFORMED;
    uint8_t body_bytes[SEAL_BODY_MAX];
    uint8_t signature[crypto_sign_BYTES + 1];
    size_t body_size = 0, signature_size = 0;
    if (!decode_canonical(body, (size_t) (last_dot - body), body_bytes, sizeof body_bytes,
                          &body_size) ||
        !decode_canonical(last_dot + 1, strlen(last_dot + 1), signature, sizeof signature,
                          &signature_size) ||
        signature_size != crypto_sign_BYTES)
        return NAGAR_SEAL_MALFORMED;
    if (!key_id || strcmp(claimed, key_id) != 0)
        return NAGAR_SEAL_UNKNOWN_KEY;
    if (crypto_sign_verify_detached(signature, (const unsigned char *) payload,
                                    (size_t) (last_dot - payload), public_key) != 0)
        return NAGAR_SEAL_BAD_SIGNATURE;

    Nagar__Certificates__Seal *message =
        nagar__certificates__seal__unpack(NULL, body_size, body_bytes);
    if (!message)
        return NAGAR_SEAL_MALFORMED;
    nagar_seal_t seal;
    memset(&seal, 0, sizeof seal);
    bool ok = copy_field(seal.certificate_id, sizeof seal.certificate_id,
                         message->certificate_id) &&
              copy_field(seal.ulb, sizeof seal.ulb, message->ulb) &&
              copy_field(seal.registration_number, sizeof seal.registration_number,
                         message->registration_number) &&
              copy_field(seal.subject_name, sizeof seal.subject_name, message->subject_name) &&
              copy_field(seal.event_date, sizeof seal.event_date, message->event_date) &&
              copy_field(seal.issued_on, sizeof seal.issued_on, message->issued_on);
    seal.kind = (int) message->kind;
    seal.version = message->version;
    nagar__certificates__seal__free_unpacked(message, NULL);
    if (!ok || !seal_fields_ok(&seal))
        return NAGAR_SEAL_MALFORMED;
    snprintf(seal.key_id, sizeof seal.key_id, "%s", claimed);
    *out = seal;
    return NAGAR_SEAL_OK;
}
