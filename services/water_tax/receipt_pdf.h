/*
 * receipt_pdf.h — a water-charges receipt as a printable, verifiable PDF.
 *
 *   receipt.pdf   GetReceiptRequest -> ReceiptPdf   staff of the receipt's ULB, the holder
 *                                                   (the same reach as receipt.get)
 *
 * The receipt format property tax prints too (common/receipt_print.h): the
 * charges paid by bill and head (and the advance credited or used) adding up
 * to the amount, the consumer, who recorded it by name; its QR code carries
 * the receipt's ledger row:
 *
 *   NAGAR-WT-RECEIPT|v1|<receipt_no>|<ulb>|<amount_paise>|<ledger_seq>|<hash hex>
 */
#ifndef NAGAR_WATER_TAX_RECEIPT_PDF_H
#define NAGAR_WATER_TAX_RECEIPT_PDF_H

#include "water_tax.h"

int water_tax_receipt_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
