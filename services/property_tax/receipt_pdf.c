/*
 * receipt_pdf.c — receipt.pdf (receipt_pdf.h): a receipt as a bilingual
 * PDF whose QR code names the receipt's row in the hash-chained ledger.
 *
 * The receipt comes from the same rule as receipt.get (pt_receipt_get:
 * reach, not found), read in one transaction with the owners of record
 * and the ledger row's hash, so the page and its QR code describe one
 * state. The ULB's display name is asked of identity (ulb.get) with a
 * short deadline after the transaction; when identity cannot be reached
 * or may not be called, the page names the ULB by its LGD code: a receipt
 * must print while identity is down.
 */
#include "receipt_pdf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "document.h"
#include "log.h"
#include "json_codec.h"
#include "money.h"
#include "proto/identity.pb-c.h"

#define RECEIPT_HASH_HEX (2 * 32 + 1)
#define RECEIPT_PAYER_MAX 1024
#define RECEIPT_ULB_NAME_MAX 256
/* Identity's answer is a nicety: never hold a counter's printout for long. */
#define RECEIPT_ULB_LOOKUP_MS 1000
/* Fields that still fit one A4 page with the QR code in readable type
 * (well under NAGAR_DOCUMENT_FIELDS_MAX, which may need the smallest type). */
#define RECEIPT_FIELDS_ON_PAGE 34

typedef struct {
    pt_t *self;
    nagar_worker_call_t *call;
    const char *request_json;
    Nagar__PropertyTax__Receipt *receipt;    /* decoded rule reply */
    char hash_hex[RECEIPT_HASH_HEX];
    char payer[RECEIPT_PAYER_MAX];
    nagar_outcome_t outcome;
} receipt_work_t;

static void receipt_work_reset(receipt_work_t *work)
{
    nagar_outcome_reset(&work->outcome);
    if (work->receipt)
        protobuf_c_message_free_unpacked(&work->receipt->base, NULL);
    work->receipt = NULL;
    work->hash_hex[0] = '\0';
    work->payer[0] = '\0';
}

static int receipt_work(nagar_db_t *db, void *arg)
{
    (void) db;
    receipt_work_t *work = arg;
    receipt_work_reset(work);
    ProtobufCMessage *reply = NULL;
    int rc = nagar_rules_call(&work->self->rules, work->call, "pt_receipt_get", work->request_json,
                              &nagar__property_tax__receipt__descriptor, &reply, &work->outcome);
    if (rc != 0)
        return rc;
    work->receipt = (Nagar__PropertyTax__Receipt *) reply;
    const Nagar__PropertyTax__Receipt *receipt = work->receipt;

    /* The row the receipt was recorded as; its reference is the receipt
     * number, so a mismatch means the tables disagree with the chain. */
    char seq[32];
    snprintf(seq, sizeof seq, "%" PRId64, receipt->ledger_seq);
    const char *ledger_values[] = {receipt->ulb, seq, receipt->receipt_no};
    PGresult *result = nagar_service_query(work->self->rules.db, "receipt_pdf_ledger_hash",
                                           "SELECT encode(hash, 'hex') FROM ledger "
                                           "WHERE ulb = $1 AND seq = $2::bigint AND reference = $3",
                                           3, ledger_values);
    if (!result)
        return -1;
    if (PQntuples(result) != 1) {
        PQclear(result);
        nagar_log_error("property_tax.receipt_ledger_missing",
                        "receipt %s names ledger row %s of ULB %s, which does not record it; "
                        "run nagar-property_tax verify %s",
                        receipt->receipt_no, seq, receipt->ulb, receipt->ulb);
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "receipt %s has no matching ledger row; an officer must verify the "
                          "ledger of ULB %s",
                          receipt->receipt_no, receipt->ulb);
        return 1;
    }
    snprintf(work->hash_hex, sizeof work->hash_hex, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);

    /* The owners of record pay property tax; left() cuts characters, not bytes. */
    const char *owner_values[] = {receipt->property_id};
    result = nagar_service_query(work->self->rules.db, "receipt_pdf_owners",
                                 "SELECT coalesce(left(string_agg(name, ', ' ORDER BY ordinal), "
                                 "300), '') FROM property_owner WHERE property_id = $1",
                                 1, owner_values);
    if (!result)
        return -1;
    snprintf(work->payer, sizeof work->payer, "%s",
             PQntuples(result) == 1 ? PQgetvalue(result, 0, 0) : "");
    PQclear(result);
    return 0;
}

/* The ULB's name from identity into name, or "" when it cannot be had in time. */
static void ulb_display_name(pt_t *self, nagar_worker_call_t *call, const char *ulb,
                             char name[RECEIPT_ULB_NAME_MAX])
{
    name[0] = '\0';
    if (!self->bus)
        return;
    Nagar__Identity__GetUlbRequest request = NAGAR__IDENTITY__GET_ULB_REQUEST__INIT;
    request.code = (char *) ulb;
    /* Only the caller's deadline goes along: the lookup is the service's own. */
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.deadline_unix_ms = nagar_worker_call_context(call)->deadline_unix_ms;
    nagar_bus_call_t lookup = {.service = "identity", .method = "ulb.get", .context = &context,
                               .request = &request.base, .timeout_ms = RECEIPT_ULB_LOOKUP_MS,
                               .max_attempts = 1};
    ProtobufCMessage *reply = NULL;
    char message[256] = "";
    nagar_status_code_t code = nagar_bus_client_call(self->bus, &lookup,
                                                     &nagar__identity__ulb__descriptor, &reply,
                                                     message, sizeof message, NULL, 0);
    if (code == NAGAR__STATUS_CODE__OK && reply) {
        const Nagar__Identity__Ulb *found = (const Nagar__Identity__Ulb *) reply;
        snprintf(name, RECEIPT_ULB_NAME_MAX, "%s", found->name ? found->name : "");
    } else {
        nagar_log_debug("property_tax.receipt_ulb_name_unavailable",
                        "no name for ULB %s from identity (%s); the receipt shows the LGD code",
                        ulb, message);
    }
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);
}

static void rupees(int64_t paise, char out[NAGAR_MONEY_TEXT_MAX + 8])
{
    char amount[NAGAR_MONEY_TEXT_MAX];
    nagar_money_format(paise, amount);
    snprintf(out, NAGAR_MONEY_TEXT_MAX + 8, "Rs %s", amount);
}

typedef struct {
    const char *code, *hi, *en;
} label_t;

static const label_t HEADS[] = {
    {"PROPERTY_TAX", "संपत्ति कर", "Property tax"},
    {"EDUCATION_CESS", "शिक्षा उपकर", "Education cess"},
    {"URBAN_DEVELOPMENT_CESS", "नगरीय विकास उपकर", "Urban development cess"},
    {"SAMEKIT", "समेकित कर", "Consolidated charge (samekit)"},
    {"MUTATION_FEE", "नामांतरण शुल्क", "Mutation fee"},
    {"SURCHARGE", "अधिभार", "Surcharge"},
    {"REBATE", "छूट", "Rebate"},
    {"ADVANCE", "अग्रिम जमा", "Advance credit"},
    {NULL, NULL, NULL},
};

static const label_t MODES[] = {
    {"CASH", "नकद", "Cash"},
    {"CHEQUE", "चेक", "Cheque"},
    {"DEMAND_DRAFT", "डिमांड ड्राफ्ट", "Demand draft"},
    {"UPI", "यूपीआई", "UPI"},
    {"ONLINE", "ऑनलाइन", "Online"},
    {NULL, NULL, NULL},
};

static const label_t *label_of(const label_t *table, const char *code)
{
    for (; table->code; table++)
        if (strcmp(table->code, code) == 0)
            return table;
    return NULL;
}

/* Allocations as fields: one per year and head while they fit on the page,
 * else one per financial year (oldest years summed into one when even that
 * is too many). Never silently dropped. */
static void add_allocations(nagar_document_t *doc, const Nagar__PropertyTax__Receipt *receipt,
                            size_t room)
{
    char label_hi[160], label_en[160], amount[NAGAR_MONEY_TEXT_MAX + 8];
    if (receipt->n_allocations <= room) {
        for (size_t i = 0; i < receipt->n_allocations; i++) {
            const Nagar__PropertyTax__Allocation *a = receipt->allocations[i];
            const label_t *head = label_of(HEADS, a->head);
            snprintf(label_hi, sizeof label_hi, "%s %s", a->fy, head ? head->hi : a->head);
            snprintf(label_en, sizeof label_en, "%s %s", a->fy, head ? head->en : a->head);
            rupees(a->amount_paise, amount);
            nagar_document_add_field(doc, label_hi, label_en, amount);
        }
        return;
    }
    /* Allocations come oldest year first: sum runs of one year. */
    size_t years = 0;
    for (size_t i = 0; i < receipt->n_allocations; i++)
        if (i == 0 || strcmp(receipt->allocations[i]->fy, receipt->allocations[i - 1]->fy) != 0)
            years++;
    size_t fold = years > room ? years - room + 1 : 0;   /* oldest years summed into one */
    size_t year = 0;
    int64_t sum = 0;
    for (size_t i = 0; i < receipt->n_allocations; i++) {
        const Nagar__PropertyTax__Allocation *a = receipt->allocations[i];
        int64_t total;
        sum = nagar_money_add(sum, a->amount_paise, &total) ? total : sum;
        bool last_of_year = i + 1 == receipt->n_allocations ||
                            strcmp(receipt->allocations[i + 1]->fy, a->fy) != 0;
        if (!last_of_year)
            continue;
        year++;
        if (year < fold)
            continue;
        if (year == fold && fold > 0) {
            snprintf(label_hi, sizeof label_hi, "%s तक के वर्ष (सभी मद)", a->fy);
            snprintf(label_en, sizeof label_en, "Years up to %s (all heads)", a->fy);
        } else {
            snprintf(label_hi, sizeof label_hi, "%s (सभी मद)", a->fy);
            snprintf(label_en, sizeof label_en, "%s (all heads)", a->fy);
        }
        rupees(sum, amount);
        nagar_document_add_field(doc, label_hi, label_en, amount);
        sum = 0;
    }
}

/* A field, counted so the allocations know how much room is left. */
static void add_field(nagar_document_t *doc, size_t *fields, const char *label_hi,
                      const char *label_en, const char *value)
{
    nagar_document_add_field(doc, label_hi, label_en, value);
    (*fields)++;
}

static int render_receipt(const Nagar__PropertyTax__Receipt *receipt, const char *ulb_name,
                          const char *payer, const char *hash_hex, uint8_t **pdf, size_t *size,
                          char qr[NAGAR_DOCUMENT_QR_MAX], char *error, size_t error_size)
{
    nagar_document_t *doc = nagar_document_new();
    if (!doc) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    bool reversal = receipt->reverses_receipt_no[0] != '\0';
    char text[NAGAR_DOCUMENT_TEXT_MAX], amount[NAGAR_MONEY_TEXT_MAX + 8];
    snprintf(text, sizeof text, "Property tax %s %s", reversal ? "reversal" : "receipt",
             receipt->receipt_no);
    nagar_document_set_title_metadata(doc, text);
    nagar_document_add_title(doc, reversal ? "संपत्ति कर रसीद — निरस्तीकरण" : "संपत्ति कर रसीद");
    nagar_document_add_title(doc, reversal ? "Property Tax Receipt — Reversal"
                                           : "Property Tax Receipt");
    if (ulb_name[0])
        snprintf(text, sizeof text, "%s (एलजीडी कोड / LGD code %s)", ulb_name, receipt->ulb);
    else
        snprintf(text, sizeof text,
                 "नगरीय निकाय, एलजीडी कोड %s / Urban local body, LGD code %s", receipt->ulb,
                 receipt->ulb);
    nagar_document_add_title(doc, text);

    size_t fields = 0;
    add_field(doc, &fields, "रसीद क्रमांक", "Receipt no.", receipt->receipt_no);
    add_field(doc, &fields, "दिनांक", "Date", receipt->paid_on);
    add_field(doc, &fields, "संपत्ति क्रमांक", "Property id", receipt->property_id);
    add_field(doc, &fields, "भुगतानकर्ता (स्वामी)", "Payer (owner of record)", payer);
    rupees(receipt->amount_paise, amount);
    add_field(doc, &fields, "राशि", "Amount", amount);
    const ProtobufCEnumValue *mode_value = protobuf_c_enum_descriptor_get_value(
        &nagar__property_tax__payment_mode__descriptor, (int) receipt->mode);
    const label_t *mode = mode_value ? label_of(MODES, mode_value->name) : NULL;
    if (mode)
        snprintf(text, sizeof text, "%s / %s", mode->hi, mode->en);
    else
        snprintf(text, sizeof text, "%s", mode_value ? mode_value->name : "—");
    add_field(doc, &fields, "भुगतान का प्रकार", "Mode", text);
    add_field(doc, &fields, "लिखत संदर्भ", "Instrument reference", receipt->instrument_ref);
    add_field(doc, &fields, "काउंटर", "Counter", receipt->counter);
    if (reversal) {
        snprintf(text, sizeof text, "यह रसीद %s को निरस्त करती है / Reverses receipt %s",
                 receipt->reverses_receipt_no, receipt->reverses_receipt_no);
        add_field(doc, &fields, "निरस्त रसीद", "Reverses receipt", text);
        add_field(doc, &fields, "कारण", "Reason", receipt->reason);
    }
    if (receipt->reversed_by_receipt_no[0]) {
        snprintf(text, sizeof text, "रसीद %s द्वारा निरस्त / Reversed by receipt %s",
                 receipt->reversed_by_receipt_no, receipt->reversed_by_receipt_no);
        add_field(doc, &fields, "स्थिति", "Status", text);
    }
    /* Room for allocations: what the page holds comfortably, less the three
     * fields that follow them (advance, ledger entry, recorded by). */
    size_t room = RECEIPT_FIELDS_ON_PAGE - fields - 3;
    add_allocations(doc, receipt, room);
    rupees(receipt->advance_paise, amount);
    nagar_document_add_field(doc, "शेष अग्रिम जमा", "Advance credit after this receipt", amount);
    snprintf(text, sizeof text, "%" PRId64, receipt->ledger_seq);
    nagar_document_add_field(doc, "लेजर प्रविष्टि", "Ledger entry", text);
    nagar_document_add_field(doc, "दर्ज करने वाले", "Recorded by", receipt->recorded_by);

    nagar_document_add_footer(doc, "यह कंप्यूटर द्वारा बनाई गई रसीद है; हस्ताक्षर आवश्यक नहीं। "
                                   "क्यूआर कोड में इस रसीद की लेजर प्रविष्टि और उसका हैश है।");
    nagar_document_add_footer(doc, "Computer-generated receipt; no signature is needed. The QR "
                                   "code carries this receipt's entry in the ULB's hash-chained "
                                   "ledger: check it against the ledger to prove the receipt.");
    snprintf(text, sizeof text, "Ledger hash (SHA-256): %s", hash_hex);
    nagar_document_add_footer(doc, text);
    snprintf(qr, NAGAR_DOCUMENT_QR_MAX, "NAGAR-PT-RECEIPT|v1|%s|%s|%" PRId64 "|%" PRId64 "|%s",
             receipt->receipt_no, receipt->ulb, receipt->amount_paise, receipt->ledger_seq,
             hash_hex);
    nagar_document_set_qr(doc, qr, "सत्यापन हेतु स्कैन करें / Scan to verify");
    int rc = nagar_document_render_pdf(doc, pdf, size, error, error_size);
    nagar_document_destroy(&doc);
    return rc;
}

int receipt_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    pt_t *self = arg;
    char *json = nagar_json_encode(request);
    if (!json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                      "the request holds text that is not valid UTF-8");
    receipt_work_t work = {.self = self, .call = call, .request_json = json};
    int rc = nagar_db_transaction(self->rules.db, NAGAR_DB_READ_COMMITTED, receipt_work, &work);
    free(json);
    if (rc != 0) {
        nagar_outcome_t outcome = work.outcome;
        receipt_work_reset(&work);
        return nagar_rules_fail(&self->rules, call, rc, &outcome);
    }
    const Nagar__PropertyTax__Receipt *receipt = work.receipt;
    char ulb_name[RECEIPT_ULB_NAME_MAX];
    ulb_display_name(self, call, receipt->ulb, ulb_name);
    uint8_t *pdf = NULL;
    size_t size = 0;
    char qr[NAGAR_DOCUMENT_QR_MAX], error[512];
    if (render_receipt(receipt, ulb_name, work.payer, work.hash_hex, &pdf, &size, qr, error,
                       sizeof error) != 0) {
        nagar_log_error("property_tax.receipt_pdf_failed", "receipt %s: %s", receipt->receipt_no,
                        error);
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                    "the PDF of receipt %s could not be made: %s",
                                    receipt->receipt_no, error);
        receipt_work_reset(&work);
        return rc;
    }
    /* Receipt numbers hold '/': not in a file name. */
    char file_name[128];
    snprintf(file_name, sizeof file_name, "property-tax-receipt-%s.pdf", receipt->receipt_no);
    for (char *c = file_name; *c; c++)
        if (*c == '/')
            *c = '-';
    Nagar__PropertyTax__ReceiptPdf reply = NAGAR__PROPERTY_TAX__RECEIPT_PDF__INIT;
    reply.receipt_no = receipt->receipt_no;
    reply.pdf.data = pdf;
    reply.pdf.len = size;
    reply.qr_payload = qr;
    reply.file_name = file_name;
    reply.content_type = "application/pdf";
    json_t *fields = json_pack("{s:s, s:I, s:I}", "receipt_no", receipt->receipt_no, "ledger_seq",
                               (json_int_t) receipt->ledger_seq, "bytes", (json_int_t) size);
    nagar_log_write(NAGAR_LOG_INFO, "property_tax.receipt_pdf", fields, "receipt PDF made");
    rc = nagar_worker_call_reply(call, &reply.base);
    free(pdf);
    receipt_work_reset(&work);
    return rc;
}
