/*
 * errors.h — the gateway's JSON error bodies.
 *
 *   {"error":{"code":"INVALID_ARGUMENT","message":"...","field":"items[2].amountPaise",
 *             "requestId":"..."}}
 *
 * One shape for every error the gateway or a service produces, so that a
 * frontend needs one error handler. "field" is "" when no field is at fault.
 */
#ifndef GATEWAY_ERRORS_H
#define GATEWAY_ERRORS_H

#include <stddef.h>

/* The body as malloc'd compact JSON (free it), its length in *length.
 * NULL only when out of memory. field and request_id may be NULL. */
char *gateway_error_body(const char *code, const char *message, const char *field,
                         const char *request_id, size_t *length);

#endif
