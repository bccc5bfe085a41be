/*
 * errors.c — JSON error bodies; see errors.h. Built with jansson so that
 * messages quoting client input (a bad query parameter name, a JSON path)
 * are always escaped correctly.
 */
#include "errors.h"

#include <jansson.h>
#include <string.h>

char *gateway_error_body(const char *code, const char *message, const char *field,
                         const char *request_id, size_t *length)
{
    json_t *error = json_pack("{s:s?, s:s?, s:s?, s:s?}", "code", code, "message", message,
                              "field", field ? field : "", "requestId",
                              request_id ? request_id : "");
    if (!error) {
        /* json_pack refuses invalid UTF-8; a message built from client
         * bytes must not make the error itself fail. */
        error = json_pack("{s:s, s:s, s:s, s:s}", "code", code ? code : "INTERNAL", "message",
                          "the error message could not be encoded", "field", "", "requestId",
                          "");
    }
    json_t *body = error ? json_pack("{s:o}", "error", error) : NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text && length)
        *length = strlen(text);
    return text;
}
