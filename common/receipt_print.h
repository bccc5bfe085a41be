/*
 * receipt_print.h — a payment receipt of property tax or water charges as
 * a bilingual A4 PDF (common/document.h) whose QR code names the receipt's
 * row in the hash-chained ledger: the one printed receipt both services
 * answer receipt.pdf with. Certificates prints its fee receipts with it
 * too; a certificate fee is on no ledger, so its QR code names the fee's
 * entry on the hash-chained history instead (proof_sql below).
 *
 * What it prints adds up (issue 14: a receipt of Rs 803.47 printed a Rebate
 * of 23.33 as if it were a paid head, and its lines came to Rs 826.80):
 *
 *   - one line per head paid (financial year or bill, and head), and the
 *     change of the advance credit (credited, or used: negative), then
 *     "Total of the lines above", which is the amount;
 *   - a rebate is not a payment: it is printed apart, as the rebate granted,
 *     and is not among the lines that make up the amount;
 *   - who recorded it by name (identity's staff.names), the ULB by name
 *     (ulb.get), the payer (the owner or consumer of record).
 *
 * When the lines do not fit on the page they are summed per year or bill
 * (oldest ones together when even that is too many), never dropped, so the
 * total still holds.
 *
 * The receipt comes from the service's rule (<rule>: reach, not found),
 * read in one transaction with the payer and the ledger row's hash, so the
 * page and its QR code describe one state. The names are asked after the
 * transaction, with a short deadline: a receipt prints while identity is
 * down (common/identity_lookup.h), with the LGD code and the user id.
 */
#ifndef NAGAR_RECEIPT_PRINT_H
#define NAGAR_RECEIPT_PRINT_H

#include "bus_client.h"
#include "bus_worker.h"
#include "service_rules.h"

/* A code with its Hindi and English labels; tables end with a NULL code. */
typedef struct {
    const char *code, *hi, *en;
} nagar_print_label_t;

/* What a service's receipts differ in. The rule answers the service's
 * Receipt as JSON: receiptNo, ulb, <account_field>, amountPaise, mode,
 * instrumentRef, counter, paidOn, allocations [{<period_field>, head,
 * amountPaise}] (head REBATE: a rebate granted, ADVANCE: the change of the
 * credit), ledgerSeq, reversesReceiptNo, reversedByReceiptNo, recordedBy,
 * reason, advancePaise, and optionally notes [{hi, en, value}], printed
 * after the lines (a fee's legal basis). reply_type has receipt_no, pdf, qr_payload,
 * file_name and content_type. */
typedef struct {
    nagar_rules_t *rules;
    nagar_bus_client_t *bus;              /* for the names; NULL: codes and ids */
    const char *rule;                     /* "pt_receipt_get" (compiled in, never input) */
    const char *payer_sql;                /* $1 = the account; one row: the payer's name */
    const char *account_field;            /* "propertyId" */
    const char *period_field;             /* "fy" */
    const char *title_hi, *title_en;      /* "संपत्ति कर रसीद", "Property Tax Receipt" */
    const char *name_en;                  /* "Property tax": the PDF's metadata title */
    const char *file_prefix;              /* "property-tax-receipt" */
    const char *qr_tag;                   /* "NAGAR-PT-RECEIPT" */
    const char *account_hi, *account_en;  /* "संपत्ति क्रमांक", "Property id" */
    const char *payer_hi, *payer_en;      /* "भुगतानकर्ता (स्वामी)", "Payer (owner of record)" */
    const nagar_print_label_t *heads;     /* the service's heads */
    const ProtobufCMessageDescriptor *reply_type;
    /* The hash-chained row that proves the receipt, for its QR code. NULL:
     * the ledger's row ledgerSeq of the ULB, whose reference is the receipt
     * number. Else this query, $1 the ULB and $2 the receipt number,
     * answering one row: the entry's number and its SHA-256 (hex) on the
     * chain proof_hi/proof_en name ("शुल्क इतिहास", "fee history"). */
    const char *proof_sql;
    const char *proof_hi, *proof_en;
    bool no_advance;                      /* the account keeps no advance credit */
} nagar_receipt_print_t;

/* receipt.pdf: the request (a GetReceiptRequest) answered with the PDF, or
 * the rule's failure. Returns what the reply or failure returned. */
int nagar_receipt_print_method(const nagar_receipt_print_t *print, nagar_worker_call_t *call,
                               const ProtobufCMessage *request);

/* The label of code in table, or NULL. */
const nagar_print_label_t *nagar_print_label(const nagar_print_label_t *table, const char *code);

/* "Rs 1234.50" (negative "Rs -1234.50"), as every printed document writes money. */
#define NAGAR_PRINT_RUPEES_MAX 48
void nagar_print_rupees(int64_t paise, char out[NAGAR_PRINT_RUPEES_MAX]);

/* Sets the string fields of reply (a message of type reply_type that this
 * function allocates; free it with free(), its strings are borrowed) and its
 * bytes field "pdf". names and values end with NULL. Returns NULL when out
 * of memory. */
ProtobufCMessage *nagar_print_reply(const ProtobufCMessageDescriptor *reply_type,
                                    const uint8_t *pdf, size_t pdf_size,
                                    const char *const *names, const char *const *values);

#endif
