/*
 * audit.h — the append-only record of who changed what in identity, when.
 *
 * Rows go into identity.audit in the same transaction as the change they
 * describe, so a change without its audit row cannot commit. The table
 * refuses UPDATE, DELETE and TRUNCATE (privileges and triggers).
 */
#ifndef NAGAR_IDENTITY_AUDIT_H
#define NAGAR_IDENTITY_AUDIT_H

#include "identity.h"

/* Appends one row inside the caller's transaction. actor is the acting
 * user ("" takes the call's actor); ulb is the ULB the change concerns (""
 * for state-level changes); call may be NULL for command-line steps
 * (bootstrap-admin, seed-ulbs), which then name the actor; detail (stolen) is a JSON object of what
 * changed. Returns 0 or -1 on a database error. */
int identity_audit_append(identity_t *self, nagar_worker_call_t *call, const char *actor,
                          const char *actor_role, const char *action, const char *subject,
                          const char *ulb, json_t *detail);

/* audit.list: STATE_ADMIN reads everything, COMMISSIONER their ULB only. */
int identity_audit_list(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
