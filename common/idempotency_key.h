/*
 * idempotency_key.h — the one rule for what an idempotency key may be.
 *
 * A key is what makes a retry safe: the caller picks it, every hop carries
 * it unchanged, and each service stores it beside the reply. It was
 * checked in five places with three rules (the gateway refused spaces,
 * service_rules took any byte but controls, the services any text), so a
 * key could pass one hop and fail the next. One rule now, the gateway's,
 * which HTTP clients already follow: 1 to NAGAR_IDEMPOTENCY_KEY_MAX
 * printable ASCII characters (0x21..0x7e) — no spaces, no controls, no
 * other characters — such as a UUID or "receipt-2026-0001".
 */
#ifndef NAGAR_IDEMPOTENCY_KEY_H
#define NAGAR_IDEMPOTENCY_KEY_H

#include <stdbool.h>

#define NAGAR_IDEMPOTENCY_KEY_MAX 128

/* The rule, as a sentence for error messages. */
#define NAGAR_IDEMPOTENCY_KEY_RULE "1 to 128 printable ASCII characters without spaces"

/* Whether key follows the rule. NULL is not a key. */
bool nagar_idempotency_key_valid(const char *key);

#endif
