/*
 * config.c — environment over file over defaults; see config.h.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct config_entry {
    char *key;
    char *value;
    struct config_entry *next;
} config_entry_t;

struct nagar_config_t {
    config_entry_t *file_entries;
    config_entry_t *env_cache;   /* copies of getenv() results, owned here */
};

static char *trim(char *s)
{
    while (isspace((unsigned char) *s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char) end[-1]))
        *--end = '\0';
    return s;
}

static bool key_is_valid(const char *key)
{
    if (!*key)
        return false;
    for (const char *p = key; *p; p++)
        if (!(isupper((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '_'))
            return false;
    return true;
}

static void entries_free(config_entry_t *entry)
{
    while (entry) {
        config_entry_t *next = entry->next;
        free(entry->key);
        free(entry->value);
        free(entry);
        entry = next;
    }
}

static int entry_add(config_entry_t **list, const char *key, const char *value)
{
    config_entry_t *entry = calloc(1, sizeof *entry);
    if (!entry)
        return -1;
    entry->key = strdup(key);
    entry->value = strdup(value);
    if (!entry->key || !entry->value) {
        entries_free(entry);
        return -1;
    }
    entry->next = *list;
    *list = entry;
    return 0;
}

static config_entry_t *entry_find(config_entry_t *list, const char *key)
{
    for (; list; list = list->next)
        if (strcmp(list->key, key) == 0)
            return list;
    return NULL;
}

static int load_file(nagar_config_t *self, const char *path, char *error, size_t error_size)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(error, error_size, "cannot open config file \"%s\": %s", path, strerror(errno));
        return -1;
    }
    char line[NAGAR_CONFIG_VALUE_MAX + 256];
    int line_number = 0;
    int rc = 0;
    while (fgets(line, sizeof line, file)) {
        line_number++;
        size_t length = strlen(line);
        if (length == sizeof line - 1 && line[length - 1] != '\n') {
            snprintf(error, error_size, "%s:%d: line longer than %zu bytes", path, line_number,
                     sizeof line - 2);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *text = trim(line);
        if (!*text)
            continue;
        char *equals = strchr(text, '=');
        if (!equals) {
            snprintf(error, error_size, "%s:%d: expected KEY=VALUE", path, line_number);
            rc = -1;
            break;
        }
        *equals = '\0';
        char *key = trim(text);
        char *value = trim(equals + 1);
        if (!key_is_valid(key)) {
            snprintf(error, error_size,
                     "%s:%d: key \"%s\" must be upper-case letters, digits and '_'", path,
                     line_number, key);
            rc = -1;
            break;
        }
        config_entry_t *existing = entry_find(self->file_entries, key);
        if (existing) {
            char *copy = strdup(value);
            if (!copy) {
                rc = -1;
                break;
            }
            free(existing->value);
            existing->value = copy;
        }
        else if (entry_add(&self->file_entries, key, value) != 0) {
            snprintf(error, error_size, "out of memory reading %s", path);
            rc = -1;
            break;
        }
    }
    fclose(file);
    return rc;
}

nagar_config_t *nagar_config_new(const char *path, char *error, size_t error_size)
{
    char scratch[NAGAR_CONFIG_ERROR_MAX];
    if (!error) {
        error = scratch;
        error_size = sizeof scratch;
    }
    error[0] = '\0';
    nagar_config_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    if (!path || !*path)
        path = getenv("NAGAR_CONFIG");
    if (path && *path && load_file(self, path, error, error_size) != 0) {
        nagar_config_destroy(&self);
        return NULL;
    }
    return self;
}

void nagar_config_destroy(nagar_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    nagar_config_t *self = *self_p;
    entries_free(self->file_entries);
    entries_free(self->env_cache);
    free(self);
    *self_p = NULL;
}

const char *nagar_config_get(nagar_config_t *self, const char *key, const char *default_value)
{
    const char *env = getenv(key);
    if (env) {
        /* Copy so the pointer outlives a later setenv() by the caller. */
        config_entry_t *cached = entry_find(self->env_cache, key);
        if (cached && strcmp(cached->value, env) == 0)
            return cached->value;
        if (strlen(env) > NAGAR_CONFIG_VALUE_MAX)
            return default_value;
        if (entry_add(&self->env_cache, key, env) != 0)
            return default_value;
        return self->env_cache->value;
    }
    config_entry_t *entry = entry_find(self->file_entries, key);
    return entry ? entry->value : default_value;
}

const char *nagar_config_source(nagar_config_t *self, const char *key)
{
    if (getenv(key))
        return "environment";
    if (entry_find(self->file_entries, key))
        return "file";
    return "default";
}

int nagar_config_get_int(nagar_config_t *self, const char *key, long default_value, long min,
                         long max, long *value, char *error, size_t error_size)
{
    const char *text = nagar_config_get(self, key, NULL);
    if (!text) {
        *value = default_value;
        return 0;
    }
    errno = 0;
    char *end = NULL;
    long parsed = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || parsed < min || parsed > max) {
        if (error)
            snprintf(error, error_size, "%s=\"%s\" (%s): must be an integer from %ld to %ld",
                     key, text, nagar_config_source(self, key), min, max);
        return -1;
    }
    *value = parsed;
    return 0;
}

int nagar_config_get_text(nagar_config_t *self, const char *key, const char *default_value,
                          char *out, size_t size, char *error, size_t error_size)
{
    const char *text = nagar_config_get(self, key, default_value);
    size_t length = strlen(text);
    if (length >= size) {
        if (error)
            snprintf(error, error_size, "%s is %zu bytes long (%s); at most %zu are allowed", key,
                     length, nagar_config_source(self, key), size - 1);
        return -1;
    }
    memcpy(out, text, length + 1);
    return 0;
}

int nagar_config_get_bool(nagar_config_t *self, const char *key, bool default_value, bool *value,
                          char *error, size_t error_size)
{
    const char *text = nagar_config_get(self, key, NULL);
    if (!text) {
        *value = default_value;
        return 0;
    }
    static const char *const truthy[] = { "1", "true", "yes", "on" };
    static const char *const falsy[] = { "0", "false", "no", "off" };
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, truthy[i]) == 0) {
            *value = true;
            return 0;
        }
        if (strcasecmp(text, falsy[i]) == 0) {
            *value = false;
            return 0;
        }
    }
    if (error)
        snprintf(error, error_size, "%s=\"%s\" (%s): must be true or false (1/0, yes/no, on/off)",
                 key, text, nagar_config_source(self, key));
    return -1;
}
