/*
 * death.c — the death report (RBD Act 1969 form 2 as amended in 2023, MP
 * rules 2024): its checks and its lines on the death certificate.
 *
 * The date of birth is optional (often not known); when it is given the
 * death may not precede it and the stated age must agree with it within a
 * year. The cause category comes from the medical certificate of cause of
 * death (forms 4/4A) or the informant; PENDING_INVESTIGATION and NOT_KNOWN
 * are honest answers, not blanks.
 */
#include "certificates.h"

#include <stdio.h>
#include <string.h>

#include "workflow.h"

static const char *cause_text(Nagar__Certificates__CauseCategory cause)
{
    switch (cause) {
    case NAGAR__CERTIFICATES__CAUSE_CATEGORY__NATURAL:
        return "प्राकृतिक (रोग/वृद्धावस्था) / Natural (illness or old age)";
    case NAGAR__CERTIFICATES__CAUSE_CATEGORY__ACCIDENT:
        return "दुर्घटना / Accident";
    case NAGAR__CERTIFICATES__CAUSE_CATEGORY__SUICIDE:
        return "आत्महत्या / Suicide";
    case NAGAR__CERTIFICATES__CAUSE_CATEGORY__HOMICIDE:
        return "हत्या / Homicide";
    case NAGAR__CERTIFICATES__CAUSE_CATEGORY__PENDING_INVESTIGATION:
        return "जाँच लंबित / Pending investigation";
    case NAGAR__CERTIFICATES__CAUSE_CATEGORY__NOT_KNOWN:
        return "ज्ञात नहीं / Not known";
    default:
        return "";
    }
}

static bool death_validate(const ProtobufCMessage *message, const char *prefix,
                           nagar_date_t today, nagar_outcome_t *outcome, cert_subject_t *subject)
{
    const Nagar__Certificates__DeathReport *report =
        (const Nagar__Certificates__DeathReport *) message;
    char path[128];
    memset(subject, 0, sizeof *subject);
    if (!report) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, prefix,
                          "the death report (%s) is required", prefix);
        return false;
    }
    nagar_date_t born;
    if (!cert_check_date(outcome, cert_path(path, sizeof path, prefix, "dateOfDeath"),
                         report->date_of_death, today, true, &subject->event_date) ||
        !cert_check_text(outcome, cert_path(path, sizeof path, prefix, "deceasedName"),
                         report->deceased_name, 1, CERT_NAME_MAX, "the name of the deceased") ||
        !cert_check_date(outcome, cert_path(path, sizeof path, prefix, "dateOfBirth"),
                         report->date_of_birth, today, false, &born))
        return false;
    if (!cert_check_sex(outcome, prefix, report->sex))
        return false;
    if (report->age_years > 130) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                          cert_path(path, sizeof path, prefix, "ageYears"),
                          "ageYears must be 0 to 130, not %u", report->age_years);
        return false;
    }
    if (report->date_of_birth[0]) {
        if (nagar_date_compare(subject->event_date, born) < 0) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                              cert_path(path, sizeof path, prefix, "dateOfDeath"),
                              "the date of death %s is before the date of birth %s",
                              report->date_of_death, report->date_of_birth);
            return false;
        }
        int32_t days = nagar_date_diff_days(born, subject->event_date);
        long age = (long) (days / 365.2425);
        if (labs(age - (long) report->age_years) > 1) {
            nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                              cert_path(path, sizeof path, prefix, "ageYears"),
                              "ageYears %u does not agree with the dates of birth and death "
                              "(about %ld years)",
                              report->age_years, age);
            return false;
        }
    }
    if (!cert_check_place(outcome, prefix, "death", report->place_kind, report->place_name,
                          "the place of death"))
        return false;
    if (report->cause_category == NAGAR__CERTIFICATES__CAUSE_CATEGORY__CAUSE_CATEGORY_UNSPECIFIED) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                          cert_path(path, sizeof path, prefix, "causeCategory"),
                          "the cause category is required: NATURAL, ACCIDENT, SUICIDE, HOMICIDE, "
                          "PENDING_INVESTIGATION or NOT_KNOWN");
        return false;
    }
    if (!cert_check_text(outcome, cert_path(path, sizeof path, prefix, "fatherOrSpouseName"),
                         report->father_or_spouse_name, 0, CERT_NAME_MAX,
                         "the father's or spouse's name") ||
        !cert_check_text(outcome, cert_path(path, sizeof path, prefix, "permanentAddress"),
                         report->permanent_address, 1, CERT_ADDRESS_MAX,
                         "the permanent address of the deceased") ||
        !cert_check_informant(outcome, prefix, report->informant))
        return false;
    snprintf(subject->subject_name, sizeof subject->subject_name, "%s", report->deceased_name);
    snprintf(subject->parent_names, sizeof subject->parent_names, "%s",
             report->father_or_spouse_name);
    snprintf(subject->informant_mobile, sizeof subject->informant_mobile, "%s",
             report->informant->mobile);
    return true;
}

static int death_render(nagar_document_t *document, const ProtobufCMessage *message)
{
    const Nagar__Certificates__DeathReport *report =
        (const Nagar__Certificates__DeathReport *) message;
    char sex[64], age[32], place[1024];
    cert_sex_text(sex, sizeof sex, report->sex);
    snprintf(age, sizeof age, "%u", report->age_years);
    cert_place_text(place, sizeof place, report->place_kind, report->place_name);
    int rc = 0;
    rc |= nagar_document_add_field(document, "मृतक का नाम", "Name of the deceased",
                                   report->deceased_name);
    rc |= nagar_document_add_field(document, "लिंग", "Sex", sex);
    rc |= nagar_document_add_field(document, "आयु (वर्ष)", "Age (years)", age);
    rc |= nagar_document_add_field(document, "मृत्यु तिथि", "Date of death", report->date_of_death);
    rc |= nagar_document_add_field(document, "मृत्यु स्थान", "Place of death", place);
    rc |= nagar_document_add_field(document, "मृत्यु का कारण (श्रेणी)", "Cause of death (category)",
                                   cause_text(report->cause_category));
    rc |= nagar_document_add_field(document, "पिता/पति/पत्नी का नाम",
                                   "Name of the father or spouse", report->father_or_spouse_name);
    rc |= nagar_document_add_field(document, "मृतक का स्थायी पता",
                                   "Permanent address of the deceased", report->permanent_address);
    return rc ? -1 : 0;
}

const cert_kind_t CERT_KIND_DEATH = {
    .kind = NAGAR__CERTIFICATES__EVENT_KIND__DEATH,
    .name = "death",
    .letter = 'D',
    .report_type = &nagar__certificates__death_report__descriptor,
    .validate = death_validate,
    .render = death_render,
    .title_hi = "मृत्यु प्रमाण-पत्र",
    .title_en = "Death Certificate",
    .legal_hi = CERT_RBD_LEGAL_HI,
    .legal_en = CERT_RBD_LEGAL_EN,
};

int certificates_death_apply(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    const Nagar__Certificates__ApplyDeathRequest *request =
        (const Nagar__Certificates__ApplyDeathRequest *) message;
    return certificates_workflow_submit(arg, call, &CERT_KIND_DEATH, message, request->ulb,
                                        (const ProtobufCMessage *) request->death,
                                        request->permission_reference);
}
