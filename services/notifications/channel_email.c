/*
 * channel_email.c — e-mail over SMTP through libcurl.
 *
 *   NAGAR_NOTIFY_SMTP_URL        smtp://host:port (STARTTLS per NAGAR_NOTIFY_SMTP_TLS)
 *                                or smtps://host:port (TLS from the start);
 *                                unset: no e-mail channel
 *   NAGAR_NOTIFY_SMTP_FROM       envelope and header sender address (required)
 *   NAGAR_NOTIFY_SMTP_FROM_NAME  display name (default "Nagar")
 *   NAGAR_NOTIFY_SMTP_USER, NAGAR_NOTIFY_SMTP_PASSWORD_FILE   AUTH, when set
 *   NAGAR_NOTIFY_SMTP_TLS        try (default: STARTTLS when the server offers
 *                                it, CURLUSESSL_TRY), require (CURLUSESSL_ALL),
 *                                off (plain; loopback test servers)
 *
 * The message is text/plain UTF-8 with a base64 body and RFC 2047 encoded
 * subject and sender name, so Hindi arrives intact through any relay.
 * SMTP 4xx (and no answer at all) is retried; 5xx is a rejection.
 */
#include "channel.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notify.h"

typedef struct {
    channel_t channel;          /* first: URL, login, timeouts, steps (channel.h) */
    char from[256];
    char from_name[128];
    long use_ssl;
} email_channel_t;

static transfer_t *email_start(channel_t *channel, const outgoing_t *message,
                               send_result_t *result);
static void email_finish(channel_t *channel, transfer_t *transfer, CURLcode code,
                         send_result_t *result);

channel_t *notifications_email_channel_new(nagar_config_t *config, long timeout_ms,
                                           long connect_timeout_ms, char *error,
                                           size_t error_size)
{
    static const channel_settings_t SETTINGS = {.url = "NAGAR_NOTIFY_SMTP_URL",
                                                .user = "NAGAR_NOTIFY_SMTP_USER",
                                                .password_file = "NAGAR_NOTIFY_SMTP_PASSWORD_FILE"};
    email_channel_t *self = notifications_channel_new(sizeof *self, config, &SETTINGS, timeout_ms,
                                                      connect_timeout_ms, error, error_size);
    if (!self)
        return NULL;
    channel_t *channel = &self->channel;
    channel->start = email_start;
    channel->finish = email_finish;
    const char *url = self->channel.url;
    const char *from = nagar_config_get(config, "NAGAR_NOTIFY_SMTP_FROM", "");
    const char *from_name = nagar_config_get(config, "NAGAR_NOTIFY_SMTP_FROM_NAME", "Nagar");
    const char *tls = nagar_config_get(config, "NAGAR_NOTIFY_SMTP_TLS", "try");
    if (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0) {
        snprintf(error, error_size, "NAGAR_NOTIFY_SMTP_URL=%.200s must be smtp://host:port or "
                 "smtps://host:port", url);
        goto failed;
    }
    if (!notify_email_valid(from)) {
        snprintf(error, error_size, "NAGAR_NOTIFY_SMTP_FROM=\"%.200s\" must be the sender's "
                 "e-mail address", from);
        goto failed;
    }
    if (!notify_text_valid(from_name, 1, 100)) {
        snprintf(error, error_size, "NAGAR_NOTIFY_SMTP_FROM_NAME must be 1 to 100 characters");
        goto failed;
    }
    if (strcmp(tls, "try") == 0)
        self->use_ssl = CURLUSESSL_TRY;
    else if (strcmp(tls, "require") == 0)
        self->use_ssl = CURLUSESSL_ALL;
    else if (strcmp(tls, "off") == 0)
        self->use_ssl = CURLUSESSL_NONE;
    else {
        snprintf(error, error_size, "NAGAR_NOTIFY_SMTP_TLS=%.40s must be try, require or off",
                 tls);
        goto failed;
    }
    snprintf(self->from, sizeof self->from, "%s", from);
    snprintf(self->from_name, sizeof self->from_name, "%s", from_name);
    return channel;
failed:
    notifications_channel_destroy(&channel);
    return NULL;
}

static void mail_append_text(nagar_buffer_t *buffer, const char *text)
{
    nagar_buffer_append(buffer, text, strlen(text));
}

/* RFC 2047: =?UTF-8?B?...?= words of at most 45 bytes of text each (60
 * base64 characters, under the 75-character limit), split only between
 * UTF-8 characters, folded onto continuation lines. */
static void mail_append_encoded_words(nagar_buffer_t *buffer, const char *text)
{
    size_t length = strlen(text), start = 0;
    bool first = true;
    while (start < length || first) {
        size_t end = start + 45 < length ? start + 45 : length;
        while (end > start && end < length && ((unsigned char) text[end] & 0xc0) == 0x80)
            end--;
        char encoded[128];
        sodium_bin2base64(encoded, sizeof encoded, (const unsigned char *) text + start,
                          end - start, sodium_base64_VARIANT_ORIGINAL);
        if (!first)
            mail_append_text(buffer, "\r\n ");
        mail_append_text(buffer, "=?UTF-8?B?");
        mail_append_text(buffer, encoded);
        mail_append_text(buffer, "?=");
        first = false;
        start = end;
    }
}

static transfer_t *email_start(channel_t *channel, const outgoing_t *message,
                               send_result_t *result)
{
    email_channel_t *self = (email_channel_t *) channel;
    if (!notify_email_valid(message->address)) {
        result->status = SEND_REJECTED;
        snprintf(result->error, sizeof result->error, "not a deliverable e-mail address");
        return NULL;
    }
    transfer_t *transfer = notifications_channel_transfer(channel, "e-mail", result);
    if (!transfer)
        return NULL;
    /* Both hold the message's text and address: wiped buffers. */
    nagar_buffer_t *mail = nagar_buffer_new_wiped(0);
    nagar_buffer_t *canonical = nagar_buffer_new_wiped(0);
    if (!mail || !canonical) {
        nagar_buffer_destroy(&mail);
        nagar_buffer_destroy(&canonical);
        notifications_transfer_destroy(&transfer);
        result->status = SEND_RETRY;
        snprintf(result->error, sizeof result->error, "out of memory building the e-mail");
        return NULL;
    }
    char line[512], date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    mail_append_text(mail, "From: ");
    mail_append_encoded_words(mail, self->from_name);
    snprintf(line, sizeof line, " <%s>\r\nTo: <%s>\r\nSubject: ", self->from, message->address);
    mail_append_text(mail, line);
    mail_append_encoded_words(mail, message->subject);
    char domain[256];
    const char *at = strchr(self->from, '@');
    snprintf(domain, sizeof domain, "%s", at ? at + 1 : "nagar.invalid");
    snprintf(line, sizeof line,
             "\r\nDate: %s\r\nMessage-ID: <nagar-%lld@%s>\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n"
             "\r\n",
             date, (long long) message->message_id, domain);
    mail_append_text(mail, line);
    /* Canonical text: CRLF line ends, then base64 in lines of 76. */
    for (const char *p = message->body; *p; p++) {
        if (*p == '\n')
            nagar_buffer_append(canonical, "\r\n", 2);
        else if (*p != '\r')
            nagar_buffer_append(canonical, p, 1);
    }
    const uint8_t *text = nagar_buffer_data(canonical);
    size_t text_size = nagar_buffer_size(canonical);
    for (size_t offset = 0; offset < text_size; offset += 57) {
        size_t take = text_size - offset < 57 ? text_size - offset : 57;
        char encoded[96];
        sodium_bin2base64(encoded, sizeof encoded, text + offset, take,
                          sodium_base64_VARIANT_ORIGINAL);
        mail_append_text(mail, encoded);
        mail_append_text(mail, "\r\n");
    }
    bool canonical_failed = nagar_buffer_failed(canonical);
    nagar_buffer_destroy(&canonical);
    if (canonical_failed)
        nagar_buffer_destroy(&mail);   /* the body is incomplete: nothing to take */
    transfer = notifications_channel_request(channel, transfer, &mail, "e-mail", result);
    if (!transfer)
        return NULL;
    char recipient[300];
    snprintf(recipient, sizeof recipient, "<%s>", message->address);
    transfer->list = curl_slist_append(NULL, recipient);
    char from[300];
    snprintf(from, sizeof from, "<%s>", self->from);
    CURL *easy = transfer->easy;
    curl_easy_setopt(easy, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, transfer->list);
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t) transfer->request_size);
    curl_easy_setopt(easy, CURLOPT_USE_SSL, self->use_ssl);
    return transfer;
}

static void email_finish(channel_t *self, transfer_t *transfer, CURLcode code,
                         send_result_t *result)
{
    result->provider_id[0] = '\0';
    long status = 0;
    curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_OK) {
        result->status = SEND_OK;
        result->error[0] = '\0';
        return;
    }
    result->status = status >= 500 && status < 600 ? SEND_REJECTED : SEND_RETRY;
    const char *why = transfer->error_buffer[0] ? transfer->error_buffer : curl_easy_strerror(code);
    if (status)
        snprintf(result->error, sizeof result->error, "SMTP %.100s: %.150s, server reply %ld", self->url,
                 why, status);
    else
        snprintf(result->error, sizeof result->error, "SMTP %.100s: %.150s", self->url, why);
}
