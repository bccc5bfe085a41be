/*
 * state.c — persistence of quarantine and revocation (see state.h).
 *
 * The file is small (a few services, a few revoked keys), so every change
 * rewrites it whole; rename(2) makes the replacement atomic and the fsyncs
 * make it durable before the operator is told it is done.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FILE "state.json"
#define STATE_MAX_BYTES (4 * 1024 * 1024)
#define STATE_REASON_MAX 512

struct broker_state_t {
    char *directory;
    char *path;
    zhashx_t *quarantined;   /* service -> reason (string) */
    zhashx_t *revoked;       /* Z85 key -> "" */
};

static int make_directories(const char *path, char *error, size_t error_size)
{
    char buffer[4096];
    if (snprintf(buffer, sizeof buffer, "%s", path) >= (int) sizeof buffer) {
        snprintf(error, error_size, "state directory path is too long");
        return -1;
    }
    for (char *p = buffer + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buffer, 0700) != 0 && errno != EEXIST) {
                snprintf(error, error_size, "cannot create state directory \"%s\": %s", buffer,
                         strerror(errno));
                return -1;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    return 0;
}

static int load_file(broker_state_t *self, char *error, size_t error_size)
{
    struct stat info;
    if (stat(self->path, &info) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(error, error_size, "cannot read \"%s\": %s", self->path, strerror(errno));
        return -1;
    }
    if (info.st_size > STATE_MAX_BYTES) {
        snprintf(error, error_size, "\"%s\" is larger than 4 MiB; it is not the broker's state",
                 self->path);
        return -1;
    }
    json_error_t json_error;
    json_t *root = json_load_file(self->path, JSON_REJECT_DUPLICATES, &json_error);
    if (!root) {
        snprintf(error, error_size,
                 "\"%s\" is not valid JSON (line %d: %s); fix or restore it, the broker will not "
                 "start without the quarantines and revocations it records",
                 self->path, json_error.line, json_error.text);
        return -1;
    }
    json_t *quarantined = json_object_get(root, "quarantined");
    json_t *revoked = json_object_get(root, "revoked_keys");
    int rc = 0;
    if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) != 1
        || (quarantined && !json_is_object(quarantined)) || (revoked && !json_is_array(revoked))) {
        snprintf(error, error_size,
                 "\"%s\" is not a version 1 broker state (expected {\"version\":1,"
                 "\"quarantined\":{...},\"revoked_keys\":[...]})", self->path);
        rc = -1;
    }
    const char *service;
    json_t *reason;
    if (rc == 0 && quarantined) {
        json_object_foreach(quarantined, service, reason) {
            if (!json_is_string(reason)) {
                snprintf(error, error_size, "\"%s\": the reason for \"%s\" is not a string",
                         self->path, service);
                rc = -1;
                break;
            }
            zhashx_update(self->quarantined, service, (void *) json_string_value(reason));
        }
    }
    size_t index;
    json_t *key;
    if (rc == 0 && revoked) {
        json_array_foreach(revoked, index, key) {
            if (!json_is_string(key) || strlen(json_string_value(key)) != 40) {
                snprintf(error, error_size, "\"%s\": revoked_keys[%zu] is not a Z85 public key",
                         self->path, index);
                rc = -1;
                break;
            }
            zhashx_update(self->revoked, json_string_value(key), (void *) "");
        }
    }
    json_decref(root);
    return rc;
}

static int string_compare(const void *item1, const void *item2)
{
    return strcmp((const char *) item1, (const char *) item2);
}

static int write_all(int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t written = write(fd, data, size);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += written;
        size -= (size_t) written;
    }
    return 0;
}

static int save_file(broker_state_t *self, char *error, size_t error_size)
{
    json_t *quarantined = json_object();
    for (const char *reason = zhashx_first(self->quarantined); reason;
         reason = zhashx_next(self->quarantined))
        json_object_set_new(quarantined, (const char *) zhashx_cursor(self->quarantined),
                            json_string(reason));
    json_t *revoked = json_array();
    zlistx_t *keys = zhashx_keys(self->revoked);   /* sorted, so the file is stable */
    zlistx_set_comparator(keys, string_compare);
    zlistx_sort(keys);
    for (const char *key = zlistx_first(keys); key; key = zlistx_next(keys))
        json_array_append_new(revoked, json_string(key));
    zlistx_destroy(&keys);
    json_t *root = json_pack("{s:i, s:o, s:o}", "version", 1, "quarantined", quarantined,
                             "revoked_keys", revoked);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);

    char *temporary = zsys_sprintf("%s.tmp", self->path);
    int rc = -1;
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        snprintf(error, error_size, "cannot write \"%s\": %s", temporary, strerror(errno));
    else if (write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0
             || fsync(fd) != 0)
        snprintf(error, error_size, "cannot write \"%s\": %s", temporary, strerror(errno));
    else if (rename(temporary, self->path) != 0)
        snprintf(error, error_size, "cannot rename \"%s\" to \"%s\": %s", temporary, self->path,
                 strerror(errno));
    else
        rc = 0;
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        unlink(temporary);
    else {
        int dir_fd = open(self->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd >= 0) {
            if (fsync(dir_fd) != 0) {
                snprintf(error, error_size, "cannot fsync \"%s\": %s", self->directory,
                         strerror(errno));
                rc = -1;
            }
            close(dir_fd);
        }
    }
    zstr_free(&temporary);
    free(text);
    return rc;
}

static void *string_duplicator(const void *item)
{
    return strdup((const char *) item);
}

static void string_destructor(void **item)
{
    free(*item);
    *item = NULL;
}

static zhashx_t *string_map_new(void)
{
    zhashx_t *map = zhashx_new();
    zhashx_set_duplicator(map, string_duplicator);
    zhashx_set_destructor(map, string_destructor);
    return map;
}

broker_state_t *broker_state_new(const char *state_dir, char *error, size_t error_size)
{
    if (make_directories(state_dir, error, error_size) != 0)
        return NULL;
    broker_state_t *self = calloc(1, sizeof *self);
    self->directory = strdup(state_dir);
    self->path = zsys_sprintf("%s/%s", state_dir, STATE_FILE);
    self->quarantined = string_map_new();
    self->revoked = string_map_new();
    if (load_file(self, error, error_size) != 0)
        broker_state_destroy(&self);
    return self;
}

void broker_state_destroy(broker_state_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_state_t *self = *self_p;
    zhashx_destroy(&self->quarantined);
    zhashx_destroy(&self->revoked);
    free(self->directory);
    zstr_free(&self->path);
    free(self);
    *self_p = NULL;
}

const char *broker_state_quarantine_reason(broker_state_t *self, const char *service)
{
    if (zhashx_size(self->quarantined) == 0)
        return NULL;
    return (const char *) zhashx_lookup(self->quarantined, service);
}

int broker_state_quarantine(broker_state_t *self, const char *service, const char *reason,
                            char *error, size_t error_size)
{
    char bounded[STATE_REASON_MAX + 1];
    snprintf(bounded, sizeof bounded, "%s", reason ? reason : "");
    char *previous = NULL;
    const char *existing = zhashx_lookup(self->quarantined, service);
    if (existing)
        previous = strdup(existing);
    zhashx_update(self->quarantined, service, bounded);
    int rc = save_file(self, error, error_size);
    if (rc != 0) {
        if (previous)
            zhashx_update(self->quarantined, service, previous);
        else
            zhashx_delete(self->quarantined, service);
    }
    free(previous);
    return rc;
}

int broker_state_release(broker_state_t *self, const char *service, char *error,
                         size_t error_size)
{
    const char *existing = zhashx_lookup(self->quarantined, service);
    if (!existing)
        return 0;
    char *previous = strdup(existing);
    zhashx_delete(self->quarantined, service);
    int rc = save_file(self, error, error_size);
    if (rc != 0)
        zhashx_update(self->quarantined, service, previous);
    free(previous);
    return rc;
}

bool broker_state_is_revoked(broker_state_t *self, const char *public_key)
{
    return zhashx_size(self->revoked) > 0 && zhashx_lookup(self->revoked, public_key) != NULL;
}

size_t broker_state_revoked_count(broker_state_t *self)
{
    return zhashx_size(self->revoked);
}

int broker_state_revoke(broker_state_t *self, zlistx_t *keys, char *error, size_t error_size)
{
    zlistx_t *added = zlistx_new();
    for (const char *key = zlistx_first(keys); key; key = zlistx_next(keys)) {
        if (!zhashx_lookup(self->revoked, key)) {
            zhashx_update(self->revoked, key, (void *) "");
            zlistx_add_end(added, (void *) key);
        }
    }
    int rc = zlistx_size(added) ? save_file(self, error, error_size) : 0;
    if (rc != 0)
        for (const char *key = zlistx_first(added); key; key = zlistx_next(added))
            zhashx_delete(self->revoked, key);
    zlistx_destroy(&added);
    return rc;
}

zhashx_t *broker_state_quarantined(broker_state_t *self)
{
    return self->quarantined;
}

zhashx_t *broker_state_revoked(broker_state_t *self)
{
    return self->revoked;
}
