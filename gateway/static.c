/*
 * static.c — the built web apps served from memory; see static.h.
 *
 * Loaded once: a sorted table of URL path -> file (and its .br and .gz
 * variants), looked up with bsearch. The bodies are handed to MHD as
 * persistent buffers, so a hit allocates only the response object.
 */
#include "static.h"

#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buffer.h"

#define DEPTH_MAX 8
#define URL_PATH_MAX 512

typedef struct {
    char *data;
    size_t length;
} blob_t;

typedef struct {
    char *path;               /* URL path, e.g. /assets/citizen-AB12CD34.js */
    const char *content_type;
    bool immutable;
    char etag[36];            /* "<32 hex>" with quotes */
    blob_t plain, br, gz;
} file_t;

struct gateway_static_t {
    file_t *files;
    size_t count, capacity;
    size_t bytes;
    /* The CSP with the inline stylesheets' hashes (csp-style-hashes.txt). */
    char csp[sizeof GATEWAY_STATIC_CSP_TO_STYLE + GATEWAY_STATIC_STYLE_HASHES_MAX * 56 +
             sizeof GATEWAY_STATIC_CSP_AFTER_STYLE];
};

static const struct {
    const char *extension;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof content_types / sizeof content_types[0]; i++)
        if (strcmp(dot, content_types[i].extension) == 0)
            return content_types[i].type;
    return "application/octet-stream";
}

static bool ends_with(const char *text, const char *suffix)
{
    size_t a = strlen(text), b = strlen(suffix);
    return a >= b && strcmp(text + a - b, suffix) == 0;
}

static int read_blob(gateway_static_t *self, const char *fs_path, blob_t *blob, char *error,
                     size_t error_size)
{
    FILE *f = fopen(fs_path, "rb");
    if (!f) {
        snprintf(error, error_size, "cannot read %s: %s", fs_path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 ||
        self->bytes + (size_t) st.st_size > (size_t) GATEWAY_STATIC_BYTES_MAX) {
        fclose(f);
        snprintf(error, error_size, "the web directory holds more than %ld bytes (at %s); "
                 "is NAGAR_GATEWAY_WEB_DIR the built web apps (build/web)?",
                 GATEWAY_STATIC_BYTES_MAX, fs_path);
        return -1;
    }
    blob->length = (size_t) st.st_size;
    blob->data = malloc(blob->length ? blob->length : 1);
    if (!blob->data || fread(blob->data, 1, blob->length, f) != blob->length) {
        fclose(f);
        snprintf(error, error_size, "cannot read %s", fs_path);
        return -1;
    }
    fclose(f);
    self->bytes += blob->length;
    return 0;
}

/* Reads fs_path.suffix into blob when it exists. */
static int read_variant(gateway_static_t *self, const char *fs_path, const char *suffix,
                        blob_t *blob, char *error, size_t error_size)
{
    char variant[4096];
    if ((size_t) snprintf(variant, sizeof variant, "%s%s", fs_path, suffix) >= sizeof variant)
        return 0;
    struct stat st;
    if (stat(variant, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    return read_blob(self, variant, blob, error, error_size);
}

static int add_file(gateway_static_t *self, const char *fs_path, const char *url_path,
                    char *error, size_t error_size)
{
    if (self->count == GATEWAY_STATIC_FILES_MAX) {
        snprintf(error, error_size, "the web directory holds more than %d files",
                 GATEWAY_STATIC_FILES_MAX);
        return -1;
    }
    if (nagar_array_reserve(&self->files, self->count, &self->capacity, sizeof *self->files,
                            64) != 0) {
        snprintf(error, error_size, "out of memory loading the web apps");
        return -1;
    }
    file_t *file = &self->files[self->count];
    memset(file, 0, sizeof *file);
    self->count++;
    if (!(file->path = strdup(url_path))) {
        snprintf(error, error_size, "out of memory loading the web apps");
        return -1;
    }
    file->content_type = content_type_of(url_path);
    file->immutable = strncmp(url_path, "/assets/", 8) == 0;
    if (read_blob(self, fs_path, &file->plain, error, error_size) != 0 ||
        read_variant(self, fs_path, ".br", &file->br, error, error_size) != 0 ||
        read_variant(self, fs_path, ".gz", &file->gz, error, error_size) != 0)
        return -1;
    uint8_t hash[16];
    crypto_generichash(hash, sizeof hash, (const uint8_t *) file->plain.data, file->plain.length,
                       NULL, 0);
    file->etag[0] = '"';
    sodium_bin2hex(file->etag + 1, 33, hash, sizeof hash);
    file->etag[33] = '"';
    file->etag[34] = '\0';
    return 0;
}

static int walk(gateway_static_t *self, const char *fs_dir, const char *url_dir, int depth,
                char *error, size_t error_size)
{
    if (depth > DEPTH_MAX) {
        snprintf(error, error_size, "%s is nested deeper than %d directories", fs_dir,
                 DEPTH_MAX);
        return -1;
    }
    DIR *dir = opendir(fs_dir);
    if (!dir) {
        snprintf(error, error_size, "cannot open the web directory %s: %s (build it with "
                 "`make`, or unset NAGAR_GATEWAY_WEB_DIR)", fs_dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(dir))) {
        const char *name = entry->d_name;
        if (name[0] == '.')
            continue;               /* ., .., and hidden files are not served */
        char fs_path[4096], url_path[URL_PATH_MAX];
        if ((size_t) snprintf(fs_path, sizeof fs_path, "%s/%s", fs_dir, name) >= sizeof fs_path ||
            (size_t) snprintf(url_path, sizeof url_path, "%s/%s", url_dir, name) >=
                sizeof url_path) {
            snprintf(error, error_size, "a path under %s is too long", fs_dir);
            rc = -1;
            break;
        }
        struct stat st;
        if (stat(fs_path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc = walk(self, fs_path, url_path, depth + 1, error, error_size);
        else if (S_ISREG(st.st_mode) && !ends_with(name, ".br") && !ends_with(name, ".gz"))
            rc = add_file(self, fs_path, url_path, error, error_size);
    }
    closedir(dir);
    return rc;
}

static int compare_files(const void *a, const void *b)
{
    return strcmp(((const file_t *) a)->path, ((const file_t *) b)->path);
}

static const file_t *find(gateway_static_t *self, const char *path)
{
    file_t key = {.path = (char *) path};
    return bsearch(&key, self->files, self->count, sizeof *self->files, compare_files);
}

/* The page CSP: style-src also admits the hashes the build listed, each
 * checked to be 'sha256-' and 44 base64 characters (a file that says more
 * than that is refused rather than trusted). */
static int build_csp(gateway_static_t *self, char *error, size_t error_size)
{
    static const char base64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    char *out = self->csp;
    out += sprintf(out, "%s", GATEWAY_STATIC_CSP_TO_STYLE);
    const file_t *list = find(self, "/csp-style-hashes.txt");
    const char *p = list ? list->plain.data : "";
    const char *end = list ? list->plain.data + list->plain.length : p;
    int count = 0;
    while (p < end) {
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
            p++;
            continue;
        }
        bool ok = end - p >= 53 && strncmp(p, "'sha256-", 8) == 0 && p[52] == '\'' &&
                  (end - p == 53 || strchr(" \r\n\t", p[53]));
        for (int i = 8; ok && i < 52; i++)
            ok = p[i] && strchr(base64, p[i]) != NULL;
        if (!ok || ++count > GATEWAY_STATIC_STYLE_HASHES_MAX) {
            snprintf(error, error_size, "csp-style-hashes.txt: expected up to %d 'sha256-<base64>' "
                     "tokens (rebuild the web apps)", GATEWAY_STATIC_STYLE_HASHES_MAX);
            return -1;
        }
        out += sprintf(out, " %.53s", p);
        p += 53;
    }
    sprintf(out, "%s", GATEWAY_STATIC_CSP_AFTER_STYLE);
    return 0;
}

gateway_static_t *gateway_static_new(const char *root, const char *config_path, char *error,
                                     size_t error_size)
{
    gateway_static_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory loading the web apps");
        return NULL;
    }
    char trimmed[4096];
    snprintf(trimmed, sizeof trimmed, "%s", root);
    size_t length = strlen(trimmed);
    while (length > 1 && trimmed[length - 1] == '/')
        trimmed[--length] = '\0';
    if (walk(self, trimmed, "", 0, error, error_size) != 0) {
        gateway_static_destroy(&self);
        return NULL;
    }
    if (config_path && config_path[0] &&
        add_file(self, config_path, "/config.json", error, error_size) != 0) {
        gateway_static_destroy(&self);
        return NULL;
    }
    qsort(self->files, self->count, sizeof *self->files, compare_files);
    if (!find(self, "/index.html")) {
        snprintf(error, error_size, "%s has no index.html: build the web apps with `make` "
                 "(they land in build/web)", trimmed);
        gateway_static_destroy(&self);
        return NULL;
    }
    if (build_csp(self, error, error_size) != 0) {
        gateway_static_destroy(&self);
        return NULL;
    }
    return self;
}

void gateway_static_destroy(gateway_static_t **self_p)
{
    gateway_static_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        free(self->files[i].path);
        free(self->files[i].plain.data);
        free(self->files[i].br.data);
        free(self->files[i].gz.data);
    }
    free(self->files);
    free(self);
    *self_p = NULL;
}

size_t gateway_static_count(gateway_static_t *self)
{
    return self->count;
}

/* Whether accept_encoding lists coding without q=0. */
static bool accepts(const char *accept_encoding, const char *coding)
{
    size_t coding_length = strlen(coding);
    const char *cursor = accept_encoding;
    while (cursor && *cursor) {
        while (*cursor == ' ' || *cursor == ',')
            cursor++;
        size_t token = strcspn(cursor, ",; ");
        const char *end = cursor + strcspn(cursor, ",");
        if (token == coding_length && strncasecmp(cursor, coding, coding_length) == 0) {
            const char *q = strstr(cursor, "q=");
            bool zero = q && q < end && strtod(q + 2, NULL) <= 0.0;
            return !zero;
        }
        cursor = end;
    }
    return false;
}

/* The file a path names: the file itself, or for an app route (a path whose
 * last segment has no '.') the page the build rendered for it (path.html),
 * else the app's index.html. */
static const file_t *resolve(gateway_static_t *self, const char *path)
{
    if (path[0] != '/' || strstr(path, "/.") || strlen(path) >= URL_PATH_MAX)
        return NULL;
    const file_t *file = find(self, path);
    if (file)
        return file;
    const char *last = strrchr(path, '/');
    if (strchr(last, '.'))
        return NULL;
    /* A page the build rendered into its own HTML (/town -> /town.html). */
    char page[URL_PATH_MAX + 8];
    if (last[1] && (size_t) snprintf(page, sizeof page, "%s.html", path) < sizeof page &&
        (file = find(self, page)))
        return file;
    if (strcmp(path, "/staff") == 0 || strncmp(path, "/staff/", 7) == 0)
        return find(self, "/staff/index.html");
    if (strcmp(path, "/") != 0 && (file = find(self, "/app.html")))
        return file;
    return find(self, "/index.html");
}

struct MHD_Response *gateway_static_answer(gateway_static_t *self, const char *path,
                                           const char *accept_encoding,
                                           const char *if_none_match, unsigned *status)
{
    const file_t *file = resolve(self, path);
    if (!file)
        return NULL;
    struct MHD_Response *response;
    const char *encoding = NULL;
    if (if_none_match && strstr(if_none_match, file->etag)) {
        response = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
        *status = MHD_HTTP_NOT_MODIFIED;
    } else {
        const blob_t *body = &file->plain;
        if (accept_encoding && file->br.data && accepts(accept_encoding, "br")) {
            body = &file->br;
            encoding = "br";
        } else if (accept_encoding && file->gz.data && accepts(accept_encoding, "gzip")) {
            body = &file->gz;
            encoding = "gzip";
        }
        response = MHD_create_response_from_buffer(body->length, body->data,
                                                   MHD_RESPMEM_PERSISTENT);
        *status = MHD_HTTP_OK;
    }
    if (!response)
        return NULL;
    MHD_add_response_header(response, "Content-Type", file->content_type);
    if (encoding)
        MHD_add_response_header(response, "Content-Encoding", encoding);
    if (file->br.data || file->gz.data)
        MHD_add_response_header(response, "Vary", "Accept-Encoding");
    MHD_add_response_header(response, "ETag", file->etag);
    MHD_add_response_header(response, "Cache-Control", file->immutable
                                                           ? "public, max-age=31536000, immutable"
                                                           : "no-cache");
    MHD_add_response_header(response, "Content-Security-Policy", self->csp);
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(response, "X-Frame-Options", "DENY");
    MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(response, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(response, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header(response, "Permissions-Policy",
                            "camera=(self), microphone=(), geolocation=(), payment=()");
    if (strcmp(file->path, "/staff/sw.js") == 0)
        MHD_add_response_header(response, "Service-Worker-Allowed", "/staff/");
    return response;
}
