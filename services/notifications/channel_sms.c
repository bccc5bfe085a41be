/*
 * channel_sms.c — SMS through a generic HTTP provider API.
 *
 * Indian SMS providers all take a POST with the number, the text, the
 * sender header and the DLT ids (TRAI's rules: every commercial SMS names
 * the principal entity and a registered template), but each spells it
 * differently, so the request body is a configured template:
 *
 *   NAGAR_NOTIFY_SMS_URL            http(s) endpoint (unset: no SMS channel)
 *   NAGAR_NOTIFY_SMS_BODY_TEMPLATE  default SMS_DEFAULT_BODY below; placeholders
 *                                   {{mobile}} {{msisdn}} {{sender}} {{text}}
 *                                   {{unicode}} {{encoding}} {{segments}}
 *                                   {{dlt_entity_id}} {{dlt_template_id}} {{message_id}}
 *   NAGAR_NOTIFY_SMS_CONTENT_TYPE   application/json (values JSON-escaped) or
 *                                   application/x-www-form-urlencoded (values
 *                                   URL-encoded); default application/json
 *   NAGAR_NOTIFY_SMS_SENDER         the DLT sender header, 6 letters (NAGARS)
 *   NAGAR_NOTIFY_SMS_DLT_ENTITY_ID  the principal entity id registered on DLT
 *   NAGAR_NOTIFY_SMS_AUTH_HEADER    header carrying the API key (Authorization)
 *   NAGAR_NOTIFY_SMS_AUTH_FILE      file holding that header's value
 *   NAGAR_NOTIFY_SMS_USER, NAGAR_NOTIFY_SMS_PASSWORD_FILE   HTTP basic auth
 *   NAGAR_NOTIFY_SMS_ID_FIELD       field of a JSON answer with the provider's id ("id")
 *
 * 2xx is sent; 408, 429, 5xx and network failures are retried; any other
 * status is a rejection (the provider will refuse it again).
 *
 * Size: text that fits the GSM 03.38 alphabet travels as GSM-7 (160
 * septets, or 153 per part when split; the extension characters take two);
 * anything else — Hindi — as UCS-2 (70 UTF-16 units, or 67 per part).
 */
#include "channel.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key_file.h"
#include "text.h"

#define SMS_DEFAULT_BODY                                                                      \
    "{\"to\":\"{{msisdn}}\",\"sender\":\"{{sender}}\",\"text\":\"{{text}}\","                \
    "\"unicode\":{{unicode}},\"segments\":{{segments}},\"dlt_entity_id\":\"{{dlt_entity_id}}\"," \
    "\"dlt_template_id\":\"{{dlt_template_id}}\",\"reference\":\"{{message_id}}\"}"
typedef struct {
    channel_t channel;               /* first: URL, login, timeouts, steps (channel.h) */
    char body_template[4096];
    char content_type[128];
    bool json;
    bool form;
    char sender[16];
    char entity_id[40];
    char auth_header[1024];          /* "Name: value", "" when none */
    char id_field[64];
} sms_channel_t;

static transfer_t *sms_start(channel_t *channel, const outgoing_t *message,
                             send_result_t *result);
static void sms_finish(channel_t *channel, transfer_t *transfer, CURLcode code,
                       send_result_t *result);

/* ---- size ------------------------------------------------------------------ */

/* GSM 03.38 basic set beyond printable ASCII, and the characters of the
 * ASCII range that are NOT in it. */
static const uint32_t GSM_EXTRA[] = {0xa3, 0xa5, 0xe8, 0xe9, 0xf9, 0xec, 0xf2, 0xc7, 0xd8,
                                     0xf8, 0xc5, 0xe5, 0x394, 0x3a6, 0x393, 0x39b, 0x3a9, 0x3a0,
                                     0x3a8, 0x3a3, 0x398, 0x39e, 0xc6, 0xe6, 0xdf, 0xc9, 0xa4,
                                     0xa1, 0xc4, 0xd6, 0xd1, 0xdc, 0xa7, 0xbf, 0xe4, 0xf6, 0xf1,
                                     0xfc, 0xe0};
static const char GSM_ESCAPED[] = "^{}\\[~]|";   /* and the euro sign, two septets each */

/* Septets for one code point in GSM-7, 0 when it has none. */
static int gsm_septets(uint32_t code)
{
    if (code == '\n' || code == '\r')
        return 1;
    if (code == 0x20ac || code == '\f')
        return 2;
    if (code >= 0x20 && code < 0x7f) {
        if (code == '`')
            return 0;
        return strchr(GSM_ESCAPED, (int) code) ? 2 : 1;
    }
    for (size_t i = 0; i < sizeof GSM_EXTRA / sizeof GSM_EXTRA[0]; i++)
        if (GSM_EXTRA[i] == code)
            return 1;
    return 0;
}

/* Text reaching a channel was validated; an invalid byte would count as
 * one U+FFFD rather than stop the count. */
static int utf8_decode(const unsigned char *p, uint32_t *code)
{
    int length = nagar_utf8_next((const char *) p, code);
    if (length == 0) {
        *code = 0xfffd;
        length = 1;
    }
    return length;
}

void notifications_sms_size(const char *text, sms_size_t *out)
{
    int septets = 0, units = 0;
    bool gsm = true;
    for (const unsigned char *p = (const unsigned char *) text; *p;) {
        uint32_t code;
        p += utf8_decode(p, &code);
        int cost = gsm_septets(code);
        if (cost == 0)
            gsm = false;
        septets += cost;
        units += code > 0xffff ? 2 : 1;
    }
    if (gsm) {
        out->encoding = "GSM-7";
        out->characters = septets;
        out->segments = septets <= 160 ? 1 : (septets + 152) / 153;
    } else {
        out->encoding = "UCS-2";
        out->characters = units;
        out->segments = units <= 70 ? 1 : (units + 66) / 67;
    }
}

/* ---- the request -------------------------------------------------------------- */

static const char *const BODY_PLACEHOLDERS[] = {
    "mobile", "msisdn", "sender", "text", "unicode", "encoding", "segments",
    "dlt_entity_id", "dlt_template_id", "message_id", NULL};

channel_t *notifications_sms_channel_new(nagar_config_t *config, long timeout_ms,
                                         long connect_timeout_ms, char *error, size_t error_size)
{
    static const channel_settings_t SETTINGS = {.url = "NAGAR_NOTIFY_SMS_URL",
                                                .user = "NAGAR_NOTIFY_SMS_USER",
                                                .password_file = "NAGAR_NOTIFY_SMS_PASSWORD_FILE"};
    sms_channel_t *self = notifications_channel_new(sizeof *self, config, &SETTINGS, timeout_ms,
                                                    connect_timeout_ms, error, error_size);
    if (!self)
        return NULL;
    channel_t *channel = &self->channel;
    channel->start = sms_start;
    channel->finish = sms_finish;
    char auth_name[128], auth_file[1024];
    if (nagar_config_get_text(config, "NAGAR_NOTIFY_SMS_BODY_TEMPLATE", SMS_DEFAULT_BODY,
                              self->body_template, sizeof self->body_template, error,
                              error_size) ||
        nagar_config_get_text(config, "NAGAR_NOTIFY_SMS_CONTENT_TYPE", "application/json",
                              self->content_type, sizeof self->content_type, error, error_size) ||
        nagar_config_get_text(config, "NAGAR_NOTIFY_SMS_SENDER", "NAGARS", self->sender,
                              sizeof self->sender, error, error_size) ||
        nagar_config_get_text(config, "NAGAR_NOTIFY_SMS_DLT_ENTITY_ID", "", self->entity_id,
                              sizeof self->entity_id, error, error_size) ||
        nagar_config_get_text(config, "NAGAR_NOTIFY_SMS_AUTH_HEADER", "Authorization", auth_name,
                              sizeof auth_name, error, error_size) ||
        nagar_config_get_text(config, "NAGAR_NOTIFY_SMS_AUTH_FILE", "", auth_file,
                              sizeof auth_file, error, error_size) ||
        nagar_config_get_text(config, "NAGAR_NOTIFY_SMS_ID_FIELD", "id", self->id_field,
                              sizeof self->id_field, error, error_size))
        goto failed;
    const char *url = self->channel.url;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(error, error_size, "NAGAR_NOTIFY_SMS_URL=%s must be an http:// or https:// URL",
                 url);
        goto failed;
    }
    self->json = strstr(self->content_type, "json") != NULL;
    self->form = strstr(self->content_type, "x-www-form-urlencoded") != NULL;
    size_t sender_length = strlen(self->sender);
    bool sender_ok = sender_length >= 3 && sender_length <= 11;
    for (size_t i = 0; sender_ok && i < sender_length; i++)
        sender_ok = (self->sender[i] >= 'A' && self->sender[i] <= 'Z') ||
                    (self->sender[i] >= '0' && self->sender[i] <= '9');
    if (!sender_ok) {
        snprintf(error, error_size, "NAGAR_NOTIFY_SMS_SENDER=%s must be the DLT sender header: "
                 "3 to 11 capital letters or digits (usually 6 letters)", self->sender);
        goto failed;
    }
    for (const char *p = self->entity_id; *p; p++)
        if (*p < '0' || *p > '9') {
            snprintf(error, error_size, "NAGAR_NOTIFY_SMS_DLT_ENTITY_ID must be digits");
            goto failed;
        }
    /* Every placeholder of the body template must be one we fill. */
    for (const char *p = strstr(self->body_template, "{{"); p; p = strstr(p + 2, "{{")) {
        const char *end = strstr(p, "}}");
        bool known = false;
        for (int i = 0; end && BODY_PLACEHOLDERS[i]; i++)
            if ((size_t) (end - p - 2) == strlen(BODY_PLACEHOLDERS[i]) &&
                strncmp(p + 2, BODY_PLACEHOLDERS[i], (size_t) (end - p - 2)) == 0)
                known = true;
        if (!known) {
            snprintf(error, error_size,
                     "NAGAR_NOTIFY_SMS_BODY_TEMPLATE has an unknown placeholder at \"%.24s\"; "
                     "known: mobile, msisdn, sender, text, unicode, encoding, segments, "
                     "dlt_entity_id, dlt_template_id, message_id", p);
            goto failed;
        }
    }
    if (auth_file[0]) {
        char value[CHANNEL_SECRET_MAX];
        if (nagar_key_file_read_secret(auth_file, value, sizeof value, error, error_size) != 0)
            goto failed;
        snprintf(self->auth_header, sizeof self->auth_header, "%s: %s", auth_name, value);
        sodium_memzero(value, sizeof value);
    }
    return channel;
failed:
    notifications_channel_destroy(&channel);
    return NULL;
}

static void append_value(sms_channel_t *self, CURL *easy, nagar_buffer_t *buffer,
                         const char *value)
{
    if (self->form) {
        char *escaped = curl_easy_escape(easy, value, 0);
        if (!escaped) {
            nagar_buffer_fail(buffer);
            return;
        }
        nagar_buffer_append(buffer, escaped, strlen(escaped));
        sodium_memzero(escaped, strlen(escaped));
        curl_free(escaped);
    } else if (self->json) {
        for (const unsigned char *p = (const unsigned char *) value; *p; p++) {
            char escape[8];
            if (*p == '"' || *p == '\\') {
                escape[0] = '\\';
                escape[1] = (char) *p;
                nagar_buffer_append(buffer, escape, 2);
            } else if (*p < 0x20) {
                snprintf(escape, sizeof escape, "\\u%04x", *p);
                nagar_buffer_append(buffer, escape, 6);
            } else {
                nagar_buffer_append(buffer, (const char *) p, 1);
            }
        }
    } else {
        nagar_buffer_append(buffer, value, strlen(value));
    }
}

static transfer_t *sms_start(channel_t *channel, const outgoing_t *message,
                             send_result_t *result)
{
    sms_channel_t *self = (sms_channel_t *) channel;
    transfer_t *transfer = notifications_channel_transfer(channel, "SMS request", result);
    if (!transfer)
        return NULL;
    char msisdn[16], segments[16], message_id[24];
    snprintf(msisdn, sizeof msisdn, "91%s", message->address);
    snprintf(segments, sizeof segments, "%d", message->segments);
    snprintf(message_id, sizeof message_id, "%lld", (long long) message->message_id);
    bool unicode = strcmp(message->encoding, "UCS-2") == 0;
    const char *values[] = {message->address, msisdn, self->sender, message->body,
                            unicode ? "true" : "false", message->encoding, segments,
                            self->entity_id, message->dlt_template_id, message_id};
    nagar_buffer_t *body = nagar_buffer_new_wiped(0);   /* holds the text and the number */
    const char *p = body ? self->body_template : "";   /* no buffer: the take below fails */
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            nagar_buffer_append(body, p, strlen(p));
            break;
        }
        nagar_buffer_append(body, p, (size_t) (open - p));
        const char *close = strstr(open, "}}");
        size_t name_length = (size_t) (close - open - 2);
        for (int i = 0; BODY_PLACEHOLDERS[i]; i++)
            if (strlen(BODY_PLACEHOLDERS[i]) == name_length &&
                strncmp(open + 2, BODY_PLACEHOLDERS[i], name_length) == 0) {
                append_value(self, transfer->easy, body, values[i]);
                break;
            }
        p = close + 2;
    }
    transfer = notifications_channel_request(channel, transfer, &body, "SMS request", result);
    if (!transfer)
        return NULL;
    char content_type[160];
    snprintf(content_type, sizeof content_type, "Content-Type: %s", self->content_type);
    transfer->list = curl_slist_append(transfer->list, content_type);
    transfer->list = curl_slist_append(transfer->list, "Expect:");
    if (self->auth_header[0])
        transfer->list = curl_slist_append(transfer->list, self->auth_header);
    CURL *easy = transfer->easy;
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->list);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, transfer->request);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) transfer->request_size);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "nagar-notifications/1");
    return transfer;
}

static void sms_finish(channel_t *channel, transfer_t *transfer, CURLcode code,
                       send_result_t *result)
{
    sms_channel_t *self = (sms_channel_t *) channel;
    result->provider_id[0] = '\0';
    if (code != CURLE_OK) {
        result->status = SEND_RETRY;
        snprintf(result->error, sizeof result->error, "SMS provider %.100s: %.150s", self->channel.url,
                 transfer->error_buffer[0] ? transfer->error_buffer : curl_easy_strerror(code));
        return;
    }
    long status = 0;
    curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        result->status = SEND_OK;
        result->error[0] = '\0';
        json_t *answer = json_loads(transfer->response, JSON_REJECT_DUPLICATES, NULL);
        json_t *id = json_is_object(answer) ? json_object_get(answer, self->id_field) : NULL;
        if (json_is_string(id))
            snprintf(result->provider_id, sizeof result->provider_id, "%s", json_string_value(id));
        else if (json_is_integer(id))
            snprintf(result->provider_id, sizeof result->provider_id, "%lld",
                     (long long) json_integer_value(id));
        json_decref(answer);
        return;
    }
    result->status = (status == 408 || status == 429 || status >= 500) ? SEND_RETRY
                                                                        : SEND_REJECTED;
    /* The provider's answer, trimmed to one printable line. */
    char snippet[160];
    size_t n = 0;
    for (size_t i = 0; i < transfer->response_size && n < sizeof snippet - 1; i++)
        snippet[n++] = (transfer->response[i] >= 0x20 && transfer->response[i] < 0x7f)
                           ? transfer->response[i]
                           : ' ';
    snippet[n] = '\0';
    snprintf(result->error, sizeof result->error, "SMS provider answered HTTP %ld%s%s", status,
             n ? ": " : "", snippet);
}
