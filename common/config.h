/*
 * config.h — settings for every Nagar process.
 *
 * Precedence, highest first:
 *   1. environment variables (NAGAR_BUS_ENDPOINT=...)
 *   2. the file named by NAGAR_CONFIG (or passed to nagar_config_new):
 *      KEY=VALUE lines, '#' starts a comment, blank lines ignored,
 *      surrounding white space trimmed, no quoting
 *   3. the default the caller passes to the getter
 *
 * Keys are the environment variable names, so one name is documented and
 * grepped for everywhere. Values are bounded (NAGAR_CONFIG_VALUE_MAX).
 */
#ifndef NAGAR_CONFIG_H
#define NAGAR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define NAGAR_CONFIG_VALUE_MAX 4096
#define NAGAR_CONFIG_ERROR_MAX 512

typedef struct nagar_config_t nagar_config_t;

/* Loads the file at path; when path is NULL, the file named by NAGAR_CONFIG,
 * or no file at all when that is unset. Returns NULL on a missing or
 * malformed file and writes the reason into error (may be NULL). */
nagar_config_t *nagar_config_new(const char *path, char *error, size_t error_size);
void nagar_config_destroy(nagar_config_t **self_p);

/* The value for key, or default_value when neither source sets it. The
 * pointer stays valid until the config is destroyed. */
const char *nagar_config_get(nagar_config_t *self, const char *key, const char *default_value);

/* Integer in [min, max]. Returns 0 and stores it, or -1 with a message in
 * error naming the key and the rule when the value is not such an integer. */
int nagar_config_get_int(nagar_config_t *self, const char *key, long default_value,
                         long min, long max, long *value, char *error, size_t error_size);

/* The value for key (default_value when unset) copied into out (size
 * bytes). Returns 0, or -1 with a message in error naming the key and its
 * limit when the value does not fit. */
int nagar_config_get_text(nagar_config_t *self, const char *key, const char *default_value,
                          char *out, size_t size, char *error, size_t error_size);

/* "1", "true", "yes", "on" / "0", "false", "no", "off" (case-insensitive). */
int nagar_config_get_bool(nagar_config_t *self, const char *key, bool default_value,
                          bool *value, char *error, size_t error_size);

/* Where the value of key came from: "environment", "file", or "default". */
const char *nagar_config_source(nagar_config_t *self, const char *key);

#endif
