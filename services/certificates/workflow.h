/*
 * workflow.h — applications and the registrar's decisions.
 *
 * A citizen applies, or a clerk (or the registrar) of the ULB reports for a
 * hospital or an informant; the application is SUBMITTED with its delay,
 * late-registration window and fee fixed on the day it was received. A
 * REGISTRAR of that ULB then registers it (the next gap-free number for the
 * ULB, kind and year, and version 1 of the certificate) or rejects it with
 * a reason. Every transition writes an audit row and an outbox event in the
 * same transaction.
 */
#ifndef NAGAR_CERTIFICATES_WORKFLOW_H
#define NAGAR_CERTIFICATES_WORKFLOW_H

#include "application_view.h"
#include "certificates.h"

/* Shared by the three *.apply handlers: checks, assesses the fee, stores
 * and answers with the Application. */
int certificates_workflow_submit(certificates_t *self, nagar_worker_call_t *call,
                                 const cert_kind_t *kind, const ProtobufCMessage *request,
                                 const char *ulb, const ProtobufCMessage *report,
                                 const char *permission_reference);

int certificates_application_get(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);
int certificates_application_list(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                  void *arg);
int certificates_application_register(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                      void *arg);
int certificates_application_reject(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                    void *arg);

#endif
