/*
 * field_limits.c — lookup in the generated table of declared field limits;
 * see field_limits.h.
 */
#include "field_limits.h"

#include <string.h>

const nagar_field_limit_t *nagar_field_limit_find(const char *message, const char *field,
                                                  nagar_limit_kind_t kind)
{
    /* A few dozen rows, read when the OpenAPI document is built at start. */
    for (size_t i = 0; i < NAGAR_FIELD_LIMIT_COUNT; i++) {
        const nagar_field_limit_t *limit = &NAGAR_FIELD_LIMITS[i];
        if (limit->kind == kind && strcmp(limit->message, message) == 0
            && strcmp(limit->field, field) == 0)
            return limit;
    }
    return NULL;
}
