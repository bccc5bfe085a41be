/*
 * test_checkpoint.c — unit tests for checkpoint.h, the signed checkpoints of
 * chain heads that nagarctl verify trusts: keys made once (the secret
 * 0600, never overwritten); a saved checkpoint is the documented text,
 * signed over every byte above its signature line (checked here with
 * libsodium directly, not through the module), named
 * checkpoint-<created_us, 20 digits>.txt, read-only, never replacing
 * another; the latest (greatest name) is the one loaded and its heads come
 * back exactly; any change to a signed byte, a cut file, another key or a
 * signed but malformed body is FORGED; an absent or empty directory is
 * NONE and a missing pinned key ERROR; heads with malformed names, a
 * negative sequence or a repeated (chain, ULB) are refused; dotted chain
 * names ("history.property_tax", up to 63 characters) round-trip, read with
 * the pinned key as nagarctl reads it (nagar_checkpoint_read_public_key).
 */
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

#include "checkpoint.h"
#include "scratch_dir.h"

static char dir[64];              /* this test's directory */
static char secret_path[128], public_path[128], store[128];
static char error[NAGAR_CHECKPOINT_ERROR_MAX];

static int test_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    scratch_dir_new(dir, sizeof dir, "checkpoint");
    snprintf(secret_path, sizeof secret_path, "%s/checkpoint.secret", dir);
    snprintf(public_path, sizeof public_path, "%s/checkpoint.pub", dir);
    snprintf(store, sizeof store, "%s/store", dir);
    error[0] = '\0';
    return mkdir(store, 0755);
}

static int test_teardown(void **state)
{
    (void) state;
    scratch_dir_remove(dir);
    return 0;
}

static nagar_checkpoint_head_t make_head(const char *ledger, const char *ulb, int64_t seq,
                                         uint8_t fill)
{
    nagar_checkpoint_head_t head = {.seq = seq};
    snprintf(head.ledger, sizeof head.ledger, "%s", ledger);
    snprintf(head.ulb, sizeof head.ulb, "%s", ulb);
    memset(head.hash, fill, sizeof head.hash);
    head.hash[0] = (uint8_t) seq;
    return head;
}

/* The hex in a key file, without its newline. */
static void read_key_hex(const char *path, char *out, size_t size)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    assert_non_null(fgets(out, (int) size, file));
    fclose(file);
    out[strcspn(out, "\n")] = '\0';
}

static char *read_text(const char *path, size_t *length)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    char *text = calloc(1, 1 << 20);
    assert_non_null(text);
    *length = fread(text, 1, (1 << 20) - 1, file);
    fclose(file);
    return text;
}

static void write_text(const char *path, const char *text, size_t length)
{
    unlink(path);
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(text, 1, length, file), length);
    fclose(file);
}

/* A checkpoint of two heads saved into store; its path in path_out. */
static nagar_checkpoint_t *save_two(char *path_out, size_t path_size)
{
    nagar_checkpoint_t *checkpoint = nagar_checkpoint_new();
    assert_non_null(checkpoint);
    nagar_checkpoint_head_t a = make_head("property_tax", "802462", 7, 0xab);
    nagar_checkpoint_head_t b = make_head("water_tax", "250786", 0, 0x01);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &a, error, sizeof error), 0);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &b, error, sizeof error), 0);
    if (nagar_checkpoint_save(checkpoint, secret_path, store, path_out, path_size, error,
                              sizeof error) != 0)
        fail_msg("save: %s", error);
    return checkpoint;
}

/* ---- keys --------------------------------------------------------------------------- */

static void keys_are_made_once(void **state)
{
    (void) state;
    assert_int_equal(nagar_checkpoint_keygen(secret_path, public_path, error, sizeof error), 0);
    struct stat info;
    assert_int_equal(stat(secret_path, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);
    char secret_hex[256], public_hex[256];
    read_key_hex(secret_path, secret_hex, sizeof secret_hex);
    read_key_hex(public_path, public_hex, sizeof public_hex);
    assert_int_equal(strlen(secret_hex), crypto_sign_SECRETKEYBYTES * 2);
    assert_int_equal(strlen(public_hex), crypto_sign_PUBLICKEYBYTES * 2);
    /* The public key is the secret key's. */
    uint8_t secret[crypto_sign_SECRETKEYBYTES], public[crypto_sign_PUBLICKEYBYTES],
        derived[crypto_sign_PUBLICKEYBYTES];
    assert_int_equal(sodium_hex2bin(secret, sizeof secret, secret_hex, strlen(secret_hex), NULL,
                                    NULL, NULL), 0);
    assert_int_equal(sodium_hex2bin(public, sizeof public, public_hex, strlen(public_hex), NULL,
                                    NULL, NULL), 0);
    crypto_sign_ed25519_sk_to_pk(derived, secret);
    assert_memory_equal(derived, public, sizeof public);
    /* Never again over either file. */
    assert_int_equal(nagar_checkpoint_keygen(secret_path, public_path, error, sizeof error), -1);
    assert_non_null(strstr(error, "exists already"));
    char again[256];
    read_key_hex(secret_path, again, sizeof again);
    assert_string_equal(again, secret_hex);
}

/* ---- the file ----------------------------------------------------------------------- */

static void a_saved_checkpoint_is_the_documented_signed_text(void **state)
{
    (void) state;
    assert_int_equal(nagar_checkpoint_keygen(secret_path, public_path, error, sizeof error), 0);
    char path[4200];
    nagar_checkpoint_t *checkpoint = save_two(path, sizeof path);
    char expected_path[256];
    snprintf(expected_path, sizeof expected_path, "%s/checkpoint-%020lld.txt", store,
             (long long) nagar_checkpoint_created_us(checkpoint));
    assert_string_equal(path, expected_path);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(info.st_mode & 0222, 0);   /* read-only */

    size_t length;
    char *text = read_text(path, &length);
    char public_hex[256];
    read_key_hex(public_path, public_hex, sizeof public_hex);
    char hash_a[65], hash_b[65];
    sodium_bin2hex(hash_a, sizeof hash_a, make_head("x", "1", 7, 0xab).hash, 32);
    sodium_bin2hex(hash_b, sizeof hash_b, make_head("x", "1", 0, 0x01).hash, 32);
    char body[2048];
    snprintf(body, sizeof body,
             "nagar-checkpoint 1\ncreated_us %lld\nkey %s\n"
             "head property_tax 802462 7 %s\nhead water_tax 250786 0 %s\n",
             (long long) nagar_checkpoint_created_us(checkpoint), public_hex, hash_a, hash_b);
    size_t body_length = strlen(body);
    assert_true(length == body_length + strlen("signature ") + 128 + 1);
    assert_memory_equal(text, body, body_length);
    assert_memory_equal(text + body_length, "signature ", 10);
    assert_int_equal(text[length - 1], '\n');
    /* The signature covers every byte above its line, by the pinned key. */
    uint8_t signature[crypto_sign_BYTES], public[crypto_sign_PUBLICKEYBYTES];
    assert_int_equal(sodium_hex2bin(signature, sizeof signature, text + body_length + 10, 128,
                                    NULL, NULL, NULL), 0);
    assert_int_equal(sodium_hex2bin(public, sizeof public, public_hex, 64, NULL, NULL, NULL), 0);
    assert_int_equal(crypto_sign_verify_detached(signature, (const uint8_t *) body, body_length,
                                                 public), 0);
    free(text);

    /* Saving the same checkpoint again never replaces the file. */
    char second[4200];
    assert_int_equal(nagar_checkpoint_save(checkpoint, secret_path, store, second, sizeof second,
                                           error, sizeof error), -1);
    assert_non_null(strstr(error, "cannot install"));
    nagar_checkpoint_destroy(&checkpoint);
    assert_null(checkpoint);
}

static void the_latest_is_loaded_with_its_heads(void **state)
{
    (void) state;
    assert_int_equal(nagar_checkpoint_keygen(secret_path, public_path, error, sizeof error), 0);
    char first_path[4200], path[4200];
    nagar_checkpoint_t *first = save_two(first_path, sizeof first_path);
    /* A later checkpoint with one head moved on (a later microsecond). */
    nagar_checkpoint_t *later;
    do {
        later = nagar_checkpoint_new();
        if (nagar_checkpoint_created_us(later) > nagar_checkpoint_created_us(first))
            break;
        nagar_checkpoint_destroy(&later);
    } while (1);
    nagar_checkpoint_head_t moved = make_head("property_tax", "802462", 9, 0xcd);
    assert_int_equal(nagar_checkpoint_add(later, &moved, error, sizeof error), 0);
    assert_int_equal(nagar_checkpoint_save(later, secret_path, store, path, sizeof path, error,
                                           sizeof error), 0);
    /* Names that are not checkpoints do not count, however they sort. */
    char stray[256];
    snprintf(stray, sizeof stray, "%s/checkpoint-99999999999999999999.txt.tmp.1", store);
    write_text(stray, "junk", 4);
    snprintf(stray, sizeof stray, "%s/checkpoint-9999.txt", store);
    write_text(stray, "junk", 4);

    nagar_checkpoint_t *loaded = NULL;
    char loaded_path[4200];
    assert_int_equal(nagar_checkpoint_load_latest(store, public_path, &loaded, loaded_path,
                                                  sizeof loaded_path, error, sizeof error),
                     NAGAR_CHECKPOINT_LOADED);
    assert_string_equal(loaded_path, path);
    assert_int_equal(nagar_checkpoint_created_us(loaded), nagar_checkpoint_created_us(later));
    assert_int_equal(nagar_checkpoint_size(loaded), 1);
    const nagar_checkpoint_head_t *head = nagar_checkpoint_find(loaded, "property_tax", "802462");
    assert_non_null(head);
    assert_int_equal(head->seq, 9);
    assert_memory_equal(head->hash, moved.hash, sizeof moved.hash);
    assert_null(nagar_checkpoint_find(loaded, "water_tax", "250786"));
    nagar_checkpoint_destroy(&loaded);

    /* The first one, parsed on its own, gives back exactly what was saved. */
    size_t length;
    char *text = read_text(first_path, &length);
    uint8_t public[32];
    char public_hex[256];
    read_key_hex(public_path, public_hex, sizeof public_hex);
    sodium_hex2bin(public, sizeof public, public_hex, 64, NULL, NULL, NULL);
    assert_int_equal(nagar_checkpoint_parse(text, length, public, &loaded, error, sizeof error),
                     NAGAR_CHECKPOINT_LOADED);
    assert_int_equal(nagar_checkpoint_size(loaded), 2);
    for (size_t i = 0; i < 2; i++) {
        const nagar_checkpoint_head_t *saved = nagar_checkpoint_head(first, i);
        const nagar_checkpoint_head_t *back = nagar_checkpoint_head(loaded, i);
        assert_string_equal(back->ledger, saved->ledger);
        assert_string_equal(back->ulb, saved->ulb);
        assert_int_equal(back->seq, saved->seq);
        assert_memory_equal(back->hash, saved->hash, sizeof saved->hash);
    }
    assert_null(nagar_checkpoint_head(loaded, 2));
    free(text);
    nagar_checkpoint_destroy(&loaded);
    nagar_checkpoint_destroy(&first);
    nagar_checkpoint_destroy(&later);
}

/* ---- forgeries ---------------------------------------------------------------------- */

static nagar_checkpoint_load_t load(char *why, size_t why_size)
{
    nagar_checkpoint_t *loaded = NULL;
    nagar_checkpoint_load_t result =
        nagar_checkpoint_load_latest(store, public_path, &loaded, NULL, 0, why, why_size);
    if (result == NAGAR_CHECKPOINT_LOADED)
        nagar_checkpoint_destroy(&loaded);
    else
        assert_null(loaded);
    return result;
}

static void any_change_is_a_forgery(void **state)
{
    (void) state;
    assert_int_equal(nagar_checkpoint_keygen(secret_path, public_path, error, sizeof error), 0);
    char path[4200];
    nagar_checkpoint_t *checkpoint = save_two(path, sizeof path);
    nagar_checkpoint_destroy(&checkpoint);
    size_t length;
    char *original = read_text(path, &length);
    char *text = malloc(length + 1);
    assert_non_null(text);
    char why[NAGAR_CHECKPOINT_ERROR_MAX];

    /* Every single byte changed, one at a time: never LOADED. */
    for (size_t i = 0; i < length; i++) {
        memcpy(text, original, length);
        text[i] = text[i] == '0' ? '1' : (text[i] == '\n' ? ' ' : '0');
        write_text(path, text, length);
        if (load(why, sizeof why) != NAGAR_CHECKPOINT_FORGED)
            fail_msg("changing byte %zu (%c) was not taken for a forgery", i, original[i]);
    }
    /* Cut anywhere: FORGED. */
    for (size_t cut = 1; cut < length; cut += 7) {
        write_text(path, original, cut);
        assert_int_equal(load(why, sizeof why), NAGAR_CHECKPOINT_FORGED);
    }
    /* A line added after the signature. */
    char *longer = malloc(length + 64);
    assert_non_null(longer);
    memcpy(longer, original, length);
    memcpy(longer + length, "head water_tax 1 1 00\n", 22);
    write_text(path, longer, length + 22);
    assert_int_equal(load(why, sizeof why), NAGAR_CHECKPOINT_FORGED);
    free(longer);
    /* Intact, it loads; with another pinned key it does not. */
    write_text(path, original, length);
    assert_int_equal(load(why, sizeof why), NAGAR_CHECKPOINT_LOADED);
    unlink(secret_path);
    unlink(public_path);
    assert_int_equal(nagar_checkpoint_keygen(secret_path, public_path, error, sizeof error), 0);
    assert_int_equal(load(why, sizeof why), NAGAR_CHECKPOINT_FORGED);
    assert_non_null(strstr(why, "does not verify"));
    free(text);
    free(original);
}

/* Text signed by the right key but not in the format is still refused. */
static void a_signed_malformed_body_is_a_forgery(void **state)
{
    (void) state;
    assert_int_equal(nagar_checkpoint_keygen(secret_path, public_path, error, sizeof error), 0);
    char secret_hex[256], public_hex[256];
    read_key_hex(secret_path, secret_hex, sizeof secret_hex);
    read_key_hex(public_path, public_hex, sizeof public_hex);
    uint8_t secret[crypto_sign_SECRETKEYBYTES], public[32];
    sodium_hex2bin(secret, sizeof secret, secret_hex, strlen(secret_hex), NULL, NULL, NULL);
    sodium_hex2bin(public, sizeof public, public_hex, 64, NULL, NULL, NULL);
    char hash[65];
    memset(hash, 'a', 64);
    hash[64] = '\0';
    /* Each signed body with these head lines, and what loading it gives:
     * the last, well-formed, loads (the refusals are the format's). */
    static const struct {
        const char *heads;
        nagar_checkpoint_load_t expected;
    } cases[] = {
        {"head Property 802462 1 %s\n", NAGAR_CHECKPOINT_FORGED},           /* upper case */
        {"head property_tax 80a 1 %s\n", NAGAR_CHECKPOINT_FORGED},          /* ULB not digits */
        {"head property_tax 802462 -1 %s\n", NAGAR_CHECKPOINT_FORGED},      /* negative */
        {"head property_tax 802462 1 %s extra\n", NAGAR_CHECKPOINT_FORGED}, /* trailing text */
        {"head property_tax 802462 1 %.62s\n", NAGAR_CHECKPOINT_FORGED},    /* short hash */
        {"head property_tax 802462 1 %s\nhead property_tax 802462 2 %s\n",   /* repeated */
         NAGAR_CHECKPOINT_FORGED},
        {"tail property_tax 802462 1 %s\n", NAGAR_CHECKPOINT_FORGED},       /* unknown line */
        {"head property_tax 802462 1 %s\n", NAGAR_CHECKPOINT_LOADED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[1024], head_lines[512], text[1400];
        snprintf(head_lines, sizeof head_lines, cases[i].heads, hash, hash);
        snprintf(body, sizeof body, "nagar-checkpoint 1\ncreated_us 1\nkey %s\n%s", public_hex,
                 head_lines);
        uint8_t signature[crypto_sign_BYTES];
        crypto_sign_detached(signature, NULL, (const uint8_t *) body, strlen(body), secret);
        char signature_hex[129];
        sodium_bin2hex(signature_hex, sizeof signature_hex, signature, sizeof signature);
        snprintf(text, sizeof text, "%ssignature %s\n", body, signature_hex);
        nagar_checkpoint_t *loaded = NULL;
        nagar_checkpoint_load_t result =
            nagar_checkpoint_parse(text, strlen(text), public, &loaded, error, sizeof error);
        if (result != cases[i].expected)
            fail_msg("signed body with \"%s\" gave %d, not %d", cases[i].heads, (int) result,
                     (int) cases[i].expected);
        if (result == NAGAR_CHECKPOINT_LOADED) {
            assert_int_equal(nagar_checkpoint_created_us(loaded), 1);
            nagar_checkpoint_destroy(&loaded);
        }
        assert_null(loaded);
    }
    sodium_memzero(secret, sizeof secret);
}

static void none_and_errors(void **state)
{
    (void) state;
    nagar_checkpoint_t *loaded = NULL;
    char missing[256];
    snprintf(missing, sizeof missing, "%s/absent", dir);
    assert_int_equal(nagar_checkpoint_load_latest(missing, public_path, &loaded, NULL, 0, error,
                                                  sizeof error), NAGAR_CHECKPOINT_NONE);
    /* Empty directory: none yet, even with no key pinned. */
    assert_int_equal(nagar_checkpoint_load_latest(store, public_path, &loaded, NULL, 0, error,
                                                  sizeof error), NAGAR_CHECKPOINT_NONE);
    /* Checkpoints but no pinned key: an error, not "none". */
    assert_int_equal(nagar_checkpoint_keygen(secret_path, public_path, error, sizeof error), 0);
    char path[4200];
    nagar_checkpoint_t *checkpoint = save_two(path, sizeof path);
    nagar_checkpoint_destroy(&checkpoint);
    unlink(public_path);
    assert_int_equal(nagar_checkpoint_load_latest(store, public_path, &loaded, NULL, 0, error,
                                                  sizeof error), NAGAR_CHECKPOINT_ERROR);
    assert_non_null(strstr(error, "checkpoint.pub"));
    /* A key file that is not 32 bytes of hex. */
    write_text(public_path, "abcd\n", 5);
    assert_int_equal(nagar_checkpoint_load_latest(store, public_path, &loaded, NULL, 0, error,
                                                  sizeof error), NAGAR_CHECKPOINT_ERROR);
    assert_non_null(strstr(error, "does not hold 32 hex-encoded bytes"));
    assert_null(loaded);
    /* Saving with no secret key fails and writes nothing new. */
    unlink(secret_path);
    checkpoint = nagar_checkpoint_new();
    assert_int_equal(nagar_checkpoint_save(checkpoint, secret_path, store, path, sizeof path,
                                           error, sizeof error), -1);
    nagar_checkpoint_destroy(&checkpoint);
}

/* ---- heads -------------------------------------------------------------------------- */

static void malformed_heads_are_refused(void **state)
{
    (void) state;
    nagar_checkpoint_t *checkpoint = nagar_checkpoint_new();
    nagar_checkpoint_head_t head = make_head("property_tax", "802462", 1, 0);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), 0);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), -1);
    assert_non_null(strstr(error, "already in the checkpoint"));
    /* Another ULB of the same chain is another head. */
    head = make_head("property_tax", "250786", 1, 0);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), 0);

    head = make_head("Property", "802462", 1, 0);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), -1);
    head = make_head("", "802462", 1, 0);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), -1);
    head = make_head("has space", "802462", 1, 0);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), -1);
    head = make_head("water_tax", "80a", 1, 0);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), -1);
    assert_non_null(strstr(error, "ULB"));
    head = make_head("water_tax", "", 1, 0);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), -1);
    head = make_head("water_tax", "123456789012345", 1, 0);   /* the longest ULB */
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), 0);
    head = make_head("water_tax", "802462", -1, 0);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), -1);
    assert_non_null(strstr(error, "negative"));
    assert_int_equal(nagar_checkpoint_size(checkpoint), 3);
    nagar_checkpoint_destroy(&checkpoint);
}

/* Chains are named by what they chain: "ledger", "history.property_tax"
 * (a-z, _ and ., up to 63); such names go through the file and back. */
static void dotted_chain_names_round_trip(void **state)
{
    (void) state;
    assert_int_equal(nagar_checkpoint_keygen(secret_path, public_path, error, sizeof error), 0);
    char longest[NAGAR_CHECKPOINT_NAME_MAX + 1];
    memset(longest, 'h', NAGAR_CHECKPOINT_NAME_MAX);
    longest[7] = '.';
    longest[NAGAR_CHECKPOINT_NAME_MAX] = '\0';
    nagar_checkpoint_t *checkpoint = nagar_checkpoint_new();
    nagar_checkpoint_head_t head = {.seq = 3};
    memcpy(head.ledger, longest, NAGAR_CHECKPOINT_NAME_MAX - 1);   /* 63 characters */
    snprintf(head.ulb, sizeof head.ulb, "802462");
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), 0);
    head = make_head("history.property_tax", "802462", 5, 0x5a);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), 0);
    head = make_head("history.Property", "802462", 5, 0x5a);
    assert_int_equal(nagar_checkpoint_add(checkpoint, &head, error, sizeof error), -1);
    char path[4200];
    assert_int_equal(nagar_checkpoint_save(checkpoint, secret_path, store, path, sizeof path,
                                           error, sizeof error), 0);
    nagar_checkpoint_destroy(&checkpoint);

    /* The pinned key as nagarctl reads it, and the file loaded with it. */
    uint8_t public[32];
    assert_int_equal(nagar_checkpoint_read_public_key(public_path, public, error, sizeof error),
                     0);
    size_t length;
    char *text = read_text(path, &length);
    nagar_checkpoint_t *loaded = NULL;
    assert_int_equal(nagar_checkpoint_parse(text, length, public, &loaded, error, sizeof error),
                     NAGAR_CHECKPOINT_LOADED);
    free(text);
    const nagar_checkpoint_head_t *back =
        nagar_checkpoint_find(loaded, "history.property_tax", "802462");
    assert_non_null(back);
    assert_int_equal(back->seq, 5);
    assert_memory_equal(back->hash, head.hash, sizeof head.hash);
    longest[NAGAR_CHECKPOINT_NAME_MAX - 1] = '\0';
    assert_non_null(nagar_checkpoint_find(loaded, longest, "802462"));
    nagar_checkpoint_destroy(&loaded);
    /* A key file that is not 32 bytes of hex is refused. */
    write_text(public_path, "abcd\n", 5);
    assert_int_equal(nagar_checkpoint_read_public_key(public_path, public, error, sizeof error),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keys_are_made_once, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(a_saved_checkpoint_is_the_documented_signed_text,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(the_latest_is_loaded_with_its_heads, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(any_change_is_a_forgery, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(a_signed_malformed_body_is_a_forgery, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(none_and_errors, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(malformed_heads_are_refused, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(dotted_chain_names_round_trip, test_setup, test_teardown),
    };
    return cmocka_run_group_tests_name("checkpoint", tests, NULL, NULL);
}
