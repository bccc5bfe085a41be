/*
 * Unit tests for the pure parts of ledger.h and payment_provider.h: the
 * canonical form and hash chain of a ledger row, which must match what
 * common/sql/ledger.sql computes in the database byte for byte (the vector
 * below was produced by ledger_canonical() and sha256() in PostgreSQL 15),
 * and the HMAC signatures of online payments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "ledger.h"
#include "payment_provider.h"

static const nagar_ledger_row_t ROW = {
    .ulb = "802462",
    .seq = 1,
    .idempotency_key = "payment:staff:1:k1",
    .kind = "PAYMENT",
    .account = "802462-001-000001",
    .reference = "802462/2026-27/C1/000001",
    .amount_paise = -12345,
    .detail = "{\"by\":\"\xe0\xa4\xb6\xe0\xa5\x8d\xe0\xa4\xb0\xe0\xa5\x80\"}",   /* श्री */
    .recorded_us = 1700000000000000,
};

static void canonical_matches_the_database(void **state)
{
    (void) state;
    static const char expected[] =
        "6:802462;1:1;18:payment:staff:1:k1;7:PAYMENT;17:802462-001-000001;"
        "24:802462/2026-27/C1/000001;6:-12345;"
        "21:{\"by\":\"\xe0\xa4\xb6\xe0\xa5\x8d\xe0\xa4\xb0\xe0\xa5\x80\"};16:1700000000000000;";
    char out[512];
    size_t length = nagar_ledger_canonical(&ROW, out, sizeof out);
    assert_int_equal(length, sizeof expected - 1);
    assert_memory_equal(out, expected, length);
    /* Too small a buffer: the needed length, and nothing written past its size. */
    char small[8] = "xxxxxxx";
    assert_int_equal(nagar_ledger_canonical(&ROW, small, 4), length);
    assert_memory_equal(small + 4, "xxx", 3);
}

static void hash_matches_the_database(void **state)
{
    (void) state;
    uint8_t zero[NAGAR_LEDGER_HASH_BYTES] = {0}, hash[NAGAR_LEDGER_HASH_BYTES];
    nagar_ledger_hash(zero, &ROW, hash);
    char hex[NAGAR_LEDGER_HASH_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    assert_string_equal(hex, "670fa40f48f05735484f96513b1f884f1c58189320b3d1f381b41c866c1c9f31");
}

static void any_change_changes_the_hash(void **state)
{
    (void) state;
    uint8_t zero[NAGAR_LEDGER_HASH_BYTES] = {0}, base[NAGAR_LEDGER_HASH_BYTES],
            other[NAGAR_LEDGER_HASH_BYTES];
    nagar_ledger_hash(zero, &ROW, base);
    nagar_ledger_row_t row = ROW;
    row.amount_paise = -12346;
    nagar_ledger_hash(zero, &row, other);
    assert_memory_not_equal(base, other, sizeof base);
    /* Moving a character between fields must not collide: "ab"+"c" vs "a"+"bc". */
    row = ROW;
    row.kind = "PAYMENTP";
    row.account = "AYMENT";
    nagar_ledger_row_t shifted = ROW;
    shifted.kind = "PAYMENTPA";
    shifted.account = "YMENT";
    nagar_ledger_hash(zero, &row, base);
    nagar_ledger_hash(zero, &shifted, other);
    assert_memory_not_equal(base, other, sizeof base);
    /* The chain: the same row after another predecessor hashes differently. */
    uint8_t one[NAGAR_LEDGER_HASH_BYTES] = {1};
    nagar_ledger_hash(zero, &ROW, base);
    nagar_ledger_hash(one, &ROW, other);
    assert_memory_not_equal(base, other, sizeof base);
}

static void provider_signatures_verify_and_forgeries_do_not(void **state)
{
    (void) state;
    char path[] = "/tmp/nagar_provider_key_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    char error[256];
    assert_int_equal(nagar_payment_provider_keygen(path, error, sizeof error), 0);
    assert_int_equal(nagar_payment_provider_keygen(path, error, sizeof error), -1);  /* no overwrite */
    nagar_payment_provider_t *provider = nagar_payment_provider_new(path, error, sizeof error);
    assert_non_null(provider);
    nagar_payment_callback_t callback = {.order_id = "pt0123", .provider_ref = "FP9",
                                         .amount_paise = 123456, .status = "SUCCESS"};
    char signature[NAGAR_PAYMENT_SIGNATURE_HEX];
    assert_int_equal(nagar_payment_provider_sign_callback(provider, &callback, signature), 0);
    assert_true(nagar_payment_provider_verify_callback(provider, &callback, signature));
    nagar_payment_callback_t changed = callback;
    changed.amount_paise = 123457;
    assert_false(nagar_payment_provider_verify_callback(provider, &changed, signature));
    changed = callback;
    changed.status = "FAILURE";
    assert_false(nagar_payment_provider_verify_callback(provider, &changed, signature));
    changed = callback;
    changed.order_id = "pt0123|x";                      /* cannot smuggle a separator */
    assert_false(nagar_payment_provider_verify_callback(provider, &changed, signature));
    assert_false(nagar_payment_provider_verify_callback(provider, &callback, "00"));
    assert_false(nagar_payment_provider_verify_callback(provider, &callback, NULL));
    char order[NAGAR_PAYMENT_SIGNATURE_HEX];
    assert_int_equal(nagar_payment_provider_sign_order(provider, "pt0123", 123456, order), 0);
    assert_int_equal(strlen(order), 64);
    assert_string_not_equal(order, signature);
    nagar_payment_provider_destroy(&provider);
    assert_null(provider);
    unlink(path);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(canonical_matches_the_database),
        cmocka_unit_test(hash_matches_the_database),
        cmocka_unit_test(any_change_changes_the_hash),
        cmocka_unit_test(provider_signatures_verify_and_forgeries_do_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
