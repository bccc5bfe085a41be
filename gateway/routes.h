/*
 * routes.h — the gateway's declarative route table and the parsing of
 * request targets (path matching, query strings).
 *
 * Each route says, in one line of data, what an HTTP method and path mean:
 * which service and bus method to call, which protobuf messages carry the
 * request and the reply, who may call it, and whether it mutates state or
 * moves money. Everything else (authentication, decoding, OpenAPI) is
 * driven by this table, so adding a route never means writing a handler.
 *
 * The parsing functions are pure and bounded, which is what the libFuzzer
 * harness in tests/fuzz/fuzz_gateway_route.c exercises.
 */
#ifndef GATEWAY_ROUTES_H
#define GATEWAY_ROUTES_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* Roles a route admits, as a bit set. PUBLIC means no token is needed. */
enum {
    GATEWAY_ROLE_PUBLIC = 1u << 0,
    GATEWAY_ROLE_CITIZEN = 1u << 1,
    GATEWAY_ROLE_CLERK = 1u << 2,
    GATEWAY_ROLE_REGISTRAR = 1u << 3,
    GATEWAY_ROLE_REVENUE_OFFICER = 1u << 4,
    GATEWAY_ROLE_COMMISSIONER = 1u << 5,
    GATEWAY_ROLE_STATE_ADMIN = 1u << 6,
};
#define GATEWAY_ROLES_ANY_USER                                                                  \
    (GATEWAY_ROLE_CITIZEN | GATEWAY_ROLE_CLERK | GATEWAY_ROLE_REGISTRAR |                      \
     GATEWAY_ROLE_REVENUE_OFFICER | GATEWAY_ROLE_COMMISSIONER | GATEWAY_ROLE_STATE_ADMIN)

#define GATEWAY_PATH_PARAMS_MAX 4
#define GATEWAY_PARAM_NAME_MAX 64
#define GATEWAY_PATH_PARAM_VALUE_MAX 256
#define GATEWAY_QUERY_PARAMS_MAX 32
#define GATEWAY_QUERY_VALUE_MAX 1024

typedef struct {
    const char *method;                             /* "GET", "POST", "PUT", ... */
    const char *pattern;                            /* "/api/v1/ulbs/{code}" */
    const char *service;                            /* bus service, "identity" */
    const char *bus_method;                         /* "ulb.get" */
    const ProtobufCMessageDescriptor *request_type;
    const ProtobufCMessageDescriptor *reply_type;
    unsigned roles;                                 /* GATEWAY_ROLE_* bits */
    bool mutation;                                  /* passes Idempotency-Key through */
    bool money_moving;                              /* requires Idempotency-Key */
    const char *summary;                            /* one line for OpenAPI */
} gateway_route_t;

/* The table, and its length in *count. */
const gateway_route_t *gateway_routes(size_t *count);

/* The distinct services the table routes to (NULL-terminated, static). */
const char *const *gateway_route_services(void);

typedef struct {
    char name[GATEWAY_PARAM_NAME_MAX + 1];          /* as in the pattern: "code" */
    char value[GATEWAY_PATH_PARAM_VALUE_MAX + 1];   /* percent-decoded */
} gateway_path_param_t;

typedef struct {
    const gateway_route_t *route;
    size_t route_index;
    size_t param_count;
    gateway_path_param_t params[GATEWAY_PATH_PARAMS_MAX];
} gateway_route_match_t;

typedef enum {
    GATEWAY_ROUTE_FOUND = 0,
    GATEWAY_ROUTE_NOT_FOUND,        /* no pattern matches the path */
    GATEWAY_ROUTE_WRONG_METHOD,     /* a pattern matches, not with this method; allow lists those */
    GATEWAY_ROUTE_BAD_PATH,         /* bad percent-encoding or a parameter too long */
} gateway_route_result_t;

/* Matches method and path (no query string) against the table. On
 * WRONG_METHOD, allow receives the methods that would match, comma
 * separated ("GET, POST"). */
gateway_route_result_t gateway_route_match(const char *method, const char *path,
                                           gateway_route_match_t *match, char *allow,
                                           size_t allow_size);

/* The same against any table (for tests and the fuzzer). */
gateway_route_result_t gateway_route_match_in(const gateway_route_t *routes, size_t count,
                                              const char *method, const char *path,
                                              gateway_route_match_t *match, char *allow,
                                              size_t allow_size);

/* A parsed query string: name=value pairs in order, percent-decoded ('+'
 * is a space), NUL-terminated, pointing into one buffer. */
typedef struct {
    size_t count;
    char *names[GATEWAY_QUERY_PARAMS_MAX];
    char *values[GATEWAY_QUERY_PARAMS_MAX];
    char *buffer;
} gateway_query_t;

/* Parses query (the text after '?', may be NULL or empty). Rejects more
 * than GATEWAY_QUERY_PARAMS_MAX pairs, empty names, names or values over
 * their bounds, bad percent-encoding and decoded control characters.
 * Returns 0, or -1 with the reason in error and the offending name (or "")
 * in field. Free with gateway_query_free even on failure. */
int gateway_query_parse(const char *query, gateway_query_t *out, char *error, size_t error_size,
                        char *field, size_t field_size);
void gateway_query_free(gateway_query_t *query);

/* Decodes %XX escapes of in[0..length) into out (NUL-terminated). plus_is_space
 * for query strings. Returns the decoded length, or -1 on a bad escape, a
 * decoded control character (including NUL), or when out is too small. */
long gateway_percent_decode(const char *in, size_t length, bool plus_is_space, char *out,
                            size_t out_size);

/* GATEWAY_ROLE_* bit for a role name ("CLERK"), 0 when unknown. */
unsigned gateway_role_bit(const char *role);

/* "CLERK, REGISTRAR" for a bit set, into out. */
void gateway_roles_text(unsigned roles, char *out, size_t out_size);

#endif
