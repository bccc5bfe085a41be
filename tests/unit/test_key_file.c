/* Unit tests for key_file.h: key ids, reading and writing hex key files, key pairs, secrets
 * kept as one line of text. */
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

#include "key_file.h"
#include "scratch_dir.h"

static char dir[64];

static int make_dir(void **state)
{
    (void) state;
    scratch_dir_new(dir, sizeof dir, "key-file");
    return sodium_init() >= 0 ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void) state;
    scratch_dir_remove(dir);
    return 0;
}

/* Writes text[0..size) (it may hold NUL bytes) as dir/name. */
static void put_bytes(const char *name, const char *text, size_t size, char path[256])
{
    snprintf(path, 256, "%s/%s", dir, name);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(fwrite(text, 1, size, file), size);
    fclose(file);
}

static void put(const char *name, const char *text, char path[256])
{
    put_bytes(name, text, strlen(text), path);
}

static void key_ids(void **state)
{
    (void) state;
    assert_true(nagar_key_id_valid("k1", 2));
    assert_true(nagar_key_id_valid("2026-12_state", 13));
    assert_true(nagar_key_id_valid("abcdefghijklmnopqrstuvwxyz012345", 32));
    assert_false(nagar_key_id_valid("abcdefghijklmnopqrstuvwxyz0123456", 33));
    assert_false(nagar_key_id_valid("", 0));
    assert_false(nagar_key_id_valid(NULL, 0));
    assert_false(nagar_key_id_valid("a.b", 3));
    assert_false(nagar_key_id_valid("../x", 4));
    assert_false(nagar_key_id_valid("a b", 3));
    assert_true(nagar_key_id_valid("k1.pub", 2));   /* only the length given counts */
}

static void written_keys_read_back_and_are_never_replaced(void **state)
{
    (void) state;
    uint8_t key[32], back[32];
    randombytes_buf(key, sizeof key);
    char path[256], error[512] = "";
    snprintf(path, sizeof path, "%s/secret.key", dir);
    assert_int_equal(nagar_key_file_write(path, key, sizeof key, 0600, error, sizeof error), 0);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);
    assert_int_equal(info.st_size, 65);   /* 64 hex digits and a newline */
    assert_int_equal(nagar_key_file_read(path, back, sizeof back, error, sizeof error), 0);
    assert_memory_equal(back, key, sizeof key);

    uint8_t other[32] = {1};
    assert_int_equal(nagar_key_file_write(path, other, sizeof other, 0600, error, sizeof error),
                     -1);
    assert_non_null(strstr(error, "refusing to overwrite"));
    assert_int_equal(nagar_key_file_read(path, back, sizeof back, error, sizeof error), 0);
    assert_memory_equal(back, key, sizeof key);

    /* A file written once, not a key (a checkpoint): the same writer. */
    snprintf(path, sizeof path, "%s/once.txt", dir);
    assert_int_equal(nagar_key_file_write_new(path, "text\n", 5, 0444, error, sizeof error), 0);
    assert_int_equal(nagar_key_file_write_new(path, "again", 5, 0444, error, sizeof error), -1);
    snprintf(path, sizeof path, "%s/no/such/dir.key", dir);
    assert_int_equal(nagar_key_file_write(path, key, sizeof key, 0600, error, sizeof error), -1);
    assert_non_null(strstr(error, "no/such/dir.key"));
}

static void only_exactly_the_key_in_hex_is_read(void **state)
{
    (void) state;
    char path[256], error[512];
    uint8_t key[4];
    put("spaced", "  \t0a0b0c0d \r\n\n", path);
    assert_int_equal(nagar_key_file_read(path, key, sizeof key, error, sizeof error), 0);
    assert_memory_equal(key, "\x0a\x0b\x0c\x0d", 4);
    put("upper", "0A0B0C0D\n", path);
    assert_int_equal(nagar_key_file_read(path, key, sizeof key, error, sizeof error), 0);

    static const char *const bad[] = {"0a0b0c\n", "0a0b0c0d0e\n", "0a0b0c0g\n", "0a0b0c0d x\n",
                                      "0a 0b0c0d\n", "", "\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put("bad", bad[i], path);
        assert_int_equal(nagar_key_file_read(path, key, sizeof key, error, sizeof error), -1);
        assert_non_null(strstr(error, "does not hold 4 hex-encoded bytes"));
        assert_non_null(strstr(error, "/bad"));
    }
    char big[NAGAR_KEY_FILE_MAX + 2];
    memset(big, '0', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    put("big", big, path);
    assert_int_equal(nagar_key_file_read(path, key, sizeof key, error, sizeof error), -1);
    assert_non_null(strstr(error, "longer than a key"));
    snprintf(path, sizeof path, "%s/missing.key", dir);
    assert_int_equal(nagar_key_file_read(path, key, sizeof key, error, sizeof error), -1);
    assert_non_null(strstr(error, "cannot open key file"));
    assert_non_null(strstr(error, "missing.key"));
}

static void a_secret_is_its_one_line_alone(void **state)
{
    (void) state;
    char path[256], error[512], secret[8];
    static const struct {
        const char *text;
        const char *secret;
    } good[] = {
        {"s3cret", "s3cret"},        {"s3cret\n", "s3cret"}, {"s3cret\r\n", "s3cret"},
        {"a b c\n", "a b c"},        {"1234567", "1234567"}, {"1234567\n", "1234567"},
        {"1234567\r\n", "1234567"}, {"123456\r\n", "123456"}, {"\xe0\xa4\x95\n", "\xe0\xa4\x95"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        put("good", good[i].text, path);
        assert_int_equal(nagar_key_file_read_secret(path, secret, sizeof secret, error,
                                                    sizeof error), 0);
        assert_string_equal(secret, good[i].secret);
    }

    static const struct {
        const char *text;
        const char *fault;
    } bad[] = {
        {"", "is empty"},
        {"\n", "is empty"},
        {"\r\n", "is empty"},
        {"12345678", "is longer than its limit"},
        {"12345678\n", "is longer than its limit"},
        {"1234567\n\n", "is longer than its limit"},
        {"1234567\r\nx", "is longer than its limit"},
        {"one\ntwo\n", "holds more than one line"},
        {"one\n\n", "holds more than one line"},
        {"one\r", "holds more than one line"},
        {"a\tb\n", "holds a control character"},
        {" lead\n", "has a space at the start or end"},
        {"trail \n", "has a space at the start or end"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put("bad", bad[i].text, path);
        memset(secret, 'x', sizeof secret);
        assert_int_equal(nagar_key_file_read_secret(path, secret, sizeof secret, error,
                                                    sizeof error), -1);
        assert_non_null(strstr(error, bad[i].fault));
        assert_non_null(strstr(error, "/bad"));
        assert_non_null(strstr(error, "one line of 1 to 7 bytes"));
        for (size_t j = 0; j < sizeof secret; j++)
            assert_int_equal(secret[j], 0);   /* nothing of the file is left behind */
    }
    put_bytes("nul", "ab\0cd\n", 6, path);
    assert_int_equal(nagar_key_file_read_secret(path, secret, sizeof secret, error, sizeof error),
                     -1);
    assert_non_null(strstr(error, "holds a control character"));

    snprintf(path, sizeof path, "%s/missing.secret", dir);
    assert_int_equal(nagar_key_file_read_secret(path, secret, sizeof secret, error, sizeof error),
                     -1);
    assert_non_null(strstr(error, "cannot open the secret file"));
    assert_non_null(strstr(error, "missing.secret"));
}

static void key_pairs_match_and_are_whole_or_absent(void **state)
{
    (void) state;
    char secret_path[256], public_path[256], error[512];
    snprintf(secret_path, sizeof secret_path, "%s/pair.key", dir);
    snprintf(public_path, sizeof public_path, "%s/pair.pub", dir);
    assert_int_equal(nagar_key_pair_create(secret_path, public_path, error, sizeof error), 0);
    scratch_dir_check_key_pair(secret_path, public_path);
    struct stat info;
    assert_int_equal(stat(public_path, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0644);

    /* The public file is in the way: no secret is left behind either. */
    snprintf(secret_path, sizeof secret_path, "%s/half.key", dir);
    char in_the_way[256];
    put("half.pub", "x\n", in_the_way);
    assert_int_equal(nagar_key_pair_create(secret_path, in_the_way, error, sizeof error), -1);
    assert_int_equal(access(secret_path, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_ids),
        cmocka_unit_test(written_keys_read_back_and_are_never_replaced),
        cmocka_unit_test(only_exactly_the_key_in_hex_is_read),
        cmocka_unit_test(key_pairs_match_and_are_whole_or_absent),
        cmocka_unit_test(a_secret_is_its_one_line_alone),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
