/*
 * channel.c — libcurl transfers shared by the SMS and e-mail channels:
 * bounded response capture, request upload, timeouts, and the settings
 * both read the same way (URL, login, password file), and the two steps
 * delivery.c asks of either (see channel.h).
 */
#include "channel.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key_file.h"

/* Keeps the first CHANNEL_RESPONSE_MAX - 1 bytes; the rest is discarded,
 * not an error: a provider's long answer must not fail a sent message. */
static size_t on_response(char *data, size_t size, size_t count, void *arg)
{
    transfer_t *self = arg;
    size_t length = size * count;
    size_t room = CHANNEL_RESPONSE_MAX - 1 - self->response_size;
    size_t take = length < room ? length : room;
    memcpy(self->response + self->response_size, data, take);
    self->response_size += take;
    self->response[self->response_size] = '\0';
    return length;
}

static size_t on_upload(char *buffer, size_t size, size_t count, void *arg)
{
    transfer_t *self = arg;
    size_t room = size * count;
    size_t left = self->request_size - self->request_offset;
    size_t take = left < room ? left : room;
    memcpy(buffer, self->request + self->request_offset, take);
    self->request_offset += take;
    return take;
}

transfer_t *notifications_transfer_new(long timeout_ms, long connect_timeout_ms)
{
    transfer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->easy = curl_easy_init();
    if (!self->easy) {
        free(self);
        return NULL;
    }
    curl_easy_setopt(self->easy, CURLOPT_PRIVATE, self);
    curl_easy_setopt(self->easy, CURLOPT_WRITEFUNCTION, on_response);
    curl_easy_setopt(self->easy, CURLOPT_WRITEDATA, self);
    curl_easy_setopt(self->easy, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(self->easy, CURLOPT_READDATA, self);
    curl_easy_setopt(self->easy, CURLOPT_ERRORBUFFER, self->error_buffer);
    curl_easy_setopt(self->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(self->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(self->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(self->easy, CURLOPT_NOPROGRESS, 1L);
    /* No redirects, no protocols but the ones we mean. */
    curl_easy_setopt(self->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(self->easy, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
    return self;
}

void notifications_transfer_destroy(transfer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    transfer_t *self = *self_p;
    curl_easy_cleanup(self->easy);
    curl_slist_free_all(self->list);
    if (self->request) {
        sodium_memzero(self->request, self->request_size);
        free(self->request);
    }
    free(self);
    *self_p = NULL;
}

int notifications_transfer_take_request(transfer_t *self, nagar_buffer_t **body_p)
{
    size_t size = 0;
    char *request = *body_p ? nagar_buffer_take(*body_p, &size) : NULL;
    nagar_buffer_destroy(body_p);
    if (!request)
        return -1;
    if (self->request) {
        sodium_memzero(self->request, self->request_size);
        free(self->request);
    }
    self->request = request;
    self->request_size = size;
    self->request_offset = 0;
    return 0;
}

void *notifications_channel_new(size_t size, nagar_config_t *config,
                                const channel_settings_t *settings, long timeout_ms,
                                long connect_timeout_ms, char *error, size_t error_size)
{
    error[0] = '\0';
    channel_t *self = calloc(1, size);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    self->size = size;
    self->timeout_ms = timeout_ms;
    self->connect_timeout_ms = connect_timeout_ms;
    /* No URL: the channel is off (NULL with error ""). */
    if (nagar_config_get_text(config, settings->url, "", self->url, sizeof self->url, error,
                              error_size) ||
        !self->url[0] ||
        nagar_config_get_text(config, settings->user, "", self->user, sizeof self->user, error,
                              error_size)) {
        notifications_channel_destroy(&self);
        return NULL;
    }
    const char *password_file = nagar_config_get(config, settings->password_file, "");
    if (password_file[0] &&
        nagar_key_file_read_secret(password_file, self->password, sizeof self->password, error,
                                   error_size) != 0) {
        notifications_channel_destroy(&self);
        return NULL;
    }
    return self;
}

void notifications_channel_destroy(channel_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    channel_t *self = *self_p;
    sodium_memzero(self, self->size);
    free(self);
    *self_p = NULL;
}

transfer_t *notifications_channel_start(channel_t *self, const outgoing_t *message,
                                        send_result_t *result)
{
    return self->start(self, message, result);
}

void notifications_channel_finish(channel_t *self, transfer_t *transfer, CURLcode code,
                                  send_result_t *result)
{
    self->finish(self, transfer, code, result);
}

transfer_t *notifications_channel_transfer(const channel_t *self, const char *what,
                                           send_result_t *result)
{
    transfer_t *transfer = notifications_transfer_new(self->timeout_ms, self->connect_timeout_ms);
    if (!transfer) {
        result->status = SEND_RETRY;
        snprintf(result->error, sizeof result->error, "out of memory starting the %s", what);
    }
    return transfer;
}

transfer_t *notifications_channel_request(const channel_t *self, transfer_t *transfer,
                                          nagar_buffer_t **body_p, const char *what,
                                          send_result_t *result)
{
    if (notifications_transfer_take_request(transfer, body_p) != 0) {
        notifications_transfer_destroy(&transfer);
        result->status = SEND_RETRY;
        snprintf(result->error, sizeof result->error, "out of memory building the %s", what);
        return NULL;
    }
    curl_easy_setopt(transfer->easy, CURLOPT_URL, self->url);
    if (self->user[0]) {
        curl_easy_setopt(transfer->easy, CURLOPT_USERNAME, self->user);
        curl_easy_setopt(transfer->easy, CURLOPT_PASSWORD, self->password);
    }
    return transfer;
}
