/* Unit tests for token.h: key files, sign/verify, and every way a token can
 * be refused (expired, issued or starting in the future, wrong audience,
 * forged, altered by one byte, unknown key, wrong type, malformed and
 * oversize input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "scratch_dir.h"
#include "token.h"

#define NOW_MS 1800000000000LL

typedef struct {
    char dir[128];
    nagar_token_signer_t *signer;
    nagar_token_verifier_t *verifier;
} fixture_t;

/* A new key pair key_id in dir and a signer of it. */
static nagar_token_signer_t *new_signer(const char *dir, const char *key_id)
{
    char error[256], path[256];
    scratch_dir_keygen(dir, key_id, path, sizeof path);
    nagar_token_signer_t *signer = nagar_token_signer_new(path, key_id, error, sizeof error);
    assert_non_null(signer);
    return signer;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    scratch_dir_new(f->dir, sizeof f->dir, "token");
    f->signer = new_signer(f->dir, "k1");
    char error[256];
    f->verifier = nagar_token_verifier_new();
    assert_non_null(f->verifier);
    assert_int_equal(nagar_token_verifier_load_dir(f->verifier, f->dir, error, sizeof error), 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    nagar_token_signer_destroy(&f->signer);
    nagar_token_verifier_destroy(&f->verifier);
    scratch_dir_remove(f->dir);
    free(f);
    return 0;
}

static nagar_token_claims_t sample_claims(Nagar__TokenType type)
{
    nagar_token_claims_t claims;
    memset(&claims, 0, sizeof claims);
    claims.type = type;
    snprintf(claims.user_id, sizeof claims.user_id, "staff:3f6c1d52-8a1b-4e8e-9d62-0b1f2a3c4d5e");
    snprintf(claims.role, sizeof claims.role, "CLERK");
    snprintf(claims.ulb, sizeof claims.ulb, "802462");
    snprintf(claims.session_id, sizeof claims.session_id, "0123456789abcdef0123456789abcdef");
    claims.issued_at_ms = NOW_MS;
    claims.expires_at_ms = NOW_MS + 900000;
    return claims;
}

/* The sample claims of type (in *claims), signed by the fixture's key. */
static char *sign_sample(fixture_t *f, Nagar__TokenType type, nagar_token_claims_t *claims)
{
    *claims = sample_claims(type);
    char *token = nagar_token_sign(f->signer, claims);
    assert_non_null(token);
    return token;
}

/* token verified by the fixture's verifier as type at NOW_MS, for no
 * particular audience. */
static nagar_token_result_t verify_now(fixture_t *f, const char *token, Nagar__TokenType type,
                                       nagar_token_claims_t *out)
{
    return nagar_token_verify(f->verifier, token, type, NULL, NOW_MS, out);
}

static void sign_and_verify_round_trip(void **state)
{
    fixture_t *f = *state;
    nagar_token_claims_t claims;
    char *token = sign_sample(f, NAGAR__TOKEN_TYPE__ACCESS, &claims);
    assert_true(strncmp(token, "v1.k1.", 6) == 0);
    assert_true(strlen(token) <= NAGAR_TOKEN_MAX);

    nagar_token_claims_t out;
    assert_int_equal(nagar_token_verify(f->verifier, token, NAGAR__TOKEN_TYPE__ACCESS, NULL, NOW_MS + 1,
                                        &out),
                     NAGAR_TOKEN_OK);
    assert_int_equal(out.type, NAGAR__TOKEN_TYPE__ACCESS);
    assert_string_equal(out.user_id, claims.user_id);
    assert_string_equal(out.role, "CLERK");
    assert_string_equal(out.ulb, "802462");
    assert_string_equal(out.session_id, claims.session_id);
    assert_int_equal(out.issued_at_ms, claims.issued_at_ms);
    assert_int_equal(out.expires_at_ms, claims.expires_at_ms);
    assert_string_equal(out.key_id, "k1");
    free(token);
}

static void expired_token_is_refused(void **state)
{
    fixture_t *f = *state;
    nagar_token_claims_t claims;
    char *token = sign_sample(f, NAGAR__TOKEN_TYPE__ACCESS, &claims);
    nagar_token_claims_t out;
    /* Valid one millisecond before expiry, refused at it. */
    assert_int_equal(nagar_token_verify(f->verifier, token, NAGAR__TOKEN_TYPE__ACCESS, NULL,
                                        claims.expires_at_ms - 1, &out),
                     NAGAR_TOKEN_OK);
    assert_int_equal(nagar_token_verify(f->verifier, token, NAGAR__TOKEN_TYPE__ACCESS, NULL,
                                        claims.expires_at_ms, &out),
                     NAGAR_TOKEN_EXPIRED);
    free(token);
}

/* Issue 12: a token whose issued-at or not-before lies in the future (by
 * more than the clock skew) is refused; only the lifetime was checked. */
static void future_tokens_are_refused(void **state)
{
    fixture_t *f = *state;
    nagar_token_claims_t out;
    int64_t skew = NAGAR_TOKEN_CLOCK_SKEW_MS;

    nagar_token_claims_t claims = sample_claims(NAGAR__TOKEN_TYPE__ACCESS);
    claims.issued_at_ms = NOW_MS + skew + 1000;          /* issued in the future */
    claims.expires_at_ms = claims.issued_at_ms + 900000;
    char *token = nagar_token_sign(f->signer, &claims);
    assert_non_null(token);
    assert_int_equal(verify_now(f, token, NAGAR__TOKEN_TYPE__ACCESS, &out),
                     NAGAR_TOKEN_NOT_YET_VALID);
    assert_string_equal(out.user_id, "");              /* nothing filled on failure */
    /* Within the skew it is accepted (clocks differ a little). */
    assert_int_equal(nagar_token_verify(f->verifier, token, NAGAR__TOKEN_TYPE__ACCESS, NULL,
                                        NOW_MS + 2000, &out),
                     NAGAR_TOKEN_OK);
    free(token);

    claims = sample_claims(NAGAR__TOKEN_TYPE__ACCESS);
    claims.not_before_ms = NOW_MS + 10 * 60000;          /* not before ten minutes from now */
    token = nagar_token_sign(f->signer, &claims);
    assert_non_null(token);
    assert_int_equal(verify_now(f, token, NAGAR__TOKEN_TYPE__ACCESS, &out),
                     NAGAR_TOKEN_NOT_YET_VALID);
    assert_int_equal(nagar_token_verify(f->verifier, token, NAGAR__TOKEN_TYPE__ACCESS, NULL,
                                        claims.not_before_ms, &out),
                     NAGAR_TOKEN_OK);
    assert_int_equal(out.not_before_ms, claims.not_before_ms);
    free(token);

    /* A year-long "lifetime" that starts next year: refused today. */
    claims = sample_claims(NAGAR__TOKEN_TYPE__ACCESS);
    claims.issued_at_ms = NOW_MS + 365LL * 86400000;
    claims.expires_at_ms = claims.issued_at_ms + 900000;
    token = nagar_token_sign(f->signer, &claims);
    assert_int_equal(verify_now(f, token, NAGAR__TOKEN_TYPE__ACCESS, &out),
                     NAGAR_TOKEN_NOT_YET_VALID);
    free(token);

    /* Expiring before it was issued, or never issued: not a token. */
    claims = sample_claims(NAGAR__TOKEN_TYPE__ACCESS);
    claims.expires_at_ms = claims.issued_at_ms - 1;
    token = nagar_token_sign(f->signer, &claims);
    assert_int_equal(nagar_token_verify(f->verifier, token, NAGAR__TOKEN_TYPE__ACCESS, NULL,
                                        NOW_MS - 10, &out),
                     NAGAR_TOKEN_MALFORMED);
    free(token);
}

static void audience_is_checked(void **state)
{
    fixture_t *f = *state;
    nagar_token_claims_t out;
    nagar_token_claims_t claims = sample_claims(NAGAR__TOKEN_TYPE__GRANT);
    assert_true(nagar_token_claims_add_audience(&claims, "property_tax"));
    assert_true(nagar_token_claims_add_audience(&claims, "notifications"));
    snprintf(claims.job, sizeof claims.job, "campaign");
    snprintf(claims.fy, sizeof claims.fy, "2026-27");
    char *token = nagar_token_sign(f->signer, &claims);
    assert_non_null(token);
    assert_int_equal(nagar_token_verify(f->verifier, token, NAGAR__TOKEN_TYPE__GRANT,
                                        "notifications", NOW_MS, &out),
                     NAGAR_TOKEN_OK);
    assert_int_equal(out.audience_count, 2);
    assert_string_equal(out.job, "campaign");
    assert_string_equal(out.fy, "2026-27");
    assert_int_equal(nagar_token_verify(f->verifier, token, NAGAR__TOKEN_TYPE__GRANT,
                                        "water_tax", NOW_MS, &out),
                     NAGAR_TOKEN_WRONG_AUDIENCE);
    assert_int_equal(nagar_token_verify(f->verifier, token, NAGAR__TOKEN_TYPE__GRANT,
                                        NAGAR_TOKEN_AUDIENCE_API, NOW_MS, &out),
                     NAGAR_TOKEN_WRONG_AUDIENCE);
    free(token);
    /* No more than NAGAR_TOKEN_AUDIENCE_MAX audiences. */
    for (int i = claims.audience_count; i < NAGAR_TOKEN_AUDIENCE_MAX; i++)
        assert_true(nagar_token_claims_add_audience(&claims, "x"));
    assert_false(nagar_token_claims_add_audience(&claims, "y"));
}

static void forged_signature_is_refused(void **state)
{
    fixture_t *f = *state;
    /* A token signed by a different key pair under the same key id. */
    char other_dir[160];
    scratch_dir_new(other_dir, sizeof other_dir, "token-other");
    nagar_token_signer_t *forger = new_signer(other_dir, "k1");
    nagar_token_claims_t claims = sample_claims(NAGAR__TOKEN_TYPE__ACCESS);
    snprintf(claims.role, sizeof claims.role, "STATE_ADMIN");
    char *token = nagar_token_sign(forger, &claims);
    assert_non_null(token);
    nagar_token_claims_t out;
    assert_int_equal(verify_now(f, token, NAGAR__TOKEN_TYPE__ACCESS, &out),
                     NAGAR_TOKEN_BAD_SIGNATURE);
    assert_string_equal(out.role, "");   /* nothing filled on failure */

    /* A genuine token with a signature from another token spliced in. */
    char *genuine = nagar_token_sign(f->signer, &claims);
    assert_non_null(genuine);
    char *spliced = strdup(genuine);
    assert_non_null(spliced);
    memcpy(strrchr(spliced, '.'), strrchr(token, '.'), strlen(strrchr(token, '.')));
    assert_int_equal(
        verify_now(f, spliced, NAGAR__TOKEN_TYPE__ACCESS, &out),
        NAGAR_TOKEN_BAD_SIGNATURE);
    free(spliced);
    free(genuine);
    free(token);
    nagar_token_signer_destroy(&forger);
    assert_null(forger);
    scratch_dir_remove(other_dir);
}

static void any_altered_byte_is_refused(void **state)
{
    fixture_t *f = *state;
    nagar_token_claims_t claims;
    char *token = sign_sample(f, NAGAR__TOKEN_TYPE__ACCESS, &claims);
    size_t length = strlen(token);
    size_t claims_start = strlen("v1.k1.");
    size_t signature_start = (size_t) (strrchr(token, '.') - token) + 1;
    nagar_token_claims_t out;
    int ok_count = 0;
    /* Every byte of the claims and of the signature, changed to another
     * base64url character: never OK. */
    for (size_t i = claims_start; i < length; i++) {
        if (i == signature_start - 1)
            continue;
        char saved = token[i];
        token[i] = saved == 'A' ? 'B' : 'A';
        nagar_token_result_t result = verify_now(f, token, NAGAR__TOKEN_TYPE__ACCESS, &out);
        if (result == NAGAR_TOKEN_OK)
            ok_count++;
        assert_true(result == NAGAR_TOKEN_BAD_SIGNATURE || result == NAGAR_TOKEN_MALFORMED);
        token[i] = saved;
    }
    assert_int_equal(ok_count, 0);
    /* Claims re-encoded with one field changed (a role upgrade), same signature. */
    nagar_token_claims_t upgraded = claims;
    snprintf(upgraded.role, sizeof upgraded.role, "CLERQ");
    char *other = nagar_token_sign(f->signer, &upgraded);
    assert_non_null(other);
    size_t other_sig = (size_t) (strrchr(other, '.') - other);
    assert_int_equal(other_sig, signature_start - 1);   /* same lengths */
    memcpy(other + other_sig, token + other_sig, length - other_sig + 1);
    assert_int_equal(verify_now(f, other, NAGAR__TOKEN_TYPE__ACCESS, &out),
                     NAGAR_TOKEN_BAD_SIGNATURE);
    free(other);
    assert_int_equal(verify_now(f, token, NAGAR__TOKEN_TYPE__ACCESS, &out), NAGAR_TOKEN_OK);
    free(token);
}

static void unknown_key_id_is_refused(void **state)
{
    fixture_t *f = *state;
    char error[256], path[256];
    nagar_token_signer_t *second = new_signer(f->dir, "k2");
    nagar_token_claims_t claims = sample_claims(NAGAR__TOKEN_TYPE__ACCESS);
    char *token = nagar_token_sign(second, &claims);
    assert_non_null(token);
    nagar_token_claims_t out;
    assert_int_equal(verify_now(f, token, NAGAR__TOKEN_TYPE__ACCESS, &out),
                     NAGAR_TOKEN_UNKNOWN_KEY);
    /* After loading the directory again both keys verify (rotation). */
    assert_int_equal(nagar_token_verifier_load_dir(f->verifier, f->dir, error, sizeof error), 2);
    assert_int_equal(verify_now(f, token, NAGAR__TOKEN_TYPE__ACCESS, &out), NAGAR_TOKEN_OK);
    assert_string_equal(out.key_id, "k2");
    free(token);
    nagar_token_signer_destroy(&second);
    /* The signer refuses a key id that does not fit the rules. */
    assert_null(nagar_token_signer_new(path, "k2/../x", error, sizeof error));
}

static void wrong_type_is_refused(void **state)
{
    fixture_t *f = *state;
    nagar_token_claims_t claims;
    char *token = sign_sample(f, NAGAR__TOKEN_TYPE__REFRESH, &claims);
    nagar_token_claims_t out;
    assert_int_equal(verify_now(f, token, NAGAR__TOKEN_TYPE__ACCESS, &out), NAGAR_TOKEN_WRONG_TYPE);
    assert_int_equal(verify_now(f, token, NAGAR__TOKEN_TYPE__REFRESH, &out), NAGAR_TOKEN_OK);
    free(token);
}

static void malformed_inputs_are_refused(void **state)
{
    fixture_t *f = *state;
    nagar_token_claims_t claims;
    char *token = sign_sample(f, NAGAR__TOKEN_TYPE__ACCESS, &claims);
    nagar_token_claims_t out;
    const char *bad[] = {
        "", "v1", "v1.", "v1..", "v1...", "v2.k1.AAAA.AAAA", "v1.k1.AAAA", "v1.k1..AAAA",
        "v1.k1.AA=A.AAAA", "v1.k 1.AAAA.AAAA", "v1.k1.AAAA.AAAA.AAAA", "bearer", "v1.k1.!!!.AAAA",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(nagar_token_verify(f->verifier, bad[i], NAGAR__TOKEN_TYPE__ACCESS, NULL, NOW_MS,
                                            &out),
                         NAGAR_TOKEN_MALFORMED);
    assert_int_equal(verify_now(f, NULL, NAGAR__TOKEN_TYPE__ACCESS, &out), NAGAR_TOKEN_MALFORMED);

    /* Truncated signature, extra characters. */
    char buffer[NAGAR_TOKEN_MAX + 64];
    snprintf(buffer, sizeof buffer, "%s", token);
    buffer[strlen(buffer) - 1] = '\0';
    assert_int_equal(verify_now(f, buffer, NAGAR__TOKEN_TYPE__ACCESS, &out), NAGAR_TOKEN_MALFORMED);
    snprintf(buffer, sizeof buffer, "%sA", token);
    assert_int_equal(verify_now(f, buffer, NAGAR__TOKEN_TYPE__ACCESS, &out), NAGAR_TOKEN_MALFORMED);

    /* Oversize: a valid prefix padded past the limit, never read beyond it. */
    size_t huge_length = 1 << 20;
    char *huge = malloc(huge_length + 1);
    assert_non_null(huge);
    memset(huge, 'A', huge_length);
    memcpy(huge, token, strlen(token));
    huge[huge_length] = '\0';
    assert_int_equal(verify_now(f, huge, NAGAR__TOKEN_TYPE__ACCESS, &out), NAGAR_TOKEN_MALFORMED);
    free(huge);

    free(token);

    /* A correctly signed body that is not a TokenClaims protobuf is malformed. */
    char path[256], hex[256];
    snprintf(path, sizeof path, "%s/k1.key", f->dir);
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    assert_non_null(fgets(hex, sizeof hex, file));
    fclose(file);
    unsigned char secret_key[crypto_sign_SECRETKEYBYTES];
    assert_int_equal(sodium_hex2bin(secret_key, sizeof secret_key, hex, strlen(hex), "\n", NULL,
                                    NULL),
                     0);
    const unsigned char garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};   /* truncated varint */
    char signed_part[128], signature_b64[128];
    int offset = snprintf(signed_part, sizeof signed_part, "v1.k1.");
    sodium_bin2base64(signed_part + offset, sizeof signed_part - (size_t) offset, garbage,
                      sizeof garbage, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    unsigned char signature[crypto_sign_BYTES];
    crypto_sign_detached(signature, NULL, (const unsigned char *) signed_part,
                         strlen(signed_part), secret_key);
    sodium_bin2base64(signature_b64, sizeof signature_b64, signature, sizeof signature,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(buffer, sizeof buffer, "%s.%s", signed_part, signature_b64);
    assert_int_equal(verify_now(f, buffer, NAGAR__TOKEN_TYPE__ACCESS, &out), NAGAR_TOKEN_MALFORMED);
    sodium_memzero(secret_key, sizeof secret_key);

    /* Claims too long to fit the token are refused at signing. */
    nagar_token_claims_t long_claims = sample_claims(NAGAR__TOKEN_TYPE__ACCESS);
    memset(long_claims.user_id, 'x', sizeof long_claims.user_id);   /* no terminator */
    assert_null(nagar_token_sign(f->signer, &long_claims));
}

static void key_files_are_checked(void **state)
{
    fixture_t *f = *state;
    char error[256], path[256];
    /* Refuses to overwrite an existing key. */
    assert_int_equal(nagar_token_keygen(f->dir, "k1", error, sizeof error), -1);
    assert_non_null(strstr(error, "overwrite"));
    /* The secret key is readable by its owner only. */
    struct stat st;
    snprintf(path, sizeof path, "%s/k1.key", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Bad key ids. */
    assert_int_equal(nagar_token_keygen(f->dir, "../evil", error, sizeof error), -1);
    assert_int_equal(nagar_token_keygen(f->dir, "", error, sizeof error), -1);
    /* A public key file with garbage stops loading with a message naming it. */
    snprintf(path, sizeof path, "%s/bad.pub", f->dir);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs("not hex\n", file);
    fclose(file);
    nagar_token_verifier_t *verifier = nagar_token_verifier_new();
    assert_int_equal(nagar_token_verifier_load_dir(verifier, f->dir, error, sizeof error), -1);
    assert_non_null(strstr(error, "bad.pub"));
    nagar_token_verifier_destroy(&verifier);
    assert_null(verifier);
    unlink(path);
    /* The public key file is not a signing key. */
    snprintf(path, sizeof path, "%s/k1.pub", f->dir);
    assert_null(nagar_token_signer_new(path, "k1", error, sizeof error));
    assert_non_null(strstr(error, "k1.pub"));
    assert_null(nagar_token_signer_new("/nonexistent/k1.key", "k1", error, sizeof error));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sign_and_verify_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_token_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(future_tokens_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(audience_is_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(forged_signature_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(any_altered_byte_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_key_id_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_type_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_inputs_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(key_files_are_checked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
