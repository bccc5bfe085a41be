/*
 * connection.c — connection methods (connection.h); the workflow rules are
 * wt_connection_* in sql/connection.sql.
 */
#include "connection.h"

#define CONNECTION &nagar__water_tax__connection__descriptor

int connection_apply(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_connection_apply", CONNECTION, true);
}

int connection_decide(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_connection_decide", CONNECTION, true);
}

int connection_disconnect(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_connection_disconnect", CONNECTION, true);
}

int connection_reconnect(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_connection_reconnect", CONNECTION, true);
}

int connection_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_connection_get", CONNECTION, false);
}

int connection_list(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_connection_list",
                          &nagar__water_tax__list_connections_reply__descriptor, false);
}
