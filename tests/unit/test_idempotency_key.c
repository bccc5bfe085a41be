/* Unit tests for idempotency_key.h: the one rule every hop applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "idempotency_key.h"

static void keys_callers_use_are_valid(void **state)
{
    (void) state;
    assert_true(nagar_idempotency_key_valid("0b9f3c6e-2a41-4c1e-9d3b-7f1a2c5e8d90"));
    assert_true(nagar_idempotency_key_valid("receipt-2026-0001"));
    assert_true(nagar_idempotency_key_valid("property_tax:42"));   /* outbox event ids */
    assert_true(nagar_idempotency_key_valid("!"));
    assert_true(nagar_idempotency_key_valid("~"));
    char longest[NAGAR_IDEMPOTENCY_KEY_MAX + 1];
    memset(longest, 'k', NAGAR_IDEMPOTENCY_KEY_MAX);
    longest[NAGAR_IDEMPOTENCY_KEY_MAX] = '\0';
    assert_true(nagar_idempotency_key_valid(longest));
}

static void spaces_controls_and_other_text_are_not(void **state)
{
    (void) state;
    assert_false(nagar_idempotency_key_valid(NULL));
    assert_false(nagar_idempotency_key_valid(""));
    assert_false(nagar_idempotency_key_valid("has space"));
    assert_false(nagar_idempotency_key_valid(" "));
    assert_false(nagar_idempotency_key_valid("tab\there"));
    assert_false(nagar_idempotency_key_valid("line\n"));
    assert_false(nagar_idempotency_key_valid("del\x7f"));
    assert_false(nagar_idempotency_key_valid("d\xc3\xa9j\xc3\xa0"));          /* déjà */
    assert_false(nagar_idempotency_key_valid("\xe0\xa4\x95"));               /* क */
    char too_long[NAGAR_IDEMPOTENCY_KEY_MAX + 2];
    memset(too_long, 'k', NAGAR_IDEMPOTENCY_KEY_MAX + 1);
    too_long[NAGAR_IDEMPOTENCY_KEY_MAX + 1] = '\0';
    assert_false(nagar_idempotency_key_valid(too_long));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_callers_use_are_valid),
        cmocka_unit_test(spaces_controls_and_other_text_are_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
