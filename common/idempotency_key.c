/*
 * idempotency_key.c — the rule for idempotency keys (see idempotency_key.h).
 */
#include "idempotency_key.h"

#include <stddef.h>

bool nagar_idempotency_key_valid(const char *key)
{
    if (!key)
        return false;
    size_t length = 0;
    for (; key[length]; length++)
        if (length == NAGAR_IDEMPOTENCY_KEY_MAX || key[length] < 0x21 || key[length] > 0x7e)
            return false;
    return length > 0;
}
