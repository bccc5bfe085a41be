/*
 * status.h — the typed errors every reply carries (nagar.StatusCode) and
 * how they map to names and HTTP statuses.
 */
#ifndef NAGAR_STATUS_H
#define NAGAR_STATUS_H

#include "proto/envelope.pb-c.h"

typedef Nagar__StatusCode nagar_status_code_t;

/* "INVALID_ARGUMENT", ... as in the proto; "UNKNOWN" for out-of-range codes. */
const char *nagar_status_name(nagar_status_code_t code);

/* The HTTP status the gateway answers with for code. INVALID_ARGUMENT is
 * 422 (the request was well-formed JSON but broke a rule); the gateway
 * itself uses 400 for JSON it cannot parse. */
int nagar_status_http(nagar_status_code_t code);

/* Whether a caller may retry with the same idempotency key and expect it
 * to succeed later (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED). */
int nagar_status_is_retryable(nagar_status_code_t code);

#endif
