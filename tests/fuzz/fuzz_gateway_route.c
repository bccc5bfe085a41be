/*
 * fuzz_gateway_route.c — libFuzzer harness for the gateway's request-target
 * parsing: route matching (with path parameters and percent-decoding) and
 * query-string parsing, on arbitrary bytes.
 *
 * Besides crashes and sanitizer reports, it checks the promises routes.h
 * makes: a match names a route whose method is the one asked for, decoded
 * values never hold control characters and stay within their bounds, a
 * parsed query never exceeds GATEWAY_QUERY_PARAMS_MAX pairs.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icommon -Igateway -I$BUILD/gen \
 *     tests/fuzz/fuzz_gateway_route.c gateway/routes.c $BUILD/gen/proto/identity.pb-c.c \
 *     -lprotobuf-c -o $BUILD/fuzz_gateway_route
 *   $BUILD/fuzz_gateway_route -max_total_time=60 -max_len=4096
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};

static void check_text(const char *text, size_t bound)
{
    size_t length = strlen(text);
    if (length > bound)
        abort();
    for (size_t i = 0; i < length; i++)
        if ((unsigned char) text[i] < 0x20 || text[i] == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    const char *method = methods[data[0] % (sizeof methods / sizeof methods[0])];
    char *target = malloc(size);
    if (!target)
        return 0;
    memcpy(target, data + 1, size - 1);
    target[size - 1] = '\0';          /* the server hands us NUL-terminated text */
    char *question = strchr(target, '?');
    const char *query = NULL;
    if (question) {
        *question = '\0';
        query = question + 1;
    }

    gateway_route_match_t match;
    char allow[64];
    gateway_route_result_t result = gateway_route_match(method, target, &match, allow,
                                                        sizeof allow);
    if (result == GATEWAY_ROUTE_FOUND) {
        if (!match.route || strcmp(match.route->method, method) != 0 ||
            match.param_count > GATEWAY_PATH_PARAMS_MAX)
            abort();
        for (size_t i = 0; i < match.param_count; i++) {
            check_text(match.params[i].name, GATEWAY_PARAM_NAME_MAX);
            check_text(match.params[i].value, GATEWAY_PATH_PARAM_VALUE_MAX);
            if (match.params[i].value[0] == '\0')
                abort();      /* an empty segment never matches a parameter */
        }
    } else if (result == GATEWAY_ROUTE_WRONG_METHOD) {
        if (allow[0] == '\0' || strstr(allow, method))
            abort();
    }

    gateway_query_t parsed;
    char error[256], field[GATEWAY_PARAM_NAME_MAX + 1];
    if (gateway_query_parse(query, &parsed, error, sizeof error, field, sizeof field) == 0) {
        if (parsed.count > GATEWAY_QUERY_PARAMS_MAX)
            abort();
        for (size_t i = 0; i < parsed.count; i++) {
            if (parsed.names[i][0] == '\0')
                abort();
            check_text(parsed.names[i], GATEWAY_PARAM_NAME_MAX);
            check_text(parsed.values[i], GATEWAY_QUERY_VALUE_MAX);
        }
    } else if (error[0] == '\0') {
        abort();              /* a refusal always says why */
    }
    gateway_query_free(&parsed);

    /* Decoding never grows text. */
    char out[128];
    long decoded = gateway_percent_decode((const char *) data, size < 100 ? size : 100,
                                          data[0] & 1, out, sizeof out);
    if (decoded > 100)
        abort();
    free(target);
    return 0;
}
