/*
 * key_file.h — keys kept in files: raw key bytes written as one line of
 * hex, a secret one readable by its owner only.
 *
 * Every key Nagar keeps on disk has this form: the Ed25519 keys of tokens
 * (token.h), certificate seals (certificate_seal.h) and checkpoints
 * (checkpoint.h), the HMAC keys of OTPs and of the payment provider. Each
 * once had its own reader and writer, with their own idea of the white
 * space allowed and whether the text was wiped; this is the one of each.
 *
 * A key file is written once: writing never replaces a file (a rotated
 * key gets a new name, so something signed under the old one can still be
 * checked), is fsynced before it counts, and leaves no half-written file.
 * Reading takes exactly the expected number of bytes in hex, with white
 * space around it and nothing else, from a file of at most
 * NAGAR_KEY_FILE_MAX bytes, and wipes its copy of the text.
 *
 * A secret that is text (a password, an access token, a provider's API
 * credential) is kept as one line of it, read by nagar_key_file_read_secret.
 *
 * A key id names a key in file names ("<key id>.pub") and in what it
 * signs: 1 to NAGAR_KEY_ID_MAX of [A-Za-z0-9_-].
 */
#ifndef NAGAR_KEY_FILE_H
#define NAGAR_KEY_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NAGAR_KEY_FILE_MAX 512
#define NAGAR_KEY_ID_MAX 32

/* Whether key_id[0..length) is a key id. */
bool nagar_key_id_valid(const char *key_id, size_t length);

/* Reads exactly size bytes of hex from path into out. Returns 0, or -1
 * with the reason (naming path) in error. */
int nagar_key_file_read(const char *path, uint8_t *out, size_t size, char *error,
                        size_t error_size);

/* Reads the secret kept in path as one line of text into out (size bytes,
 * NUL-terminated): 1 to size - 1 bytes without control characters or white
 * space at either end (what is taken is exactly the secret), optionally
 * ended by "\n" or "\r\n", with nothing after it. The file is read no
 * further than that. Returns 0, or -1 with out wiped and the reason (naming
 * path and the rule broken) in error. */
int nagar_key_file_read_secret(const char *path, char *out, size_t size, char *error,
                               size_t error_size);

/* Creates path as a new file with mode and writes data[0..size) to it,
 * fsynced: how a key file is written, and any other file that is written
 * once (a signed checkpoint). Returns 0, or -1 with the reason in error;
 * an existing path is never overwritten, and nothing is left on failure. */
int nagar_key_file_write_new(const char *path, const void *data, size_t size, mode_t mode,
                             char *error, size_t error_size);

/* Writes key[0..size) as a line of hex to path, a new file with mode
 * (0600 for a secret). Returns 0, or -1 with the reason in error; an
 * existing path is never overwritten, and nothing is left on failure. */
int nagar_key_file_write(const char *path, const uint8_t *key, size_t size, mode_t mode,
                         char *error, size_t error_size);

/* Makes an Ed25519 key pair: the 64-byte secret key in secret_path (0600),
 * the 32-byte public key in public_path (0644). Returns 0, or -1 with the
 * reason in error and neither file written. */
int nagar_key_pair_create(const char *secret_path, const char *public_path, char *error,
                          size_t error_size);

#endif
