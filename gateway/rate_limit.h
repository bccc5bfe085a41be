/*
 * rate_limit.h — token-bucket rate limiting per key (client IP, user id).
 *
 * Each key has a bucket holding up to `burst` tokens, refilled at `rate`
 * tokens a second; a request takes one. The table is bounded: when it is
 * full, the least recently used key is evicted. Evicting is safe because an
 * idle key's bucket has refilled, and a full bucket is the same as no entry;
 * an attacker cycling through many keys only evicts idle ones first.
 */
#ifndef GATEWAY_RATE_LIMIT_H
#define GATEWAY_RATE_LIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct gateway_rate_limiter_t gateway_rate_limiter_t;

/* rate <= 0 disables the limiter (take always allows). */
gateway_rate_limiter_t *gateway_rate_limiter_new(double rate_per_second, double burst,
                                                 size_t max_keys);
void gateway_rate_limiter_destroy(gateway_rate_limiter_t **self_p);

/* Takes one token for key at now_ms (monotonic). Returns 0 when allowed,
 * otherwise the whole seconds (>= 1) after which a token will be there,
 * for Retry-After. */
int gateway_rate_limiter_take(gateway_rate_limiter_t *self, const char *key, int64_t now_ms);

size_t gateway_rate_limiter_size(gateway_rate_limiter_t *self);

#endif
