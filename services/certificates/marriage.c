/*
 * marriage.c — the marriage memorandum (MP Compulsory Registration of
 * Marriages Rules 2008): its checks and its lines on the certificate.
 *
 * Both spouses' dates of birth are required because the minimum ages are
 * checked on the date of marriage itself: the groom at least 21, the bride
 * at least 18 (Prohibition of Child Marriage Act 2006, which the rules
 * refer to). At least two witnesses sign the memorandum.
 */
#include "certificates.h"

#include <stdio.h>
#include <string.h>

#include "workflow.h"

#define WITNESSES_MIN 2
#define WITNESSES_MAX 6

/* Completed years from born to on. */
static int age_on(nagar_date_t born, nagar_date_t on)
{
    int years = on.year - born.year;
    if (on.month < born.month || (on.month == born.month && on.day < born.day))
        years--;
    return years;
}

static bool check_spouse(nagar_outcome_t *outcome, const char *prefix, const char *name,
                         const Nagar__Certificates__Spouse *spouse, int minimum_age,
                         nagar_date_t married, nagar_date_t today, const char *who)
{
    char path[128], base[64];
    cert_path(base, sizeof base, prefix, name);
    if (!spouse) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, base,
                          "the %s's particulars are required", who);
        return false;
    }
    nagar_date_t born;
    if (!cert_check_text(outcome, cert_path(path, sizeof path, base, "name"), spouse->name, 1,
                         CERT_NAME_MAX, "the name") ||
        !cert_check_date(outcome, cert_path(path, sizeof path, base, "dateOfBirth"),
                         spouse->date_of_birth, today, true, &born))
        return false;
    int age = age_on(born, married);
    if (age < minimum_age) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                          cert_path(path, sizeof path, base, "dateOfBirth"),
                          "the %s must be at least %d years old on the date of marriage; born %s, "
                          "the %s was %d",
                          who, minimum_age, spouse->date_of_birth, who, age < 0 ? 0 : age);
        return false;
    }
    return cert_check_text(outcome, cert_path(path, sizeof path, base, "fatherName"),
                           spouse->father_name, 0, CERT_NAME_MAX, "the father's name") &&
           cert_check_text(outcome, cert_path(path, sizeof path, base, "address"),
                           spouse->address, 1, CERT_ADDRESS_MAX, "the address");
}

static bool marriage_validate(const ProtobufCMessage *message, const char *prefix,
                              nagar_date_t today, nagar_outcome_t *outcome,
                              cert_subject_t *subject)
{
    const Nagar__Certificates__MarriageReport *report =
        (const Nagar__Certificates__MarriageReport *) message;
    char path[128];
    memset(subject, 0, sizeof *subject);
    if (!report) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, prefix,
                          "the marriage memorandum (%s) is required", prefix);
        return false;
    }
    if (!cert_check_date(outcome, cert_path(path, sizeof path, prefix, "dateOfMarriage"),
                         report->date_of_marriage, today, true, &subject->event_date) ||
        !cert_check_text(outcome, cert_path(path, sizeof path, prefix, "placeOfMarriage"),
                         report->place_of_marriage, 1, 200, "the place of marriage") ||
        !check_spouse(outcome, prefix, "groom", report->groom, 21, subject->event_date, today,
                      "groom") ||
        !check_spouse(outcome, prefix, "bride", report->bride, 18, subject->event_date, today,
                      "bride"))
        return false;
    if (report->n_witnesses < WITNESSES_MIN || report->n_witnesses > WITNESSES_MAX) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                          cert_path(path, sizeof path, prefix, "witnesses"),
                          "%d to %d witnesses must sign the memorandum, not %zu", WITNESSES_MIN,
                          WITNESSES_MAX, report->n_witnesses);
        return false;
    }
    for (size_t i = 0; i < report->n_witnesses; i++) {
        char base[64];
        snprintf(base, sizeof base, "%s.witnesses[%zu]", prefix, i);
        const Nagar__Certificates__Witness *witness = report->witnesses[i];
        if (!cert_check_text(outcome, cert_path(path, sizeof path, base, "name"), witness->name,
                             1, CERT_NAME_MAX, "the witness's name") ||
            !cert_check_text(outcome, cert_path(path, sizeof path, base, "address"),
                             witness->address, 1, CERT_ADDRESS_MAX, "the witness's address"))
            return false;
    }
    snprintf(subject->subject_name, sizeof subject->subject_name, "%s & %s", report->groom->name,
             report->bride->name);
    snprintf(subject->parent_names, sizeof subject->parent_names, "%s\n%s",
             report->groom->father_name, report->bride->father_name);
    return true;
}

static int marriage_render(nagar_document_t *document, const ProtobufCMessage *message)
{
    const Nagar__Certificates__MarriageReport *report =
        (const Nagar__Certificates__MarriageReport *) message;
    char witnesses[NAGAR_DOCUMENT_TEXT_MAX] = "";
    size_t used = 0;
    for (size_t i = 0; i < report->n_witnesses && used < sizeof witnesses; i++)
        used += (size_t) snprintf(witnesses + used, sizeof witnesses - used, "%s%zu. %s",
                                  i ? "\n" : "", i + 1, report->witnesses[i]->name);
    int rc = 0;
    rc |= nagar_document_add_field(document, "वर का नाम", "Name of the groom", report->groom->name);
    rc |= nagar_document_add_field(document, "वर की जन्म तिथि", "Groom's date of birth",
                                   report->groom->date_of_birth);
    rc |= nagar_document_add_field(document, "वर का पता", "Groom's address",
                                   report->groom->address);
    rc |= nagar_document_add_field(document, "वधू का नाम", "Name of the bride", report->bride->name);
    rc |= nagar_document_add_field(document, "वधू की जन्म तिथि", "Bride's date of birth",
                                   report->bride->date_of_birth);
    rc |= nagar_document_add_field(document, "वधू का पता", "Bride's address",
                                   report->bride->address);
    rc |= nagar_document_add_field(document, "विवाह तिथि", "Date of marriage",
                                   report->date_of_marriage);
    rc |= nagar_document_add_field(document, "विवाह स्थान", "Place of marriage",
                                   report->place_of_marriage);
    rc |= nagar_document_add_field(document, "साक्षी", "Witnesses", witnesses);
    return rc ? -1 : 0;
}

const cert_kind_t CERT_KIND_MARRIAGE = {
    .kind = NAGAR__CERTIFICATES__EVENT_KIND__MARRIAGE,
    .name = "marriage",
    .letter = 'M',
    .report_type = &nagar__certificates__marriage_report__descriptor,
    .validate = marriage_validate,
    .render = marriage_render,
    .title_hi = "विवाह प्रमाण-पत्र",
    .title_en = "Marriage Certificate",
    .legal_hi = "मध्यप्रदेश विवाह का अनिवार्य रजिस्ट्रीकरण नियम, 2008 के अंतर्गत जारी",
    .legal_en = "Issued under the Madhya Pradesh Compulsory Registration of Marriages Rules, "
                "2008",
};

int certificates_marriage_apply(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                void *arg)
{
    const Nagar__Certificates__ApplyMarriageRequest *request =
        (const Nagar__Certificates__ApplyMarriageRequest *) message;
    return certificates_workflow_submit(arg, call, &CERT_KIND_MARRIAGE, message, request->ulb,
                                        (const ProtobufCMessage *) request->marriage, "");
}
