/*
 * state.c — persistence of quarantine and revocation (see state.h).
 *
 * The file is small (a few services, a few revoked keys), so every change
 * rewrites it whole; rename(2) makes the replacement atomic and the fsyncs
 * make it durable before the operator is told it is done.
 *
 * With a shared store (etcd), a change is written there first (one
 * transaction; refused if etcd cannot be reached), then here. A watcher
 * actor reads every key under /nagar/broker/ every poll interval on its own
 * thread and sends the broker a snapshot whenever etcd's revision moves;
 * broker_state_sync makes the local state that snapshot (and the file its
 * cache, for a start while etcd is unreachable). Snapshots older than this
 * broker's own last write are ignored, so a change is never undone by a
 * read that crossed it.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <unistd.h>

#include "etcd.h"
#include "log.h"

#define STATE_FILE "state.json"
#define STATE_MAX_BYTES (4 * 1024 * 1024)
#define STATE_REASON_MAX 512
#define ETCD_PREFIX "/nagar/broker/"
#define ETCD_QUARANTINE ETCD_PREFIX "quarantine/"
#define ETCD_REVOKED ETCD_PREFIX "revoked/"
#define ETCD_TIMEOUT_MS 2000

struct broker_state_t {
    char *directory;
    char *path;
    zhashx_t *quarantined;   /* service -> reason (string) */
    zhashx_t *revoked;       /* Z85 key -> "" */
    broker_etcd_t *etcd;     /* the shared store, for writes; NULL without one */
    zactor_t *watcher;       /* reads it; NULL without one */
    int64_t written_revision; /* etcd's revision after this broker's last write */
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

/* ---- the watcher: etcd -> snapshots, on a thread of its own ------------- */

typedef struct {
    char endpoints[1024];
    long poll_ms;
} watcher_args_t;

static void watcher_actor(zsock_t *pipe, void *arg)
{
    watcher_args_t *args = arg;
    char error[512];
    broker_etcd_t *etcd = broker_etcd_new(args->endpoints, ETCD_TIMEOUT_MS, error, sizeof error);
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, NULL);
    int64_t sent_revision = -1;
    bool failing = false;
    int64_t next_poll = zclock_mono();
    while (etcd) {
        int64_t wait = next_poll - zclock_mono();
        zsock_t *which = zpoller_wait(poller, wait > 0 ? (int) wait : 0);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            bool terminate = !command || strcmp(command, "$TERM") == 0;
            zstr_free(&command);
            if (terminate)
                break;
            continue;
        }
        if (zpoller_terminated(poller))
            break;
        if (zclock_mono() < next_poll)
            continue;
        next_poll = zclock_mono() + args->poll_ms;
        int64_t revision = 0;
        json_t *snapshot = broker_etcd_range(etcd, ETCD_PREFIX, &revision, error, sizeof error);
        if (!snapshot) {
            if (!failing)
                nagar_log_warn("broker.shared_state_unreachable", "cannot read the shared state "
                               "from etcd (%s); serving with the last known state, trying every "
                               "%ld ms", error, args->poll_ms);
            failing = true;
            continue;
        }
        if (failing)
            nagar_log_info("broker.shared_state_reachable", "etcd answers again");
        failing = false;
        if (revision != sent_revision) {
            char *text = json_dumps(snapshot, JSON_COMPACT);
            char revision_text[32];
            snprintf(revision_text, sizeof revision_text, "%" PRId64, revision);
            if (text && zstr_sendx(pipe, "SNAPSHOT", revision_text, text, NULL) == 0)
                sent_revision = revision;
            free(text);
        }
        json_decref(snapshot);
    }
    if (!etcd)
        nagar_log_error("broker.shared_state_failed", "the etcd watcher cannot start: %s", error);
    zpoller_destroy(&poller);
    broker_etcd_destroy(&etcd);
    free(args);
}

broker_state_t *broker_state_new(const char *state_dir, const char *etcd_endpoints,
                                 long poll_ms, char *error, size_t error_size)
{
    if (make_directories(state_dir, error, error_size) != 0)
        return NULL;
    broker_state_t *self = calloc(1, sizeof *self);
    self->directory = strdup(state_dir);
    self->path = zsys_sprintf("%s/%s", state_dir, STATE_FILE);
    self->quarantined = string_map_new();
    self->revoked = string_map_new();
    if (load_file(self, error, error_size) != 0) {
        broker_state_destroy(&self);
        return NULL;
    }
    if (etcd_endpoints && etcd_endpoints[0]) {
        /* libcurl's global set-up is not thread-safe: here, before the
         * watcher's thread exists. */
        if (broker_etcd_library_load(error, error_size) != 0) {
            broker_state_destroy(&self);
            return NULL;
        }
        self->etcd = broker_etcd_new(etcd_endpoints, ETCD_TIMEOUT_MS, error, error_size);
        watcher_args_t *args = calloc(1, sizeof *args);
        if (!self->etcd || !args) {
            free(args);
            broker_state_destroy(&self);
            return NULL;
        }
        snprintf(args->endpoints, sizeof args->endpoints, "%s", etcd_endpoints);
        args->poll_ms = poll_ms;
        self->watcher = zactor_new(watcher_actor, args);
    }
    return self;
}

void broker_state_destroy(broker_state_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_state_t *self = *self_p;
    zactor_destroy(&self->watcher);
    broker_etcd_destroy(&self->etcd);
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

/* Writes keys (prefix + each name) with value to the shared store; 0 when
 * there is none. */
static int shared_put(broker_state_t *self, const char *prefix, zlistx_t *names,
                      const char *value, char *error, size_t error_size)
{
    if (!self->etcd)
        return 0;
    zlistx_t *keys = zlistx_new();
    zlistx_set_destructor(keys, string_destructor);
    for (const char *name = zlistx_first(names); name; name = zlistx_next(names))
        zlistx_add_end(keys, zsys_sprintf("%s%s", prefix, name));
    char reason[400];
    int64_t revision = 0;
    int rc = broker_etcd_put(self->etcd, keys, value, &revision, reason, sizeof reason);
    zlistx_destroy(&keys);
    if (rc != 0) {
        snprintf(error, error_size, "the shared store (etcd) did not take it: %s", reason);
        return -1;
    }
    self->written_revision = revision;
    return 0;
}

/* After the shared store took a change: the local file is only its cache,
 * so failing to write it does not undo anything. */
static int cache_save(broker_state_t *self, char *error, size_t error_size)
{
    int rc = save_file(self, error, error_size);
    if (rc != 0 && self->etcd) {
        nagar_log_warn("broker.state_cache_failed", "the shared store has the change but the "
                       "local copy was not written: %s", error);
        return 0;
    }
    return rc;
}

int broker_state_quarantine(broker_state_t *self, const char *service, const char *reason,
                            char *error, size_t error_size)
{
    char bounded[STATE_REASON_MAX + 1];
    snprintf(bounded, sizeof bounded, "%s", reason ? reason : "");
    zlistx_t *names = zlistx_new();
    zlistx_add_end(names, (void *) service);
    int shared = shared_put(self, ETCD_QUARANTINE, names, bounded, error, error_size);
    zlistx_destroy(&names);
    if (shared != 0)
        return -1;
    char *previous = NULL;
    const char *existing = zhashx_lookup(self->quarantined, service);
    if (existing)
        previous = strdup(existing);
    zhashx_update(self->quarantined, service, bounded);
    int rc = cache_save(self, error, error_size);
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
    if (self->etcd) {
        char *key = zsys_sprintf("%s%s", ETCD_QUARANTINE, service);
        char reason[400];
        int64_t revision = 0;
        int shared = broker_etcd_delete(self->etcd, key, &revision, reason, sizeof reason);
        zstr_free(&key);
        if (shared != 0) {
            snprintf(error, error_size, "the shared store (etcd) did not take it: %s", reason);
            return -1;
        }
        self->written_revision = revision;
    }
    char *previous = strdup(existing);
    zhashx_delete(self->quarantined, service);
    int rc = cache_save(self, error, error_size);
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
    if (shared_put(self, ETCD_REVOKED, keys, "", error, error_size) != 0)
        return -1;
    zlistx_t *added = zlistx_new();
    for (const char *key = zlistx_first(keys); key; key = zlistx_next(keys)) {
        if (!zhashx_lookup(self->revoked, key)) {
            zhashx_update(self->revoked, key, (void *) "");
            zlistx_add_end(added, (void *) key);
        }
    }
    int rc = zlistx_size(added) ? cache_save(self, error, error_size) : 0;
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

zsock_t *broker_state_watch_socket(broker_state_t *self)
{
    return self->watcher ? zactor_sock(self->watcher) : NULL;
}

int broker_state_sync(broker_state_t *self, zlistx_t *quarantined_now, zlistx_t *released_now,
                      size_t *revoked_now, char *error, size_t error_size)
{
    *revoked_now = 0;
    char *command = NULL, *revision_text = NULL, *text = NULL;
    if (!self->watcher || zstr_recvx(self->watcher, &command, &revision_text, &text, NULL) < 3
        || strcmp(command, "SNAPSHOT") != 0) {
        zstr_free(&command);
        zstr_free(&revision_text);
        zstr_free(&text);
        snprintf(error, error_size, "no snapshot from the etcd watcher");
        return -1;
    }
    int64_t revision = strtoll(revision_text, NULL, 10);
    json_t *snapshot = json_loads(text, 0, NULL);
    zstr_free(&command);
    zstr_free(&revision_text);
    zstr_free(&text);
    if (!snapshot) {
        snprintf(error, error_size, "the etcd watcher sent a snapshot that is not JSON");
        return -1;
    }
    if (revision < self->written_revision) {
        /* Read before this broker's own last write: already stale. */
        json_decref(snapshot);
        return 0;
    }
    zhashx_t *quarantined = string_map_new(), *revoked = string_map_new();
    const char *key;
    json_t *value;
    json_object_foreach(snapshot, key, value) {
        const char *text_value = json_string_value(value);
        if (strncmp(key, ETCD_QUARANTINE, strlen(ETCD_QUARANTINE)) == 0) {
            char bounded[STATE_REASON_MAX + 1];
            snprintf(bounded, sizeof bounded, "%s", text_value ? text_value : "");
            zhashx_update(quarantined, key + strlen(ETCD_QUARANTINE), bounded);
        } else if (strncmp(key, ETCD_REVOKED, strlen(ETCD_REVOKED)) == 0
                   && strlen(key + strlen(ETCD_REVOKED)) == 40)
            zhashx_update(revoked, key + strlen(ETCD_REVOKED), (void *) "");
    }
    json_decref(snapshot);
    bool changed = false;
    for (const char *reason = zhashx_first(quarantined); reason;
         reason = zhashx_next(quarantined)) {
        const char *service = zhashx_cursor(quarantined);
        const char *was = zhashx_lookup(self->quarantined, service);
        if (!was)
            zlistx_add_end(quarantined_now, strdup(service));
        changed = changed || !was || strcmp(was, reason) != 0;
    }
    for (const char *reason = zhashx_first(self->quarantined); reason;
         reason = zhashx_next(self->quarantined)) {
        const char *service = zhashx_cursor(self->quarantined);
        if (!zhashx_lookup(quarantined, service)) {
            zlistx_add_end(released_now, strdup(service));
            changed = true;
        }
    }
    for (const char *mark = zhashx_first(revoked); mark; mark = zhashx_next(revoked))
        if (!zhashx_lookup(self->revoked, zhashx_cursor(revoked)))
            (*revoked_now)++;
    /* A revocation is never undone by the store going quiet about it. */
    for (const char *mark = zhashx_first(self->revoked); mark; mark = zhashx_next(self->revoked))
        zhashx_update(revoked, zhashx_cursor(self->revoked), (void *) "");
    changed = changed || *revoked_now > 0;
    zhashx_destroy(&self->quarantined);
    zhashx_destroy(&self->revoked);
    self->quarantined = quarantined;
    self->revoked = revoked;
    return changed ? cache_save(self, error, error_size) : 0;
}

zhashx_t *broker_state_revoked(broker_state_t *self)
{
    return self->revoked;
}
