/*
 * birth.c — the birth report (RBD Act 1969 form 1 as amended in 2023, MP
 * rules 2024): its checks and its lines on the birth certificate.
 *
 * The child's name may be left empty and added later (section 14; the
 * window is master data, see fees.h). The father's name may be empty (not
 * known or not disclosed); the mother's may not. The informant is
 * required: sections 8 and 9 name who must report.
 */
#include "certificates.h"

#include <stdio.h>
#include <string.h>

#include "workflow.h"

static bool birth_validate(const ProtobufCMessage *message, const char *prefix,
                           nagar_date_t today, nagar_outcome_t *outcome, cert_subject_t *subject)
{
    const Nagar__Certificates__BirthReport *report =
        (const Nagar__Certificates__BirthReport *) message;
    char path[128];
    memset(subject, 0, sizeof *subject);
    if (!report) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, prefix,
                          "the birth report (%s) is required", prefix);
        return false;
    }
    if (!cert_check_date(outcome, cert_path(path, sizeof path, prefix, "dateOfBirth"),
                         report->date_of_birth, today, true, &subject->event_date))
        return false;
    if (!cert_check_sex(outcome, prefix, report->sex))
        return false;
    if (!cert_check_text(outcome, cert_path(path, sizeof path, prefix, "childName"),
                         report->child_name, 0, CERT_NAME_MAX, "the child's name") ||
        !cert_check_text(outcome, cert_path(path, sizeof path, prefix, "fatherName"),
                         report->father_name, 0, CERT_NAME_MAX, "the father's name") ||
        !cert_check_text(outcome, cert_path(path, sizeof path, prefix, "motherName"),
                         report->mother_name, 1, CERT_NAME_MAX, "the mother's name") ||
        !cert_check_text(outcome, cert_path(path, sizeof path, prefix, "addressAtBirth"),
                         report->address_at_birth, 1, CERT_ADDRESS_MAX,
                         "the parents' address at the time of birth") ||
        !cert_check_text(outcome, cert_path(path, sizeof path, prefix, "permanentAddress"),
                         report->permanent_address, 1, CERT_ADDRESS_MAX,
                         "the parents' permanent address"))
        return false;
    if (!cert_check_place(outcome, prefix, "birth", report->place_kind, report->place_name,
                          "the place of birth (hospital name or address)") ||
        !cert_check_informant(outcome, prefix, report->informant))
        return false;
    snprintf(subject->subject_name, sizeof subject->subject_name, "%s", report->child_name);
    snprintf(subject->parent_names, sizeof subject->parent_names, "%s\n%s", report->father_name,
             report->mother_name);
    snprintf(subject->informant_mobile, sizeof subject->informant_mobile, "%s",
             report->informant->mobile);
    return true;
}

static int birth_render(nagar_document_t *document, const ProtobufCMessage *message)
{
    const Nagar__Certificates__BirthReport *report =
        (const Nagar__Certificates__BirthReport *) message;
    char sex[64], place[1024];
    cert_sex_text(sex, sizeof sex, report->sex);
    cert_place_text(place, sizeof place, report->place_kind, report->place_name);
    int rc = 0;
    rc |= nagar_document_add_field(document, "बच्चे का नाम", "Name of the child",
                                   report->child_name);
    rc |= nagar_document_add_field(document, "लिंग", "Sex", sex);
    rc |= nagar_document_add_field(document, "जन्म तिथि", "Date of birth", report->date_of_birth);
    rc |= nagar_document_add_field(document, "जन्म स्थान", "Place of birth", place);
    rc |= nagar_document_add_field(document, "माता का नाम", "Name of the mother",
                                   report->mother_name);
    rc |= nagar_document_add_field(document, "पिता का नाम", "Name of the father",
                                   report->father_name);
    rc |= nagar_document_add_field(document, "बच्चे के जन्म के समय माता-पिता का पता",
                                   "Address of the parents at the time of birth",
                                   report->address_at_birth);
    rc |= nagar_document_add_field(document, "माता-पिता का स्थायी पता",
                                   "Permanent address of the parents", report->permanent_address);
    return rc ? -1 : 0;
}

const cert_kind_t CERT_KIND_BIRTH = {
    .kind = NAGAR__CERTIFICATES__EVENT_KIND__BIRTH,
    .name = "birth",
    .letter = 'B',
    .report_type = &nagar__certificates__birth_report__descriptor,
    .validate = birth_validate,
    .render = birth_render,
    .title_hi = "जन्म प्रमाण-पत्र",
    .title_en = "Birth Certificate",
    .legal_hi = CERT_RBD_LEGAL_HI,
    .legal_en = CERT_RBD_LEGAL_EN,
};

int certificates_birth_apply(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    const Nagar__Certificates__ApplyBirthRequest *request =
        (const Nagar__Certificates__ApplyBirthRequest *) message;
    return certificates_workflow_submit(arg, call, &CERT_KIND_BIRTH, message, request->ulb,
                                        (const ProtobufCMessage *) request->birth,
                                        request->permission_reference);
}
