/*
 * static.h — the built web apps (web/, see web/README.md) served from
 * memory: the citizen app at /, the staff app at /staff/.
 *
 * Every file under the web directory (NAGAR_GATEWAY_WEB_DIR, normally
 * build/web) is read once at start, with its precompressed siblings
 * (name.br, name.gz) when the build made them. A request is answered from
 * memory, never from the disk, so a request cannot name a file outside the
 * tree and serving costs no system call but the write.
 *
 * Caching: files under /assets/ carry a content hash in their name and are
 * served `public, max-age=31536000, immutable`; everything else (the HTML
 * pages, the service worker, the manifest) `no-cache` with an ETag, so a
 * new release is picked up on the next load. A path without a file
 * extension that names no file is an app route: the page the build
 * rendered for it when there is one (/town gets town.html: the page already
 * drawn, so it paints before any script runs); else /staff/... gets the
 * staff app's index.html; / the citizen app's index.html (its start page,
 * rendered the same way); any other route the citizen app's app.html (the
 * same app without a page drawn), or index.html when the build made no
 * app.html.
 *
 * Security headers (added here; http.c adds X-Request-Id and HSTS): a CSP
 * allowing scripts, styles, fetches and workers from the same origin only —
 * no inline script, no eval — and `frame-ancestors 'none'`;
 * `Referrer-Policy: no-referrer`; nosniff; `X-Frame-Options: DENY`;
 * `Cross-Origin-Opener-Policy: same-origin`; a Permissions-Policy allowing
 * only the camera (the certificate QR scanner), for this origin.
 */
#ifndef GATEWAY_STATIC_H
#define GATEWAY_STATIC_H

#include <stddef.h>

struct MHD_Response;

#define GATEWAY_STATIC_FILES_MAX 4096
#define GATEWAY_STATIC_BYTES_MAX (64L * 1024 * 1024)

/* The Content-Security-Policy of every web page (tested as such): style-src
 * also names the SHA-256 hashes of the inline stylesheets the build lists in
 * csp-style-hashes.txt ('sha256-<base64>' tokens; nothing else is accepted). */
#define GATEWAY_STATIC_CSP_TO_STYLE "default-src 'none'; script-src 'self'; style-src 'self'"
#define GATEWAY_STATIC_CSP_AFTER_STYLE                                                         \
    "; img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; "                   \
    "manifest-src 'self'; media-src 'self' blob:; font-src 'self'; form-action 'self'; "      \
    "base-uri 'none'; frame-ancestors 'none'"
#define GATEWAY_STATIC_STYLE_HASHES_MAX 8

typedef struct gateway_static_t gateway_static_t;

/* Loads every file under root, and config_path (when not NULL or "") as
 * /config.json: the deployment's settings for the apps (e.g. the payment
 * provider's page). NULL with the reason in error (missing directory, no
 * index.html, too many or too large files). */
gateway_static_t *gateway_static_new(const char *root, const char *config_path, char *error,
                                     size_t error_size);
void gateway_static_destroy(gateway_static_t **self_p);

/* Number of files served (precompressed variants not counted). */
size_t gateway_static_count(gateway_static_t *self);

/* The response for a GET or HEAD of path (no query), choosing the br or
 * gzip variant that accept_encoding allows and answering 304 when
 * if_none_match names the current ETag. NULL when no file or app route
 * matches (the caller answers 404). *status is set with the response. */
struct MHD_Response *gateway_static_answer(gateway_static_t *self, const char *path,
                                           const char *accept_encoding,
                                           const char *if_none_match, unsigned *status);

#endif
