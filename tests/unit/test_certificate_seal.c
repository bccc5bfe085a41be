/* Unit tests for certificate_seal.h: sealing and offline verification of a
 * certificate's QR payload — round trip with Devanagari names, every
 * one-character change refused, another key or key id refused, malformed
 * and oversize payloads, key files. */
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

#include "certificate_seal.h"
#include "scratch_dir.h"
#include "token.h"

typedef struct {
    char dir[128];
    nagar_sealer_t *sealer;
    uint8_t public_key[32];
    char key_id[NAGAR_SEAL_KEY_ID_MAX + 1];
} fixture_t;

/* A new key pair key_id in dir and a sealer of it. */
static nagar_sealer_t *new_sealer(const char *dir, const char *key_id)
{
    char error[256], path[256];
    scratch_dir_keygen(dir, key_id, path, sizeof path);
    nagar_sealer_t *sealer = nagar_sealer_new(path, error, sizeof error);
    assert_non_null(sealer);
    return sealer;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    scratch_dir_new(f->dir, sizeof f->dir, "seal");
    char error[256], path[256];
    f->sealer = new_sealer(f->dir, "c1");
    assert_string_equal(nagar_sealer_key_id(f->sealer), "c1");
    snprintf(path, sizeof path, "%s/c1.pub", f->dir);
    assert_int_equal(nagar_seal_load_public_key(path, f->key_id, f->public_key, error,
                                                sizeof error), 0);
    assert_string_equal(f->key_id, "c1");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    nagar_sealer_destroy(&f->sealer);
    assert_null(f->sealer);
    scratch_dir_remove(f->dir);
    free(f);
    return 0;
}

static nagar_seal_t sample(void)
{
    nagar_seal_t seal;
    memset(&seal, 0, sizeof seal);
    snprintf(seal.certificate_id, sizeof seal.certificate_id, "C7K2M9Q4T6W8X3Z5");
    seal.kind = 1;
    snprintf(seal.ulb, sizeof seal.ulb, "802462");
    snprintf(seal.registration_number, sizeof seal.registration_number, "802462/B/2026/17");
    seal.version = 2;
    snprintf(seal.subject_name, sizeof seal.subject_name, "Asha Verma / आशा वर्मा");
    snprintf(seal.event_date, sizeof seal.event_date, "2026-01-05");
    snprintf(seal.issued_on, sizeof seal.issued_on, "2026-02-01");
    return seal;
}

static void round_trip_keeps_every_field(void **state)
{
    fixture_t *f = *state;
    nagar_seal_t in = sample();
    char *payload = nagar_sealer_seal(f->sealer, &in);
    assert_non_null(payload);
    assert_true(strncmp(payload, "NC1.c1.", 7) == 0);
    assert_true(strlen(payload) < 400);   /* fits a version 10 QR code at level M */
    nagar_seal_t out;
    assert_int_equal(nagar_seal_verify(payload, f->key_id, f->public_key, &out), NAGAR_SEAL_OK);
    assert_string_equal(out.certificate_id, in.certificate_id);
    assert_int_equal(out.kind, 1);
    assert_string_equal(out.ulb, "802462");
    assert_string_equal(out.registration_number, in.registration_number);
    assert_int_equal(out.version, 2);
    assert_string_equal(out.subject_name, in.subject_name);
    assert_string_equal(out.event_date, "2026-01-05");
    assert_string_equal(out.issued_on, "2026-02-01");
    assert_string_equal(out.key_id, "c1");
    char key_id[NAGAR_SEAL_KEY_ID_MAX + 1];
    assert_int_equal(nagar_seal_key_id_of(payload, key_id), 0);
    assert_string_equal(key_id, "c1");
    free(payload);
}

static void any_changed_character_is_refused(void **state)
{
    fixture_t *f = *state;
    nagar_seal_t in = sample();
    char *payload = nagar_sealer_seal(f->sealer, &in);
    assert_non_null(payload);
    size_t length = strlen(payload);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    for (size_t i = 0; i < length; i++) {
        char original = payload[i];
        for (const char *c = alphabet; *c; c++) {
            if (*c == original)
                continue;
            payload[i] = *c;
            nagar_seal_t out;
            nagar_seal_result_t result = nagar_seal_verify(payload, f->key_id, f->public_key,
                                                           &out);
            if (result == NAGAR_SEAL_OK)
                fail_msg("changing character %zu from '%c' to '%c' still verified", i, original,
                         *c);
            assert_string_equal(out.certificate_id, "");
        }
        payload[i] = original;
    }
    /* Truncated or extended by one character. */
    nagar_seal_t out;
    payload[length - 1] = '\0';
    assert_int_not_equal(nagar_seal_verify(payload, f->key_id, f->public_key, &out),
                         NAGAR_SEAL_OK);
    free(payload);
    payload = nagar_sealer_seal(f->sealer, &in);
    char *longer = malloc(length + 2);
    assert_non_null(longer);
    snprintf(longer, length + 2, "%sA", payload);
    assert_int_not_equal(nagar_seal_verify(longer, f->key_id, f->public_key, &out),
                         NAGAR_SEAL_OK);
    free(longer);
    free(payload);
}

static void another_key_is_refused(void **state)
{
    fixture_t *f = *state;
    nagar_sealer_t *other = new_sealer(f->dir, "c2");
    nagar_seal_t in = sample();
    char *payload = nagar_sealer_seal(other, &in);
    assert_non_null(payload);
    nagar_seal_t out;
    /* Claims key c2; we only know c1. */
    assert_int_equal(nagar_seal_verify(payload, f->key_id, f->public_key, &out),
                     NAGAR_SEAL_UNKNOWN_KEY);
    /* Relabelled as c1: the signature is c2's. */
    payload[5] = '1';
    assert_int_equal(nagar_seal_verify(payload, f->key_id, f->public_key, &out),
                     NAGAR_SEAL_BAD_SIGNATURE);
    free(payload);
    nagar_sealer_destroy(&other);
}

static void malformed_payloads_are_refused(void **state)
{
    fixture_t *f = *state;
    nagar_seal_t out;
    const char *bad[] = {"", "NC1.", "NC1.c1.", "NC1.c1..", "NC2.c1.AAAA.AAAA", "nc1.c1.AAAA.AAAA",
                         "NC1.c1.AAAA", "NC1.c1.AA==.AAAA", "NC1.c1.AAAA.AAAA.AAAA",
                         "NC1.c 1.AAAA.AAAA", "NC1.c1.!!!!.AAAA", "NC1.c1.AAAA.AAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(nagar_seal_verify(bad[i], f->key_id, f->public_key, &out),
                         NAGAR_SEAL_MALFORMED);
    assert_int_equal(nagar_seal_verify(NULL, f->key_id, f->public_key, &out),
                     NAGAR_SEAL_MALFORMED);
    char *huge = malloc(NAGAR_SEAL_TEXT_MAX + 100);
    assert_non_null(huge);
    memset(huge, 'A', NAGAR_SEAL_TEXT_MAX + 99);
    memcpy(huge, "NC1.c1.", 7);
    huge[NAGAR_SEAL_TEXT_MAX + 99] = '\0';
    assert_int_equal(nagar_seal_verify(huge, f->key_id, f->public_key, &out),
                     NAGAR_SEAL_MALFORMED);
    free(huge);
    /* A valid signature over bytes that are not a Seal is still refused. */
    nagar_seal_t in = sample();
    snprintf(in.subject_name, sizeof in.subject_name, "bad\x01name");
    assert_null(nagar_sealer_seal(f->sealer, &in));
    in = sample();
    snprintf(in.subject_name, sizeof in.subject_name, "\xc3\x28");
    assert_null(nagar_sealer_seal(f->sealer, &in));
    in = sample();
    in.ulb[0] = '\0';
    assert_null(nagar_sealer_seal(f->sealer, &in));
}

static void key_files_are_checked(void **state)
{
    fixture_t *f = *state;
    char error[256], path[256], key_id[NAGAR_SEAL_KEY_ID_MAX + 1];
    uint8_t key[32];
    snprintf(path, sizeof path, "%s/missing.key", f->dir);
    assert_null(nagar_sealer_new(path, error, sizeof error));
    assert_non_null(strstr(error, "missing.key"));
    snprintf(path, sizeof path, "%s/bad.pub", f->dir);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs("not hex\n", file);
    fclose(file);
    assert_int_equal(nagar_seal_load_public_key(path, key_id, key, error, sizeof error), -1);
    assert_non_null(strstr(error, "hex"));
    snprintf(path, sizeof path, "%s/c1.pub", f->dir);
    /* The public file is not a secret key. */
    char renamed[256];
    snprintf(renamed, sizeof renamed, "%s/x.y.key", f->dir);
    assert_int_equal(link(path, renamed), 0);
    assert_null(nagar_sealer_new(renamed, error, sizeof error));
    assert_non_null(strstr(error, "key id"));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_keeps_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(any_changed_character_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(another_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_payloads_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(key_files_are_checked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
