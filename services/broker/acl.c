/*
 * acl.c — the broker's key store (see acl.h).
 *
 * The whole table is rebuilt on every load rather than patched, so a
 * certificate that was removed or rewritten (nagar-keygen --force) is
 * never half-applied. Lists are short (a key serves one service and calls
 * a handful), so they are plain arrays searched linearly.
 */
#include "acl.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define ACL_MAX_KEYS 10000
#define ACL_MAX_LIST 64
#define ACL_CERT_MAX_BYTES 65536

struct broker_key_t {
    char principal[BROKER_PRINCIPAL_MAX + 1];
    char **serve;
    size_t serve_count;
    char **call;
    size_t call_count;
    bool call_all;          /* "*": every service but nagar.admin */
};

struct broker_acl_t {
    char *public_dir;
    zhashx_t *keys;          /* Z85 public key -> broker_key_t */
    struct timespec loaded_mtime;
    int64_t last_reload_ms;
};

static void key_free(broker_key_t *key)
{
    for (size_t i = 0; i < key->serve_count; i++)
        free(key->serve[i]);
    for (size_t i = 0; i < key->call_count; i++)
        free(key->call[i]);
    free(key->serve);
    free(key->call);
    free(key);
}

static void key_destructor(void **item)
{
    if (*item) {
        key_free((broker_key_t *) *item);
        *item = NULL;
    }
}

/* Splits a csv of service names; "*" only where allow_star. Returns -1 on
 * a name that breaks the rules, naming it in error. */
static int parse_list(const char *csv, bool allow_star, char ***items_out, size_t *count_out,
                      bool *star_out, char *error, size_t error_size)
{
    *items_out = NULL;
    *count_out = 0;
    if (!csv || !*csv)
        return 0;
    char *copy = strdup(csv);
    char **items = calloc(ACL_MAX_LIST, sizeof *items);
    size_t count = 0;
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (allow_star && strcmp(item, "*") == 0) {
            *star_out = true;
            continue;
        }
        if (!nagar_bus_name_valid(item) || count == ACL_MAX_LIST) {
            snprintf(error, error_size, "\"%.80s\" is not a valid service name or the list is "
                     "longer than %d", item, ACL_MAX_LIST);
            rc = -1;
            break;
        }
        items[count++] = strdup(item);
    }
    free(copy);
    if (rc != 0) {
        for (size_t i = 0; i < count; i++)
            free(items[i]);
        free(items);
        return -1;
    }
    *items_out = items;
    *count_out = count;
    return 0;
}

static void log_bad_certificate(const char *path, const char *reason)
{
    nagar_log_write(NAGAR_LOG_WARN, "acl.bad_certificate",
                    json_pack("{s:s, s:s}", "file", path, "reason", reason),
                    "skipping certificate \"%s\": %s; regenerate it with nagar-keygen", path,
                    reason);
}

/* One certificate file into the table; bad files are skipped, logged. */
static void load_certificate(zhashx_t *keys, const char *path)
{
    struct stat info;
    if (stat(path, &info) != 0 || !S_ISREG(info.st_mode))
        return;
    if (info.st_size > ACL_CERT_MAX_BYTES) {
        log_bad_certificate(path, "file is larger than 64 KiB");
        return;
    }
    zcert_t *cert = zcert_load(path);
    if (!cert) {
        log_bad_certificate(path, "not a zcert certificate");
        return;
    }
    char error[256] = "";
    const char *public_key = zcert_public_txt(cert);
    const char *principal = zcert_meta(cert, "principal");
    broker_key_t *key = calloc(1, sizeof *key);
    if (!public_key || strlen(public_key) != BROKER_KEY_TEXT_MAX)
        snprintf(error, sizeof error, "no valid public-key");
    else if (!principal || !nagar_bus_name_valid(principal))
        snprintf(error, sizeof error, "metadata \"principal\" is missing or not a valid name");
    else if (strcmp(principal, "broker") == 0)
        snprintf(error, sizeof error, "the broker's own key must not be in the store");
    else {
        bool star = false;
        snprintf(key->principal, sizeof key->principal, "%s", principal);
        if (parse_list(zcert_meta(cert, "serve"), false, &key->serve, &key->serve_count, &star,
                       error, sizeof error) == 0)
            parse_list(zcert_meta(cert, "call"), true, &key->call, &key->call_count,
                       &key->call_all, error, sizeof error);
    }
    if (*error) {
        log_bad_certificate(path, error);
        key_free(key);
    } else if (zhashx_size(keys) >= ACL_MAX_KEYS) {
        log_bad_certificate(path, "the store holds more than 10000 keys");
        key_free(key);
    } else {
        if (zhashx_lookup(keys, public_key))
            log_bad_certificate(path, "the same public key is in another certificate too; the "
                                      "last one read wins");
        zhashx_update(keys, public_key, key);
    }
    zcert_destroy(&cert);
}

static int directory_mtime(const char *path, struct timespec *out)
{
    struct stat info;
    if (stat(path, &info) != 0)
        return -1;
    *out = info.st_mtim;
    return 0;
}

int broker_acl_reload(broker_acl_t *self)
{
    struct timespec mtime = {0};
    directory_mtime(self->public_dir, &mtime);
    DIR *dir = opendir(self->public_dir);
    if (!dir) {
        nagar_log_write(NAGAR_LOG_ERROR, "acl.load_failed",
                        json_pack("{s:s}", "directory", self->public_dir),
                        "cannot read the key store \"%s\": %s; the previous table stays in use",
                        self->public_dir, strerror(errno));
        return -1;
    }
    zhashx_t *keys = zhashx_new();
    zhashx_set_destructor(keys, key_destructor);
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        size_t length = strlen(entry->d_name);
        if (length < 5 || strcmp(entry->d_name + length - 5, ".cert") != 0)
            continue; /* temporary files of nagar-keygen and anything else */
        char *path = zsys_sprintf("%s/%s", self->public_dir, entry->d_name);
        load_certificate(keys, path);
        zstr_free(&path);
    }
    closedir(dir);
    zhashx_destroy(&self->keys);
    self->keys = keys;
    self->loaded_mtime = mtime;
    return (int) zhashx_size(keys);
}

broker_acl_t *broker_acl_new(const char *public_dir, char *error, size_t error_size)
{
    struct stat info;
    if (stat(public_dir, &info) != 0 || !S_ISDIR(info.st_mode)) {
        snprintf(error, error_size,
                 "key store \"%s\" is not a readable directory; create keys with nagar-keygen "
                 "--keys DIR --principal NAME", public_dir);
        return NULL;
    }
    broker_acl_t *self = calloc(1, sizeof *self);
    self->public_dir = strdup(public_dir);
    if (broker_acl_reload(self) < 0) {
        snprintf(error, error_size, "cannot read the key store \"%s\"", public_dir);
        broker_acl_destroy(&self);
        return NULL;
    }
    return self;
}

void broker_acl_destroy(broker_acl_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_acl_t *self = *self_p;
    zhashx_destroy(&self->keys);
    free(self->public_dir);
    free(self);
    *self_p = NULL;
}

void broker_acl_reload_if_changed(broker_acl_t *self)
{
    struct timespec mtime;
    if (directory_mtime(self->public_dir, &mtime) != 0)
        return;
    if (mtime.tv_sec != self->loaded_mtime.tv_sec || mtime.tv_nsec != self->loaded_mtime.tv_nsec) {
        int count = broker_acl_reload(self);
        if (count >= 0)
            nagar_log_write(NAGAR_LOG_INFO, "acl.reloaded", json_pack("{s:i}", "keys", count),
                            "key store changed; %d keys loaded", count);
    }
}

bool broker_acl_reload_limited(broker_acl_t *self, int64_t now_ms, int64_t min_interval_ms)
{
    if (self->last_reload_ms && now_ms - self->last_reload_ms < min_interval_ms)
        return false;
    self->last_reload_ms = now_ms;
    return broker_acl_reload(self) >= 0;
}

const broker_key_t *broker_acl_lookup(broker_acl_t *self, const char *public_key)
{
    return (const broker_key_t *) zhashx_lookup(self->keys, public_key);
}

size_t broker_acl_keys_of(broker_acl_t *self, const char *principal, zlistx_t *keys_out)
{
    size_t count = 0;
    for (broker_key_t *key = zhashx_first(self->keys); key; key = zhashx_next(self->keys)) {
        if (strcmp(key->principal, principal) == 0) {
            zlistx_add_end(keys_out, (void *) zhashx_cursor(self->keys));
            count++;
        }
    }
    return count;
}

size_t broker_acl_size(broker_acl_t *self)
{
    return zhashx_size(self->keys);
}

const char *broker_key_principal(const broker_key_t *key)
{
    return key->principal;
}

static bool list_contains(char *const *items, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(items[i], name) == 0)
            return true;
    return false;
}

bool broker_key_may_serve(const broker_key_t *key, const char *service)
{
    return list_contains(key->serve, key->serve_count, service);
}

size_t broker_key_serve_count(const broker_key_t *key)
{
    return key->serve_count;
}

const char *broker_key_serve(const broker_key_t *key, size_t i)
{
    return i < key->serve_count ? key->serve[i] : NULL;
}

bool broker_key_may_call(const broker_key_t *key, const char *service)
{
    if (strncmp(service, "mmi.", 4) == 0)
        return true;
    if (list_contains(key->call, key->call_count, service))
        return true;
    return key->call_all && strcmp(service, "nagar.admin") != 0;
}
