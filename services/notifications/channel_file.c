/*
 * channel_file.c — the development channel: each message becomes one JSON
 * line {"channel","to","subject","body","encoding","segments",
 * "dlt_template_id","message_id","at"} appended to NAGAR_NOTIFY_FILE_SINK
 * with one write(2) on an O_APPEND descriptor, so several processes never
 * interleave lines. It stands in for SMS and/or e-mail when no provider is
 * configured (make run), and it writes what would be sent — one-time
 * passwords included — so it must never be used in production.
 */
#include "channel.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct file_channel_t {
    char path[PATH_MAX];
};

file_channel_t *notifications_file_channel_new(nagar_config_t *config, char *error,
                                               size_t error_size)
{
    error[0] = '\0';
    const char *path = nagar_config_get(config, "NAGAR_NOTIFY_FILE_SINK", "");
    if (!path[0])
        return NULL;
    if (strlen(path) >= PATH_MAX) {
        snprintf(error, error_size, "NAGAR_NOTIFY_FILE_SINK is longer than %d characters",
                 PATH_MAX - 1);
        return NULL;
    }
    file_channel_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    snprintf(self->path, sizeof self->path, "%s", path);
    return self;
}

void notifications_file_channel_destroy(file_channel_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void notifications_file_channel_send(file_channel_t *self, const char *channel,
                                     const outgoing_t *message, send_result_t *result)
{
    result->provider_id[0] = '\0';
    char at[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:s}", "channel", channel,
                             "to", message->address, "subject", message->subject, "body",
                             message->body, "encoding", message->encoding, "segments",
                             message->segments, "dlt_template_id", message->dlt_template_id,
                             "message_id", (json_int_t) message->message_id, "at", at);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!text) {
        result->status = SEND_RETRY;
        snprintf(result->error, sizeof result->error, "out of memory writing the file channel");
        return;
    }
    size_t length = strlen(text);
    char *with_newline = malloc(length + 2);
    if (!with_newline) {
        sodium_memzero(text, length);
        free(text);
        result->status = SEND_RETRY;
        snprintf(result->error, sizeof result->error, "out of memory writing the file channel");
        return;
    }
    memcpy(with_newline, text, length);
    with_newline[length] = '\n';
    sodium_memzero(text, length);
    free(text);
    int fd = open(self->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    ssize_t written = fd >= 0 ? write(fd, with_newline, length + 1) : -1;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    sodium_memzero(with_newline, length + 1);
    free(with_newline);
    if (written != (ssize_t) (length + 1)) {
        result->status = SEND_RETRY;
        snprintf(result->error, sizeof result->error, "cannot append to the file channel %.120s: %.100s",
                 self->path, strerror(saved));
        return;
    }
    result->status = SEND_OK;
    result->error[0] = '\0';
    snprintf(result->provider_id, sizeof result->provider_id, "file");
}
