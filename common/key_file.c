/*
 * key_file.c — keys kept in files as a line of hex, and secrets as a line
 * of text (see key_file.h).
 *
 * The text of a secret key passes through stack buffers only, each wiped
 * with sodium_memzero before it goes out of scope.
 */
#include "key_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HEX_SPACE " \t\r\n"

bool nagar_key_id_valid(const char *key_id, size_t length)
{
    if (!key_id || length == 0 || length > NAGAR_KEY_ID_MAX)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = key_id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

int nagar_key_file_read(const char *path, uint8_t *out, size_t size, char *error,
                        size_t error_size)
{
    FILE *file = fopen(path, "re");
    if (!file) {
        snprintf(error, error_size, "cannot open key file %s: %s", path, strerror(errno));
        return -1;
    }
    char text[NAGAR_KEY_FILE_MAX + 1];
    size_t length = fread(text, 1, sizeof text, file);
    bool failed = ferror(file) != 0;
    fclose(file);
    if (failed || length > NAGAR_KEY_FILE_MAX) {
        sodium_memzero(text, sizeof text);
        snprintf(error, error_size, "key file %s is %s", path,
                 failed ? "unreadable" : "longer than a key; is it the right file?");
        return -1;
    }
    text[length] = '\0';
    const char *start = text + strspn(text, HEX_SPACE);
    const char *end = NULL;
    size_t decoded = 0;
    int rc = sodium_hex2bin(out, size, start, strlen(start), NULL, &decoded, &end);
    bool rest_is_space = end && end[strspn(end, HEX_SPACE)] == '\0';
    sodium_memzero(text, sizeof text);
    if (rc != 0 || decoded != size || !rest_is_space) {
        sodium_memzero(out, size);
        snprintf(error, error_size, "key file %s does not hold %zu hex-encoded bytes on one line",
                 path, size);
        return -1;
    }
    return 0;
}

/* Drops the line end ("\n" or "\r\n") from the text read: out[0..*length),
 * then tail[0..tail_length), what followed when out was full. False when
 * the tail is more than (the rest of) a line end: the line is too long. */
static bool drop_line_end(char *out, size_t *length, const char *tail, size_t tail_length)
{
    bool newline;
    if (tail_length == 0) {
        newline = *length > 0 && out[*length - 1] == '\n';
        if (newline)
            out[--*length] = '\0';
    } else if (tail_length == 1 && tail[0] == '\n') {
        newline = true;
    } else {
        return tail_length == 2 && tail[0] == '\r' && tail[1] == '\n';
    }
    if (newline && *length > 0 && out[*length - 1] == '\r')
        out[--*length] = '\0';
    return true;
}

/* Why out[0..length) is not a secret's one line, or NULL when it is. */
static const char *secret_line_fault(const char *out, size_t length)
{
    if (length == 0)
        return "is empty";
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) out[i];
        if (c == '\n' || c == '\r')
            return "holds more than one line";
        if (c < 0x20 || c == 0x7f)
            return "holds a control character";
    }
    if (out[0] == ' ' || out[length - 1] == ' ')
        return "has a space at the start or end of its line";
    return NULL;
}

int nagar_key_file_read_secret(const char *path, char *out, size_t size, char *error,
                               size_t error_size)
{
    if (size < 2) {
        snprintf(error, error_size, "no room to read the secret file %s", path);
        return -1;
    }
    FILE *file = fopen(path, "re");
    if (!file) {
        snprintf(error, error_size, "cannot open the secret file %s: %s", path, strerror(errno));
        return -1;
    }
    /* At most size - 1 bytes of the line, then, when out is full, what
     * follows: the line end, or one byte more when the file goes on. */
    char tail[3];
    size_t length = fread(out, 1, size - 1, file);
    size_t tail_length = length == size - 1 ? fread(tail, 1, sizeof tail, file) : 0;
    bool failed = ferror(file) != 0;
    fclose(file);
    out[length] = '\0';
    const char *fault = failed ? "is unreadable"
                        : !drop_line_end(out, &length, tail, tail_length)
                            ? "is longer than its limit"
                            : secret_line_fault(out, length);
    sodium_memzero(tail, sizeof tail);
    if (fault) {
        sodium_memzero(out, size);
        snprintf(error, error_size,
                 "the secret file %s %s: it must hold the secret alone, one line of 1 to %zu "
                 "bytes without control characters or spaces at its ends",
                 path, fault, size - 1);
        return -1;
    }
    return 0;
}

int nagar_key_file_write_new(const char *path, const void *data, size_t size, mode_t mode,
                             char *error, size_t error_size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(error, error_size, "cannot create %s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (refusing to overwrite it: choose a new name or key id, "
                                   "or remove the old file first if you mean to)"
                                 : "");
        return -1;
    }
    const char *bytes = data;
    size_t done = 0;
    int saved = 0;
    while (done < size) {
        ssize_t n = write(fd, bytes + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            saved = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t) n;
    }
    if (!saved && fsync(fd) != 0)
        saved = errno;
    if (close(fd) != 0 && !saved)
        saved = errno;
    if (saved) {
        unlink(path);
        snprintf(error, error_size, "cannot write %s: %s", path, strerror(saved));
        return -1;
    }
    return 0;
}

int nagar_key_file_write(const char *path, const uint8_t *key, size_t size, mode_t mode,
                         char *error, size_t error_size)
{
    char text[NAGAR_KEY_FILE_MAX + 1];
    if (size == 0 || size * 2 + 1 > NAGAR_KEY_FILE_MAX) {
        snprintf(error, error_size, "a key of %zu bytes does not fit a key file", size);
        return -1;
    }
    sodium_bin2hex(text, sizeof text, key, size);
    text[size * 2] = '\n';
    int rc = nagar_key_file_write_new(path, text, size * 2 + 1, mode, error, error_size);
    sodium_memzero(text, sizeof text);
    return rc;
}

int nagar_key_pair_create(const char *secret_path, const char *public_path, char *error,
                          size_t error_size)
{
    if (sodium_init() < 0) {
        snprintf(error, error_size, "libsodium failed to initialise");
        return -1;
    }
    uint8_t public_key[crypto_sign_PUBLICKEYBYTES], secret_key[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(public_key, secret_key);
    int rc = nagar_key_file_write(secret_path, secret_key, sizeof secret_key, 0600, error,
                                  error_size);
    sodium_memzero(secret_key, sizeof secret_key);
    if (rc != 0)
        return -1;
    if (nagar_key_file_write(public_path, public_key, sizeof public_key, 0644, error,
                             error_size) != 0) {
        unlink(secret_path);   /* half a key pair is worse than none */
        return -1;
    }
    return 0;
}
