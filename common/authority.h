/*
 * authority.h — whom a request acts for, verified by whoever acts on it
 * (issue 12; the model is BeyondProd's end-user context tickets).
 *
 * A request carries the end user's signed access token, forwarded by the
 * gateway, or an operator's signed grant, obtained from identity by
 * nagar-batch or nagarctl, in RequestContext.authorization. Nothing else
 * says who is asking: no field its sender wrote is believed. Every worker
 * checks the credential here before the handler runs (bus_worker.c), and
 * the gateway checks access tokens here too, so the rules exist once:
 *
 *   signature     identity's Ed25519 public keys (NAGAR_TOKEN_PUBLIC_KEYS_DIR)
 *   type          ACCESS or GRANT (a refresh token acts for nobody)
 *   audience      "api" for an access token; the service itself for a grant
 *   time          expiry; issued-at and not-before not in the future
 *                 (token.h, with its clock skew); an access token living
 *                 longer than max_access_ttl_ms is refused outright
 *   revocation    logout and disabled accounts (identity's token.revocations
 *                 feed, polled; see bus_worker.h for the bound)
 *   grant scope   the method belongs to the grant's job (the table below),
 *                 and a request that names a ulb, fy or period stays inside
 *                 the grant's ULB and financial year
 *
 * What it yields is a nagar_actor_t; common/service.h's nagar_actor_*
 * accessors return only that.
 *
 * Verified claims are cached per token (the text is the key) for as long as
 * the token lives, bounded by max_cached; a cached token still gets its
 * expiry, revocation and grant-scope checks on every call, so only the
 * signature and the decoding are saved. Revocation sets: session ids (a
 * logout) and per user a "revoked before" time (disabling, role change);
 * an entry is kept only while a token it kills could still be unexpired,
 * which is sound because longer-lived access tokens are refused. Grants
 * are short (identity issues at most NAGAR_AUTHORITY_GRANT_TTL_MAX_MS) and
 * name no session: they end by expiring, or with their operator's "revoked
 * before" time.
 */
#ifndef NAGAR_AUTHORITY_H
#define NAGAR_AUTHORITY_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/identity.pb-c.h"
#include "token.h"

/* The longest grant identity signs, and the longest any verifier accepts. */
#define NAGAR_AUTHORITY_GRANT_TTL_MAX_MS (60LL * 60 * 1000)

typedef struct nagar_authority_t nagar_authority_t;

/* Who a call acts for; every part "" when it acts for nobody. */
typedef struct {
    char user_id[96];
    char role[32];
    char ulb[16];
    char job[48];            /* the grant's job kind; "" for an end user's access token */
    char on_behalf_of[96];   /* receipts.replay grant: the clerk named on the slips */
} nagar_actor_t;

typedef enum {
    NAGAR_AUTHORITY_OK = 0,
    NAGAR_AUTHORITY_ANONYMOUS,       /* no credential: acts for nobody */
    NAGAR_AUTHORITY_MALFORMED,
    NAGAR_AUTHORITY_FORGED,          /* unknown key or bad signature */
    NAGAR_AUTHORITY_EXPIRED,
    NAGAR_AUTHORITY_WRONG_TYPE,      /* e.g. a refresh token */
    NAGAR_AUTHORITY_NOT_YET_VALID,   /* issued-at or not-before in the future */
    NAGAR_AUTHORITY_WRONG_AUDIENCE,
    NAGAR_AUTHORITY_TOO_LONG_LIVED,
    NAGAR_AUTHORITY_REVOKED,         /* logged out, or the account disabled or re-roled */
    NAGAR_AUTHORITY_OUT_OF_SCOPE,    /* a grant for another job, service, ULB or year */
} nagar_authority_result_t;

/* What a result means, for log lines and error messages. */
const char *nagar_authority_result_text(nagar_authority_result_t result);

/* ---- jobs that act for a person (grants) ------------------------------------- */

typedef struct {
    const char *kind;                 /* "demand.generate" */
    const char *what;                 /* "the annual property-tax demand" */
    const char *role;                 /* the role the job acts with, within the grant's ULB */
    const char *const *operators;     /* roles that may obtain it for their ULB (STATE_ADMIN: any) */
    const char *const *methods;       /* "service/method" the grant admits */
    bool fy_scoped;                   /* the grant names one financial year */
    bool names_clerk;                 /* the grant names the clerk it replays for */
} nagar_job_t;

/* The job of kind, or NULL. */
const nagar_job_t *nagar_job_find(const char *kind);
/* Every job, ending with a NULL kind. */
const nagar_job_t *nagar_jobs(void);
/* The services a job's grant is for (its audience), as a NULL-terminated
 * list into out (at most max - 1 names); returns the count. */
int nagar_job_services(const nagar_job_t *job, const char **out, int max);
/* Whether a grant for job admits service/method. */
bool nagar_job_admits(const nagar_job_t *job, const char *service, const char *method);
/* Whether role (with ulb) may obtain job for target_ulb. */
bool nagar_job_operator_allowed(const nagar_job_t *job, const char *role, const char *ulb,
                                const char *target_ulb);

/* ---- verifying ------------------------------------------------------------------- */

/* Loads every <key id>.pub in keys_dir. NULL with the reason in error. */
nagar_authority_t *nagar_authority_new(const char *keys_dir, int64_t max_access_ttl_ms,
                                       size_t max_revocations, size_t max_cached, char *error,
                                       size_t error_size);
void nagar_authority_destroy(nagar_authority_t **self_p);

/* An end user's access token at now_ms (the gateway's check): fills claims
 * on OK. */
nagar_authority_result_t nagar_authority_check_access(nagar_authority_t *self, const char *token,
                                                      int64_t now_ms,
                                                      nagar_token_claims_t *claims);

/* The credential of a call to service/method whose decoded request is
 * request: an access token, or a grant that admits the method and whose
 * scope covers the request. Fills actor (zeroed unless OK); why gets a
 * sentence for the caller on refusal. credential NULL or "" is ANONYMOUS. */
nagar_authority_result_t nagar_authority_check(nagar_authority_t *self, const char *credential,
                                               const char *service, const char *method,
                                               const ProtobufCMessage *request, int64_t now_ms,
                                               nagar_actor_t *actor, char *why,
                                               size_t why_size);

/* ---- revocations ------------------------------------------------------------------ */

/* Applies one page of identity's token.revocations and advances the
 * cursor. Returns how many were new. */
size_t nagar_authority_apply(nagar_authority_t *self,
                             const Nagar__Identity__ListRevocationsReply *reply, int64_t now_ms);
/* The after_id for the next poll. */
int64_t nagar_authority_cursor(nagar_authority_t *self);
/* Whether a poll has succeeded since start (set by the poller). */
bool nagar_authority_synced(nagar_authority_t *self);
void nagar_authority_mark_synced(nagar_authority_t *self);
/* Entries held (sessions + users), and tokens cached, for metrics. */
size_t nagar_authority_revocation_count(nagar_authority_t *self);
size_t nagar_authority_cached_count(nagar_authority_t *self);

#endif
