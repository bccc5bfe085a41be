/*
 * etcd.c — etcd v3 over its JSON gateway; see etcd.h.
 *
 * POST <endpoint>/v3/kv/{range,txn,deleterange} with keys and values in
 * base64 (the gateway's rendering of bytes). An answer that is not 200 and
 * JSON is a failure, and the next endpoint is tried while time is left.
 *
 * libcurl is opened with dlopen when the first broker that uses etcd starts,
 * not linked: linked, it and the TLS, LDAP, SSH and HTTP/2 libraries it
 * pulls in were loaded and relocated by every broker, also the single-host
 * ones that never talk to etcd — 5 MB of the broker's 13 MB at rest. (The
 * same reason systemd opens its optional libraries this way.)
 */
#include "etcd.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <sodium.h>
#include <string.h>

#include "buffer.h"

/* The libcurl entry points this file calls, resolved by broker_etcd_library_load. */
static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *curl);
    void (*easy_reset)(CURL *curl);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *text);
    void (*slist_free_all)(struct curl_slist *list);
} curl_api;
static bool curl_api_loaded;

#define ENDPOINTS_MAX 8
#define ENDPOINT_MAX 256
#define RESPONSE_MAX (4 * 1024 * 1024)

struct broker_etcd_t {
    char endpoints[ENDPOINTS_MAX][ENDPOINT_MAX];
    int endpoint_count;
    int preferred;                  /* the last one that answered */
    long timeout_ms;
    CURL *curl;
};

/* curl's writer: an answer is collected up to RESPONSE_MAX (buffer.h);
 * past that the transfer stops. */
static size_t collect(char *data, size_t size, size_t count, void *arg)
{
    return nagar_buffer_append(arg, data, size * count) == 0 ? size * count : 0;
}

int broker_etcd_library_load(char *error, size_t error_size)
{
    if (curl_api_loaded)
        return 0;
    /* Kept open for the life of the process: libcurl cannot be unloaded
     * safely once its global state is set up. */
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(error, error_size, "etcd needs libcurl, which could not be loaded (%s); "
                 "install the libcurl4 package", dlerror());
        return -1;
    }
    struct {
        void **slot;
        const char *name;
    } symbols[] = {
        {(void **) &curl_api.global_init, "curl_global_init"},
        {(void **) &curl_api.easy_init, "curl_easy_init"},
        {(void **) &curl_api.easy_cleanup, "curl_easy_cleanup"},
        {(void **) &curl_api.easy_reset, "curl_easy_reset"},
        {(void **) &curl_api.easy_setopt, "curl_easy_setopt"},
        {(void **) &curl_api.easy_perform, "curl_easy_perform"},
        {(void **) &curl_api.easy_getinfo, "curl_easy_getinfo"},
        {(void **) &curl_api.easy_strerror, "curl_easy_strerror"},
        {(void **) &curl_api.slist_append, "curl_slist_append"},
        {(void **) &curl_api.slist_free_all, "curl_slist_free_all"},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = dlsym(library, symbols[i].name);
        if (!*symbols[i].slot) {
            snprintf(error, error_size, "libcurl.so.4 has no %s: %s", symbols[i].name,
                     dlerror());
            return -1;
        }
    }
    if (curl_api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(error, error_size, "libcurl's global set-up failed");
        return -1;
    }
    curl_api_loaded = true;
    return 0;
}

broker_etcd_t *broker_etcd_new(const char *endpoints, long timeout_ms, char *error,
                               size_t error_size)
{
    if (!curl_api_loaded) {
        snprintf(error, error_size, "broker_etcd_library_load was not called first");
        return NULL;
    }
    broker_etcd_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    const char *cursor = endpoints;
    while (*cursor) {
        size_t length = strcspn(cursor, ",");
        if (length == 0 || length >= ENDPOINT_MAX || self->endpoint_count == ENDPOINTS_MAX
            || (strncmp(cursor, "http://", 7) != 0 && strncmp(cursor, "https://", 8) != 0)) {
            snprintf(error, error_size, "NAGAR_BROKER_ETCD_ENDPOINTS=\"%.300s\": each endpoint "
                     "is http://host:port, at most %d, separated by commas", endpoints,
                     ENDPOINTS_MAX);
            free(self);
            return NULL;
        }
        memcpy(self->endpoints[self->endpoint_count], cursor, length);
        self->endpoints[self->endpoint_count++][length] = '\0';
        cursor += length;
        if (*cursor == ',')
            cursor++;
    }
    if (self->endpoint_count == 0) {
        snprintf(error, error_size, "NAGAR_BROKER_ETCD_ENDPOINTS names no endpoint");
        free(self);
        return NULL;
    }
    self->timeout_ms = timeout_ms;
    self->curl = curl_api.easy_init();
    if (!self->curl) {
        snprintf(error, error_size, "libcurl could not be initialised");
        free(self);
        return NULL;
    }
    return self;
}

void broker_etcd_destroy(broker_etcd_t **self_p)
{
    broker_etcd_t *self = *self_p;
    if (!self)
        return;
    curl_api.easy_cleanup(self->curl);
    free(self);
    *self_p = NULL;
}

static char *base64(const char *text)
{
    size_t length = strlen(text);
    size_t size = sodium_base64_ENCODED_LEN(length, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(size);
    if (out)
        sodium_bin2base64(out, size, (const unsigned char *) text, length,
                          sodium_base64_VARIANT_ORIGINAL);
    return out;
}

/* The text a base64 string stands for (NUL-terminated); NULL when it is not
 * base64 or holds a NUL. */
static char *unbase64(const char *encoded)
{
    size_t length = strlen(encoded);
    char *out = malloc(length + 1);
    size_t decoded = 0;
    if (!out || sodium_base642bin((unsigned char *) out, length, encoded, length, NULL, &decoded,
                                  NULL, sodium_base64_VARIANT_ORIGINAL) != 0
        || memchr(out, '\0', decoded)) {
        free(out);
        return NULL;
    }
    out[decoded] = '\0';
    return out;
}

/* POSTs body to path on the endpoints in turn; the JSON answer, or NULL
 * with the reason in error. */
static json_t *call(broker_etcd_t *self, const char *path, json_t *body, char *error,
                    size_t error_size)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    int64_t deadline = zclock_mono() + self->timeout_ms;
    json_t *answer = NULL;
    snprintf(error, error_size, "no etcd endpoint was tried");
    struct curl_slist *headers = curl_api.slist_append(NULL, "Content-Type: application/json");
    for (int attempt = 0; attempt < self->endpoint_count && !answer; attempt++) {
        int64_t left = deadline - zclock_mono();
        if (left <= 0) {
            snprintf(error + strlen(error), error_size - strlen(error), "; out of time (%ld ms)",
                     self->timeout_ms);
            break;
        }
        int index = (self->preferred + attempt) % self->endpoint_count;
        char url[ENDPOINT_MAX + 64];
        snprintf(url, sizeof url, "%s%s", self->endpoints[index], path);
        nagar_buffer_t *response = nagar_buffer_new(RESPONSE_MAX);
        if (!response) {
            snprintf(error, error_size, "out of memory");
            break;
        }
        curl_api.easy_reset(self->curl);
        curl_api.easy_setopt(self->curl, CURLOPT_URL, url);
        curl_api.easy_setopt(self->curl, CURLOPT_POSTFIELDS, text);
        curl_api.easy_setopt(self->curl, CURLOPT_HTTPHEADER, headers);
        curl_api.easy_setopt(self->curl, CURLOPT_WRITEFUNCTION, collect);
        curl_api.easy_setopt(self->curl, CURLOPT_WRITEDATA, response);
        curl_api.easy_setopt(self->curl, CURLOPT_TIMEOUT_MS, (long) left);
        curl_api.easy_setopt(self->curl, CURLOPT_CONNECTTIMEOUT_MS, left < 1000 ? (long) left : 1000L);
        curl_api.easy_setopt(self->curl, CURLOPT_NOSIGNAL, 1L);
        curl_api.easy_setopt(self->curl, CURLOPT_PROTOCOLS_STR, "http,https");
        CURLcode rc = curl_api.easy_perform(self->curl);
        long status = 0;
        curl_api.easy_getinfo(self->curl, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK)
            snprintf(error, error_size, "%s: %s", url, curl_api.easy_strerror(rc));
        else if (status != 200)
            snprintf(error, error_size, "%s answered HTTP %ld: %.200s", url, status,
                     nagar_buffer_text(response));
        else if (!(answer = json_loads(nagar_buffer_text(response), 0, NULL)))
            snprintf(error, error_size, "%s answered something that is not JSON", url);
        else
            self->preferred = index;
        nagar_buffer_destroy(&response);
    }
    curl_api.slist_free_all(headers);
    free(text);
    return answer;
}

/* The revision in an answer's header (int64 fields are strings in the
 * gateway's JSON). */
static int64_t header_revision(json_t *answer)
{
    const char *text = json_string_value(json_object_get(json_object_get(answer, "header"),
                                                         "revision"));
    return text ? strtoll(text, NULL, 10) : 0;
}

int broker_etcd_put(broker_etcd_t *self, zlistx_t *keys, const char *value, int64_t *revision,
                    char *error, size_t error_size)
{
    json_t *success = json_array();
    char *encoded_value = base64(value);
    for (const char *key = zlistx_first(keys); key; key = zlistx_next(keys)) {
        char *encoded_key = base64(key);
        json_array_append_new(success, json_pack("{s:{s:s, s:s}}", "request_put", "key",
                                                 encoded_key ? encoded_key : "", "value",
                                                 encoded_value ? encoded_value : ""));
        free(encoded_key);
    }
    free(encoded_value);
    json_t *body = json_pack("{s:o}", "success", success);
    json_t *answer = call(self, "/v3/kv/txn", body, error, error_size);
    json_decref(body);
    int rc = answer && json_is_true(json_object_get(answer, "succeeded")) ? 0 : -1;
    if (answer && rc != 0)
        snprintf(error, error_size, "etcd did not apply the transaction");
    if (rc == 0)
        *revision = header_revision(answer);
    json_decref(answer);
    return rc;
}

int broker_etcd_delete(broker_etcd_t *self, const char *key, int64_t *revision, char *error,
                       size_t error_size)
{
    char *encoded = base64(key);
    json_t *body = json_pack("{s:s}", "key", encoded ? encoded : "");
    free(encoded);
    json_t *answer = call(self, "/v3/kv/deleterange", body, error, error_size);
    json_decref(body);
    int rc = answer ? 0 : -1;
    if (answer)
        *revision = header_revision(answer);
    json_decref(answer);
    return rc;
}

json_t *broker_etcd_range(broker_etcd_t *self, const char *prefix, int64_t *revision,
                          char *error, size_t error_size)
{
    /* Every key that starts with prefix: [prefix, prefix with its last byte
     * plus one). */
    char end[256];
    size_t length = strlen(prefix);
    if (length == 0 || length >= sizeof end || (unsigned char) prefix[length - 1] == 0xff) {
        snprintf(error, error_size, "bad etcd prefix \"%s\"", prefix);
        return NULL;
    }
    memcpy(end, prefix, length + 1);
    end[length - 1]++;
    char *encoded_prefix = base64(prefix), *encoded_end = base64(end);
    json_t *body = json_pack("{s:s, s:s}", "key", encoded_prefix ? encoded_prefix : "",
                             "range_end", encoded_end ? encoded_end : "");
    free(encoded_prefix);
    free(encoded_end);
    json_t *answer = call(self, "/v3/kv/range", body, error, error_size);
    json_decref(body);
    if (!answer)
        return NULL;
    *revision = header_revision(answer);
    json_t *out = json_object();
    json_t *kvs = json_object_get(answer, "kvs");
    size_t index;
    json_t *kv;
    json_array_foreach(kvs, index, kv) {
        const char *key_b64 = json_string_value(json_object_get(kv, "key"));
        const char *value_b64 = json_string_value(json_object_get(kv, "value"));
        char *key = key_b64 ? unbase64(key_b64) : NULL;
        /* An empty value is left out of the JSON. */
        char *value = value_b64 ? unbase64(value_b64) : strdup("");
        if (key && value)
            json_object_set_new(out, key, json_string(value));
        free(key);
        free(value);
    }
    json_decref(answer);
    return out;
}
