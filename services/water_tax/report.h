/*
 * report.h — reports (DCB by ward and ULB, daily collection, defaulters)
 * and disconnection notices to the defaulters, each notice an outbox event.
 */
#ifndef NAGAR_WATER_TAX_REPORT_H
#define NAGAR_WATER_TAX_REPORT_H

#include "water_tax.h"

int water_tax_notices_send(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
