/*
 * log.c — JSON-lines logging; see log.h.
 *
 * Each line is built in memory and written with a single write(2) so lines
 * from several threads or processes sharing a terminal never interleave.
 */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_MESSAGE_MAX 2048
#define REQUEST_ID_MAX 128

static char process_name[64] = "nagar";
static nagar_log_level_t minimum_level = NAGAR_LOG_INFO;
static _Thread_local char current_request_id[REQUEST_ID_MAX];

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void nagar_log_init(const char *name)
{
    if (name)
        snprintf(process_name, sizeof process_name, "%s", name);
    const char *level = getenv("NAGAR_LOG_LEVEL");
    if (level) {
        for (int i = 0; i < 4; i++)
            if (strcasecmp(level, level_names[i]) == 0)
                minimum_level = (nagar_log_level_t) i;
    }
}

/* Called several times per request on hot paths: a bounded copy, not a
 * formatted print. */
void nagar_log_set_request_id(const char *request_id)
{
    size_t length = request_id ? strnlen(request_id, sizeof current_request_id - 1) : 0;
    memmove(current_request_id, request_id ? request_id : "", length);
    current_request_id[length] = '\0';
}

const char *nagar_log_request_id(void)
{
    return current_request_id;
}

bool nagar_log_enabled(nagar_log_level_t level)
{
    return level >= minimum_level && level <= NAGAR_LOG_ERROR;
}

static void format_timestamp(char *buffer, size_t size)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm utc;
    gmtime_r(&now.tv_sec, &utc);
    size_t length = strftime(buffer, size, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(buffer + length, size - length, ".%03uZ", (unsigned) (now.tv_nsec / 1000000L) % 1000u);
}

void nagar_log_writev(nagar_log_level_t level, const char *event, json_t *fields,
                      const char *format, va_list args)
{
    if (level < minimum_level || level > NAGAR_LOG_ERROR) {
        json_decref(fields);
        return;
    }
    char message[LOG_MESSAGE_MAX];
    vsnprintf(message, sizeof message, format, args);
    char timestamp[40];
    format_timestamp(timestamp, sizeof timestamp);

    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(timestamp));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "process", json_string(process_name));
    json_object_set_new(line, "pid", json_integer(getpid()));
    if (event)
        json_object_set_new(line, "event", json_string(event));
    if (current_request_id[0])
        json_object_set_new(line, "request_id", json_string(current_request_id));
    /* json_string rejects invalid UTF-8; keep the line rather than lose it. */
    json_t *text = json_string(message);
    json_object_set_new(line, "msg", text ? text : json_string("(message not valid UTF-8)"));
    if (fields && json_is_object(fields))
        json_object_update_missing(line, fields);
    json_decref(fields);

    char *encoded = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!encoded)
        return;
    size_t length = strlen(encoded);
    encoded[length] = '\n';   /* replaces the terminator; length+1 bytes written */
    ssize_t ignored = write(STDERR_FILENO, encoded, length + 1);
    (void) ignored;
    free(encoded);
}

void nagar_log_write(nagar_log_level_t level, const char *event, json_t *fields,
                     const char *format, ...)
{
    va_list args;
    va_start(args, format);
    nagar_log_writev(level, event, fields, format, args);
    va_end(args);
}
