/*
 * grant.c — grant.issue: an operator's login turned into a short grant for
 * one job in one ULB (grant.h). The job table, and so who may run what, is
 * common/authority.c's, the one every service checks grants against.
 */
#include "grant.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "authority.h"
#include "log.h"
#include "staff.h"
#include "ulb.h"

#define GRANT_TTL_DEFAULT_S 900

/* "2026-27": a year and the last two digits of the next one. */
static bool fy_valid(const char *fy)
{
    int start = 0, end = 0;
    char tail;
    return strlen(fy) == 7 && sscanf(fy, "%4d-%2d%c", &start, &end, &tail) == 2 &&
           start >= 2000 && start < 2100 && end == (start + 1) % 100;
}

typedef struct {
    char user_id[96];
    char role[32];
    char ulb[16];
    const char *via;          /* "password" or "access_token" */
} operator_t;

/* The operator's live staff account: role and ULB as they are now. */
static int load_operator(identity_t *self, nagar_worker_call_t *call, operator_t *op)
{
    const char *values[] = {op->user_id};
    PGresult *result = nagar_service_query(
        self->db, "grant_operator",
        "SELECT role, coalesce(ulb, ''), must_change_password FROM identity.staff "
        "WHERE user_id = $1 AND NOT disabled",
        1, values);
    if (!result)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    bool found = PQntuples(result) == 1, one_time = false;
    if (found) {
        snprintf(op->role, sizeof op->role, "%s", PQgetvalue(result, 0, 0));
        snprintf(op->ulb, sizeof op->ulb, "%s", PQgetvalue(result, 0, 1));
        one_time = strcmp(PQgetvalue(result, 0, 2), "t") == 0;
    }
    PQclear(result);
    if (!found)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAUTHENTICATED, NULL,
                                      "grants are for enabled staff accounts only");
    if (one_time)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "password",
                                      "the account is still on its one-time password: log in "
                                      "and replace it (POST /api/v1/auth/staff/password) first");
    return 0;
}

/* Who is asking: a password login (throttled) or their own access token,
 * whose session must still be live. */
static int authenticate(identity_t *self, nagar_worker_call_t *call,
                        const Nagar__Identity__IssueGrantRequest *request, operator_t *op)
{
    memset(op, 0, sizeof *op);
    if (request->access_token[0]) {
        if (request->username[0] || request->password[0])
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                          "accessToken", "send a username and password, or an "
                                          "access token, not both");
        nagar_token_claims_t claims;
        nagar_token_result_t verdict =
            nagar_token_verify(self->verifier, request->access_token, NAGAR__TOKEN_TYPE__ACCESS,
                               NAGAR_TOKEN_AUDIENCE_API, nagar_bus_now_ms(), &claims);
        if (verdict != NAGAR_TOKEN_OK)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAUTHENTICATED,
                                          "accessToken", "the access token was refused: %s",
                                          nagar_token_result_text(verdict));
        const char *values[] = {claims.session_id, claims.user_id};
        PGresult *result = nagar_service_query(
            self->db, "grant_session_live",
            "SELECT 1 FROM identity.session WHERE session_id = $1 AND user_id = $2 "
            "AND revoked_at IS NULL",
            2, values);
        if (!result)
            return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
        bool live = PQntuples(result) == 1;
        PQclear(result);
        if (!live)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAUTHENTICATED,
                                          "accessToken", "the session of this access token has "
                                          "ended; log in again");
        snprintf(op->user_id, sizeof op->user_id, "%s", claims.user_id);
        op->via = "access_token";
    } else {
        if (identity_staff_check_password(self, call, request->username, request->password,
                                          op->user_id) != 0)
            return -1;
        op->via = "password";
    }
    if (strncmp(op->user_id, "staff:", 6) != 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "grants are for staff; a citizen runs no batch job");
    return load_operator(self, call, op);
}

/* The clerk a replay is for, by username or user id, in ulb. */
static int resolve_clerk(identity_t *self, nagar_worker_call_t *call, const char *who,
                         const char *ulb, char clerk[96])
{
    if (!identity_text_valid(who, 1, 95))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "onBehalfOf",
                                      "onBehalfOf must name the clerk whose slips are replayed "
                                      "(username or user id)");
    const char *values[] = {who, ulb};
    PGresult *result = nagar_service_query(
        self->db, "grant_clerk",
        "SELECT user_id FROM identity.staff WHERE (username = $1 OR user_id = $1) "
        "AND ulb = $2 AND NOT disabled AND role IN ('CLERK', 'REVENUE_OFFICER', 'COMMISSIONER')",
        2, values);
    if (!result)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    bool found = PQntuples(result) == 1;
    if (found)
        snprintf(clerk, 96, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    if (!found)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "onBehalfOf",
                                      "no enabled counter staff member \"%s\" in ULB %s", who,
                                      ulb);
    return 0;
}

typedef struct {
    identity_t *self;
    nagar_worker_call_t *call;
    const operator_t *op;
    const nagar_token_claims_t *claims;
} audit_work_t;

static int audit_work(nagar_db_t *db, void *arg)
{
    (void) db;
    audit_work_t *work = arg;
    const nagar_token_claims_t *c = work->claims;
    json_t *detail = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "job", c->job, "fy", c->fy,
                               "onBehalfOf", c->on_behalf_of, "actsAs", c->role, "expiresAtMs",
                               (json_int_t) c->expires_at_ms, "via", work->op->via);
    return identity_audit_append(work->self, work->call, work->op->user_id, work->op->role,
                                 "grant.issue", work->op->user_id, c->ulb, detail);
}

int identity_grant_issue(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__IssueGrantRequest *request =
        (const Nagar__Identity__IssueGrantRequest *) message;
    const nagar_job_t *job = nagar_job_find(request->job);
    if (!job) {
        char kinds[256] = "";
        for (const nagar_job_t *j = nagar_jobs(); j->kind; j++)
            snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s",
                     kinds[0] ? ", " : "", j->kind);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "job",
                                      "job must be one of: %s", kinds);
    }
    if (!nagar_text_digits(request->ulb, 1, 10))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be the LGD code of the one ULB the job may "
                                      "touch (1 to 10 digits)");
    if (job->fy_scoped ? !fy_valid(request->fy) : request->fy[0] != '\0')
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "fy",
                                      job->fy_scoped ? "fy must be the financial year of the "
                                                       "job, e.g. 2026-27"
                                                     : "this job is not scoped to a year: "
                                                       "leave fy empty");
    if (!job->names_clerk && request->on_behalf_of[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "onBehalfOf",
                                      "only receipts.replay names a clerk");
    int64_t max_s = NAGAR_AUTHORITY_GRANT_TTL_MAX_MS / 1000;
    if (request->ttl_seconds > max_s)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ttlSeconds",
                                      "ttlSeconds is at most %" PRId64 " (grants are short: "
                                      "ask again for a longer job)", max_s);
    operator_t op;
    if (authenticate(self, call, request, &op) != 0)
        return -1;
    if (!nagar_job_operator_allowed(job, op.role, op.ulb, request->ulb))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "%s %s%s may not run %s (%s) for ULB %s", op.role,
                                      op.user_id, op.ulb[0] ? " of another ULB" : "", job->kind,
                                      job->what, request->ulb);
    char clerk[96] = "";
    if (job->names_clerk &&
        resolve_clerk(self, call, request->on_behalf_of, request->ulb, clerk) != 0)
        return -1;
    int exists = identity_ulb_exists(self, request->ulb);
    if (exists < 0)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    if (!exists)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "no ULB has LGD code %s", request->ulb);

    int64_t now = nagar_bus_now_ms();
    uint32_t ttl_s = request->ttl_seconds ? request->ttl_seconds : GRANT_TTL_DEFAULT_S;
    nagar_token_claims_t claims;
    memset(&claims, 0, sizeof claims);
    claims.type = NAGAR__TOKEN_TYPE__GRANT;
    snprintf(claims.user_id, sizeof claims.user_id, "%s", op.user_id);
    snprintf(claims.role, sizeof claims.role, "%s", job->role);
    snprintf(claims.ulb, sizeof claims.ulb, "%s", request->ulb);
    snprintf(claims.job, sizeof claims.job, "%s", job->kind);
    snprintf(claims.fy, sizeof claims.fy, "%s", request->fy);
    snprintf(claims.on_behalf_of, sizeof claims.on_behalf_of, "%s", clerk);
    claims.issued_at_ms = now;
    claims.not_before_ms = now;
    claims.expires_at_ms = now + (int64_t) ttl_s * 1000;
    const char *services[NAGAR_TOKEN_AUDIENCE_MAX + 1];
    int count = nagar_job_services(job, services, NAGAR_TOKEN_AUDIENCE_MAX + 1);
    for (int i = 0; i < count; i++)
        nagar_token_claims_add_audience(&claims, services[i]);

    audit_work_t work = {.self = self, .call = call, .op = &op, .claims = &claims};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, audit_work, &work);
    if (rc != 0)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, rc, NULL);
    char *token = nagar_token_sign(self->signer, &claims);
    if (!token)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "the grant could not be signed");
    json_t *fields = json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", op.user_id, "job",
                               job->kind, "ulb", request->ulb, "fy", request->fy, "caller",
                               nagar_worker_call_caller(call));
    nagar_log_write(NAGAR_LOG_INFO, "identity.grant_issued", fields, "grant issued");
    Nagar__Identity__Grant reply = NAGAR__IDENTITY__GRANT__INIT;
    reply.grant = token;
    reply.user_id = op.user_id;
    reply.role = claims.role;
    reply.ulb = claims.ulb;
    reply.fy = claims.fy;
    reply.job = claims.job;
    reply.on_behalf_of = claims.on_behalf_of;
    reply.expires_in_seconds = ttl_s;
    rc = nagar_worker_call_reply(call, &reply.base);
    sodium_memzero(token, strlen(token));
    free(token);
    return rc;
}
