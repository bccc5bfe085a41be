/*
 * openapi.c — builds the OpenAPI 3.0 document from routes and descriptors;
 * see openapi.h. Everything is assembled as a jansson tree and dumped once.
 */
#include "openapi.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "field_limits.h"

void gateway_json_name(const char *proto_name, char *out, size_t out_size)
{
    size_t used = 0;
    bool upper = false;
    for (const char *c = proto_name; *c && used + 1 < out_size; c++) {
        if (*c == '_') {
            upper = true;
            continue;
        }
        out[used++] = upper ? (char) toupper((unsigned char) *c) : *c;
        upper = false;
    }
    if (out_size)
        out[used] = '\0';
}

static json_t *schema_ref(const char *full_name)
{
    char ref[256];
    snprintf(ref, sizeof ref, "#/components/schemas/%s", full_name);
    return json_pack("{s:s}", "$ref", ref);
}

static void add_message_schema(json_t *schemas, const ProtobufCMessageDescriptor *type);

/* The schema of one value of field (ignoring repetition). */
static json_t *field_value_schema(json_t *schemas, const ProtobufCFieldDescriptor *field)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_pack("{s:s, s:s}", "type", "integer", "format", "int32");
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_pack("{s:s, s:s, s:i, s:I}", "type", "integer", "format", "int64", "minimum",
                         0, "maximum", (json_int_t) 4294967295LL);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_pack("{s:s, s:s, s:s}", "type", "string", "format", "int64", "pattern",
                         "^-?(0|[1-9][0-9]*)$");
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_pack("{s:s, s:s, s:s}", "type", "string", "format", "uint64", "pattern",
                         "^(0|[1-9][0-9]*)$");
    case PROTOBUF_C_TYPE_FLOAT:
        return json_pack("{s:s, s:s}", "type", "number", "format", "float");
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_pack("{s:s, s:s}", "type", "number", "format", "double");
    case PROTOBUF_C_TYPE_BOOL:
        return json_pack("{s:s}", "type", "boolean");
    case PROTOBUF_C_TYPE_STRING:
        return json_pack("{s:s}", "type", "string");
    case PROTOBUF_C_TYPE_BYTES:
        return json_pack("{s:s, s:s}", "type", "string", "format", "byte");
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = field->descriptor;
        json_t *names = json_array();
        for (unsigned i = 0; i < e->n_values; i++)
            json_array_append_new(names, json_string(e->values[i].name));
        return json_pack("{s:s, s:o}", "type", "string", "enum", names);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *m = field->descriptor;
        add_message_schema(schemas, m);
        return schema_ref(m->name);
    }
    }
    return json_object();
}

/* The limits the proto declares beside the field (field_limits.h), so that
 * the document says what the service accepts. */
static void add_declared_limits(json_t *value, json_t *list, const char *message,
                                const ProtobufCFieldDescriptor *field)
{
    const nagar_field_limit_t *range =
        nagar_field_limit_find(message, field->name, NAGAR_LIMIT_RANGE);
    if (range && value) {
        json_object_set_new(value, "minimum", json_integer(range->min));
        json_object_set_new(value, "maximum", json_integer(range->max));
    }
    const nagar_field_limit_t *length =
        nagar_field_limit_find(message, field->name, NAGAR_LIMIT_LENGTH);
    if (length && value) {
        json_object_set_new(value, "minLength", json_integer(length->min));
        json_object_set_new(value, "maxLength", json_integer(length->max));
    }
    const nagar_field_limit_t *items =
        nagar_field_limit_find(message, field->name, NAGAR_LIMIT_ITEMS);
    if (items && list) {
        json_object_set_new(list, "minItems", json_integer(items->min));
        json_object_set_new(list, "maxItems", json_integer(items->max));
    }
}

static json_t *field_schema(json_t *schemas, const char *message,
                            const ProtobufCFieldDescriptor *field)
{
    json_t *value = field_value_schema(schemas, field);
    json_t *list = field->label == PROTOBUF_C_LABEL_REPEATED
                       ? json_pack("{s:s, s:O}", "type", "array", "items", value) : NULL;
    if (value && field->type != PROTOBUF_C_TYPE_MESSAGE)
        add_declared_limits(value, list, message, field);
    else if (list)
        add_declared_limits(NULL, list, message, field);
    if (list) {
        json_decref(value);
        return list;
    }
    return value;
}

static void add_message_schema(json_t *schemas, const ProtobufCMessageDescriptor *type)
{
    if (json_object_get(schemas, type->name))
        return;
    json_t *properties = json_object();
    json_t *schema = json_pack("{s:s, s:o, s:b}", "type", "object", "properties", properties,
                               "additionalProperties", 0);
    /* Insert first: a message that refers to itself must find itself. */
    json_object_set_new(schemas, type->name, schema);
    for (unsigned i = 0; i < type->n_fields; i++) {
        char name[128];
        gateway_json_name(type->fields[i].name, name, sizeof name);
        json_object_set_new(properties, name, field_schema(schemas, type->name, &type->fields[i]));
    }
}

static bool is_path_param(const gateway_route_t *route, const char *json_name)
{
    char needle[160];
    snprintf(needle, sizeof needle, "{%s}", json_name);
    return strstr(route->pattern, needle) != NULL;
}

static json_t *error_responses(bool secured)
{
    static const struct {
        const char *status, *what;
    } statuses[] = {
        {"400", "Malformed JSON, unknown field, wrong type, or a limit exceeded"},
        {"401", "Missing, expired, forged or revoked access token"},
        {"403", "The caller's role or ULB may not do this"},
        {"404", "Not found"},
        {"409", "Conflict (e.g. an idempotency key reused with another request)"},
        {"413", "Body too large"},
        {"422", "A field broke a rule; error.field names it"},
        {"429", "Rate limited; see Retry-After"},
        {"503", "The service is unavailable (no worker or quarantined)"},
        {"504", "The service did not answer in time"},
    };
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        if (!secured && strcmp(statuses[i].status, "401") == 0)
            continue;
        json_object_set_new(out, statuses[i].status,
                            json_pack("{s:s, s:{s:{s:o}}}", "description", statuses[i].what,
                                      "content", "application/json", "schema",
                                      schema_ref("Error")));
    }
    return out;
}

static void operation_id(const gateway_route_t *route, char *out, size_t out_size)
{
    /* property_tax "payment.record" -> "propertyTaxPaymentRecord": bus
     * methods are unique within a service, and client generators refuse a
     * document whose operationIds repeat (water tax has the same methods). */
    char flat[192];
    snprintf(flat, sizeof flat, "%s_%s", route->service, route->bus_method);
    for (char *c = flat; *c; c++)
        if (*c == '.')
            *c = '_';
    gateway_json_name(flat, out, out_size);
}

static json_t *operation(json_t *schemas, const gateway_route_t *route)
{
    char id[128], roles[256];
    operation_id(route, id, sizeof id);
    gateway_roles_text(route->roles, roles, sizeof roles);
    bool secured = !(route->roles & GATEWAY_ROLE_PUBLIC);
    char description[512];
    snprintf(description, sizeof description, "Bus: %s %s. Roles: %s.%s", route->service,
             route->bus_method, secured ? roles : "public (no login)",
             route->money_moving ? " Moves money: Idempotency-Key is required." : "");
    json_t *op = json_pack("{s:s, s:s, s:s, s:[s]}", "operationId", id, "summary",
                           route->summary, "description", description, "tags", route->service);
    json_t *parameters = json_array();
    add_message_schema(schemas, route->request_type);
    add_message_schema(schemas, route->reply_type);
    bool has_body = strcmp(route->method, "GET") != 0 && strcmp(route->method, "DELETE") != 0;
    for (unsigned i = 0; i < route->request_type->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &route->request_type->fields[i];
        char name[128];
        gateway_json_name(field->name, name, sizeof name);
        if (is_path_param(route, name)) {
            json_array_append_new(parameters,
                                  json_pack("{s:s, s:s, s:b, s:o}", "name", name, "in", "path",
                                            "required", 1, "schema",
                                            field_schema(schemas, route->request_type->name,
                                                         field)));
        } else if (!has_body && field->type != PROTOBUF_C_TYPE_MESSAGE) {
            json_t *param = json_pack("{s:s, s:s, s:b, s:o}", "name", name, "in", "query",
                                      "required", 0, "schema",
                                      field_schema(schemas, route->request_type->name, field));
            if (field->label == PROTOBUF_C_LABEL_REPEATED)
                json_object_set_new(param, "explode", json_true());
            json_array_append_new(parameters, param);
        }
    }
    if (route->mutation)
        json_array_append_new(
            parameters,
            json_pack("{s:s, s:s, s:b, s:s, s:{s:s, s:i, s:i}}", "name", "Idempotency-Key", "in",
                      "header", "required", route->money_moving, "description",
                      "Makes a retry safe: the same key with the same request returns the first "
                      "result.",
                      "schema", "type", "string", "minLength", 1, "maxLength", 128));
    json_array_append_new(parameters, json_pack("{s:s, s:s, s:b, s:s, s:{s:s, s:s}}", "name",
                                                "X-Request-Id", "in", "header", "required", 0,
                                                "description",
                                                "8..64 of [A-Za-z0-9._-]; echoed, else generated",
                                                "schema", "type", "string", "pattern",
                                                "^[A-Za-z0-9._-]{8,64}$"));
    json_object_set_new(op, "parameters", parameters);
    if (has_body)
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:o}}}", "required", 0, "content",
                                      "application/json", "schema",
                                      schema_ref(route->request_type->name)));
    json_t *responses = error_responses(secured);
    json_t *ok = json_pack("{s:s, s:{s:{s:o}}}", "description", "OK", "content",
                           "application/json", "schema", schema_ref(route->reply_type->name));
    if (route->mutation) {
        /* A retry with the same Idempotency-Key returns the first answer,
         * marked: "replayed": true in the body, and a header. */
        json_t *reply = json_object_get(schemas, route->reply_type->name);
        json_object_set_new(json_object_get(reply, "properties"), "replayed",
                            json_pack("{s:s, s:s}", "type", "boolean", "description",
                                      "true when this is the stored answer to an earlier "
                                      "request with the same Idempotency-Key"));
        json_object_set_new(ok, "headers",
                            json_pack("{s:{s:s, s:{s:s, s:[s]}}}", "Idempotent-Replayed",
                                      "description", "\"true\" on a replayed answer", "schema",
                                      "type", "string", "enum", "true"));
    }
    json_object_set_new(responses, "200", ok);
    json_object_set_new(op, "responses", responses);
    json_object_set_new(op, "security",
                        secured ? json_pack("[{s:[]}]", "bearer") : json_array());
    return op;
}

static json_t *plain_operation(const char *id, const char *summary, const char *content_type)
{
    return json_pack("{s:s, s:s, s:[s], s:[], s:{s:{s:s, s:{s:{s:{s:s}}}}}}", "operationId", id,
                     "summary", summary, "tags", "operations", "security", "responses", "200",
                     "description", "OK", "content", content_type, "schema", "type",
                     strcmp(content_type, "application/json") == 0 ? "object" : "string");
}

char *gateway_openapi_document(const gateway_route_t *routes, size_t count, size_t *length)
{
    json_t *schemas = json_object();
    json_object_set_new(
        schemas, "Error",
        json_pack("{s:s, s:[s], s:b, s:{s:{s:s, s:[s,s,s,s], s:b, s:{s:{s:s}, s:{s:s}, "
                  "s:{s:s}, s:{s:s}}}}}",
                  "type", "object", "required", "error", "additionalProperties", 0,
                  "properties", "error", "type", "object", "required", "code", "message",
                  "field", "requestId", "additionalProperties", 0, "properties", "code", "type",
                  "string", "message", "type", "string", "field", "type", "string",
                  "requestId", "type", "string"));
    json_t *paths = json_object();
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_object_get(paths, routes[i].pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, routes[i].pattern, item);
        }
        char method[16];
        size_t m = 0;
        for (; routes[i].method[m] && m + 1 < sizeof method; m++)
            method[m] = (char) tolower((unsigned char) routes[i].method[m]);
        method[m] = '\0';
        json_object_set_new(item, method, operation(schemas, &routes[i]));
    }
    json_object_set_new(paths, "/healthz",
                        json_pack("{s:o}", "get", plain_operation("healthz", "Liveness: 200 "
                                  "while the gateway serves", "application/json")));
    json_object_set_new(paths, "/readyz",
                        json_pack("{s:o}", "get", plain_operation("readyz", "Readiness: broker "
                                  "reachable and every routed service has a worker (503 naming "
                                  "those that do not)", "application/json")));
    json_object_set_new(paths, "/metrics",
                        json_pack("{s:o}", "get", plain_operation("metrics", "Prometheus "
                                  "metrics", "text/plain")));
    json_object_set_new(paths, "/api/v1/openapi.json",
                        json_pack("{s:o}", "get", plain_operation("openapi", "This document",
                                  "application/json")));
    json_t *doc = json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:{s:o, s:{s:{s:s, s:s, s:s}}, "
        "s:{s:{s:s, s:{s:{s:o}}}}}}",
        "openapi", "3.0.3", "info", "title", "Nagar API", "version", "1",
        "description", "Civic services of urban local bodies. JSON follows the proto3 JSON "
        "mapping: lowerCamelCase names, 64-bit integers as strings, enums by name; unknown "
        "fields are rejected.",
        "servers", "url", "/", "paths", paths, "components", "schemas", schemas,
        "securitySchemes", "bearer", "type", "http", "scheme", "bearer", "bearerFormat",
        "Nagar v1 (Ed25519)", "responses", "Error", "description", "An error",
        "content", "application/json", "schema", schema_ref("Error"));
    if (!doc)
        return NULL;
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text)
        *length = strlen(text);
    return text;
}
