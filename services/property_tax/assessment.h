/*
 * assessment.h — self-assessment returns and ownership transfer.
 *
 *   assessment.file     FileAssessmentRequest -> Assessment      owner (citizen), CLERK, REVENUE_OFFICER
 *   assessment.revise   ReviseAssessmentRequest -> Assessment    a new revision; the old one is REVISED
 *   assessment.decide   DecideAssessmentRequest -> Assessment    REVENUE_OFFICER: ACCEPT, or REASSESS
 *                                                                with the officer's values and a reason
 *   assessment.get      GetAssessmentRequest -> Assessment
 *   mutation.record     RecordMutationRequest -> Mutation        CLERK, REVENUE_OFFICER, COMMISSIONER;
 *                                                                the fee joins the year's dues
 *
 * A decision writes the accepted (or re-assessed) description into the
 * register, so the next demand uses it. Every step is an audit row.
 */
#ifndef NAGAR_PROPERTY_TAX_ASSESSMENT_H
#define NAGAR_PROPERTY_TAX_ASSESSMENT_H

#include "property_tax.h"

int assessment_file(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int assessment_revise(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int assessment_decide(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int assessment_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int mutation_record(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
