/*
 * scratch_dir.h — a unit test's own directory under /tmp: made fresh (a
 * unique name, so two runs or two worktrees never share one) and removed
 * with everything in it, whatever files the test left there. Key files
 * (scratch_dir_keygen), checkpoint stores and SQL trees of the tests live
 * in one.
 */
#ifndef NAGAR_TESTS_SCRATCH_DIR_H
#define NAGAR_TESTS_SCRATCH_DIR_H

#include <stddef.h>

/* Makes dir (size bytes) a new empty directory /tmp/nagar-<what>-XXXXXX.
 * The test fails when it cannot. */
void scratch_dir_new(char *dir, size_t size, const char *what);

/* A new key pair <key_id>.key and <key_id>.pub in dir, as nagar-keygen
 * makes them for tokens and certificate seals (nagar_token_keygen); path
 * (size bytes) gets the secret key's file. The test fails when it cannot. */
void scratch_dir_keygen(const char *dir, const char *key_id, char *path, size_t size);

/* Fails the test unless secret_path holds an Ed25519 secret key (hex, as
 * key_file.h reads it) whose public half public_path holds. */
void scratch_dir_check_key_pair(const char *secret_path, const char *public_path);

/* Removes dir and all it holds (only a directory scratch_dir_new made, by
 * its /tmp/nagar- prefix); dir is "" afterwards. Nothing when dir is "". */
void scratch_dir_remove(char *dir);

#endif
