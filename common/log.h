/*
 * log.h — structured logs, one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-28T21:40:01.123Z","level":"warn","process":"broker",
 *    "event":"acl.call_denied","request_id":"…","msg":"…", …extra fields}
 *
 * "event" is a stable dotted name that tests and alerting grep for; "msg"
 * is for people. The request id of the request being handled is kept per
 * thread (nagar_log_set_request_id) so every line a request causes carries
 * it. Never pass secrets (passwords, OTPs, tokens, secret keys) to a log.
 */
#ifndef NAGAR_LOG_H
#define NAGAR_LOG_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>

typedef enum {
    NAGAR_LOG_DEBUG = 0,
    NAGAR_LOG_INFO = 1,
    NAGAR_LOG_WARN = 2,
    NAGAR_LOG_ERROR = 3,
} nagar_log_level_t;

/* Names the process in every line; the minimum level comes from
 * NAGAR_LOG_LEVEL (debug, info, warn, error; default info). */
void nagar_log_init(const char *process_name);

/* The request id stamped on this thread's lines; NULL or "" clears it. */
void nagar_log_set_request_id(const char *request_id);
const char *nagar_log_request_id(void);

/* Whether a line of this level is written: a caller whose fields cost
 * something to build (a per-request access line) skips them when not. */
bool nagar_log_enabled(nagar_log_level_t level);

/* Writes one line. fields, when not NULL, is a JSON object whose members are
 * added to the line; the reference is stolen. */
void nagar_log_write(nagar_log_level_t level, const char *event, json_t *fields,
                     const char *format, ...) __attribute__((format(printf, 4, 5)));
void nagar_log_writev(nagar_log_level_t level, const char *event, json_t *fields,
                      const char *format, va_list args);

#define nagar_log_debug(event, ...) nagar_log_write(NAGAR_LOG_DEBUG, event, NULL, __VA_ARGS__)
#define nagar_log_info(event, ...) nagar_log_write(NAGAR_LOG_INFO, event, NULL, __VA_ARGS__)
#define nagar_log_warn(event, ...) nagar_log_write(NAGAR_LOG_WARN, event, NULL, __VA_ARGS__)
#define nagar_log_error(event, ...) nagar_log_write(NAGAR_LOG_ERROR, event, NULL, __VA_ARGS__)

#endif
