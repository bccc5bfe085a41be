/*
 * receipt_pdf.c — receipt.pdf (receipt_pdf.h): property tax's receipt
 * printed by common/receipt_print.h, the receipt format shared with water
 * charges. Here is what property tax's receipts differ in: the rule that
 * reads one (pt_receipt_get: reach, not found), the payer (the owners of
 * record) and the names of its heads.
 */
#include "receipt_pdf.h"

#include "receipt_print.h"

static const nagar_print_label_t HEADS[] = {
    {"PROPERTY_TAX", "संपत्ति कर", "Property tax"},
    {"EDUCATION_CESS", "शिक्षा उपकर", "Education cess"},
    {"URBAN_DEVELOPMENT_CESS", "नगरीय विकास उपकर", "Urban development cess"},
    {"SAMEKIT", "समेकित कर", "Consolidated charge (samekit)"},
    {"MUTATION_FEE", "नामांतरण शुल्क", "Mutation fee"},
    {"SURCHARGE", "अधिभार", "Surcharge"},
    {NULL, NULL, NULL},
};

int property_tax_receipt_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    pt_t *self = arg;
    const nagar_receipt_print_t print = {
        .rules = &self->rules, .bus = self->bus, .rule = "pt_receipt_get",
        /* The owners of record pay property tax; left() cuts characters, not bytes. */
        .payer_sql = "SELECT coalesce(left(string_agg(name, ', ' ORDER BY ordinal), 300), '') "
                     "FROM property_owner WHERE property_id = $1",
        .account_field = "propertyId", .period_field = "fy",
        .title_hi = "संपत्ति कर रसीद", .title_en = "Property Tax Receipt",
        .name_en = "Property tax", .file_prefix = "property-tax-receipt",
        .qr_tag = "NAGAR-PT-RECEIPT", .account_hi = "संपत्ति क्रमांक",
        .account_en = "Property id", .payer_hi = "भुगतानकर्ता (स्वामी)",
        .payer_en = "Payer (owner of record)", .heads = HEADS,
        .reply_type = &nagar__payments__receipt_pdf__descriptor};
    return nagar_receipt_print_method(&print, call, request);
}
