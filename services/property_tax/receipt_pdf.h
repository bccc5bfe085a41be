/*
 * receipt_pdf.h — a property-tax receipt as a printable, verifiable PDF.
 *
 *   receipt.pdf   GetReceiptRequest -> ReceiptPdf   staff of the receipt's ULB, the owner
 *                                                   (the same reach as receipt.get)
 *
 * A bilingual (Hindi + English) A4 page made with common/receipt_print.h:
 * ULB by name, receipt number, date, property, payer, amount, mode and
 * instrument, the heads paid by financial year (and the advance credited or
 * used) adding up to the amount, a rebate apart as the rebate granted,
 * counter, who recorded it by name, and for a reversal the receipt it
 * reverses. Its QR code carries the receipt's ledger row:
 *
 *   NAGAR-PT-RECEIPT|v1|<receipt_no>|<ulb>|<amount_paise>|<ledger_seq>|<hash hex>
 *
 * so anyone holding the paper can check it against the ULB's hash-chained
 * ledger (common/ledger.h), whose chain ledger.verify proves whole.
 */
#ifndef NAGAR_PROPERTY_TAX_RECEIPT_PDF_H
#define NAGAR_PROPERTY_TAX_RECEIPT_PDF_H

#include "property_tax.h"

int property_tax_receipt_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
