/*
 * fees.h — late-registration windows and fees, as master data per ULB.
 *
 * RBD Act 1969 section 13 (as amended in 2023) and the MP rules of 2024:
 * a birth or death reported within 21 days is registered free; after 21
 * and within 30 days on payment of a late fee; after 30 days and within one
 * year with the written permission of the prescribed authority (the
 * District Registrar) and a late fee; after a year on the order of the
 * District Magistrate, a Sub-Divisional Magistrate or an Executive
 * Magistrate authorised by the DM, and a late fee. The MP Compulsory
 * Registration of Marriages Rules 2008 set a fee per marriage certificate.
 * The day counts and amounts are rows of certificates.fee_schedule (state
 * default ulb '' seeded by the migration; a ULB's own schedule overrides it
 * from its effective date; every save is a new version), never constants
 * here. Table certificates.legal_basis (migration 005) cites the act,
 * section and rule of each figure, and says which could not be confirmed;
 * fees.get answers it with the schedule.
 */
#ifndef NAGAR_CERTIFICATES_FEES_H
#define NAGAR_CERTIFICATES_FEES_H

#include "certificates.h"

typedef struct {
    Nagar__Certificates__LateWindow window;
    int64_t fee_paise;
    bool permission_required;
    int32_t delay_days;
    long child_name_days;
} fee_assessment_t;

/* The window and fee of a report of kind for ulb, made on report_date about
 * an event on event_date, under the schedule in force on report_date.
 * Returns 0, or -1 on a database error (or when no schedule exists at all,
 * which the migration's default row rules out; logged). */
int certificates_fees_assess(certificates_t *self, const char *ulb, const cert_kind_t *kind,
                             nagar_date_t event_date, nagar_date_t report_date,
                             fee_assessment_t *out);

int certificates_fees_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int certificates_fees_set(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
