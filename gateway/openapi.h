/*
 * openapi.h — the OpenAPI 3.0 document for the routes in routes.c.
 *
 * Generated once at start from the route table and the protobuf-c
 * descriptors, so it cannot drift from what the gateway accepts: schemas
 * follow the proto3 JSON mapping the codec implements (lowerCamelCase
 * properties, 64-bit integers as strings, enums by name, bytes as base64),
 * public routes have no security requirement and the rest need the bearer
 * scheme, and every error response is the one error schema.
 */
#ifndef GATEWAY_OPENAPI_H
#define GATEWAY_OPENAPI_H

#include <stddef.h>

#include "routes.h"

/* The document as malloc'd JSON text (free it); NULL when out of memory. */
char *gateway_openapi_document(const gateway_route_t *routes, size_t count, size_t *length);

/* lowerCamelCase of a proto field name ("page_size" -> "pageSize"). */
void gateway_json_name(const char *proto_name, char *out, size_t out_size);

#endif
