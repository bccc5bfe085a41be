/*
 * connection.h — water connections: application by a citizen or a clerk,
 * approval (charging the connection fee of the tariff by category and pipe
 * size) or rejection, disconnection and reconnection with their fees;
 * every change audited (the connection's history).
 */
#ifndef NAGAR_WATER_TAX_CONNECTION_H
#define NAGAR_WATER_TAX_CONNECTION_H

#include "water_tax.h"

int connection_apply(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int connection_decide(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int connection_disconnect(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int connection_reconnect(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int connection_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int connection_list(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
