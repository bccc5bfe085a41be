/*
 * payment_provider.c — HMAC-SHA256 signing and verification of online
 * payment orders and provider callbacks (payment_provider.h), with
 * libsodium's crypto_auth_hmacsha256. The key never leaves this struct and
 * is wiped on destroy.
 */
#include "payment_provider.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "key_file.h"

struct nagar_payment_provider_t {
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
};

nagar_payment_provider_t *nagar_payment_provider_new(const char *key_file, char *error,
                                                     size_t error_size)
{
    nagar_payment_provider_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    if (!key_file || nagar_key_file_read(key_file, self->key, sizeof self->key, error,
                                         error_size) != 0) {
        if (!key_file)
            snprintf(error, error_size, "no payment provider key file given");
        size_t used = strlen(error);
        if (used < error_size)
            snprintf(error + used, error_size - used, "; create one with the service's "
                     "provider-keygen command (e.g. nagar-water_tax provider-keygen FILE)");
        free(self);
        return NULL;
    }
    return self;
}

void nagar_payment_provider_destroy(nagar_payment_provider_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sodium_memzero((*self_p)->key, sizeof (*self_p)->key);
    free(*self_p);
    *self_p = NULL;
}

int nagar_payment_provider_keygen(const char *path, char *error, size_t error_size)
{
    if (sodium_init() < 0) {
        snprintf(error, error_size, "libsodium failed to initialise");
        return -1;
    }
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
    crypto_auth_hmacsha256_keygen(key);
    int rc = nagar_key_file_write(path, key, sizeof key, 0600, error, error_size);
    sodium_memzero(key, sizeof key);
    return rc;
}

bool nagar_payment_provider_id_valid(const char *text)
{
    size_t length = text ? strnlen(text, 65) : 0;
    if (length == 0 || length > 64)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void mac_hex(nagar_payment_provider_t *self, const char *message,
                    char out[NAGAR_PAYMENT_SIGNATURE_HEX])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *) message, strlen(message), self->key);
    sodium_bin2hex(out, NAGAR_PAYMENT_SIGNATURE_HEX, mac, sizeof mac);
}

int nagar_payment_provider_sign_order(nagar_payment_provider_t *self, const char *order_id,
                                      int64_t amount_paise, char out[NAGAR_PAYMENT_SIGNATURE_HEX])
{
    if (!nagar_payment_provider_id_valid(order_id))
        return -1;
    char message[160];
    snprintf(message, sizeof message, "v1|order|%s|%" PRId64, order_id, amount_paise);
    mac_hex(self, message, out);
    return 0;
}

static int callback_message(const nagar_payment_callback_t *callback, char *message, size_t size)
{
    if (!nagar_payment_provider_id_valid(callback->order_id) ||
        !nagar_payment_provider_id_valid(callback->provider_ref) || !callback->status ||
        (strcmp(callback->status, "SUCCESS") != 0 && strcmp(callback->status, "FAILURE") != 0))
        return -1;
    snprintf(message, size, "v1|callback|%s|%s|%" PRId64 "|%s", callback->order_id,
             callback->provider_ref, callback->amount_paise, callback->status);
    return 0;
}

int nagar_payment_provider_sign_callback(nagar_payment_provider_t *self,
                                         const nagar_payment_callback_t *callback,
                                         char out[NAGAR_PAYMENT_SIGNATURE_HEX])
{
    char message[256];
    if (callback_message(callback, message, sizeof message) != 0)
        return -1;
    mac_hex(self, message, out);
    return 0;
}

bool nagar_payment_provider_verify_callback(nagar_payment_provider_t *self,
                                            const nagar_payment_callback_t *callback,
                                            const char *signature_hex)
{
    char message[256];
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    size_t decoded = 0;
    if (!signature_hex || strlen(signature_hex) != sizeof mac * 2 ||
        callback_message(callback, message, sizeof message) != 0 ||
        sodium_hex2bin(mac, sizeof mac, signature_hex, sizeof mac * 2, NULL, &decoded, NULL) != 0 ||
        decoded != sizeof mac)
        return false;
    return crypto_auth_hmacsha256_verify(mac, (const unsigned char *) message, strlen(message),
                                         self->key) == 0;
}
