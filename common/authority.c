/*
 * authority.c — verifying the credential a request carries, the jobs grants
 * are for, the per-token cache and the revocation sets (authority.h).
 *
 * The request path costs, for a token seen before, one hash lookup of the
 * token text, a few integer comparisons and two more lookups in the
 * revocation sets; only a token not seen before pays for the Ed25519
 * check (see the closing note of issue 12 for the figures). Pruning of the
 * revocation sets happens when a page of revocations is applied, never on
 * the request path. The cache is cleared whole when it is full: simpler
 * than an LRU, and a full cache means a flood of distinct tokens, each of
 * which then pays its signature check once more.
 */
#include "authority.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* ---- jobs ---------------------------------------------------------------------- */

static const char *const MANAGERS[] = {"STATE_ADMIN", "COMMISSIONER", "REVENUE_OFFICER", NULL};
static const char *const COUNTER_STAFF[] = {"STATE_ADMIN", "COMMISSIONER", "REVENUE_OFFICER",
                                            "CLERK", NULL};

static const char *const DEMAND_METHODS[] = {"property_tax/demand.generate",
                                             "property_tax/demand.status", NULL};
static const char *const BILL_METHODS[] = {"water_tax/bill.generate", "water_tax/bill.status",
                                           NULL};
static const char *const CAMPAIGN_METHODS[] = {
    "property_tax/report.defaulters", "water_tax/report.defaulters",
    "notifications/campaign.start",   "notifications/campaign.add_recipients",
    "notifications/campaign.status",  NULL};
static const char *const REPLAY_METHODS[] = {"property_tax/payment.record", NULL};

static const nagar_job_t JOBS[] = {
    {"demand.generate", "the annual property-tax demand of a ULB", "REVENUE_OFFICER", MANAGERS,
     DEMAND_METHODS, true, false},
    {"bill.generate", "the monthly water bills of a ULB", "REVENUE_OFFICER", MANAGERS,
     BILL_METHODS, true, false},
    {"campaign", "a due-date reminder campaign of a ULB", "REVENUE_OFFICER", MANAGERS,
     CAMPAIGN_METHODS, false, false},
    {"receipts.replay", "replaying a clerk's offline counter receipts", "CLERK", COUNTER_STAFF,
     REPLAY_METHODS, false, true},
    {NULL, NULL, NULL, NULL, NULL, false, false},
};

const nagar_job_t *nagar_jobs(void)
{
    return JOBS;
}

const nagar_job_t *nagar_job_find(const char *kind)
{
    for (const nagar_job_t *job = JOBS; kind && job->kind; job++)
        if (strcmp(job->kind, kind) == 0)
            return job;
    return NULL;
}

int nagar_job_services(const nagar_job_t *job, const char **out, int max)
{
    int count = 0;
    for (const char *const *m = job->methods; *m && count < max - 1; m++) {
        size_t length = strcspn(*m, "/");
        bool seen = false;
        for (int i = 0; i < count && !seen; i++)
            seen = strlen(out[i]) == length && strncmp(out[i], *m, length) == 0;
        if (seen)
            continue;
        /* The names are static: point at a copy kept in the table below. */
        static const char *const KNOWN[] = {"property_tax", "water_tax", "notifications",
                                            "certificates", "identity", NULL};
        for (const char *const *k = KNOWN; *k; k++)
            if (strlen(*k) == length && strncmp(*k, *m, length) == 0)
                out[count++] = *k;
    }
    out[count] = NULL;
    return count;
}

bool nagar_job_admits(const nagar_job_t *job, const char *service, const char *method)
{
    size_t service_length = strlen(service);
    for (const char *const *m = job->methods; *m; m++)
        if (strncmp(*m, service, service_length) == 0 && (*m)[service_length] == '/' &&
            strcmp(*m + service_length + 1, method) == 0)
            return true;
    return false;
}

static bool listed(const char *const *list, const char *value)
{
    for (; *list; list++)
        if (strcmp(*list, value) == 0)
            return true;
    return false;
}

bool nagar_job_operator_allowed(const nagar_job_t *job, const char *role, const char *ulb,
                                const char *target_ulb)
{
    if (!listed(job->operators, role))
        return false;
    return strcmp(role, "STATE_ADMIN") == 0 || (ulb[0] && strcmp(ulb, target_ulb) == 0);
}

/* ---- the verifier ---------------------------------------------------------------- */

struct nagar_authority_t {
    nagar_token_verifier_t *verifier;
    int64_t max_ttl_ms;
    size_t max_entries;
    size_t max_cached;
    zhashx_t *cache;        /* token text -> nagar_token_claims_t (verified) */
    zhashx_t *sessions;     /* session id -> int64_t revoked_at_ms */
    zhashx_t *users;        /* user id -> int64_t revoked_before_ms */
    int64_t cursor;
    bool synced;
};

const char *nagar_authority_result_text(nagar_authority_result_t result)
{
    switch (result) {
    case NAGAR_AUTHORITY_OK: return "valid";
    case NAGAR_AUTHORITY_ANONYMOUS: return "no credential";
    case NAGAR_AUTHORITY_MALFORMED: return "the credential is not a well-formed token";
    case NAGAR_AUTHORITY_FORGED: return "the credential's signature is not valid";
    case NAGAR_AUTHORITY_EXPIRED: return "the credential has expired";
    case NAGAR_AUTHORITY_WRONG_TYPE:
        return "the credential is neither an access token nor a grant";
    case NAGAR_AUTHORITY_NOT_YET_VALID:
        return "the credential is not valid yet (issued in the future)";
    case NAGAR_AUTHORITY_WRONG_AUDIENCE: return "the credential is not meant for this service";
    case NAGAR_AUTHORITY_TOO_LONG_LIVED:
        return "the credential's lifetime exceeds what is accepted";
    case NAGAR_AUTHORITY_REVOKED:
        return "the session has ended (logged out or account disabled); log in again";
    case NAGAR_AUTHORITY_OUT_OF_SCOPE: return "the grant does not cover this request";
    }
    return "the credential was refused";
}

static void free_item(void **item)
{
    free(*item);
    *item = NULL;
}

nagar_authority_t *nagar_authority_new(const char *keys_dir, int64_t max_access_ttl_ms,
                                       size_t max_revocations, size_t max_cached, char *error,
                                       size_t error_size)
{
    nagar_authority_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    self->max_ttl_ms = max_access_ttl_ms;
    self->max_entries = max_revocations;
    self->max_cached = max_cached;
    self->verifier = nagar_token_verifier_new();
    self->cache = zhashx_new();
    self->sessions = zhashx_new();
    self->users = zhashx_new();
    if (!self->verifier || !self->cache || !self->sessions || !self->users) {
        snprintf(error, error_size, "out of memory");
        nagar_authority_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->cache, free_item);
    zhashx_set_destructor(self->sessions, free_item);
    zhashx_set_destructor(self->users, free_item);
    char load_error[512] = "";
    int loaded = keys_dir ? nagar_token_verifier_load_dir(self->verifier, keys_dir, load_error,
                                                          sizeof load_error)
                          : -1;
    if (loaded <= 0) {
        snprintf(error, error_size,
                 "no token public keys could be loaded from NAGAR_TOKEN_PUBLIC_KEYS_DIR=%s: %s; "
                 "point it at the directory of identity's <key id>.pub files",
                 keys_dir ? keys_dir : "(unset)",
                 loaded == 0 ? "the directory holds no <key_id>.pub file" : load_error);
        nagar_authority_destroy(&self);
        return NULL;
    }
    return self;
}

void nagar_authority_destroy(nagar_authority_t **self_p)
{
    nagar_authority_t *self = *self_p;
    if (!self)
        return;
    nagar_token_verifier_destroy(&self->verifier);
    zhashx_destroy(&self->cache);
    zhashx_destroy(&self->sessions);
    zhashx_destroy(&self->users);
    free(self);
    *self_p = NULL;
}

static nagar_authority_result_t from_token_result(nagar_token_result_t result)
{
    switch (result) {
    case NAGAR_TOKEN_OK: return NAGAR_AUTHORITY_OK;
    case NAGAR_TOKEN_UNKNOWN_KEY:
    case NAGAR_TOKEN_BAD_SIGNATURE: return NAGAR_AUTHORITY_FORGED;
    case NAGAR_TOKEN_EXPIRED: return NAGAR_AUTHORITY_EXPIRED;
    case NAGAR_TOKEN_WRONG_TYPE: return NAGAR_AUTHORITY_WRONG_TYPE;
    case NAGAR_TOKEN_NOT_YET_VALID: return NAGAR_AUTHORITY_NOT_YET_VALID;
    case NAGAR_TOKEN_WRONG_AUDIENCE: return NAGAR_AUTHORITY_WRONG_AUDIENCE;
    case NAGAR_TOKEN_MALFORMED:
    default: return NAGAR_AUTHORITY_MALFORMED;
    }
}

/* Signature, shape and decoding, once per token text: the claims as
 * identity signed them. Type, audience, times and revocation are the
 * caller's, on every call. */
static nagar_authority_result_t verified_claims(nagar_authority_t *self, const char *token,
                                                nagar_token_claims_t *claims)
{
    const nagar_token_claims_t *cached = zhashx_lookup(self->cache, token);
    if (cached) {
        *claims = *cached;
        return NAGAR_AUTHORITY_OK;
    }
    nagar_token_result_t result = nagar_token_decode(self->verifier, token, claims);
    if (result != NAGAR_TOKEN_OK)
        return from_token_result(result);
    if (zhashx_size(self->cache) >= self->max_cached)
        zhashx_purge(self->cache);
    nagar_token_claims_t *copy = malloc(sizeof *copy);
    if (copy) {
        *copy = *claims;
        if (zhashx_insert(self->cache, token, copy) != 0)
            free(copy);
    }
    return NAGAR_AUTHORITY_OK;
}

static const int64_t *lookup_time(zhashx_t *hash, const char *key)
{
    return key[0] ? zhashx_lookup(hash, key) : NULL;
}

/* Logged out (its session) or revoked with its user (issued at or before). */
static bool revoked(nagar_authority_t *self, const nagar_token_claims_t *claims)
{
    if (lookup_time(self->sessions, claims->session_id))
        return true;
    const int64_t *before = lookup_time(self->users, claims->user_id);
    return before && claims->issued_at_ms <= *before;
}

nagar_authority_result_t nagar_authority_check_access(nagar_authority_t *self, const char *token,
                                                      int64_t now_ms,
                                                      nagar_token_claims_t *claims)
{
    memset(claims, 0, sizeof *claims);
    if (!token || !token[0])
        return NAGAR_AUTHORITY_ANONYMOUS;
    if (strnlen(token, NAGAR_TOKEN_MAX + 1) > NAGAR_TOKEN_MAX)
        return NAGAR_AUTHORITY_MALFORMED;
    nagar_token_claims_t decoded;
    nagar_authority_result_t result = verified_claims(self, token, &decoded);
    if (result != NAGAR_AUTHORITY_OK)
        return result;
    result = from_token_result(nagar_token_check_claims(&decoded, NAGAR__TOKEN_TYPE__ACCESS,
                                                        NAGAR_TOKEN_AUDIENCE_API, now_ms));
    if (result != NAGAR_AUTHORITY_OK)
        return result;
    if (decoded.expires_at_ms - decoded.issued_at_ms > self->max_ttl_ms)
        return NAGAR_AUTHORITY_TOO_LONG_LIVED;
    if (revoked(self, &decoded))
        return NAGAR_AUTHORITY_REVOKED;
    *claims = decoded;
    return NAGAR_AUTHORITY_OK;
}

/* ---- grant scope ---------------------------------------------------------------- */

/* The value of a top-level string field called name, or NULL when the
 * message has none. */
static const char *string_field(const ProtobufCMessage *message, const char *name)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(message->descriptor, name);
    if (!field || field->type != PROTOBUF_C_TYPE_STRING || field->label == PROTOBUF_C_LABEL_REPEATED)
        return NULL;
    const char *value = *(const char *const *) ((const char *) message + field->offset);
    return value ? value : "";
}

/* "2026-05" -> "2026-27"; false when period is not YYYY-MM. */
static bool period_fy(const char *period, char fy[16])
{
    int year = 0, month = 0;
    char tail;
    if (strlen(period) != 7 || sscanf(period, "%4d-%2d%c", &year, &month, &tail) != 2 ||
        month < 1 || month > 12 || year < 1000)
        return false;
    int start = month >= 4 ? year : year - 1;
    snprintf(fy, 16, "%04d-%02d", start, (start + 1) % 100);
    return true;
}

/* Whether the request stays in the grant's ULB and year (fields it names). */
static bool within_scope(const nagar_token_claims_t *grant, const ProtobufCMessage *request,
                         char *why, size_t why_size)
{
    const char *ulb = request ? string_field(request, "ulb") : NULL;
    if (ulb && strcmp(ulb, grant->ulb) != 0) {
        snprintf(why, why_size, "the grant covers ULB %s, not %s", grant->ulb,
                 ulb[0] ? ulb : "every ULB");
        return false;
    }
    if (!grant->fy[0] || !request)
        return true;
    const char *fy = string_field(request, "fy");
    if (fy && strcmp(fy, grant->fy) != 0) {
        snprintf(why, why_size, "the grant covers financial year %s, not %s", grant->fy,
                 fy[0] ? fy : "(none)");
        return false;
    }
    const char *period = string_field(request, "period");
    char period_year[16];
    if (period && (!period_fy(period, period_year) || strcmp(period_year, grant->fy) != 0)) {
        snprintf(why, why_size, "the grant covers financial year %s; period %s is outside it",
                 grant->fy, period);
        return false;
    }
    return true;
}

nagar_authority_result_t nagar_authority_check(nagar_authority_t *self, const char *credential,
                                               const char *service, const char *method,
                                               const ProtobufCMessage *request, int64_t now_ms,
                                               nagar_actor_t *actor, char *why,
                                               size_t why_size)
{
    memset(actor, 0, sizeof *actor);
    if (why_size)
        why[0] = '\0';
    if (!credential || !credential[0])
        return NAGAR_AUTHORITY_ANONYMOUS;
    if (strnlen(credential, NAGAR_TOKEN_MAX + 1) > NAGAR_TOKEN_MAX)
        return NAGAR_AUTHORITY_MALFORMED;
    nagar_token_claims_t claims;
    nagar_authority_result_t result = verified_claims(self, credential, &claims);
    if (result != NAGAR_AUTHORITY_OK)
        return result;
    bool grant = claims.type == NAGAR__TOKEN_TYPE__GRANT;
    result = from_token_result(nagar_token_check_claims(
        &claims, grant ? NAGAR__TOKEN_TYPE__GRANT : NAGAR__TOKEN_TYPE__ACCESS,
        grant ? service : NAGAR_TOKEN_AUDIENCE_API, now_ms));
    if (result != NAGAR_AUTHORITY_OK)
        return result;
    int64_t max_ttl = grant ? NAGAR_AUTHORITY_GRANT_TTL_MAX_MS : self->max_ttl_ms;
    if (claims.expires_at_ms - claims.issued_at_ms > max_ttl)
        return NAGAR_AUTHORITY_TOO_LONG_LIVED;
    if (revoked(self, &claims))
        return NAGAR_AUTHORITY_REVOKED;
    if (grant) {
        const nagar_job_t *job = nagar_job_find(claims.job);
        if (!job || !claims.ulb[0]) {
            snprintf(why, why_size, "the grant names no job this suite knows (\"%s\")",
                     claims.job);
            return NAGAR_AUTHORITY_OUT_OF_SCOPE;
        }
        if (!nagar_job_admits(job, service, method)) {
            snprintf(why, why_size, "a grant for %s (%s) does not cover %s on %s", job->kind,
                     job->what, method, service);
            return NAGAR_AUTHORITY_OUT_OF_SCOPE;
        }
        if (!within_scope(&claims, request, why, why_size))
            return NAGAR_AUTHORITY_OUT_OF_SCOPE;
        snprintf(actor->job, sizeof actor->job, "%s", claims.job);
        snprintf(actor->on_behalf_of, sizeof actor->on_behalf_of, "%s", claims.on_behalf_of);
    }
    snprintf(actor->user_id, sizeof actor->user_id, "%s", claims.user_id);
    snprintf(actor->role, sizeof actor->role, "%s", claims.role);
    snprintf(actor->ulb, sizeof actor->ulb, "%s", claims.ulb);
    return NAGAR_AUTHORITY_OK;
}

/* ---- revocations ---------------------------------------------------------------- */

/* Drops entries whose tokens have all expired by now. */
static void prune(zhashx_t *hash, int64_t horizon_ms)
{
    zlistx_t *keys = zhashx_keys(hash);
    if (!keys)
        return;
    for (const char *key = zlistx_first(keys); key; key = zlistx_next(keys)) {
        const int64_t *at = zhashx_lookup(hash, key);
        if (at && *at < horizon_ms)
            zhashx_delete(hash, key);
    }
    zlistx_destroy(&keys);
}

/* Keeps the newest of two times for key. */
static bool remember(zhashx_t *hash, const char *key, int64_t at_ms)
{
    int64_t *existing = zhashx_lookup(hash, key);
    if (existing) {
        if (at_ms > *existing)
            *existing = at_ms;
        return false;
    }
    int64_t *value = malloc(sizeof *value);
    if (!value)
        return false;
    *value = at_ms;
    if (zhashx_insert(hash, key, value) != 0) {
        free(value);
        return false;
    }
    return true;
}

size_t nagar_authority_apply(nagar_authority_t *self,
                             const Nagar__Identity__ListRevocationsReply *reply, int64_t now_ms)
{
    size_t added = 0;
    /* A revocation older than every live token (access or grant) changes nothing. */
    int64_t longest = self->max_ttl_ms > NAGAR_AUTHORITY_GRANT_TTL_MAX_MS
                          ? self->max_ttl_ms : NAGAR_AUTHORITY_GRANT_TTL_MAX_MS;
    int64_t horizon = now_ms - longest - NAGAR_TOKEN_CLOCK_SKEW_MS;
    for (size_t i = 0; i < reply->n_revocations; i++) {
        const Nagar__Identity__Revocation *r = reply->revocations[i];
        if (r->id > self->cursor)
            self->cursor = r->id;
        if (r->revoked_at_ms < horizon)
            continue;
        if (r->session_id && r->session_id[0] && strlen(r->session_id) < 64)
            added += remember(self->sessions, r->session_id, r->revoked_at_ms);
        if (r->user_id && r->user_id[0] && strlen(r->user_id) < 128)
            added += remember(self->users, r->user_id, r->revoked_at_ms);
    }
    prune(self->sessions, horizon);
    prune(self->users, horizon);
    size_t total = zhashx_size(self->sessions) + zhashx_size(self->users);
    if (total > self->max_entries)
        nagar_log_warn("authority.revocations_over_bound",
                       "%zu revocations are live, more than the bound of %zu; they are all kept "
                       "(dropping one would re-admit a revoked token): raise the bound or "
                       "shorten access-token lifetimes", total, self->max_entries);
    return added;
}

int64_t nagar_authority_cursor(nagar_authority_t *self)
{
    return self->cursor;
}

bool nagar_authority_synced(nagar_authority_t *self)
{
    return self->synced;
}

void nagar_authority_mark_synced(nagar_authority_t *self)
{
    self->synced = true;
}

size_t nagar_authority_revocation_count(nagar_authority_t *self)
{
    return zhashx_size(self->sessions) + zhashx_size(self->users);
}

size_t nagar_authority_cached_count(nagar_authority_t *self)
{
    return zhashx_size(self->cache);
}
