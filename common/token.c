/*
 * token.c — Ed25519-signed bearer tokens; see token.h for the text form.
 *
 * Identity signs, the gateway verifies with the public key alone. The
 * verifier checks, in this order: shape and length (MALFORMED), key id
 * (UNKNOWN_KEY), signature over the text before the last '.'
 * (BAD_SIGNATURE), and only then decodes the claims, so no attacker-made
 * protobuf is ever parsed unless identity signed it. Type, audience,
 * expiry and the token's start (issued-at, not-before) come last. Secret keys are kept in sodium_malloc'd memory and wiped on destroy.
 */
#include "token.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "key_file.h"

_Static_assert(NAGAR_TOKEN_KEY_ID_MAX == NAGAR_KEY_ID_MAX, "token key ids are key_file.h's");

#define VERIFIER_MAX_KEYS 64
#define SIGNATURE_B64_LEN 86   /* 64 bytes, base64url without padding */

struct nagar_token_signer_t {
    unsigned char *secret_key;   /* sodium_malloc'd, crypto_sign_SECRETKEYBYTES */
    char key_id[NAGAR_TOKEN_KEY_ID_MAX + 1];
};

typedef struct {
    char key_id[NAGAR_TOKEN_KEY_ID_MAX + 1];
    uint8_t public_key[crypto_sign_PUBLICKEYBYTES];
} verifier_key_t;

struct nagar_token_verifier_t {
    verifier_key_t keys[VERIFIER_MAX_KEYS];
    int key_count;
};

const char *nagar_token_result_text(nagar_token_result_t result)
{
    switch (result) {
    case NAGAR_TOKEN_OK: return "valid";
    case NAGAR_TOKEN_MALFORMED: return "malformed token";
    case NAGAR_TOKEN_UNKNOWN_KEY: return "token signed with an unknown key";
    case NAGAR_TOKEN_BAD_SIGNATURE: return "token signature does not verify";
    case NAGAR_TOKEN_EXPIRED: return "token expired";
    case NAGAR_TOKEN_WRONG_TYPE: return "wrong token type";
    case NAGAR_TOKEN_NOT_YET_VALID: return "token not valid yet (issued in the future)";
    case NAGAR_TOKEN_WRONG_AUDIENCE: return "token not meant for this audience";
    }
    return "unknown token result";
}

static void set_error(char *error, size_t error_size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void set_error(char *error, size_t error_size, const char *format, ...)
{
    if (!error || error_size == 0)
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(error, error_size, format, args);
    va_end(args);
}

int nagar_token_keygen(const char *dir, const char *key_id, char *error, size_t error_size)
{
    if (sodium_init() < 0) {
        set_error(error, error_size, "libsodium failed to initialise");
        return -1;
    }
    if (!dir || !key_id || !nagar_key_id_valid(key_id, strlen(key_id))) {
        set_error(error, error_size,
                  "invalid key id \"%s\": use 1..%d of [A-Za-z0-9_-]", key_id ? key_id : "",
                  NAGAR_TOKEN_KEY_ID_MAX);
        return -1;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        set_error(error, error_size, "cannot create directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char secret_path[4096], public_path[4096];
    if ((size_t) snprintf(secret_path, sizeof secret_path, "%s/%s.key", dir, key_id) >=
            sizeof secret_path ||
        (size_t) snprintf(public_path, sizeof public_path, "%s/%s.pub", dir, key_id) >=
            sizeof public_path) {
        set_error(error, error_size, "key directory path too long: %s", dir);
        return -1;
    }
    return nagar_key_pair_create(secret_path, public_path, error, error_size);
}

nagar_token_signer_t *nagar_token_signer_new(const char *secret_key_path, const char *key_id,
                                             char *error, size_t error_size)
{
    if (sodium_init() < 0) {
        set_error(error, error_size, "libsodium failed to initialise");
        return NULL;
    }
    if (!key_id || !nagar_key_id_valid(key_id, strlen(key_id))) {
        set_error(error, error_size, "invalid key id \"%s\": use 1..%d of [A-Za-z0-9_-]",
                  key_id ? key_id : "", NAGAR_TOKEN_KEY_ID_MAX);
        return NULL;
    }
    if (!secret_key_path) {
        set_error(error, error_size, "no signing key file given");
        return NULL;
    }
    nagar_token_signer_t *self = calloc(1, sizeof *self);
    if (self)
        self->secret_key = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!self || !self->secret_key) {
        set_error(error, error_size, "out of memory");
        goto fail;
    }
    if (nagar_key_file_read(secret_key_path, self->secret_key, crypto_sign_SECRETKEYBYTES, error,
                            error_size) != 0) {
        size_t used = error ? strlen(error) : 0;
        if (error && used < error_size)
            snprintf(error + used, error_size - used, "; create one with nagar-identity keygen");
        goto fail;
    }
    snprintf(self->key_id, sizeof self->key_id, "%s", key_id);
    return self;
fail:
    nagar_token_signer_destroy(&self);
    return NULL;
}

void nagar_token_signer_destroy(nagar_token_signer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sodium_free((*self_p)->secret_key);   /* zeroes before freeing */
    free(*self_p);
    *self_p = NULL;
}

static bool fits(const char *text, size_t size)
{
    return strnlen(text, size) < size;
}

bool nagar_token_claims_add_audience(nagar_token_claims_t *claims, const char *audience)
{
    if (claims->audience_count < 0 || claims->audience_count >= NAGAR_TOKEN_AUDIENCE_MAX ||
        !audience || !fits(audience, sizeof claims->audience[0]))
        return false;
    snprintf(claims->audience[claims->audience_count++], sizeof claims->audience[0], "%s",
             audience);
    return true;
}

bool nagar_token_claims_have_audience(const nagar_token_claims_t *claims, const char *audience)
{
    for (int i = 0; i < claims->audience_count && i < NAGAR_TOKEN_AUDIENCE_MAX; i++)
        if (strcmp(claims->audience[i], audience) == 0)
            return true;
    return false;
}

char *nagar_token_sign(nagar_token_signer_t *self, const nagar_token_claims_t *claims)
{
    if (!self || !claims || !fits(claims->user_id, sizeof claims->user_id) ||
        !fits(claims->role, sizeof claims->role) || !fits(claims->ulb, sizeof claims->ulb) ||
        !fits(claims->session_id, sizeof claims->session_id) ||
        !fits(claims->job, sizeof claims->job) || !fits(claims->fy, sizeof claims->fy) ||
        !fits(claims->on_behalf_of, sizeof claims->on_behalf_of) ||
        claims->audience_count < 0 || claims->audience_count > NAGAR_TOKEN_AUDIENCE_MAX)
        return NULL;
    char *audience[NAGAR_TOKEN_AUDIENCE_MAX];
    for (int i = 0; i < claims->audience_count; i++) {
        if (!fits(claims->audience[i], sizeof claims->audience[i]))
            return NULL;
        audience[i] = (char *) claims->audience[i];
    }

    Nagar__TokenClaims message = NAGAR__TOKEN_CLAIMS__INIT;
    message.type = claims->type;
    message.user_id = (char *) claims->user_id;
    message.role = (char *) claims->role;
    message.ulb = (char *) claims->ulb;
    message.session_id = (char *) claims->session_id;
    message.issued_at_ms = claims->issued_at_ms;
    message.expires_at_ms = claims->expires_at_ms;
    message.not_before_ms = claims->not_before_ms;
    message.n_audience = (size_t) claims->audience_count;
    message.audience = audience;
    message.job = (char *) claims->job;
    message.fy = (char *) claims->fy;
    message.on_behalf_of = (char *) claims->on_behalf_of;

    uint8_t packed[NAGAR_TOKEN_MAX];
    size_t packed_size = nagar__token_claims__get_packed_size(&message);
    if (packed_size > sizeof packed)
        return NULL;
    nagar__token_claims__pack(&message, packed);

    size_t claims_b64_size =
        sodium_base64_encoded_len(packed_size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t sig_b64_size =
        sodium_base64_encoded_len(crypto_sign_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t key_id_length = strlen(self->key_id);
    /* "v1." kid "." claims "." sig NUL; the encoded lengths include a NUL each. */
    size_t total = 3 + key_id_length + 1 + claims_b64_size + sig_b64_size;
    if (total - 1 > NAGAR_TOKEN_MAX)
        return NULL;
    char *token = malloc(total);
    if (!token)
        return NULL;
    int offset = snprintf(token, total, "v1.%s.", self->key_id);
    sodium_bin2base64(token + offset, claims_b64_size, packed, packed_size,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t signed_length = strlen(token);

    unsigned char signature[crypto_sign_BYTES];
    crypto_sign_detached(signature, NULL, (const unsigned char *) token, signed_length,
                         self->secret_key);
    token[signed_length] = '.';
    sodium_bin2base64(token + signed_length + 1, total - signed_length - 1, signature,
                      sizeof signature, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return token;
}

nagar_token_verifier_t *nagar_token_verifier_new(void)
{
    if (sodium_init() < 0)
        return NULL;
    return calloc(1, sizeof(nagar_token_verifier_t));
}

void nagar_token_verifier_destroy(nagar_token_verifier_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

int nagar_token_verifier_add_key(nagar_token_verifier_t *self, const char *key_id,
                                 const uint8_t public_key[32])
{
    if (!self || !key_id || !public_key || !nagar_key_id_valid(key_id, strlen(key_id)))
        return -1;
    for (int i = 0; i < self->key_count; i++) {
        if (strcmp(self->keys[i].key_id, key_id) == 0) {
            memcpy(self->keys[i].public_key, public_key, crypto_sign_PUBLICKEYBYTES);
            return 0;
        }
    }
    if (self->key_count >= VERIFIER_MAX_KEYS)
        return -1;
    verifier_key_t *key = &self->keys[self->key_count++];
    snprintf(key->key_id, sizeof key->key_id, "%s", key_id);
    memcpy(key->public_key, public_key, crypto_sign_PUBLICKEYBYTES);
    return 0;
}

int nagar_token_verifier_load_dir(nagar_token_verifier_t *self, const char *dir, char *error,
                                  size_t error_size)
{
    if (!self || !dir) {
        set_error(error, error_size, "no public key directory given");
        return -1;
    }
    DIR *handle = opendir(dir);
    if (!handle) {
        set_error(error, error_size, "cannot open public key directory %s: %s", dir,
                  strerror(errno));
        return -1;
    }
    int loaded = 0;
    struct dirent *entry;
    while ((entry = readdir(handle)) != NULL) {
        size_t length = strlen(entry->d_name);
        if (length < 5 || strcmp(entry->d_name + length - 4, ".pub") != 0)
            continue;
        if (!nagar_key_id_valid(entry->d_name, length - 4)) {
            set_error(error, error_size,
                      "public key file %s/%s: the name must be <key id>.pub with a key id of "
                      "1..%d of [A-Za-z0-9_-]",
                      dir, entry->d_name, NAGAR_TOKEN_KEY_ID_MAX);
            closedir(handle);
            return -1;
        }
        char key_id[NAGAR_TOKEN_KEY_ID_MAX + 1];
        snprintf(key_id, sizeof key_id, "%.*s", (int) (length - 4), entry->d_name);
        char path[4096];
        if ((size_t) snprintf(path, sizeof path, "%s/%s", dir, entry->d_name) >= sizeof path) {
            set_error(error, error_size, "public key path too long in %s", dir);
            closedir(handle);
            return -1;
        }
        uint8_t public_key[crypto_sign_PUBLICKEYBYTES];
        if (nagar_key_file_read(path, public_key, sizeof public_key, error, error_size) != 0) {
            closedir(handle);
            return -1;
        }
        if (nagar_token_verifier_add_key(self, key_id, public_key) != 0) {
            set_error(error, error_size, "too many public keys in %s (at most %d)", dir,
                      VERIFIER_MAX_KEYS);
            closedir(handle);
            return -1;
        }
        loaded++;
    }
    closedir(handle);
    return loaded;
}

static bool is_base64url(const char *text, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool copy_claim(char *out, size_t out_size, const char *value)
{
    if (!value)
        value = "";
    if (!fits(value, out_size))
        return false;
    snprintf(out, out_size, "%s", value);
    return true;
}

nagar_token_result_t nagar_token_decode(nagar_token_verifier_t *self, const char *token,
                                        nagar_token_claims_t *claims)
{
    memset(claims, 0, sizeof *claims);
    if (!self || !token)
        return NAGAR_TOKEN_MALFORMED;
    size_t length = strnlen(token, NAGAR_TOKEN_MAX + 1);
    if (length > NAGAR_TOKEN_MAX || strncmp(token, "v1.", 3) != 0)
        return NAGAR_TOKEN_MALFORMED;

    /* v1.<kid>.<claims>.<sig>: exactly three dots, no empty part. */
    const char *kid = token + 3;
    const char *dot1 = memchr(kid, '.', length - 3);
    if (!dot1)
        return NAGAR_TOKEN_MALFORMED;
    const char *body = dot1 + 1;
    const char *dot2 = memchr(body, '.', (size_t) (token + length - body));
    if (!dot2)
        return NAGAR_TOKEN_MALFORMED;
    const char *sig = dot2 + 1;
    size_t kid_length = (size_t) (dot1 - kid);
    size_t body_length = (size_t) (dot2 - body);
    size_t sig_length = (size_t) (token + length - sig);
    if (!nagar_key_id_valid(kid, kid_length) || body_length == 0 ||
        !is_base64url(body, body_length) || sig_length != SIGNATURE_B64_LEN ||
        !is_base64url(sig, sig_length))
        return NAGAR_TOKEN_MALFORMED;

    unsigned char signature[crypto_sign_BYTES];
    size_t signature_length = 0;
    if (sodium_base642bin(signature, sizeof signature, sig, sig_length, NULL, &signature_length,
                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        signature_length != sizeof signature)
        return NAGAR_TOKEN_MALFORMED;

    const verifier_key_t *key = NULL;
    for (int i = 0; i < self->key_count; i++) {
        if (strlen(self->keys[i].key_id) == kid_length &&
            memcmp(self->keys[i].key_id, kid, kid_length) == 0) {
            key = &self->keys[i];
            break;
        }
    }
    if (!key)
        return NAGAR_TOKEN_UNKNOWN_KEY;
    if (crypto_sign_verify_detached(signature, (const unsigned char *) token,
                                    (size_t) (dot2 - token), key->public_key) != 0)
        return NAGAR_TOKEN_BAD_SIGNATURE;

    uint8_t packed[NAGAR_TOKEN_MAX];
    size_t packed_size = 0;
    if (sodium_base642bin(packed, sizeof packed, body, body_length, NULL, &packed_size, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return NAGAR_TOKEN_MALFORMED;
    Nagar__TokenClaims *message = nagar__token_claims__unpack(NULL, packed_size, packed);
    if (!message)
        return NAGAR_TOKEN_MALFORMED;

    nagar_token_claims_t decoded;
    memset(&decoded, 0, sizeof decoded);
    decoded.type = message->type;
    decoded.issued_at_ms = message->issued_at_ms;
    decoded.expires_at_ms = message->expires_at_ms;
    decoded.not_before_ms = message->not_before_ms;
    bool ok = copy_claim(decoded.user_id, sizeof decoded.user_id, message->user_id) &&
              copy_claim(decoded.role, sizeof decoded.role, message->role) &&
              copy_claim(decoded.ulb, sizeof decoded.ulb, message->ulb) &&
              copy_claim(decoded.session_id, sizeof decoded.session_id, message->session_id) &&
              copy_claim(decoded.job, sizeof decoded.job, message->job) &&
              copy_claim(decoded.fy, sizeof decoded.fy, message->fy) &&
              copy_claim(decoded.on_behalf_of, sizeof decoded.on_behalf_of,
                         message->on_behalf_of) &&
              message->n_audience <= NAGAR_TOKEN_AUDIENCE_MAX;
    for (size_t i = 0; ok && i < message->n_audience; i++)
        ok = nagar_token_claims_add_audience(&decoded, message->audience[i]);
    nagar__token_claims__free_unpacked(message, NULL);
    if (!ok)
        return NAGAR_TOKEN_MALFORMED;
    snprintf(decoded.key_id, sizeof decoded.key_id, "%s", key->key_id);
    if (decoded.issued_at_ms <= 0 || decoded.expires_at_ms <= decoded.issued_at_ms)
        return NAGAR_TOKEN_MALFORMED;
    *claims = decoded;
    return NAGAR_TOKEN_OK;
}

nagar_token_result_t nagar_token_check_claims(const nagar_token_claims_t *claims,
                                              Nagar__TokenType expected_type,
                                              const char *audience, int64_t now_ms)
{
    if (claims->type != expected_type)
        return NAGAR_TOKEN_WRONG_TYPE;
    if (audience && !nagar_token_claims_have_audience(claims, audience))
        return NAGAR_TOKEN_WRONG_AUDIENCE;
    if (now_ms >= claims->expires_at_ms)
        return NAGAR_TOKEN_EXPIRED;
    /* Only a lifetime was checked once: a token "issued" next year then
     * lived until next year. Both starts must have come (within the skew). */
    int64_t starts_at = claims->not_before_ms > claims->issued_at_ms ? claims->not_before_ms
                                                                     : claims->issued_at_ms;
    if (starts_at > now_ms + NAGAR_TOKEN_CLOCK_SKEW_MS)
        return NAGAR_TOKEN_NOT_YET_VALID;
    return NAGAR_TOKEN_OK;
}

nagar_token_result_t nagar_token_verify(nagar_token_verifier_t *self, const char *token,
                                        Nagar__TokenType expected_type, const char *audience,
                                        int64_t now_ms, nagar_token_claims_t *claims)
{
    nagar_token_claims_t decoded;
    nagar_token_result_t result = nagar_token_decode(self, token, &decoded);
    if (result == NAGAR_TOKEN_OK)
        result = nagar_token_check_claims(&decoded, expected_type, audience, now_ms);
    if (claims) {
        if (result == NAGAR_TOKEN_OK)
            *claims = decoded;
        else
            memset(claims, 0, sizeof *claims);
    }
    sodium_memzero(&decoded, sizeof decoded);
    return result;
}
