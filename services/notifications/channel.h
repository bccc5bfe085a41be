/*
 * channel.h — what the delivery loop (delivery.c) and the channels share.
 *
 * A channel turns one outgoing message into a libcurl transfer
 * (channel_sms.c: an HTTP request to the SMS provider; channel_email.c: an
 * SMTP conversation) that delivery.c runs on its curl multi handle, several
 * at a time, a slice per worker tick; when the transfer ends, the channel
 * classifies the result: sent, worth retrying, or rejected for good.
 * channel_file.c is the development stand-in for both: it appends the
 * message to a file at once.
 *
 * Every transfer has a total and a connect timeout (CURLOPT_TIMEOUT_MS,
 * CURLOPT_CONNECTTIMEOUT_MS), so a provider that hangs costs one timeout,
 * never a stuck queue.
 */
#ifndef NAGAR_NOTIFY_CHANNEL_H
#define NAGAR_NOTIFY_CHANNEL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "config.h"

#define CHANNEL_RESPONSE_MAX 4096

typedef enum {
    SEND_OK,
    SEND_RETRY,       /* transient: timeout, connection refused, HTTP 5xx/429, SMTP 4xx */
    SEND_REJECTED,    /* permanent: HTTP 4xx, SMTP 5xx, bad address */
} send_status_t;

typedef struct {
    send_status_t status;
    char error[300];           /* for last_error; never holds the body */
    char provider_id[128];
} send_result_t;

typedef struct {
    int64_t message_id;
    const char *address;       /* mobile (10 digits) or e-mail address */
    const char *subject;
    const char *body;
    const char *dlt_template_id;
    const char *encoding;      /* "GSM-7" / "UCS-2" */
    int segments;
} outgoing_t;

typedef struct {
    CURL *easy;
    struct curl_slist *list;   /* HTTP headers, or SMTP recipients */
    char *request;             /* body to send (HTTP POST body or the whole e-mail) */
    size_t request_size;
    size_t request_offset;
    char response[CHANNEL_RESPONSE_MAX];
    size_t response_size;
    char error_buffer[CURL_ERROR_SIZE];
} transfer_t;

/* A transfer with its easy handle, write/read callbacks and error buffer
 * wired, and the timeouts set. NULL when out of memory. */
transfer_t *notifications_transfer_new(long timeout_ms, long connect_timeout_ms);
/* Frees the handle, lists and buffers (the request is wiped: it may hold
 * a one-time password). */
void notifications_transfer_destroy(transfer_t **self_p);
/* Makes what *body_p holds (a wiped buffer: message text, an address, an
 * OTP) the request to send, and destroys the buffer. -1 when the buffer
 * had failed (out of memory): nothing is taken, the buffer is destroyed. */
int notifications_transfer_take_request(transfer_t *self, nagar_buffer_t **body_p);

#define CHANNEL_SECRET_MAX 512

/* ---- the remote channels: SMS over HTTP, e-mail over SMTP ---- */

typedef struct channel_t channel_t;

/* What both remote channels are, the first member of each: where to send,
 * the login (user, and the password from a file; none when user is ""),
 * the timeouts of every transfer, and the channel's own two steps. */
struct channel_t {
    char url[1024];
    char user[256];
    char password[CHANNEL_SECRET_MAX];
    long timeout_ms;
    long connect_timeout_ms;
    size_t size;               /* the whole channel's, for destroy */
    transfer_t *(*start)(channel_t *self, const outgoing_t *message, send_result_t *result);
    void (*finish)(channel_t *self, transfer_t *transfer, CURLcode code, send_result_t *result);
};

/* The channels (NULL and error "" when their URL setting is unset: no such
 * channel; NULL with the reason when a setting is wrong). */
channel_t *notifications_sms_channel_new(nagar_config_t *config, long timeout_ms,
                                         long connect_timeout_ms, char *error, size_t error_size);
channel_t *notifications_email_channel_new(nagar_config_t *config, long timeout_ms,
                                           long connect_timeout_ms, char *error,
                                           size_t error_size);
/* Wipes (it holds a password) and frees the channel. */
void notifications_channel_destroy(channel_t **self_p);
/* The transfer for message, ready to add to a multi handle; NULL with the
 * reason in result (REJECTED when the message cannot be expressed). */
transfer_t *notifications_channel_start(channel_t *self, const outgoing_t *message,
                                        send_result_t *result);
/* When the transfer has ended: sent, worth retrying or rejected. */
void notifications_channel_finish(channel_t *self, transfer_t *transfer, CURLcode code,
                                  send_result_t *result);

/* The settings a remote channel's channel_t is read from. */
typedef struct {
    const char *url;              /* "NAGAR_NOTIFY_SMS_URL" */
    const char *user;             /* "NAGAR_NOTIFY_SMS_USER" */
    const char *password_file;    /* "NAGAR_NOTIFY_SMS_PASSWORD_FILE" */
} channel_settings_t;

/* For the channels' own files. A zeroed channel of size bytes whose first
 * member is its channel_t, read from settings; NULL as the channels'
 * _new. The caller sets its steps. */
void *notifications_channel_new(size_t size, nagar_config_t *config,
                                const channel_settings_t *settings, long timeout_ms,
                                long connect_timeout_ms, char *error, size_t error_size);
/* A transfer with the channel's timeouts; NULL with result SEND_RETRY
 * ("out of memory starting the <what>") when out of memory. */
transfer_t *notifications_channel_transfer(const channel_t *self, const char *what,
                                           send_result_t *result);
/* Makes *body_p the transfer's request (notifications_transfer_take_request)
 * and points it at the channel's URL with its login. Returns transfer; on
 * failure destroys it and returns NULL with result SEND_RETRY ("out of
 * memory building the <what>"). */
transfer_t *notifications_channel_request(const channel_t *self, transfer_t *transfer,
                                          nagar_buffer_t **body_p, const char *what,
                                          send_result_t *result);

/* SMS size (channel_sms.c). */
typedef struct {
    const char *encoding;      /* "GSM-7" or "UCS-2" */
    int characters;            /* septets (GSM-7) or UTF-16 units (UCS-2) */
    int segments;              /* 160/153 per part for GSM-7, 70/67 for UCS-2 */
} sms_size_t;

/* Encoding and number of parts of text (UTF-8). */
void notifications_sms_size(const char *text, sms_size_t *out);

/* ---- development file (channel_file.c) ---- */

typedef struct file_channel_t file_channel_t;

/* NULL and error "" when NAGAR_NOTIFY_FILE_SINK is unset. */
file_channel_t *notifications_file_channel_new(nagar_config_t *config, char *error,
                                               size_t error_size);
void notifications_file_channel_destroy(file_channel_t **self_p);
/* Appends one JSON line {"channel","to","subject","body",...}; synchronous. */
void notifications_file_channel_send(file_channel_t *self, const char *channel,
                                     const outgoing_t *message, send_result_t *result);

#endif
