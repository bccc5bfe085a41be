/*
 * session.h — browser sessions: the refresh token in an HttpOnly cookie.
 *
 * The web apps keep the access token in memory only. The refresh token
 * must then survive a reload without being readable by script, so the
 * gateway holds it for the browser in a cookie:
 *
 *   login (otp.verify, staff.login) with `X-Nagar-Session: cookie`:
 *     the reply's refreshToken is taken out of the JSON and set as
 *       nagar_refresh=<token>; Path=/api/v1/auth; Max-Age=<its life>; HttpOnly; SameSite=Strict
 *     plus a CSRF token readable by the app (double-submit cookie):
 *       nagar_csrf=<32 random bytes, hex>; Path=/; Max-Age=<same>; SameSite=Strict
 *     both `; Secure` under TLS (NAGAR_GATEWAY_HSTS_SECONDS > 0, or a trusted
 *     proxy saying X-Forwarded-Proto: https).
 *   refresh (token.refresh) and logout (token.logout) without a refreshToken
 *     in the body take it from the cookie — only when the X-CSRF-Token
 *     header equals the nagar_csrf cookie and the request is not
 *     cross-site (Origin, when sent, names the Host; Sec-Fetch-Site, when
 *     sent, is same-origin): otherwise 403 CSRF_CHECK_FAILED. A refresh
 *     rotates both cookies; a logout revokes the session at identity and
 *     clears both (Max-Age=0).
 *
 * API clients that send the refresh token in the body are unaffected.
 */
#ifndef GATEWAY_SESSION_H
#define GATEWAY_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct MHD_Connection;
struct MHD_Response;

#define GATEWAY_SESSION_COOKIE_MAX 3072

typedef enum {
    GATEWAY_SESSION_NONE = 0,
    GATEWAY_SESSION_LOGIN,
    GATEWAY_SESSION_REFRESH,
    GATEWAY_SESSION_LOGOUT,
} gateway_session_kind_t;

/* The session side of one request. */
typedef struct {
    gateway_session_kind_t kind;
    bool cookie;              /* the browser's cookie session is in play */
    bool secure;              /* cookies get ; Secure */
    char set_cookie[2][GATEWAY_SESSION_COOKIE_MAX];
    size_t set_cookie_count;
} gateway_session_t;

/* Before the bus call of a route (service, bus_method). For an identity
 * login/refresh/logout route it makes *session_p (the caller destroys it)
 * and takes the refresh token from the cookie into message where the body
 * had none, after the CSRF check; for every other route it does nothing
 * and leaves *session_p NULL, so a request that is not a session's pays
 * for no cookie buffers. Returns 0, or 403 (CSRF) or 500 (out of memory)
 * with the reason in error. */
int gateway_session_prepare(gateway_session_t **session_p, const char *service,
                            const char *bus_method, struct MHD_Connection *connection,
                            ProtobufCMessage *message, bool secure, char *error,
                            size_t error_size);

/* On a successful reply (session may be NULL: nothing applies): for a cookie login or refresh, takes refreshToken
 * out of json (rewritten in place; returns the new malloc'd text, the old
 * one freed) and prepares the cookies; for a cookie logout, prepares the
 * clearing cookies. Returns json unchanged when nothing applies. */
char *gateway_session_reply(gateway_session_t *session, char *json);

/* Adds the prepared Set-Cookie headers to response (none when session is NULL). */
void gateway_session_add_cookies(const gateway_session_t *session, struct MHD_Response *response);

/* Frees a session made by gateway_session_prepare (wiped: its cookies hold
 * the refresh token); NULL does nothing. */
void gateway_session_destroy(gateway_session_t **self_p);

#endif
