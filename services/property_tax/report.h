/*
 * report.h — reports for ULB staff (CLERK, REVENUE_OFFICER, COMMISSIONER
 * of the ULB; STATE_ADMIN any):
 *
 *   report.dcb                DcbRequest -> DcbReport                  demand, collection, balance
 *                                                                      by ward and head, arrear and current
 *   report.daily_collection   DailyCollectionRequest -> DailyCollectionReport   by counter and mode
 *   report.defaulters         DefaultersRequest -> DefaultersReport     arrears owed, largest first
 */
#ifndef NAGAR_PROPERTY_TAX_REPORT_H
#define NAGAR_PROPERTY_TAX_REPORT_H

#include "property_tax.h"

int report_dcb(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int report_daily_collection(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int report_defaulters(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
