/*
 * notice.h — the demand notice: what a town serves an owner for a property
 * and financial year, as data and as a bilingual (Hindi + English) PDF.
 *
 *   demand_notice.get       GetDemandNoticeRequest -> DemandNotice      staff, owner
 *   demand_notice.pdf       GetDemandNoticeRequest -> DemandNoticePdf   staff, owner
 *   demand_notice.ward_pdf  WardNoticesRequest -> WardNoticesPdf        staff of the ULB
 *
 * The figures are pt_demand_notice_json's (sql/notice.sql): the year's bill
 * computed head by head (area by floor, ALV rate and ALV, the maintenance
 * deduction and net ALV, the slab mode and each slab's tax, the
 * self-occupied rebate, each cess, samekit), then arrears, surcharge,
 * credit and the total payable on the notice's date, the early-payment
 * rebate and its last day, and the due date. The page adds how to pay, and
 * a QR code that opens the portal's payment page for the property
 * (NAGAR_PORTAL_URL + /property/<id>; without that setting the notice says
 * to pay at the counter and has no QR code). A ward's notices print a page
 * of properties at a time, one notice per A4 page, in one PDF.
 */
#ifndef NAGAR_PROPERTY_TAX_NOTICE_H
#define NAGAR_PROPERTY_TAX_NOTICE_H

#include "property_tax.h"

int property_tax_demand_notice_get(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                   void *arg);
int property_tax_demand_notice_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                   void *arg);
int property_tax_demand_notice_ward_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                        void *arg);

/* The messages of a demand job's notices (demand.notice events, one per
 * owner with a contact, a chunk at a time once the job's bills are raised:
 * pt_demand_notice_messages_chunk), run from the worker's tick beside the
 * demand itself (demand.c). */
void property_tax_demand_notice_messages_init(nagar_rules_batch_t *batch);

#endif
