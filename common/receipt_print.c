/*
 * receipt_print.c — the printed receipt of property tax and water charges
 * (see receipt_print.h): read in one transaction, named after it, laid out
 * so that its lines add up to the amount.
 */
#include "receipt_print.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "document.h"
#include "identity_lookup.h"
#include "json_codec.h"
#include "log.h"
#include "money.h"

#define HASH_HEX (2 * 32 + 1)
#define PAYER_MAX 1024
/* Fields that still fit one A4 page with the QR code in readable type
 * (well under NAGAR_DOCUMENT_FIELDS_MAX, which may need the smallest type). */
#define FIELDS_ON_PAGE 34
/* The fields after the lines: their total, the rebate, the advance after,
 * the ledger entry, who recorded it (and the receipt's notes, counted apart). */
#define FIELDS_AFTER_LINES 5

static const nagar_print_label_t MODES[] = {
    {"CASH", "नकद", "Cash"},
    {"CHEQUE", "चेक", "Cheque"},
    {"DEMAND_DRAFT", "डिमांड ड्राफ्ट", "Demand draft"},
    {"UPI", "यूपीआई", "UPI"},
    {"ONLINE", "ऑनलाइन", "Online"},
    {NULL, NULL, NULL},
};

const nagar_print_label_t *nagar_print_label(const nagar_print_label_t *table, const char *code)
{
    for (; table && table->code; table++)
        if (code && strcmp(table->code, code) == 0)
            return table;
    return NULL;
}

void nagar_print_rupees(int64_t paise, char out[NAGAR_PRINT_RUPEES_MAX])
{
    char amount[NAGAR_MONEY_TEXT_MAX];
    nagar_money_format(paise, amount);
    snprintf(out, NAGAR_PRINT_RUPEES_MAX, "Rs %s", amount);
}

ProtobufCMessage *nagar_print_reply(const ProtobufCMessageDescriptor *reply_type,
                                    const uint8_t *pdf, size_t pdf_size,
                                    const char *const *names, const char *const *values)
{
    ProtobufCMessage *reply = malloc(reply_type->sizeof_message);
    if (!reply)
        return NULL;
    protobuf_c_message_init(reply_type, reply);
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(reply_type, "pdf");
    if (field && field->type == PROTOBUF_C_TYPE_BYTES && field->label != PROTOBUF_C_LABEL_REPEATED) {
        ProtobufCBinaryData *bytes = (ProtobufCBinaryData *) ((char *) reply + field->offset);
        bytes->data = (uint8_t *) pdf;
        bytes->len = pdf_size;
    }
    for (size_t i = 0; names[i]; i++) {
        field = protobuf_c_message_descriptor_get_field_by_name(reply_type, names[i]);
        if (field && field->type == PROTOBUF_C_TYPE_STRING &&
            field->label != PROTOBUF_C_LABEL_REPEATED)
            *(const char **) ((char *) reply + field->offset) = values[i];
    }
    return reply;
}

/* ---- reading --------------------------------------------------------------------- */

typedef struct {
    const nagar_receipt_print_t *print;
    nagar_worker_call_t *call;
    const char *request_json;
    json_t *receipt;                      /* the rule's answer */
    int64_t entry_seq;                    /* the proving row's number on its chain */
    char hash_hex[HASH_HEX];
    char payer[PAYER_MAX];
    nagar_outcome_t outcome;
} work_t;

static const char *text_of(json_t *object, const char *key)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text ? text : "";
}

static int64_t int_of(json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    if (json_is_integer(value))
        return (int64_t) json_integer_value(value);
    if (json_is_string(value))
        return strtoll(json_string_value(value), NULL, 10);
    return 0;
}

static void work_reset(work_t *work)
{
    nagar_outcome_reset(&work->outcome);
    json_decref(work->receipt);
    work->receipt = NULL;
    work->entry_seq = 0;
    work->hash_hex[0] = '\0';
    work->payer[0] = '\0';
}

static int read_payer(nagar_db_t *db, work_t *work);

static int read_receipt(nagar_db_t *db, void *arg)
{
    work_t *work = arg;
    const nagar_receipt_print_t *print = work->print;
    work_reset(work);
    char name[64], sql[160], today[NAGAR_DATE_TEXT_MAX];
    snprintf(name, sizeof name, "print_%s", print->rule);
    snprintf(sql, sizeof sql, "SELECT %s($1::jsonb, $2::jsonb, $3::date)::text", print->rule);
    char *actor = nagar_rules_actor_json(work->call);
    if (!actor)
        return -1;
    nagar_rules_today(print->rules, today);
    const char *values[] = {actor, work->request_json, today};
    int rc = nagar_rules_call_json(print->rules, name, sql, 3, values, &work->receipt,
                                   &work->outcome);
    free(actor);
    if (rc != 0)
        return rc;
    if (!json_is_object(work->receipt)) {
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "%s answered no receipt", print->rule);
        return 1;
    }
    json_t *receipt = work->receipt;

    if (print->proof_sql) {
        /* The receipt's entry on the service's own hash chain. */
        const char *proof_values[] = {text_of(receipt, "ulb"), text_of(receipt, "receiptNo")};
        snprintf(name, sizeof name, "print_%s_proof", print->rule);
        PGresult *result = nagar_service_query(db, name, print->proof_sql, 2, proof_values);
        if (!result)
            return -1;
        if (PQntuples(result) != 1) {
            PQclear(result);
            char event[96];
            snprintf(event, sizeof event, "%s.receipt_proof_missing", print->rules->service);
            nagar_log_error(event, "receipt %s of ULB %s has no entry on the %s; verify it",
                            proof_values[1], proof_values[0], print->proof_en);
            nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                              "receipt %s has no entry on the %s; an officer must verify it",
                              proof_values[1], print->proof_en);
            return 1;
        }
        work->entry_seq = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
        snprintf(work->hash_hex, sizeof work->hash_hex, "%s", PQgetvalue(result, 0, 1));
        PQclear(result);
        return read_payer(db, work);
    }

    /* The row the receipt was recorded as; its reference is the receipt
     * number, so a mismatch means the tables disagree with the chain. */
    char seq[32];
    work->entry_seq = int_of(receipt, "ledgerSeq");
    snprintf(seq, sizeof seq, "%" PRId64, work->entry_seq);
    const char *ledger_values[] = {text_of(receipt, "ulb"), seq, text_of(receipt, "receiptNo")};
    PGresult *result = nagar_service_query(db, "print_receipt_ledger_hash",
                                           "SELECT encode(hash, 'hex') FROM ledger "
                                           "WHERE ulb = $1 AND seq = $2::bigint AND reference = $3",
                                           3, ledger_values);
    if (!result)
        return -1;
    if (PQntuples(result) != 1) {
        PQclear(result);
        char event[96];
        snprintf(event, sizeof event, "%s.receipt_ledger_missing", print->rules->service);
        nagar_log_error(event,
                        "receipt %s names ledger row %s of ULB %s, which does not record it; "
                        "run nagar-%s verify %s",
                        ledger_values[2], seq, ledger_values[0], print->rules->service,
                        ledger_values[0]);
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__INTERNAL, NULL,
                          "receipt %s has no matching ledger row; an officer must verify the "
                          "ledger of ULB %s",
                          ledger_values[2], ledger_values[0]);
        return 1;
    }
    snprintf(work->hash_hex, sizeof work->hash_hex, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    return read_payer(db, work);
}

/* The payer of record, by the service's query. */
static int read_payer(nagar_db_t *db, work_t *work)
{
    const nagar_receipt_print_t *print = work->print;
    json_t *receipt = work->receipt;
    char name[64];
    const char *payer_values[] = {text_of(receipt, print->account_field)};
    snprintf(name, sizeof name, "print_%s_payer", print->rule);
    PGresult *result = nagar_service_query(db, name, print->payer_sql, 1, payer_values);
    if (!result)
        return -1;
    snprintf(work->payer, sizeof work->payer, "%s",
             PQntuples(result) == 1 ? PQgetvalue(result, 0, 0) : "");
    PQclear(result);
    return 0;
}

/* ---- laying out ----------------------------------------------------------------- */

typedef struct {
    const char *period;
    const char *head;
    int64_t amount;
} line_t;

typedef struct {
    nagar_document_t *doc;
    size_t fields;
} page_t;

static void add_field(page_t *page, const char *hi, const char *en, const char *value)
{
    nagar_document_add_field(page->doc, hi, en, value);
    page->fields++;
}

/* "2025-26 " before a head, or nothing for a fee (its ref is an id) or the advance. */
static const char *period_prefix(const line_t *line, char *out, size_t size)
{
    if (!line->period[0] || strncmp(line->period, "FEE:", 4) == 0 ||
        strcmp(line->head, "ADVANCE") == 0)
        out[0] = '\0';
    else
        snprintf(out, size, "%s ", line->period);
    return out;
}

static void add_line(page_t *page, const nagar_print_label_t *heads, const line_t *line)
{
    char hi[200], en[200], period[80], amount[NAGAR_PRINT_RUPEES_MAX];
    period_prefix(line, period, sizeof period);
    if (strcmp(line->head, "ADVANCE") == 0) {
        bool used = line->amount < 0;
        snprintf(hi, sizeof hi, "%s", used ? "अग्रिम जमा से समायोजित" : "अग्रिम में जमा");
        snprintf(en, sizeof en, "%s", used ? "Advance credit used" : "Credited to advance");
    } else {
        const nagar_print_label_t *label = nagar_print_label(heads, line->head);
        snprintf(hi, sizeof hi, "%s%s", period, label ? label->hi : line->head);
        snprintf(en, sizeof en, "%s%s", period, label ? label->en : line->head);
    }
    nagar_print_rupees(line->amount, amount);
    add_field(page, hi, en, amount);
}

/* The lines that make up the amount: one each while they fit in room, else
 * summed per period (the oldest periods together when even that is too
 * many). Lines come oldest first. */
static void add_lines(page_t *page, const nagar_print_label_t *heads, const line_t *lines,
                      size_t count, size_t room)
{
    if (count <= room) {
        for (size_t i = 0; i < count; i++)
            add_line(page, heads, &lines[i]);
        return;
    }
    size_t periods = 0;
    for (size_t i = 0; i < count; i++)
        if (i == 0 || strcmp(lines[i].period, lines[i - 1].period) != 0)
            periods++;
    size_t fold = periods > room ? periods - room + 1 : 0;   /* oldest periods summed into one */
    size_t period = 0;
    int64_t sum = 0;
    char hi[200], en[200], amount[NAGAR_PRINT_RUPEES_MAX];
    for (size_t i = 0; i < count; i++) {
        int64_t total;
        sum = nagar_money_add(sum, lines[i].amount, &total) ? total : sum;
        if (i + 1 < count && strcmp(lines[i + 1].period, lines[i].period) == 0)
            continue;
        period++;
        if (period < fold)
            continue;
        if (period == fold && fold > 0) {
            snprintf(hi, sizeof hi, "%s तक (सभी मद)", lines[i].period);
            snprintf(en, sizeof en, "Up to %s (all heads)", lines[i].period);
        } else {
            snprintf(hi, sizeof hi, "%s (सभी मद)", lines[i].period);
            snprintf(en, sizeof en, "%s (all heads)", lines[i].period);
        }
        nagar_print_rupees(sum, amount);
        add_field(page, hi, en, amount);
        sum = 0;
    }
}

typedef struct {
    const char *ulb_name;
    const char *staff_name;
    const char *payer;
    int64_t entry_seq;
    const char *hash_hex;
} names_t;

static int render(const nagar_receipt_print_t *print, json_t *receipt, const names_t *names,
                  uint8_t **pdf, size_t *size, char qr[NAGAR_DOCUMENT_QR_MAX], char *error,
                  size_t error_size)
{
    json_t *allocations = json_object_get(receipt, "allocations");
    size_t count = json_array_size(allocations);
    line_t *lines = calloc(count ? count : 1, sizeof *lines);
    page_t page = {.doc = nagar_document_new()};
    if (!lines || !page.doc) {
        free(lines);
        nagar_document_destroy(&page.doc);
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    /* Rebates apart: they settle a head without money changing hands. */
    size_t paid = 0;
    int64_t lines_total = 0, rebate_total = 0;
    char rebate_years[256] = "";
    for (size_t i = 0; i < count; i++) {
        json_t *a = json_array_get(allocations, i);
        line_t line = {.period = text_of(a, print->period_field), .head = text_of(a, "head"),
                       .amount = int_of(a, "amountPaise")};
        int64_t sum;
        if (strcmp(line.head, "REBATE") == 0) {
            rebate_total = nagar_money_add(rebate_total, line.amount, &sum) ? sum : rebate_total;
            size_t used = strlen(rebate_years);
            snprintf(rebate_years + used, sizeof rebate_years - used, "%s%s",
                     used ? ", " : "", line.period);
            continue;
        }
        lines[paid++] = line;
        lines_total = nagar_money_add(lines_total, line.amount, &sum) ? sum : lines_total;
    }
    const char *receipt_no = text_of(receipt, "receiptNo");
    int64_t amount_paise = int_of(receipt, "amountPaise");
    if (lines_total != amount_paise) {
        char event[96];
        snprintf(event, sizeof event, "%s.receipt_lines_mismatch", print->rules->service);
        nagar_log_error(event, "receipt %s: its allocations (%" PRId64 " paise) do not add up "
                        "to its amount (%" PRId64 " paise); printed as recorded",
                        receipt_no, lines_total, amount_paise);
    }

    bool reversal = text_of(receipt, "reversesReceiptNo")[0] != '\0';
    char text[NAGAR_DOCUMENT_TEXT_MAX], amount[NAGAR_PRINT_RUPEES_MAX];
    snprintf(text, sizeof text, "%s %s %s", print->name_en, reversal ? "reversal" : "receipt",
             receipt_no);
    nagar_document_set_title_metadata(page.doc, text);
    snprintf(text, sizeof text, "%s%s", print->title_hi, reversal ? " — निरस्तीकरण" : "");
    nagar_document_add_title(page.doc, text);
    snprintf(text, sizeof text, "%s%s", print->title_en, reversal ? " — Reversal" : "");
    nagar_document_add_title(page.doc, text);
    const char *ulb = text_of(receipt, "ulb");
    if (names->ulb_name[0])
        snprintf(text, sizeof text, "%s (एलजीडी कोड / LGD code %s)", names->ulb_name, ulb);
    else
        snprintf(text, sizeof text, "नगरीय निकाय, एलजीडी कोड %s / Urban local body, LGD code %s",
                 ulb, ulb);
    nagar_document_add_title(page.doc, text);

    add_field(&page, "रसीद क्रमांक", "Receipt no.", receipt_no);
    add_field(&page, "दिनांक", "Date", text_of(receipt, "paidOn"));
    add_field(&page, print->account_hi, print->account_en,
              text_of(receipt, print->account_field));
    add_field(&page, print->payer_hi, print->payer_en, names->payer);
    nagar_print_rupees(amount_paise, amount);
    add_field(&page, "राशि", "Amount", amount);
    const nagar_print_label_t *mode = nagar_print_label(MODES, text_of(receipt, "mode"));
    if (mode)
        snprintf(text, sizeof text, "%s / %s", mode->hi, mode->en);
    else
        snprintf(text, sizeof text, "%s", text_of(receipt, "mode"));
    add_field(&page, "भुगतान का प्रकार", "Mode", text);
    add_field(&page, "लिखत संदर्भ", "Instrument reference", text_of(receipt, "instrumentRef"));
    add_field(&page, "काउंटर", "Counter", text_of(receipt, "counter"));
    if (reversal) {
        const char *reverses = text_of(receipt, "reversesReceiptNo");
        snprintf(text, sizeof text, "यह रसीद %s को निरस्त करती है / Reverses receipt %s",
                 reverses, reverses);
        add_field(&page, "निरस्त रसीद", "Reverses receipt", text);
        add_field(&page, "कारण", "Reason", text_of(receipt, "reason"));
    }
    const char *reversed_by = text_of(receipt, "reversedByReceiptNo");
    if (reversed_by[0]) {
        snprintf(text, sizeof text, "रसीद %s द्वारा निरस्त / Reversed by receipt %s",
                 reversed_by, reversed_by);
        add_field(&page, "स्थिति", "Status", text);
    }
    size_t after = FIELDS_AFTER_LINES + json_array_size(json_object_get(receipt, "notes"));
    size_t room = FIELDS_ON_PAGE > page.fields + after ? FIELDS_ON_PAGE - page.fields - after : 1;
    add_lines(&page, print->heads, lines, paid, room);
    nagar_print_rupees(lines_total, amount);
    add_field(&page, "ऊपर की पंक्तियों का योग (= राशि)", "Total of the lines above (= amount)",
              amount);
    if (rebate_total != 0) {
        nagar_print_rupees(rebate_total, amount);
        snprintf(text, sizeof text, "%s (%s) — समय पूर्व भुगतान की छूट; चुकाई नहीं गई, राशि में "
                 "शामिल नहीं / early-payment rebate; not paid, not part of the amount",
                 amount, rebate_years);
        add_field(&page, "छूट", "Rebate granted", text);
    }
    json_t *notes = json_object_get(receipt, "notes");
    for (size_t i = 0; i < json_array_size(notes); i++) {
        json_t *note = json_array_get(notes, i);
        add_field(&page, text_of(note, "hi"), text_of(note, "en"), text_of(note, "value"));
    }
    if (!print->no_advance) {
        nagar_print_rupees(int_of(receipt, "advancePaise"), amount);
        add_field(&page, "शेष अग्रिम जमा", "Advance credit after this receipt", amount);
    }
    snprintf(text, sizeof text, "%" PRId64, names->entry_seq);
    if (print->proof_sql) {
        char hi[120], en[120];
        snprintf(hi, sizeof hi, "%s प्रविष्टि", print->proof_hi);
        snprintf(en, sizeof en, "Entry on the %s", print->proof_en);
        add_field(&page, hi, en, text);
    } else {
        add_field(&page, "लेजर प्रविष्टि", "Ledger entry", text);
    }
    const char *recorded_by = text_of(receipt, "recordedBy");
    if (names->staff_name[0])
        snprintf(text, sizeof text, "%s", names->staff_name);
    else if (strcmp(recorded_by, "provider") == 0)
        snprintf(text, sizeof text, "भुगतान प्रदाता (ऑनलाइन) / The payment provider (online)");
    else
        snprintf(text, sizeof text, "%s", recorded_by);
    add_field(&page, "दर्ज करने वाले", "Recorded by", text);

    const char *chain_hi = print->proof_sql ? print->proof_hi : "लेजर";
    const char *chain_en = print->proof_sql ? print->proof_en : "ledger";
    snprintf(text, sizeof text, "यह कंप्यूटर द्वारा बनाई गई रसीद है; हस्ताक्षर आवश्यक नहीं। क्यूआर "
             "कोड में इस रसीद की %s प्रविष्टि और उसका हैश है।", chain_hi);
    nagar_document_add_footer(page.doc, text);
    snprintf(text, sizeof text, "Computer-generated receipt; no signature is needed. The QR code "
             "carries this receipt's entry in the ULB's hash-chained %s: check it against the "
             "%s to prove the receipt.", chain_en, chain_en);
    nagar_document_add_footer(page.doc, text);
    snprintf(text, sizeof text, "%s%s hash (SHA-256): %s", print->proof_sql ? "" : "Ledger",
             print->proof_sql ? "Entry" : "", names->hash_hex);
    nagar_document_add_footer(page.doc, text);
    snprintf(qr, NAGAR_DOCUMENT_QR_MAX, "%s|v1|%s|%s|%" PRId64 "|%" PRId64 "|%s", print->qr_tag,
             receipt_no, ulb, amount_paise, names->entry_seq, names->hash_hex);
    nagar_document_set_qr(page.doc, qr, "सत्यापन हेतु स्कैन करें / Scan to verify");
    int rc = nagar_document_render_pdf(page.doc, pdf, size, error, error_size);
    nagar_document_destroy(&page.doc);
    free(lines);
    return rc;
}

/* ---- the method ------------------------------------------------------------------- */

int nagar_receipt_print_method(const nagar_receipt_print_t *print, nagar_worker_call_t *call,
                               const ProtobufCMessage *request)
{
    char *json = nagar_json_encode(request);
    if (!json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                      "the request holds text that is not valid UTF-8");
    work_t work = {.print = print, .call = call, .request_json = json};
    nagar_outcome_reset(&work.outcome);
    int rc = nagar_db_transaction(print->rules->db, NAGAR_DB_READ_COMMITTED, read_receipt, &work);
    free(json);
    if (rc != 0) {
        nagar_outcome_t outcome = work.outcome;
        work_reset(&work);
        return nagar_rules_fail(print->rules, call, rc, &outcome);
    }
    json_t *receipt = work.receipt;
    const char *receipt_no = text_of(receipt, "receiptNo");
    char ulb_name[NAGAR_IDENTITY_NAME_MAX], staff_name[NAGAR_IDENTITY_NAME_MAX];
    nagar_identity_ulb_name(print->bus, call, text_of(receipt, "ulb"), ulb_name);
    nagar_identity_staff_name(print->bus, call, text_of(receipt, "recordedBy"), staff_name);
    names_t names = {.ulb_name = ulb_name, .staff_name = staff_name, .payer = work.payer,
                     .entry_seq = work.entry_seq, .hash_hex = work.hash_hex};
    uint8_t *pdf = NULL;
    size_t size = 0;
    char qr[NAGAR_DOCUMENT_QR_MAX], error[512], event[96];
    if (render(print, receipt, &names, &pdf, &size, qr, error, sizeof error) != 0) {
        snprintf(event, sizeof event, "%s.receipt_pdf_failed", print->rules->service);
        nagar_log_error(event, "receipt %s: %s", receipt_no, error);
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                    "the PDF of receipt %s could not be made: %s", receipt_no,
                                    error);
        work_reset(&work);
        return rc;
    }
    /* Receipt numbers hold '/': not in a file name. */
    char file_name[160];
    snprintf(file_name, sizeof file_name, "%s-%s.pdf", print->file_prefix, receipt_no);
    for (char *c = file_name; *c; c++)
        if (*c == '/')
            *c = '-';
    const char *fields[] = {"receipt_no", "qr_payload", "file_name", "content_type", NULL};
    const char *values[] = {receipt_no, qr, file_name, "application/pdf", NULL};
    ProtobufCMessage *reply = nagar_print_reply(print->reply_type, pdf, size, fields, values);
    if (!reply) {
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    } else {
        json_t *log_fields = json_pack("{s:s, s:I, s:I}", "receipt_no", receipt_no, "ledger_seq",
                                       (json_int_t) work.entry_seq, "bytes",
                                       (json_int_t) size);
        snprintf(event, sizeof event, "%s.receipt_pdf", print->rules->service);
        nagar_log_write(NAGAR_LOG_INFO, event, log_fields, "receipt PDF made");
        rc = nagar_worker_call_reply(call, reply);
        free(reply);
    }
    free(pdf);
    work_reset(&work);
    return rc;
}
