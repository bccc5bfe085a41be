/*
 * rates.h — rates as master data per ULB and financial year, versioned.
 *
 *   rates.get   GetRatesRequest -> RateSchedule     newest saved version, a given
 *                                                   one, or the built-in defaults (version 0)
 *   rates.set   SetRatesRequest -> RateSchedule     saves the next version; audited, idempotent
 *
 * Saving needs REVENUE_OFFICER or COMMISSIONER of the ULB, or STATE_ADMIN.
 * A saved version is never changed; the demand batch uses the newest one
 * at the time it computes a property's bill. The rules and defaults are in
 * the README.
 */
#ifndef NAGAR_PROPERTY_TAX_RATES_H
#define NAGAR_PROPERTY_TAX_RATES_H

#include "property_tax.h"

int rates_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int rates_set(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
