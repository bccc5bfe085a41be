/*
 * tariff.h — tariffs, master data per ULB and financial year, versioned:
 * flat monthly rates by category and pipe size, metered slabs, sewerage
 * share, solid-waste charge, surcharge, advance rebate, due days, the
 * plausible monthly consumption, connection and (dis/re)connection fees.
 */
#ifndef NAGAR_WATER_TAX_TARIFF_H
#define NAGAR_WATER_TAX_TARIFF_H

#include "water_tax.h"

int tariff_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int tariff_set(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
