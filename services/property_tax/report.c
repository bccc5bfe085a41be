/*
 * report.c — reports (report.h), computed by pt_report_* in sql/report.sql
 * as one grouped query each.
 */
#include "report.h"

int report_dcb(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_report_dcb",
                         &nagar__property_tax__dcb_report__descriptor, false, NULL);
}

int report_daily_collection(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_report_daily",
                         &nagar__property_tax__daily_collection_report__descriptor, false, NULL);
}

/* Keyset-paged by property id (pageToken -> nextPageToken), all in the
 * rule function of sql/report.sql. */
int report_defaulters(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    return pt_sql_method(arg, call, request, NULL, "pt_report_defaulters",
                         &nagar__property_tax__defaulters_report__descriptor, false, NULL);
}
