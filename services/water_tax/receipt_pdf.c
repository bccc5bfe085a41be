/*
 * receipt_pdf.c — receipt.pdf (receipt_pdf.h): water charges' receipt
 * printed by common/receipt_print.h, the receipt format shared with property
 * tax. Here is what water's receipts differ in: the rule that reads one
 * (wt_receipt_get: reach, not found), the payer (the consumer of record)
 * and the names of its heads.
 */
#include "receipt_pdf.h"

#include "receipt_print.h"

static const nagar_print_label_t HEADS[] = {
    {"WATER", "जल प्रभार", "Water charge"},
    {"SEWERAGE", "सीवरेज प्रभार", "Sewerage charge"},
    {"SOLID_WASTE", "ठोस अपशिष्ट उपभोक्ता प्रभार", "Solid-waste user charge"},
    {"SURCHARGE", "विलंब अधिभार", "Late-payment surcharge"},
    {"CONNECTION_FEE", "कनेक्शन शुल्क", "Connection fee"},
    {"DISCONNECTION_FEE", "विच्छेदन शुल्क", "Disconnection fee"},
    {"RECONNECTION_FEE", "पुनर्संयोजन शुल्क", "Reconnection fee"},
    {NULL, NULL, NULL},
};

int water_tax_receipt_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    wt_t *self = arg;
    const nagar_receipt_print_t print = {
        .rules = &self->rules, .bus = self->bus, .rule = "wt_receipt_get",
        .payer_sql = "SELECT consumer_name FROM connection WHERE connection_id = $1",
        .account_field = "connectionId", .period_field = "ref",
        .title_hi = "जल एवं स्वच्छता प्रभार रसीद", .title_en = "Water and Sanitation Charges Receipt",
        .name_en = "Water charges", .file_prefix = "water-tax-receipt",
        .qr_tag = "NAGAR-WT-RECEIPT", .account_hi = "कनेक्शन", .account_en = "Connection",
        .payer_hi = "भुगतानकर्ता (उपभोक्ता)", .payer_en = "Payer (consumer of record)",
        .heads = HEADS, .reply_type = &nagar__payments__receipt_pdf__descriptor};
    return nagar_receipt_print_method(&print, call, request);
}
