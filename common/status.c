/*
 * status.c — names and HTTP statuses of nagar.StatusCode.
 */
#include "status.h"

const char *nagar_status_name(nagar_status_code_t code)
{
    const ProtobufCEnumValue *value =
        protobuf_c_enum_descriptor_get_value(&nagar__status_code__descriptor, (int) code);
    return value ? value->name : "UNKNOWN";
}

int nagar_status_http(nagar_status_code_t code)
{
    switch (code) {
    case NAGAR__STATUS_CODE__OK: return 200;
    case NAGAR__STATUS_CODE__INVALID_ARGUMENT: return 422;
    case NAGAR__STATUS_CODE__NOT_FOUND: return 404;
    case NAGAR__STATUS_CODE__CONFLICT: return 409;
    case NAGAR__STATUS_CODE__FAILED_PRECONDITION: return 422;
    case NAGAR__STATUS_CODE__PERMISSION_DENIED: return 403;
    case NAGAR__STATUS_CODE__UNAVAILABLE: return 503;
    case NAGAR__STATUS_CODE__DEADLINE_EXCEEDED: return 504;
    case NAGAR__STATUS_CODE__UNAUTHENTICATED: return 401;
    case NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED: return 429;
    case NAGAR__STATUS_CODE__INTERNAL:
    default: return 500;
    }
}

int nagar_status_is_retryable(nagar_status_code_t code)
{
    return code == NAGAR__STATUS_CODE__UNAVAILABLE ||
           code == NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED ||
           code == NAGAR__STATUS_CODE__DEADLINE_EXCEEDED;
}
