/*
 * checkpoint.c — signed checkpoints of ledger chain heads (checkpoint.h).
 *
 * Deliberately small and independent of the database: it only turns a list
 * of heads into signed text and back. Reading the heads from the ledgers and
 * comparing them is nagarctl's job (deploy/tools/ctl/verify.c).
 */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "buffer.h"
#include "key_file.h"

#define MAGIC_LINE "nagar-checkpoint 1\n"
#define FILE_PREFIX "checkpoint-"
#define FILE_SUFFIX ".txt"
#define MAX_FILE_BYTES (64u * 1024 * 1024)

struct nagar_checkpoint_t {
    int64_t created_us;
    nagar_checkpoint_head_t *heads;
    size_t count;
    size_t capacity;
};

static void fail(char *error, size_t error_size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *error, size_t error_size, const char *format, ...)
{
    if (!error || !error_size)
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(error, error_size, format, args);
    va_end(args);
}

static bool ledger_name_is_valid(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length >= NAGAR_CHECKPOINT_NAME_MAX)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '_' || name[i] == '.'))
            return false;
    return true;
}

static bool ulb_is_valid(const char *ulb)
{
    size_t length = strlen(ulb);
    if (length == 0 || length >= NAGAR_CHECKPOINT_ULB_MAX)
        return false;
    for (size_t i = 0; i < length; i++)
        if (ulb[i] < '0' || ulb[i] > '9')
            return false;
    return true;
}

nagar_checkpoint_t *nagar_checkpoint_new(void)
{
    nagar_checkpoint_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    struct timeval now;
    gettimeofday(&now, NULL);
    self->created_us = (int64_t) now.tv_sec * 1000000 + now.tv_usec;
    return self;
}

void nagar_checkpoint_destroy(nagar_checkpoint_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->heads);
    free(*self_p);
    *self_p = NULL;
}

int nagar_checkpoint_add(nagar_checkpoint_t *self, const nagar_checkpoint_head_t *head,
                         char *error, size_t error_size)
{
    if (!ledger_name_is_valid(head->ledger)) {
        fail(error, error_size, "chain name \"%.70s\" is not 1 to %d of a-z, _ and .", head->ledger,
             NAGAR_CHECKPOINT_NAME_MAX - 1);
        return -1;
    }
    if (!ulb_is_valid(head->ulb)) {
        fail(error, error_size, "ULB \"%.40s\" is not 1 to %d digits", head->ulb,
             NAGAR_CHECKPOINT_ULB_MAX - 1);
        return -1;
    }
    if (head->seq < 0) {
        fail(error, error_size, "sequence %" PRId64 " of %s/%s is negative", head->seq,
             head->ledger, head->ulb);
        return -1;
    }
    if (nagar_checkpoint_find(self, head->ledger, head->ulb)) {
        fail(error, error_size, "chain %s/%s is already in the checkpoint", head->ledger,
             head->ulb);
        return -1;
    }
    if (self->count >= NAGAR_CHECKPOINT_MAX_HEADS) {
        fail(error, error_size, "a checkpoint holds at most %d chain heads",
             NAGAR_CHECKPOINT_MAX_HEADS);
        return -1;
    }
    if (nagar_array_reserve(&self->heads, self->count, &self->capacity, sizeof *self->heads,
                            64) != 0) {
        fail(error, error_size, "out of memory adding a chain head");
        return -1;
    }
    self->heads[self->count++] = *head;
    return 0;
}

size_t nagar_checkpoint_size(nagar_checkpoint_t *self)
{
    return self->count;
}

const nagar_checkpoint_head_t *nagar_checkpoint_head(nagar_checkpoint_t *self, size_t index)
{
    return index < self->count ? &self->heads[index] : NULL;
}

const nagar_checkpoint_head_t *nagar_checkpoint_find(nagar_checkpoint_t *self, const char *ledger,
                                                     const char *ulb)
{
    /* Linear: checkpoints hold a few thousand heads at most (ULBs x ledgers). */
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->heads[i].ledger, ledger) == 0 && strcmp(self->heads[i].ulb, ulb) == 0)
            return &self->heads[i];
    return NULL;
}

int64_t nagar_checkpoint_created_us(nagar_checkpoint_t *self)
{
    return self->created_us;
}

/* ---- keys ------------------------------------------------------------------- */

int nagar_checkpoint_read_public_key(const char *path, uint8_t public_key[32], char *error,
                                     size_t error_size)
{
    return nagar_key_file_read(path, public_key, 32, error, error_size);
}

int nagar_checkpoint_keygen(const char *secret_path, const char *public_path, char *error,
                            size_t error_size)
{
    if (sodium_init() < 0) {
        fail(error, error_size, "libsodium could not be initialised");
        return -1;
    }
    if (access(secret_path, F_OK) == 0 || access(public_path, F_OK) == 0) {
        fail(error, error_size, "%s or %s exists already; a checkpoint key is made once",
             secret_path, public_path);
        return -1;
    }
    return nagar_key_pair_create(secret_path, public_path, error, error_size);
}

/* ---- text form ----------------------------------------------------------------- */

/* The signed part: everything up to and including the last head line. */
static char *render_body(nagar_checkpoint_t *self, const uint8_t public_key[32])
{
    size_t capacity = 256 + self->count * (NAGAR_CHECKPOINT_NAME_MAX + NAGAR_CHECKPOINT_ULB_MAX +
                                           24 + NAGAR_CHECKPOINT_HASH_BYTES * 2 + 8);
    char *text = malloc(capacity);
    if (!text)
        return NULL;
    char key_hex[65];
    sodium_bin2hex(key_hex, sizeof key_hex, public_key, 32);
    size_t at = (size_t) snprintf(text, capacity, MAGIC_LINE "created_us %" PRId64 "\nkey %s\n",
                                  self->created_us, key_hex);
    for (size_t i = 0; i < self->count; i++) {
        const nagar_checkpoint_head_t *head = &self->heads[i];
        char hash_hex[NAGAR_CHECKPOINT_HASH_BYTES * 2 + 1];
        sodium_bin2hex(hash_hex, sizeof hash_hex, head->hash, sizeof head->hash);
        at += (size_t) snprintf(text + at, capacity - at, "head %s %s %" PRId64 " %s\n",
                                head->ledger, head->ulb, head->seq, hash_hex);
    }
    return text;
}

int nagar_checkpoint_save(nagar_checkpoint_t *self, const char *secret_key_path, const char *dir,
                          char *path_out, size_t path_size, char *error, size_t error_size)
{
    if (sodium_init() < 0) {
        fail(error, error_size, "libsodium could not be initialised");
        return -1;
    }
    uint8_t secret_key[crypto_sign_SECRETKEYBYTES];
    if (nagar_key_file_read(secret_key_path, secret_key, sizeof secret_key, error, error_size) != 0)
        return -1;
    uint8_t public_key[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_ed25519_sk_to_pk(public_key, secret_key);
    char *body = render_body(self, public_key);
    if (!body) {
        sodium_memzero(secret_key, sizeof secret_key);
        fail(error, error_size, "out of memory rendering the checkpoint");
        return -1;
    }
    uint8_t signature[crypto_sign_BYTES];
    crypto_sign_detached(signature, NULL, (const uint8_t *) body, strlen(body), secret_key);
    sodium_memzero(secret_key, sizeof secret_key);
    char signature_hex[crypto_sign_BYTES * 2 + 1];
    sodium_bin2hex(signature_hex, sizeof signature_hex, signature, sizeof signature);

    size_t body_length = strlen(body);
    size_t total = body_length + sizeof "signature \n" + sizeof signature_hex;
    char *text = malloc(total);
    if (!text) {
        free(body);
        fail(error, error_size, "out of memory rendering the checkpoint");
        return -1;
    }
    snprintf(text, total, "%ssignature %s\n", body, signature_hex);
    free(body);

    char final_path[4096], temp_path[4200];
    int n = snprintf(final_path, sizeof final_path, "%s/" FILE_PREFIX "%020" PRId64 FILE_SUFFIX,
                     dir, self->created_us);
    if (n < 0 || (size_t) n >= sizeof final_path) {
        free(text);
        fail(error, error_size, "checkpoint directory path %s is too long", dir);
        return -1;
    }
    snprintf(temp_path, sizeof temp_path, "%s.tmp.%d", final_path, (int) getpid());
    int rc = nagar_key_file_write_new(temp_path, text, strlen(text), 0444, error, error_size);
    free(text);
    if (rc != 0)
        return -1;
    /* link() never replaces: an existing checkpoint of the same microsecond
     * stays as it was. */
    if (link(temp_path, final_path) != 0) {
        fail(error, error_size, "cannot install %s: %s", final_path, strerror(errno));
        unlink(temp_path);
        return -1;
    }
    unlink(temp_path);
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        fsync(dir_fd);
        close(dir_fd);
    }
    if (path_out && path_size)
        snprintf(path_out, path_size, "%s", final_path);
    return 0;
}

/* Splits the next line off *cursor (NUL-terminating it in place). */
static char *next_line(char **cursor)
{
    char *line = *cursor;
    if (!line || !*line)
        return NULL;
    char *end = strchr(line, '\n');
    if (!end)
        return NULL;   /* every line ends with \n; a missing one is a cut file */
    *end = '\0';
    *cursor = end + 1;
    return line;
}

nagar_checkpoint_load_t nagar_checkpoint_parse(const char *text, size_t length,
                                               const uint8_t public_key[32],
                                               nagar_checkpoint_t **out, char *error,
                                               size_t error_size)
{
    *out = NULL;
    if (sodium_init() < 0) {
        fail(error, error_size, "libsodium could not be initialised");
        return NAGAR_CHECKPOINT_ERROR;
    }
    if (memchr(text, '\0', length)) {
        fail(error, error_size, "the checkpoint holds a NUL byte");
        return NAGAR_CHECKPOINT_FORGED;
    }
    /* The signature line is the last line; everything before it is signed. */
    const char *marker = NULL;
    for (const char *p = text; (p = memmem(p, length - (size_t) (p - text), "\nsignature ", 11));
         p++)
        marker = p;
    if (!marker || length < sizeof MAGIC_LINE || memcmp(text, MAGIC_LINE, sizeof MAGIC_LINE - 1)) {
        fail(error, error_size, "not a checkpoint: it must start with \"nagar-checkpoint 1\" "
             "and end with a signature line");
        return NAGAR_CHECKPOINT_FORGED;
    }
    size_t body_length = (size_t) (marker - text) + 1;
    const char *signature_hex = marker + 11;
    size_t signature_hex_length = length - (size_t) (signature_hex - text);
    if (signature_hex_length != crypto_sign_BYTES * 2 + 1 ||
        signature_hex[crypto_sign_BYTES * 2] != '\n') {
        fail(error, error_size, "the signature line is malformed");
        return NAGAR_CHECKPOINT_FORGED;
    }
    uint8_t signature[crypto_sign_BYTES];
    size_t decoded = 0;
    if (sodium_hex2bin(signature, sizeof signature, signature_hex, crypto_sign_BYTES * 2, NULL,
                       &decoded, NULL) != 0 || decoded != sizeof signature) {
        fail(error, error_size, "the signature is not hex");
        return NAGAR_CHECKPOINT_FORGED;
    }
    if (crypto_sign_verify_detached(signature, (const uint8_t *) text, body_length,
                                    public_key) != 0) {
        fail(error, error_size, "the signature does not verify with the pinned checkpoint public "
             "key: the checkpoint was altered or signed by another key");
        return NAGAR_CHECKPOINT_FORGED;
    }

    char *copy = malloc(body_length + 1);
    nagar_checkpoint_t *self = calloc(1, sizeof *self);
    if (!copy || !self) {
        free(copy);
        free(self);
        fail(error, error_size, "out of memory reading the checkpoint");
        return NAGAR_CHECKPOINT_ERROR;
    }
    memcpy(copy, text, body_length);
    copy[body_length] = '\0';
    char *cursor = copy;
    next_line(&cursor);   /* the magic line, checked above */
    nagar_checkpoint_load_t result = NAGAR_CHECKPOINT_LOADED;
    char *line = next_line(&cursor);
    if (!line || sscanf(line, "created_us %" SCNd64, &self->created_us) != 1) {
        fail(error, error_size, "the created_us line is missing or malformed");
        result = NAGAR_CHECKPOINT_FORGED;
    }
    line = result == NAGAR_CHECKPOINT_LOADED ? next_line(&cursor) : NULL;
    if (result == NAGAR_CHECKPOINT_LOADED && (!line || strncmp(line, "key ", 4) != 0)) {
        fail(error, error_size, "the key line is missing");
        result = NAGAR_CHECKPOINT_FORGED;
    }
    while (result == NAGAR_CHECKPOINT_LOADED && (line = next_line(&cursor))) {
        nagar_checkpoint_head_t head = {0};
        char hash_hex[NAGAR_CHECKPOINT_HASH_BYTES * 2 + 2];
        char tail = 0;
        if (sscanf(line, "head %63[a-z_.] %15[0-9] %" SCNd64 " %65[0-9a-f]%c", head.ledger,
                   head.ulb, &head.seq, hash_hex, &tail) != 4 ||
            strlen(hash_hex) != NAGAR_CHECKPOINT_HASH_BYTES * 2 ||
            sodium_hex2bin(head.hash, sizeof head.hash, hash_hex, strlen(hash_hex), NULL,
                           &decoded, NULL) != 0) {
            fail(error, error_size, "malformed head line \"%.120s\"", line);
            result = NAGAR_CHECKPOINT_FORGED;
            break;
        }
        if (nagar_checkpoint_add(self, &head, error, error_size) != 0)
            result = NAGAR_CHECKPOINT_FORGED;
    }
    free(copy);
    if (result != NAGAR_CHECKPOINT_LOADED) {
        nagar_checkpoint_destroy(&self);
        return result;
    }
    *out = self;
    return NAGAR_CHECKPOINT_LOADED;
}

static bool is_checkpoint_name(const char *name)
{
    size_t length = strlen(name);
    size_t prefix = strlen(FILE_PREFIX), suffix = strlen(FILE_SUFFIX);
    if (length != prefix + 20 + suffix || strncmp(name, FILE_PREFIX, prefix) != 0 ||
        strcmp(name + length - suffix, FILE_SUFFIX) != 0)
        return false;
    for (size_t i = prefix; i < prefix + 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

nagar_checkpoint_load_t nagar_checkpoint_load_latest(const char *dir, const char *public_key_path,
                                                     nagar_checkpoint_t **out, char *path_out,
                                                     size_t path_size, char *error,
                                                     size_t error_size)
{
    *out = NULL;
    DIR *handle = opendir(dir);
    if (!handle && errno == ENOENT) {
        fail(error, error_size, "%s does not exist: no checkpoint was made yet", dir);
        return NAGAR_CHECKPOINT_NONE;
    }
    if (!handle) {
        fail(error, error_size, "cannot open the checkpoint directory %s: %s", dir,
             strerror(errno));
        return NAGAR_CHECKPOINT_ERROR;
    }
    char latest[NAME_MAX + 1] = "";
    struct dirent *entry;
    while ((entry = readdir(handle)))
        if (is_checkpoint_name(entry->d_name) && strcmp(entry->d_name, latest) > 0)
            snprintf(latest, sizeof latest, "%s", entry->d_name);
    closedir(handle);
    if (!latest[0]) {
        fail(error, error_size, "%s holds no checkpoint; make one with nagarctl checkpoint", dir);
        return NAGAR_CHECKPOINT_NONE;
    }
    /* Only now the key: a directory with checkpoints but no pinned key is an
     * error, an empty one is simply "none yet". */
    uint8_t public_key[32];
    if (nagar_key_file_read(public_key_path, public_key, sizeof public_key, error, error_size) != 0)
        return NAGAR_CHECKPOINT_ERROR;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, latest);
    if (path_out && path_size)
        snprintf(path_out, path_size, "%s", path);
    FILE *file = fopen(path, "rb");
    if (!file) {
        fail(error, error_size, "cannot open %s: %s", path, strerror(errno));
        return NAGAR_CHECKPOINT_ERROR;
    }
    struct stat st;
    if (fstat(fileno(file), &st) != 0 || st.st_size <= 0 || (uint64_t) st.st_size > MAX_FILE_BYTES) {
        fclose(file);
        fail(error, error_size, "%s is empty or larger than %u bytes", path, MAX_FILE_BYTES);
        return NAGAR_CHECKPOINT_FORGED;
    }
    size_t size = (size_t) st.st_size;
    char *text = malloc(size + 1);
    if (!text) {
        fclose(file);
        fail(error, error_size, "out of memory reading %s", path);
        return NAGAR_CHECKPOINT_ERROR;
    }
    size_t got = fread(text, 1, size, file);
    fclose(file);
    if (got != size) {
        free(text);
        fail(error, error_size, "reading %s failed", path);
        return NAGAR_CHECKPOINT_ERROR;
    }
    text[size] = '\0';
    char inner[NAGAR_CHECKPOINT_ERROR_MAX];
    nagar_checkpoint_load_t result = nagar_checkpoint_parse(text, size, public_key, out, inner,
                                                            sizeof inner);
    free(text);
    if (result != NAGAR_CHECKPOINT_LOADED)
        fail(error, error_size, "%s: %s", path, inner);
    return result;
}
