/*
 * grant.h — grants: what a batch job carries to act for a person (issue 12).
 *
 *   grant.issue   IssueGrantRequest -> Grant     callers: batch, operator; audited
 *
 * The operator proves who they are as at any staff login (password, with
 * the same failed-login back-off, or their own live access token); identity
 * then checks that their role may run the job in that ULB (common/
 * authority.c's job table: STATE_ADMIN anywhere, the ULB's COMMISSIONER or
 * REVENUE_OFFICER, and for replaying receipts its CLERKs too) and signs a
 * GRANT token naming the operator, the job, the ULB, the financial year
 * (for demand and bills), the clerk whose slips are replayed, and the
 * services the job calls as its audience, valid for ttl_seconds (900 by
 * default, at most NAGAR_AUTHORITY_GRANT_TTL_MAX_MS). The grant acts with
 * the job's role within that ULB, never with more than the operator's.
 */
#ifndef NAGAR_IDENTITY_GRANT_H
#define NAGAR_IDENTITY_GRANT_H

#include "identity.h"

int identity_grant_issue(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
