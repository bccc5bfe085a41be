/*
 * scratch_dir.c — a unit test's own directory under /tmp (what and why:
 * scratch_dir.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "key_file.h"
#include "scratch_dir.h"
#include "token.h"

void scratch_dir_new(char *dir, size_t size, const char *what)
{
    int length = snprintf(dir, size, "/tmp/nagar-%s-XXXXXX", what);
    if (length < 0 || (size_t) length >= size || !mkdtemp(dir))
        fail_msg("cannot make a scratch directory /tmp/nagar-%s-XXXXXX", what);
}

void scratch_dir_keygen(const char *dir, const char *key_id, char *path, size_t size)
{
    char error[256];
    if (nagar_token_keygen(dir, key_id, error, sizeof error) != 0)
        fail_msg("key pair %s in %s: %s", key_id, dir, error);
    snprintf(path, size, "%s/%s.key", dir, key_id);
}

void scratch_dir_check_key_pair(const char *secret_path, const char *public_path)
{
    char error[512];
    uint8_t secret_key[crypto_sign_SECRETKEYBYTES], public_key[crypto_sign_PUBLICKEYBYTES],
        derived[crypto_sign_PUBLICKEYBYTES];
    if (nagar_key_file_read(secret_path, secret_key, sizeof secret_key, error, sizeof error) != 0 ||
        nagar_key_file_read(public_path, public_key, sizeof public_key, error, sizeof error) != 0)
        fail_msg("%s", error);
    crypto_sign_ed25519_sk_to_pk(derived, secret_key);
    sodium_memzero(secret_key, sizeof secret_key);
    assert_memory_equal(derived, public_key, sizeof derived);
}

void scratch_dir_remove(char *dir)
{
    if (!dir[0])
        return;
    if (strncmp(dir, "/tmp/nagar-", 11) != 0 || strchr(dir, '\''))
        fail_msg("not a scratch directory: %s", dir);
    char line[512];
    snprintf(line, sizeof line, "rm -rf '%s'", dir);
    if (system(line) != 0)
        fail_msg("could not remove %s", dir);
    dir[0] = '\0';
}
