/*
 * payment_provider.h — online payments through a payment provider, signed
 * both ways with HMAC-SHA256 under a key shared with the provider.
 *
 *   1. initiate: the service creates an order and signs it
 *        merchant_signature = HMAC(key, "v1|order|<order_id>|<amount_paise>")
 *      which the citizen's browser carries to the provider's checkout;
 *   2. the provider takes the money and posts a callback to the gateway
 *        signature = HMAC(key, "v1|callback|<order_id>|<provider_ref>|<amount_paise>|<status>")
 *   3. verify: the service checks that signature in constant time and
 *      refuses the callback when it does not match (nothing is recorded);
 *   4. receipt: a verified SUCCESS is recorded exactly once per order (the
 *      order id is the ledger's idempotency key), however often the
 *      provider repeats the callback.
 *
 * Signatures travel as 64 lowercase hex characters. order_id and
 * provider_ref are 1..64 of [A-Za-z0-9._-] (so "|" cannot shift fields),
 * status is SUCCESS or FAILURE. The key file holds 64 hex characters (32
 * bytes), mode 0600; nagar_payment_provider_keygen writes one.
 */
#ifndef NAGAR_PAYMENT_PROVIDER_H
#define NAGAR_PAYMENT_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAGAR_PAYMENT_SIGNATURE_HEX 65   /* 64 hex characters and the terminator */

typedef struct nagar_payment_provider_t nagar_payment_provider_t;

typedef struct {
    const char *order_id;
    const char *provider_ref;
    int64_t amount_paise;
    const char *status;          /* "SUCCESS" or "FAILURE" */
} nagar_payment_callback_t;

/* Reads the shared key. Returns NULL with the reason in error. */
nagar_payment_provider_t *nagar_payment_provider_new(const char *key_file, char *error,
                                                     size_t error_size);
void nagar_payment_provider_destroy(nagar_payment_provider_t **self_p);

/* Writes a new random key to path (refuses to overwrite). */
int nagar_payment_provider_keygen(const char *path, char *error, size_t error_size);

/* Whether an order id or provider reference has the allowed shape. */
bool nagar_payment_provider_id_valid(const char *text);

/* Signs an order for the checkout. Returns 0, or -1 for a malformed id. */
int nagar_payment_provider_sign_order(nagar_payment_provider_t *self, const char *order_id,
                                      int64_t amount_paise, char out[NAGAR_PAYMENT_SIGNATURE_HEX]);

/* Signs a callback the way the provider does (tests and drills). */
int nagar_payment_provider_sign_callback(nagar_payment_provider_t *self,
                                         const nagar_payment_callback_t *callback,
                                         char out[NAGAR_PAYMENT_SIGNATURE_HEX]);

/* True when signature_hex is the provider's signature of callback. */
bool nagar_payment_provider_verify_callback(nagar_payment_provider_t *self,
                                            const nagar_payment_callback_t *callback,
                                            const char *signature_hex);

#endif
