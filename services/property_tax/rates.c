/*
 * rates.c — rates master data (rates.h); validation and versioning are
 * pt_rates_get / pt_rates_set in sql/rates.sql.
 */
#include "rates.h"

int rates_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_rates_get",
                         &nagar__property_tax__rate_schedule__descriptor, false, NULL);
}

int rates_set(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_rates_set",
                         &nagar__property_tax__rate_schedule__descriptor, true, NULL);
}
