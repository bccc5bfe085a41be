/*
 * tariff.c — tariff methods (tariff.h); validation and versioning are
 * wt_tariff_get / wt_tariff_set in sql/tariff.sql.
 */
#include "tariff.h"

int tariff_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_tariff_get",
                          &nagar__water_tax__tariff__descriptor, false);
}

int tariff_set(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return wt_rule_method(call, request, arg, "wt_tariff_set",
                          &nagar__water_tax__tariff__descriptor, true);
}
