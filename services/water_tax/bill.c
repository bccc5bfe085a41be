/*
 * bill.c — the monthly bill batch and bills (bill.h). Every charge is
 * computed by wt_bill_run_chunk in sql/bill.sql; here are the
 * methods, the chunk loop driven by the worker's tick, the completion
 * event and the bill PDF (common/document.h) with its QR code.
 */
#include "bill.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "document.h"
#include "log.h"
#include "json_codec.h"

int water_tax_bill_generate(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    wt_t *self = arg;
    int rc = nagar_rules_method(&self->rules, call, request, NULL, "wt_bill_generate",
                                &nagar__water_tax__bill_job__descriptor, true, NULL, NULL);
    self->bills.next_poll_ms = 0;      /* start at the next tick */
    return rc;
}

static void rupees(int64_t paise, char out[48])
{
    int64_t magnitude = paise < 0 ? -paise : paise;
    snprintf(out, 48, "Rs %s%" PRId64 ".%02" PRId64, paise < 0 ? "-" : "", magnitude / 100,
             magnitude % 100);
}

static const char *head_label_hi(const char *head)
{
    if (strcmp(head, "WATER") == 0)
        return "जल प्रभार";
    if (strcmp(head, "SEWERAGE") == 0)
        return "सीवरेज प्रभार";
    if (strcmp(head, "SOLID_WASTE") == 0)
        return "ठोस अपशिष्ट उपभोक्ता प्रभार";
    if (strcmp(head, "SURCHARGE") == 0)
        return "विलंब अधिभार";
    return "अग्रिम छूट";
}

static const char *head_label_en(const char *head)
{
    if (strcmp(head, "WATER") == 0)
        return "Water charge";
    if (strcmp(head, "SEWERAGE") == 0)
        return "Sewerage charge";
    if (strcmp(head, "SOLID_WASTE") == 0)
        return "Solid-waste user charge";
    if (strcmp(head, "SURCHARGE") == 0)
        return "Late-payment surcharge";
    return "Advance rebate";
}

/* The bill as an A4 PDF; the QR code carries what a collection counter or
 * a UPI app needs to find and pay it. */
static int render_bill(const Nagar__WaterTax__Bill *bill, uint8_t **pdf, size_t *size,
                       char qr[NAGAR_DOCUMENT_QR_MAX], char *error, size_t error_size)
{
    nagar_document_t *doc = nagar_document_new();
    if (!doc) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    char text[256], amount[48];
    snprintf(text, sizeof text, "Water bill %s", bill->bill_no);
    nagar_document_set_title_metadata(doc, text);
    nagar_document_add_title(doc, "जल एवं स्वच्छता प्रभार बिल");
    nagar_document_add_title(doc, "Water and Sanitation Charges Bill");
    snprintf(text, sizeof text, "ULB %s, ward %d", bill->ulb, bill->ward);
    nagar_document_add_title(doc, text);
    nagar_document_add_field(doc, "बिल क्रमांक", "Bill no.", bill->bill_no);
    nagar_document_add_field(doc, "उपभोक्ता", "Consumer", bill->consumer_name);
    nagar_document_add_field(doc, "कनेक्शन", "Connection", bill->connection_id);
    nagar_document_add_field(doc, "अवधि", "Period", bill->period);
    nagar_document_add_field(doc, "बिल दिनांक", "Bill date", bill->bill_date);
    nagar_document_add_field(doc, "देय दिनांक", "Due date", bill->due_date);
    if (bill->metered) {
        snprintf(text, sizeof text, "%" PRId64 " litres%s", bill->consumption_litres,
                 bill->estimated ? " (ESTIMATED: no reading for the month)" : "");
        nagar_document_add_field(doc, "खपत", "Consumption", text);
    } else {
        nagar_document_add_field(doc, "खपत", "Consumption", "unmetered (flat rate)");
    }
    for (size_t i = 0; i < bill->n_lines; i++) {
        rupees(bill->lines[i]->amount_paise, amount);
        nagar_document_add_field(doc, head_label_hi(bill->lines[i]->head),
                                 head_label_en(bill->lines[i]->head), amount);
    }
    rupees(bill->current_paise, amount);
    nagar_document_add_field(doc, "चालू देय", "Current charges", amount);
    rupees(bill->arrear_paise, amount);
    nagar_document_add_field(doc, "बकाया", "Arrears", amount);
    rupees(bill->advance_paise, amount);
    nagar_document_add_field(doc, "अग्रिम जमा", "Advance credit", amount);
    rupees(bill->total_paise, amount);
    nagar_document_add_field(doc, "कुल देय", "Total payable", amount);
    nagar_document_add_footer(doc, "Pay at any ULB counter or online before the due date; "
                                   "unpaid arrears carry a late-payment surcharge.");
    snprintf(qr, NAGAR_DOCUMENT_QR_MAX, "NAGAR-WATER-BILL|v1|%s|%s|%s|%" PRId64 "|%s",
             bill->bill_no, bill->connection_id, bill->period, bill->total_paise, bill->due_date);
    nagar_document_set_qr(doc, qr, bill->bill_no);
    int rc = nagar_document_render_pdf(doc, pdf, size, error, error_size);
    nagar_document_destroy(&doc);
    return rc;
}

int water_tax_bill_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    wt_t *self = arg;
    char *json = NULL;
    ProtobufCMessage *reply = NULL;
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    json = nagar_json_encode(request);
    if (!json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                      "the request holds text that is not valid UTF-8");
    int rc = nagar_rules_call(&self->rules, call, "wt_bill_get", json,
                              &nagar__water_tax__bill__descriptor, &reply, &outcome);
    free(json);
    if (rc != 0)
        return nagar_rules_fail(&self->rules, call, rc, &outcome);
    const Nagar__WaterTax__Bill *bill = (const Nagar__WaterTax__Bill *) reply;
    uint8_t *pdf = NULL;
    size_t size = 0;
    char qr[NAGAR_DOCUMENT_QR_MAX], error[512];
    if (render_bill(bill, &pdf, &size, qr, error, sizeof error) != 0) {
        nagar_log_error("water_tax.bill_pdf_failed", "bill %s: %s", bill->bill_no, error);
        protobuf_c_message_free_unpacked(reply, NULL);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "the bill PDF could not be made: %s", error);
    }
    Nagar__WaterTax__BillPdf out;
    nagar__water_tax__bill_pdf__init(&out);
    out.bill_no = bill->bill_no;
    out.pdf.data = pdf;
    out.pdf.len = size;
    out.qr_payload = qr;
    rc = nagar_worker_call_reply(call, &out.base);
    free(pdf);
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

/* When a ULB's bill run is done: demand.raised, in the chunk's transaction. */
static int bill_done(nagar_rules_t *rules, json_t *job)
{
    return nagar_rules_batch_raised(rules, job, "demand.raised", "service", WT_SERVICE, "period",
                                    json_string_value(json_object_get(job, "period")), NULL);
}

static const char *const BILL_LOG_FIELDS[][2] = {
    {"job_id", "jobId"}, {"period", "period"}, {"processed", "processed"}, {"total", "total"},
    {"bills_created", "billsCreated"}, {"skipped", "skipped"}, {"estimated", "estimated"},
    {NULL, NULL}};

void water_tax_bill_batch_init(nagar_rules_batch_t *batch)
{
    *batch = (nagar_rules_batch_t){.name = "bill", .function = "wt_bill_run_chunk",
                                   .log_fields = BILL_LOG_FIELDS, .done = bill_done};
}

void water_tax_bill_tick(nagar_worker_t *worker, void *arg)
{
    (void) worker;
    wt_t *self = arg;
    nagar_rules_batch_tick(&self->rules, &self->bills);
}
