/*
 * field_limits.h — the limits the protos declare beside their fields
 * ("// [range 1..200]", "[length 3..64]", "[items 1..20]"), as a table
 * generated at build time by proto/limits.py (build/gen/proto_limits.c).
 *
 * The services enforce these limits; the gateway publishes them in its
 * OpenAPI document so that what a client generator sees is what a service
 * accepts, stated once, in the contract.
 */
#ifndef NAGAR_FIELD_LIMITS_H
#define NAGAR_FIELD_LIMITS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    NAGAR_LIMIT_RANGE,      /* the value of a number */
    NAGAR_LIMIT_LENGTH,     /* characters in a string */
    NAGAR_LIMIT_ITEMS,      /* entries in a list */
} nagar_limit_kind_t;

typedef struct {
    const char *message;    /* full proto name, e.g. "nagar.identity.ListUlbsRequest" */
    const char *field;      /* proto field name, e.g. "page_size" */
    nagar_limit_kind_t kind;
    int64_t min, max;       /* inclusive */
} nagar_field_limit_t;

/* Ends with an entry whose message is NULL. */
extern const nagar_field_limit_t NAGAR_FIELD_LIMITS[];
extern const size_t NAGAR_FIELD_LIMIT_COUNT;

/* The limit of that kind on message.field, or NULL when it declares none. */
const nagar_field_limit_t *nagar_field_limit_find(const char *message, const char *field,
                                                  nagar_limit_kind_t kind);

#endif
