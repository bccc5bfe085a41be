/*
 * session.c — the browser's refresh-token cookie and its CSRF check; see
 * session.h.
 */
#include "session.h"

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFRESH_COOKIE "nagar_refresh"
#define CSRF_COOKIE "nagar_csrf"
#define REFRESH_TOKEN_MAX 2048

static gateway_session_kind_t kind_of(const char *service, const char *bus_method)
{
    if (strcmp(service, "identity") != 0)
        return GATEWAY_SESSION_NONE;
    if (strcmp(bus_method, "otp.verify") == 0 || strcmp(bus_method, "staff.login") == 0)
        return GATEWAY_SESSION_LOGIN;
    if (strcmp(bus_method, "token.refresh") == 0)
        return GATEWAY_SESSION_REFRESH;
    if (strcmp(bus_method, "token.logout") == 0)
        return GATEWAY_SESSION_LOGOUT;
    return GATEWAY_SESSION_NONE;
}

/* The string field refresh_token of a RefreshRequest or LogoutRequest. */
static char **refresh_field(ProtobufCMessage *message)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(message->descriptor, "refresh_token");
    if (!field || field->type != PROTOBUF_C_TYPE_STRING || field->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    return (char **) ((char *) message + field->offset);
}

/* Origin "scheme://host[:port]" names host (the Host header)? */
static bool same_origin(const char *origin, const char *host)
{
    const char *authority = strstr(origin, "://");
    return authority && host && strcmp(authority + 3, host) == 0;
}

int gateway_session_prepare(gateway_session_t **session_p, const char *service,
                            const char *bus_method, struct MHD_Connection *connection,
                            ProtobufCMessage *message, bool secure, char *error,
                            size_t error_size)
{
    gateway_session_kind_t kind = kind_of(service, bus_method);
    if (kind == GATEWAY_SESSION_NONE)
        return 0;               /* every other route: nothing allocated, nothing to do */
    gateway_session_destroy(session_p);
    gateway_session_t *session = calloc(1, sizeof *session);
    if (!session) {
        snprintf(error, error_size, "out of memory preparing the session cookie");
        return 500;
    }
    *session_p = session;
    session->kind = kind;
    session->secure = secure;
    if (session->kind == GATEWAY_SESSION_LOGIN) {
        const char *mode =
            MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Nagar-Session");
        session->cookie = mode && strcmp(mode, "cookie") == 0;
        return 0;
    }
    char **token = refresh_field(message);
    if (!token || (*token && (*token)[0]))
        return 0;                   /* the API client sent its refresh token itself */
    const char *cookie =
        MHD_lookup_connection_value(connection, MHD_COOKIE_KIND, REFRESH_COOKIE);
    if (!cookie || !cookie[0])
        return 0;                   /* identity answers that the token is missing */
    const char *csrf_cookie =
        MHD_lookup_connection_value(connection, MHD_COOKIE_KIND, CSRF_COOKIE);
    const char *csrf_header =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-CSRF-Token");
    const char *origin = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Host");
    const char *site = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Sec-Fetch-Site");
    size_t length = csrf_cookie ? strlen(csrf_cookie) : 0;
    if (!csrf_cookie || !csrf_header || length < 32 || strlen(csrf_header) != length ||
        sodium_memcmp(csrf_cookie, csrf_header, length) != 0) {
        snprintf(error, error_size, "the session cookie may be used only with an X-CSRF-Token "
                 "header equal to the %s cookie", CSRF_COOKIE);
        return 403;
    }
    if ((origin && !same_origin(origin, host)) || (site && strcmp(site, "same-origin") != 0)) {
        snprintf(error, error_size, "the session cookie may be used only from this site's own "
                 "pages (Origin %s, Sec-Fetch-Site %s)", origin ? origin : "-", site ? site : "-");
        return 403;
    }
    if (strlen(cookie) > REFRESH_TOKEN_MAX) {
        snprintf(error, error_size, "the %s cookie is longer than %d bytes", REFRESH_COOKIE,
                 REFRESH_TOKEN_MAX);
        return 403;
    }
    char *copy = strdup(cookie);
    if (!copy) {
        snprintf(error, error_size, "out of memory copying the session cookie");
        return 500;
    }
    /* Unpacked messages free their strings unless they are the default "". */
    if (*token && *token != protobuf_c_empty_string)
        free(*token);
    *token = copy;
    session->cookie = true;
    return 0;
}

static void add_cookie(gateway_session_t *session, const char *name, const char *value,
                       long max_age, bool http_only, const char *path)
{
    if (session->set_cookie_count == 2)
        return;
    snprintf(session->set_cookie[session->set_cookie_count++], GATEWAY_SESSION_COOKIE_MAX,
             "%s=%s; Path=%s; Max-Age=%ld%s; SameSite=Strict%s", name, value, path, max_age,
             http_only ? "; HttpOnly" : "", session->secure ? "; Secure" : "");
}

char *gateway_session_reply(gateway_session_t *session, char *json)
{
    if (!session || !session->cookie || !json)
        return json;
    if (session->kind == GATEWAY_SESSION_LOGOUT) {
        add_cookie(session, REFRESH_COOKIE, "", 0, true, "/api/v1/auth");
        add_cookie(session, CSRF_COOKIE, "", 0, false, "/");
        return json;
    }
    json_t *root = json_loads(json, 0, NULL);
    json_t *token = root ? json_object_get(root, "refreshToken") : NULL;
    const char *value = token ? json_string_value(token) : NULL;
    if (!value || !value[0] || strlen(value) > REFRESH_TOKEN_MAX ||
        strcspn(value, ";, \t\r\n\"") != strlen(value)) {
        json_decref(root);
        return json;
    }
    json_t *life = json_object_get(root, "refreshExpiresInSeconds");
    long max_age = life && json_is_integer(life) ? (long) json_integer_value(life) : 0;
    if (max_age <= 0)
        max_age = 30L * 24 * 3600;
    uint8_t random[32];
    char csrf[65];
    randombytes_buf(random, sizeof random);
    sodium_bin2hex(csrf, sizeof csrf, random, sizeof random);
    add_cookie(session, REFRESH_COOKIE, value, max_age, true, "/api/v1/auth");
    add_cookie(session, CSRF_COOKIE, csrf, max_age, false, "/");
    json_object_del(root, "refreshToken");
    char *rewritten = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!rewritten) {
        session->set_cookie_count = 0;
        return json;
    }
    free(json);
    return rewritten;
}

void gateway_session_add_cookies(const gateway_session_t *session, struct MHD_Response *response)
{
    for (size_t i = 0; session && response && i < session->set_cookie_count; i++)
        MHD_add_response_header(response, "Set-Cookie", session->set_cookie[i]);
}

void gateway_session_destroy(gateway_session_t **self_p)
{
    gateway_session_t *self = *self_p;
    if (!self)
        return;
    sodium_memzero(self, sizeof *self);     /* the cookies carry the refresh token */
    free(self);
    *self_p = NULL;
}
