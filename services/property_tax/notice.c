/*
 * notice.c — the demand notice as data and as a PDF (notice.h). The
 * figures are computed by the rules of sql/notice.sql; here is the page:
 * every figure of the computation with its label in Hindi and English, in
 * the order a clerk explains it at the counter.
 */
#include "notice.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "document.h"
#include "identity_lookup.h"
#include "json_codec.h"
#include "log.h"
#include "receipt_print.h"

#define NOTICE &nagar__property_tax__demand_notice__descriptor

/* The request as the rules take it, with the portal's address added (the
 * notice's payment URL); NULL on a request that is not valid UTF-8. */
static char *request_with_portal(pt_t *self, const ProtobufCMessage *request)
{
    json_t *object = nagar_json_encode_object(request);
    if (!object)
        return NULL;
    json_object_set_new(object, "portalUrl", json_string(self->portal_url));
    char *text = json_dumps(object, JSON_COMPACT);
    json_decref(object);
    return text;
}

int property_tax_demand_notice_get(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                   void *arg)
{
    pt_t *self = arg;
    char *json = request_with_portal(self, request);
    if (!json)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                                      "the request holds text that is not valid UTF-8");
    int rc = nagar_rules_method(&self->rules, call, request, json, "pt_demand_notice_get",
                                NOTICE, false, NULL, self);
    free(json);
    return rc;
}

/* ---- the page ----------------------------------------------------------------------- */

static const nagar_print_label_t KINDS[] = {
    {"RESIDENTIAL", "आवासीय", "residential"},
    {"COMMERCIAL", "व्यावसायिक", "commercial"},
    {"INDUSTRIAL", "औद्योगिक", "industrial"},
    {"MIXED", "मिश्रित", "mixed use"},
    {"RCC", "आरसीसी छत", "RCC roof"},
    {"RBC", "आरबीसी छत", "RBC roof"},
    {"TIN_SHED", "टीन शेड", "tin shed"},
    {"KACHCHA", "कच्चा", "kachcha"},
    {"SELF_OCCUPIED", "स्व-अधिभोगी", "self-occupied"},
    {"RENTED", "किराये पर", "rented"},
    {"WORSHIP", "पूजा स्थल", "place of worship"},
    {"CHARITABLE", "धर्मार्थ", "charitable"},
    {"GOVERNMENT", "शासकीय", "government"},
    {"BPL", "गरीबी रेखा से नीचे", "below poverty line"},
    {NULL, NULL, NULL},
};

static const char *enum_name(const ProtobufCEnumDescriptor *type, int value)
{
    const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value(type, value);
    return found ? found->name : "";
}

/* "आवासीय / residential" for an enum value. */
static void kind_text(const ProtobufCEnumDescriptor *type, int value, char *out, size_t size)
{
    const char *name = enum_name(type, value);
    const nagar_print_label_t *label = nagar_print_label(KINDS, name);
    if (label)
        snprintf(out, size, "%s / %s", label->hi, label->en);
    else
        snprintf(out, size, "%s", name);
}

/* Basis points as a percentage: 600 "6%", 150 "1.5%", 125 "1.25%". */
static void percent(int32_t bp, char out[24])
{
    if (bp % 100 == 0)
        snprintf(out, 24, "%d%%", bp / 100);
    else if (bp % 10 == 0)
        snprintf(out, 24, "%d.%d%%", bp / 100, (bp % 100) / 10);
    else
        snprintf(out, 24, "%d.%02d%%", bp / 100, bp % 100);
}

/* An exact amount of paise in decimal ("87147.9") as rupees with every digit
 * it has ("Rs 871.479"), at least two decimals. */
static void exact_rupees(const char *paise, char out[64])
{
    const char *sign = "";
    if (*paise == '-') {
        sign = "-";
        paise++;
    }
    long long whole = strtoll(paise, NULL, 10);
    const char *dot = strchr(paise, '.');
    snprintf(out, 64, "Rs %s%lld.%02lld%.16s", sign, whole / 100, whole % 100, dot ? dot + 1 : "");
}

/* Floors as "भूतल/ground 2000; 1: 1000" (sq ft), the first NOTICE_FLOORS_MAX;
 * the rest are summed, never dropped. */
#define NOTICE_FLOORS_MAX 16
static void floors_text(const Nagar__PropertyTax__DemandNotice *n, char *out, size_t size)
{
    out[0] = '\0';
    int64_t rest = 0;
    for (size_t i = 0; i < n->n_floors; i++) {
        const Nagar__PropertyTax__Floor *f = n->floors[i];
        if (i >= NOTICE_FLOORS_MAX) {
            rest += f->area_sqft;
            continue;
        }
        size_t used = strlen(out);
        if (f->floor == 0)
            snprintf(out + used, size - used, "%sभूतल/ground %" PRId64, i ? "; " : "",
                     f->area_sqft);
        else
            snprintf(out + used, size - used, "%s%d: %" PRId64, i ? "; " : "", f->floor,
                     f->area_sqft);
    }
    if (rest > 0) {
        size_t used = strlen(out);
        snprintf(out + used, size - used, "; %zu more floors / और तल: %" PRId64,
                 n->n_floors - NOTICE_FLOORS_MAX, rest);
    }
}

typedef struct {
    nagar_document_t *doc;
} page_t;

static void field(page_t *page, const char *hi, const char *en, const char *value)
{
    nagar_document_add_field(page->doc, hi, en, value);
}

static void money_field(page_t *page, const char *hi, const char *en, int64_t paise)
{
    char amount[NAGAR_PRINT_RUPEES_MAX];
    nagar_print_rupees(paise, amount);
    field(page, hi, en, amount);
}

/* The computation of the year's property-tax head: slabs, or why there are none. */
static void add_slabs(page_t *page, const Nagar__PropertyTax__DemandNotice *n)
{
    char hi[256], en[256], text[512], a[NAGAR_PRINT_RUPEES_MAX], b[NAGAR_PRINT_RUPEES_MAX],
        rate[24], exact[64];
    bool marginal = n->slab_mode == NAGAR__PROPERTY_TAX__SLAB_MODE__MARGINAL;
    field(page, "स्लैब पद्धति", "Slab mode", marginal ? "सीमांत / Marginal" : "समतल / Flat");
    if (n->exempt) {
        char kind[96];
        kind_text(&nagar__property_tax__exemption__descriptor, (int) n->exemption, kind,
                  sizeof kind);
        field(page, "छूट प्राप्त श्रेणी: कोई कर या उपकर नहीं",
              "Exempt category: no tax and no cess", kind);
        return;
    }
    if (n->below_threshold) {
        nagar_print_rupees(n->exemption_threshold_paise, b);
        snprintf(hi, sizeof hi, "शुद्ध ALV %s की सीमा से अधिक नहीं: संपत्ति कर नहीं", b);
        snprintf(en, sizeof en, "Net ALV not above the threshold of %s: no property tax", b);
        money_field(page, hi, en, 0);
        return;
    }
    for (size_t i = 0; i < n->n_slabs; i++) {
        const Nagar__PropertyTax__NoticeSlab *s = n->slabs[i];
        nagar_print_rupees(s->above_paise, a);
        if (s->upto_paise > 0) {
            nagar_print_rupees(s->upto_paise, b);
            snprintf(hi, sizeof hi, "स्लैब %d: %s से %s तक", s->ordinal, a, b);
            snprintf(en, sizeof en, "Slab %d: above %s up to %s", s->ordinal, a, b);
        } else {
            snprintf(hi, sizeof hi, "स्लैब %d: %s से ऊपर", s->ordinal, a);
            snprintf(en, sizeof en, "Slab %d: above %s", s->ordinal, a);
        }
        percent(s->rate_bp, rate);
        nagar_print_rupees(s->taxable_paise, a);
        exact_rupees(s->tax_exact_paise, exact);
        snprintf(text, sizeof text, "%s × %s = %s", rate, a, exact);
        field(page, hi, en, text);
    }
    money_field(page, "स्लैब कर (पैसे में पूर्णांकित)", "Tax on the slabs (rounded to the paisa)",
                n->slab_tax_paise);
    percent(n->self_occupied_rebate_bp, rate);
    snprintf(hi, sizeof hi, "घटाएँ: स्व-अधिभोग छूट (%s)", rate);
    snprintf(en, sizeof en, "Less: self-occupied rebate (%s)", rate);
    money_field(page, hi, en, n->self_occupied_rebate_paise);
}

/* The notice as one page; its QR code is the payment URL (none without one). */
static nagar_document_t *notice_page(const Nagar__PropertyTax__DemandNotice *n,
                                     const char *ulb_name)
{
    page_t page = {.doc = nagar_document_new()};
    if (!page.doc)
        return NULL;
    /* Many short figures: labels wide enough for Hindi and English on one line. */
    nagar_document_set_label_width(page.doc, 300);
    char text[NAGAR_DOCUMENT_TEXT_MAX], hi[256], en[256], a[NAGAR_PRINT_RUPEES_MAX],
        b[NAGAR_PRINT_RUPEES_MAX], rate[24];
    snprintf(text, sizeof text, "Property tax demand notice %s", n->notice_no);
    nagar_document_set_title_metadata(page.doc, text);
    nagar_document_add_title(page.doc, "संपत्ति कर मांग पत्र / Property Tax Demand Notice");
    if (ulb_name[0])
        snprintf(text, sizeof text, "%s (एलजीडी कोड / LGD code %s)", ulb_name, n->ulb);
    else
        snprintf(text, sizeof text, "नगरीय निकाय, एलजीडी कोड %s / Urban local body, LGD code %s",
                 n->ulb, n->ulb);
    nagar_document_add_title(page.doc, text);
    snprintf(text, sizeof text, "वित्तीय वर्ष %s / Financial year %s", n->fy, n->fy);
    nagar_document_add_title(page.doc, text);

    /* Who and what: lines across the page. */
    snprintf(text, sizeof text, "सूचना / Notice %s, %s — राशियाँ इस दिन की / amounts as on %s",
             n->notice_no, n->as_of, n->as_of);
    nagar_document_add_line(page.doc, text);
    text[0] = '\0';
    for (size_t i = 0; i < n->n_owners; i++) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, "%s%s (%d.%02d%%)", i ? ", " : "स्वामी / Owners: ",
                 n->owners[i]->name, n->owners[i]->share_bp / 100, n->owners[i]->share_bp % 100);
    }
    nagar_document_add_line(page.doc, text);
    snprintf(text, sizeof text, "संपत्ति / Property %s: %s; वार्ड / ward %d, ज़ोन / zone %s",
             n->property_id, n->address, n->ward, n->zone);
    nagar_document_add_line(page.doc, text);
    /* "आवासीय, आरसीसी छत, स्व-अधिभोगी / residential, RCC roof, self-occupied" */
    const ProtobufCEnumDescriptor *types[] = {
        &nagar__property_tax__usage__descriptor, &nagar__property_tax__construction__descriptor,
        &nagar__property_tax__occupancy__descriptor, &nagar__property_tax__exemption__descriptor};
    const int values[] = {(int) n->usage, (int) n->construction, (int) n->occupancy,
                          (int) n->exemption};
    char kinds_hi[256] = "", kinds_en[256] = "";
    for (size_t i = 0; i < 4; i++) {
        const nagar_print_label_t *label = nagar_print_label(KINDS, enum_name(types[i], values[i]));
        if (!label)
            continue;      /* EXEMPTION_NONE */
        size_t used_hi = strlen(kinds_hi), used_en = strlen(kinds_en);
        snprintf(kinds_hi + used_hi, sizeof kinds_hi - used_hi, "%s%s", i ? ", " : "", label->hi);
        snprintf(kinds_en + used_en, sizeof kinds_en - used_en, "%s%s", i ? ", " : "", label->en);
    }
    char floors[NAGAR_DOCUMENT_TEXT_MAX / 2];
    floors_text(n, floors, sizeof floors);
    snprintf(text, sizeof text, "%s / %s; मंज़िलवार क्षेत्रफल / area by floor (sq ft): %s",
             kinds_hi, kinds_en, floors);
    nagar_document_add_line(page.doc, text);

    /* The area the demand was computed on (the floors may have changed since). */
    int64_t floors_total = 0;
    for (size_t i = 0; i < n->n_floors; i++)
        floors_total += n->floors[i]->area_sqft;
    nagar_print_rupees(n->alv_rate_paise_per_sqft, a);
    nagar_print_rupees(n->alv_paise, b);
    snprintf(hi, sizeof hi, "वार्षिक भाड़ा मूल्य = क्षेत्रफल × दर (दर सूची %d)", n->rate_version);
    snprintf(en, sizeof en, "ALV = area × rate a year (rates version %d)", n->rate_version);
    snprintf(text, sizeof text, "%" PRId64 " sq ft × %s = %s%s", n->area_sqft, a, b,
             floors_total == n->area_sqft ? "" : " (तल बाद में बदले / floors changed since)");
    field(&page, hi, en, text);
    percent(n->maintenance_bp, rate);
    snprintf(hi, sizeof hi, "घटाएँ: रखरखाव कटौती (ALV का %s)", rate);
    snprintf(en, sizeof en, "Less: deduction for maintenance (%s of ALV)", rate);
    money_field(&page, hi, en, n->maintenance_deduction_paise);
    money_field(&page, "शुद्ध वार्षिक भाड़ा मूल्य", "Net ALV", n->net_alv_paise);
    add_slabs(&page, n);
    money_field(&page, "संपत्ति कर", "Property tax", n->property_tax_paise);
    percent(n->education_cess_bp, rate);
    snprintf(hi, sizeof hi, "शिक्षा उपकर (ALV का %s)", rate);
    snprintf(en, sizeof en, "Education cess (%s of ALV)", rate);
    money_field(&page, hi, en, n->education_cess_paise);
    percent(n->urban_development_cess_bp, rate);
    snprintf(hi, sizeof hi, "नगरीय विकास उपकर (ALV का %s)", rate);
    snprintf(en, sizeof en, "Urban development cess (%s of ALV)", rate);
    money_field(&page, hi, en, n->urban_development_cess_paise);
    money_field(&page, "समेकित कर", "Consolidated charge (samekit)", n->samekit_paise);
    if (n->mutation_fee_paise != 0)
        money_field(&page, "नामांतरण शुल्क", "Mutation fee", n->mutation_fee_paise);
    snprintf(hi, sizeof hi, "वर्ष %s की मांग", n->fy);
    snprintf(en, sizeof en, "Demand for %s", n->fy);
    money_field(&page, hi, en, n->year_demand_paise);
    money_field(&page, "घटाएँ: इस वर्ष हेतु जमा", "Less: paid for the year so far",
                n->year_settled_paise);
    money_field(&page, "पिछले वर्षों का बकाया", "Arrears of earlier years", n->arrear_paise);
    percent(n->surcharge_bp_per_month, rate);
    snprintf(hi, sizeof hi, "अधिभार (बकाये पर %s प्रति माह)", rate);
    snprintf(en, sizeof en, "Surcharge (%s a month on arrears)", rate);
    money_field(&page, hi, en, n->surcharge_paise);
    money_field(&page, "घटाएँ: अग्रिम जमा", "Less: advance credit", n->advance_paise);
    snprintf(hi, sizeof hi, "कुल देय (%s को)", n->as_of);
    snprintf(en, sizeof en, "Total payable (on %s)", n->as_of);
    money_field(&page, hi, en, n->payable_paise);
    percent(n->rebate_bp, rate);
    snprintf(hi, sizeof hi, "छूट: संपत्ति कर का %s", rate);
    snprintf(en, sizeof en, "Rebate: %s of property tax", rate);
    if (n->rebate_paise > 0) {
        nagar_print_rupees(n->rebate_paise, a);
        snprintf(text, sizeof text, "%s (by %s)", a, n->rebate_last_day);
        field(&page, hi, en, text);
        snprintf(hi, sizeof hi, "छूट सहित देय, %s तक", n->rebate_last_day);
        snprintf(en, sizeof en, "Payable with the rebate, by %s", n->rebate_last_day);
        money_field(&page, hi, en, n->payable_with_rebate_paise);
    } else {
        snprintf(text, sizeof text, "उपलब्ध नहीं / none%s%s", n->rebate_last_day[0] ? " after " : "",
                 n->rebate_last_day);
        field(&page, hi, en, text);
    }
    percent(n->surcharge_bp_per_month, rate);
    snprintf(hi, sizeof hi, "देय तिथि");
    snprintf(en, sizeof en, "Due date (then %s a month surcharge)", rate);
    field(&page, hi, en, n->due_date);

    if (n->payment_url[0]) {
        snprintf(text, sizeof text, "भुगतान: नगरीय निकाय के काउंटर पर (नकद, चेक, डिमांड ड्राफ्ट, "
                 "यूपीआई) या ऑनलाइन — क्यूआर कोड स्कैन करें या खोलें: %s", n->payment_url);
        nagar_document_add_footer(page.doc, text);
        snprintf(text, sizeof text, "How to pay: at the ULB's counter (cash, cheque, demand "
                 "draft, UPI) or online — scan the QR code or open %s", n->payment_url);
        nagar_document_add_footer(page.doc, text);
    } else {
        nagar_document_add_footer(page.doc, "भुगतान: नगरीय निकाय के काउंटर पर (नकद, चेक, डिमांड "
                                            "ड्राफ्ट, यूपीआई), संपत्ति क्रमांक बताकर।");
        nagar_document_add_footer(page.doc, "How to pay: at the ULB's counter (cash, cheque, "
                                            "demand draft, UPI), quoting the property id.");
    }
    nagar_document_add_footer(page.doc, "सीमांत: शुद्ध ALV का हर भाग अपने स्लैब की दर से; समतल: "
                                        "पूरा शुद्ध ALV उस स्लैब की दर से जिसमें वह आता है। हर मद "
                                        "एक बार, पैसे में पूर्णांकित। कंप्यूटर द्वारा बनाया गया; "
                                        "हस्ताक्षर आवश्यक नहीं।");
    nagar_document_add_footer(page.doc, "Marginal: each part of net ALV at its slab's rate; flat: "
                                        "all of net ALV at the rate of the slab it falls in. Each "
                                        "head is computed exactly and rounded once, to the paisa. "
                                        "Computer-generated; no signature is needed.");
    if (n->payment_url[0])
        nagar_document_set_qr(page.doc, n->payment_url,
                              "भुगतान हेतु स्कैन करें / Scan to pay online");
    return page.doc;
}

/* ---- the PDFs --------------------------------------------------------------------------- */

/* Runs rule (with the portal added to the request) into a decoded reply. */
static int notices_of(pt_t *self, nagar_worker_call_t *call, const ProtobufCMessage *request,
                      const char *rule, const ProtobufCMessageDescriptor *type,
                      ProtobufCMessage **reply)
{
    *reply = NULL;
    char *json = request_with_portal(self, request);
    if (!json) {
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, NULL,
                               "the request holds text that is not valid UTF-8");
        return -1;
    }
    nagar_outcome_t outcome;
    nagar_outcome_reset(&outcome);
    int rc = nagar_rules_call(&self->rules, call, rule, json, type, reply, &outcome);
    free(json);
    if (rc != 0) {
        nagar_rules_fail(&self->rules, call, rc, &outcome);
        return -1;
    }
    return 0;
}

/* Renders notices into one PDF; answers the failure itself and returns -1. */
static int render_notices(pt_t *self, nagar_worker_call_t *call,
                          Nagar__PropertyTax__DemandNotice *const *notices, size_t count,
                          uint8_t **pdf, size_t *size)
{
    char ulb_name[NAGAR_IDENTITY_NAME_MAX], error[512];
    nagar_identity_ulb_name(self->bus, call, notices[0]->ulb, ulb_name);
    nagar_document_t **pages = calloc(count, sizeof *pages);
    int rc = pages ? 0 : -1;
    snprintf(error, sizeof error, "out of memory");
    for (size_t i = 0; rc == 0 && i < count; i++)
        if (!(pages[i] = notice_page(notices[i], ulb_name)))
            rc = -1;
    if (rc == 0)
        rc = nagar_document_render_pages(pages, count, pdf, size, error, sizeof error);
    for (size_t i = 0; pages && i < count; i++)
        nagar_document_destroy(&pages[i]);
    free(pages);
    if (rc != 0) {
        nagar_log_error("property_tax.notice_pdf_failed", "notice %s%s: %s", notices[0]->notice_no,
                        count > 1 ? " and the rest of its ward's page" : "", error);
        nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                               "the demand notice PDF could not be made: %s", error);
        return -1;
    }
    return 0;
}

int property_tax_demand_notice_pdf(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                   void *arg)
{
    pt_t *self = arg;
    ProtobufCMessage *reply = NULL;
    if (notices_of(self, call, request, "pt_demand_notice_get", NOTICE, &reply) != 0)
        return -1;
    Nagar__PropertyTax__DemandNotice *notice = (Nagar__PropertyTax__DemandNotice *) reply;
    uint8_t *pdf = NULL;
    size_t size = 0;
    if (render_notices(self, call, &notice, 1, &pdf, &size) != 0) {
        protobuf_c_message_free_unpacked(reply, NULL);
        return -1;
    }
    char file_name[160];
    snprintf(file_name, sizeof file_name, "demand-notice-%s-%s.pdf", notice->property_id,
             notice->fy);
    Nagar__PropertyTax__DemandNoticePdf out = NAGAR__PROPERTY_TAX__DEMAND_NOTICE_PDF__INIT;
    out.notice_no = notice->notice_no;
    out.pdf.data = pdf;
    out.pdf.len = size;
    out.qr_payload = notice->payment_url;
    out.file_name = file_name;
    out.content_type = "application/pdf";
    json_t *fields = json_pack("{s:s, s:I}", "notice_no", notice->notice_no, "bytes",
                               (json_int_t) size);
    nagar_log_write(NAGAR_LOG_INFO, "property_tax.notice_pdf", fields, "demand notice PDF made");
    int rc = nagar_worker_call_reply(call, &out.base);
    free(pdf);
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

int property_tax_demand_notice_ward_pdf(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                        void *arg)
{
    pt_t *self = arg;
    const Nagar__PropertyTax__WardNoticesRequest *request =
        (const Nagar__PropertyTax__WardNoticesRequest *) message;
    ProtobufCMessage *reply = NULL;
    if (notices_of(self, call, message, "pt_demand_notice_ward",
                   &nagar__property_tax__demand_notices__descriptor, &reply) != 0)
        return -1;
    Nagar__PropertyTax__DemandNotices *page = (Nagar__PropertyTax__DemandNotices *) reply;
    if (page->n_notices == 0) {
        protobuf_c_message_free_unpacked(reply, NULL);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "ward",
                                      "ward %d of ULB %s has no demand for %s%s", request->ward,
                                      request->ulb, request->fy,
                                      request->page_token[0] ? " after pageToken" : "");
    }
    uint8_t *pdf = NULL;
    size_t size = 0;
    if (render_notices(self, call, page->notices, page->n_notices, &pdf, &size) != 0) {
        protobuf_c_message_free_unpacked(reply, NULL);
        return -1;
    }
    char **ids = calloc(page->n_notices, sizeof *ids);
    if (!ids) {
        free(pdf);
        protobuf_c_message_free_unpacked(reply, NULL);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; i < page->n_notices; i++)
        ids[i] = page->notices[i]->property_id;
    const Nagar__PropertyTax__DemandNotice *first = page->notices[0];
    char file_name[160];
    snprintf(file_name, sizeof file_name, "demand-notices-%s-ward-%03d-%s-from-%s.pdf", first->ulb,
             first->ward, first->fy, first->property_id);
    Nagar__PropertyTax__WardNoticesPdf out = NAGAR__PROPERTY_TAX__WARD_NOTICES_PDF__INIT;
    out.n_property_ids = page->n_notices;
    out.property_ids = ids;
    out.pdf.data = pdf;
    out.pdf.len = size;
    out.next_page_token = page->next_page_token;
    out.file_name = file_name;
    out.content_type = "application/pdf";
    json_t *fields = json_pack("{s:s, s:i, s:s, s:I, s:I}", "ulb", first->ulb, "ward",
                               first->ward, "fy", first->fy, "notices",
                               (json_int_t) page->n_notices, "bytes", (json_int_t) size);
    nagar_log_write(NAGAR_LOG_INFO, "property_tax.ward_notices_pdf", fields,
                    "a ward's demand notices printed");
    int rc = nagar_worker_call_reply(call, &out.base);
    free(ids);
    free(pdf);
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

/* ---- the messages ------------------------------------------------------------------------- */

/* One demand.notice event per owner the chunk queued
 * (sql/notice_messages.sql), in the chunk's transaction: the property as
 * the subject, the owner as the person (their user id; for an owner without
 * an account, the record's key for them, "owner:<ordinal>", whom
 * notifications reaches at the mobile on the register), the amount, the
 * year and the due date. Notifications finds the owner's contact and adds
 * the link to the notice. */
static int queue_messages(nagar_rules_t *rules, json_t *chunk)
{
    json_t *messages = json_object_get(chunk, "messages");
    size_t i;
    json_t *message;
    json_array_foreach(messages, i, message) {
        const char *property = json_string_value(json_object_get(message, "propertyId"));
        const char *ulb = json_string_value(json_object_get(message, "ulb"));
        if (!property || !ulb)
            return -1;
        char subject[64], amount[32];
        snprintf(subject, sizeof subject, "property:%s", property);
        snprintf(amount, sizeof amount, "%lld",
                 (long long) json_integer_value(json_object_get(message, "amountPaise")));
        if (nagar_rules_outbox_person(
                rules, "demand.notice", ulb, subject,
                json_string_value(json_object_get(message, "person")),
                json_string_value(json_object_get(message, "ref")), "property_id", property,
                "financial_year", json_string_value(json_object_get(message, "fy")),
                "amount_paise", amount, "due_date",
                json_string_value(json_object_get(message, "dueDate")), NULL) != 0)
            return -1;
    }
    return 0;
}

static const char *const MESSAGES_LOG_FIELDS[][2] = {
    {"job_id", "jobId"}, {"fy", "fy"}, {"messages_queued", "messagesQueued"}, {NULL, NULL}};

void property_tax_demand_notice_messages_init(nagar_rules_batch_t *batch)
{
    *batch = (nagar_rules_batch_t){.name = "notice_messages",
                                   .function = "pt_demand_notice_messages_chunk",
                                   .log_fields = MESSAGES_LOG_FIELDS, .each = queue_messages,
                                   .dated = true};
}
