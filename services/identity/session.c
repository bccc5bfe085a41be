/*
 * session.c — sessions, token pairs, refresh rotation with reuse
 * detection, logout and the revocation feed (see session.h).
 *
 * Only a hash of the current refresh token is stored, so a copy of the
 * database does not hand out live sessions. Two refreshes of one session
 * are serialised by the row lock (SELECT ... FOR UPDATE); the loser sees a
 * hash that no longer matches and the session ends, which is the safe
 * reading of "two holders of one refresh token".
 */
#include "session.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define REVOCATIONS_PAGE 1000

void identity_session_tokens_clear(session_tokens_t *tokens)
{
    if (tokens->access_token) {
        sodium_memzero(tokens->access_token, strlen(tokens->access_token));
        free(tokens->access_token);
    }
    if (tokens->refresh_token) {
        sodium_memzero(tokens->refresh_token, strlen(tokens->refresh_token));
        free(tokens->refresh_token);
    }
    memset(tokens, 0, sizeof *tokens);
}

static void token_hash_hex(const char *token, char out[65])
{
    unsigned char hash[32];
    crypto_generichash(hash, sizeof hash, (const unsigned char *) token, strlen(token), NULL, 0);
    sodium_bin2hex(out, 65, hash, sizeof hash);
}

/* Signs a pair for the session into tokens; refresh issued at issued_ms. */
static int sign_pair(identity_t *self, const char *session_id, const char *user_id,
                     const char *role, const char *ulb, int64_t issued_ms,
                     session_tokens_t *tokens)
{
    identity_session_tokens_clear(tokens);
    nagar_token_claims_t claims;
    memset(&claims, 0, sizeof claims);
    if (strlen(user_id) >= sizeof claims.user_id || strlen(role) >= sizeof claims.role ||
        strlen(ulb) >= sizeof claims.ulb || strlen(session_id) >= sizeof claims.session_id)
        return -1;
    snprintf(claims.user_id, sizeof claims.user_id, "%s", user_id);
    snprintf(claims.role, sizeof claims.role, "%s", role);
    snprintf(claims.ulb, sizeof claims.ulb, "%s", ulb);
    snprintf(claims.session_id, sizeof claims.session_id, "%s", session_id);
    claims.issued_at_ms = issued_ms;
    claims.not_before_ms = issued_ms;
    claims.type = NAGAR__TOKEN_TYPE__ACCESS;
    claims.expires_at_ms = issued_ms + self->access_ttl_s * 1000;
    /* Access tokens are for the API (the gateway and every service it
     * forwards them to); refresh tokens only for identity. */
    nagar_token_claims_add_audience(&claims, NAGAR_TOKEN_AUDIENCE_API);
    tokens->access_token = nagar_token_sign(self->signer, &claims);
    claims.audience_count = 0;
    nagar_token_claims_add_audience(&claims, NAGAR_TOKEN_AUDIENCE_IDENTITY);
    claims.type = NAGAR__TOKEN_TYPE__REFRESH;
    claims.expires_at_ms = issued_ms + self->refresh_ttl_s * 1000;
    tokens->refresh_token = nagar_token_sign(self->signer, &claims);
    if (!tokens->access_token || !tokens->refresh_token) {
        identity_session_tokens_clear(tokens);
        return -1;
    }
    tokens->access_expires_in_seconds = (uint32_t) self->access_ttl_s;
    tokens->refresh_expires_in_seconds = (uint32_t) self->refresh_ttl_s;
    snprintf(tokens->user_id, sizeof tokens->user_id, "%s", user_id);
    snprintf(tokens->role, sizeof tokens->role, "%s", role);
    snprintf(tokens->ulb, sizeof tokens->ulb, "%s", ulb);
    return 0;
}

int identity_session_create(identity_t *self, nagar_worker_call_t *call, const char *user_id,
                            const char *role, const char *ulb, session_tokens_t *tokens)
{
    unsigned char random[16];
    char session_id[33];
    randombytes_buf(random, sizeof random);
    sodium_bin2hex(session_id, sizeof session_id, random, sizeof random);
    int64_t now = nagar_bus_now_ms();
    if (sign_pair(self, session_id, user_id, role, ulb, now, tokens) != 0) {
        nagar_log_error("identity.sign_failed", "could not sign tokens for %s", user_id);
        return -1;
    }
    char hash[65], issued[24], expires[24];
    token_hash_hex(tokens->refresh_token, hash);
    snprintf(issued, sizeof issued, "%" PRId64, now);
    snprintf(expires, sizeof expires, "%" PRId64, now + self->refresh_ttl_s * 1000);
    const char *client_ip = nagar_worker_call_context(call)->client_ip;
    const char *values[] = {session_id, user_id, role, ulb, hash, issued, expires,
                            client_ip ? client_ip : ""};
    PGresult *result = nagar_service_query(
        self->db, "session_create",
        "INSERT INTO identity.session (session_id, user_id, role, ulb, refresh_hash, "
        "refresh_issued_at_ms, expires_at, client_ip) VALUES ($1, $2, $3, $4, decode($5, 'hex'), "
        "$6::bigint, to_timestamp($7::bigint / 1000.0), $8)",
        8, values);
    if (!result) {
        identity_session_tokens_clear(tokens);
        return -1;
    }
    PQclear(result);
    json_t *fields = json_pack("{s:s, s:s, s:s}", "user_id", user_id, "role", role, "session",
                               session_id);
    nagar_log_write(NAGAR_LOG_INFO, "identity.session_created", fields, "session started");
    return 0;
}

int identity_session_reply(nagar_worker_call_t *call, const session_tokens_t *tokens)
{
    Nagar__Identity__TokenPair pair = NAGAR__IDENTITY__TOKEN_PAIR__INIT;
    pair.access_token = tokens->access_token;
    pair.refresh_token = tokens->refresh_token;
    pair.access_expires_in_seconds = tokens->access_expires_in_seconds;
    pair.refresh_expires_in_seconds = tokens->refresh_expires_in_seconds;
    pair.user_id = (char *) tokens->user_id;
    pair.role = (char *) tokens->role;
    pair.ulb = (char *) tokens->ulb;
    return nagar_worker_call_reply(call, &pair.base);
}

static int insert_revocation(identity_t *self, const char *session_id, const char *user_id,
                             const char *reason)
{
    char at[24];
    /* +1: every token issued up to and including this millisecond is covered. */
    snprintf(at, sizeof at, "%" PRId64, nagar_bus_now_ms() + 1);
    const char *values[] = {session_id, user_id, at, reason};
    PGresult *result = nagar_service_query(
        self->db, "revocation_insert",
        "INSERT INTO identity.revocation (session_id, user_id, revoked_at_ms, reason) "
        "VALUES ($1, $2, $3::bigint, $4)",
        4, values);
    if (!result)
        return -1;
    PQclear(result);
    if (self->worker)
        nagar_worker_revocations_changed(self->worker);
    return 0;
}

static int revoke_session(identity_t *self, const char *session_id, const char *reason)
{
    const char *values[] = {session_id, reason};
    PGresult *result = nagar_service_query(
        self->db, "session_revoke",
        "UPDATE identity.session SET revoked_at = now(), revoked_reason = $2 "
        "WHERE session_id = $1 AND revoked_at IS NULL RETURNING user_id",
        2, values);
    if (!result)
        return -1;
    int changed = PQntuples(result);
    PQclear(result);
    if (changed == 0)
        return 0;
    json_t *fields = json_pack("{s:s, s:s}", "session", session_id, "reason", reason);
    nagar_log_write(NAGAR_LOG_INFO, "identity.session_revoked", fields, "session ended");
    return insert_revocation(self, session_id, NULL, reason);
}

int identity_session_revoke_user(identity_t *self, const char *user_id, const char *reason)
{
    const char *values[] = {user_id, reason};
    PGresult *result = nagar_service_query(
        self->db, "session_revoke_user",
        "UPDATE identity.session SET revoked_at = now(), revoked_reason = $2 "
        "WHERE user_id = $1 AND revoked_at IS NULL",
        2, values);
    if (!result)
        return -1;
    PQclear(result);
    json_t *fields = json_pack("{s:s, s:s}", "user_id", user_id, "reason", reason);
    nagar_log_write(NAGAR_LOG_INFO, "identity.user_revoked", fields,
                    "every session of the user ended");
    return insert_revocation(self, NULL, user_id, reason);
}

/* Checks the text and signature of a refresh token (no database). */
static int check_refresh_token(identity_t *self, nagar_worker_call_t *call, const char *token,
                               nagar_token_claims_t *claims, bool accept_expired,
                               bool *expired)
{
    *expired = false;
    if (!token[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "refreshToken",
                                      "refreshToken is required");
    if (strnlen(token, NAGAR_TOKEN_MAX + 1) > NAGAR_TOKEN_MAX)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "refreshToken",
                                      "refreshToken is longer than %d characters",
                                      NAGAR_TOKEN_MAX);
    nagar_token_result_t result = nagar_token_verify(self->verifier, token,
                                                     NAGAR__TOKEN_TYPE__REFRESH, NULL,
                                                     nagar_bus_now_ms(), claims);
    if (result == NAGAR_TOKEN_EXPIRED && accept_expired) {
        *expired = true;
        return 0;
    }
    if (result != NAGAR_TOKEN_OK) {
        nagar_log_warn("identity.refresh_refused", "refresh token refused: %s",
                       nagar_token_result_text(result));
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAUTHENTICATED, "refreshToken",
                                      "refresh token refused: %s; log in again",
                                      nagar_token_result_text(result));
    }
    return 0;
}

typedef struct {
    identity_t *self;
    const char *token;
    const nagar_token_claims_t *claims;
    session_tokens_t tokens;
    nagar_outcome_t outcome;
} refresh_work_t;

static int refresh_work(nagar_db_t *db, void *arg)
{
    (void) db;
    refresh_work_t *work = arg;
    identity_t *self = work->self;
    nagar_outcome_reset(&work->outcome);
    identity_session_tokens_clear(&work->tokens);

    const char *values[] = {work->claims->session_id};
    PGresult *session = nagar_service_query(
        self->db, "session_lock",
        "SELECT user_id, role, ulb, encode(refresh_hash, 'hex'), refresh_issued_at_ms, "
        "revoked_at IS NOT NULL, expires_at < now() FROM identity.session "
        "WHERE session_id = $1 FOR UPDATE",
        1, values);
    if (!session)
        return -1;
    if (PQntuples(session) != 1 ||
        strcmp(PQgetvalue(session, 0, 0), work->claims->user_id) != 0) {
        PQclear(session);
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__UNAUTHENTICATED, "refreshToken",
                          "the session of this refresh token is unknown; log in again");
        return 1;
    }
    if (strcmp(PQgetvalue(session, 0, 5), "t") == 0 || strcmp(PQgetvalue(session, 0, 6), "t") == 0) {
        PQclear(session);
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__UNAUTHENTICATED, "refreshToken",
                          "the session has ended (logged out, revoked or expired); log in "
                          "again");
        return 1;
    }
    char presented[65];
    token_hash_hex(work->token, presented);
    if (sodium_memcmp(presented, PQgetvalue(session, 0, 3), 64) != 0) {
        PQclear(session);
        nagar_log_warn("identity.refresh_reuse",
                       "a replaced refresh token was presented; session %s revoked",
                       work->claims->session_id);
        if (revoke_session(self, work->claims->session_id, "refresh_reuse") != 0)
            return -1;
        /* Committed: the revocation must stick even though the caller fails. */
        nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__UNAUTHENTICATED, "refreshToken",
                          "this refresh token was already used; the session is revoked for "
                          "safety; log in again");
        return 0;
    }
    char role[32], ulb[16];
    snprintf(role, sizeof role, "%s", PQgetvalue(session, 0, 1));
    snprintf(ulb, sizeof ulb, "%s", PQgetvalue(session, 0, 2));
    int64_t previous = strtoll(PQgetvalue(session, 0, 4), NULL, 10);
    PQclear(session);

    /* Staff: a disabled account ends here even if a revocation was missed. */
    if (strncmp(work->claims->user_id, "staff:", 6) == 0) {
        const char *user[] = {work->claims->user_id};
        PGresult *staff = nagar_service_query(
            self->db, "session_staff_state",
            "SELECT disabled FROM identity.staff WHERE user_id = $1", 1, user);
        if (!staff)
            return -1;
        bool usable = PQntuples(staff) == 1 && strcmp(PQgetvalue(staff, 0, 0), "f") == 0;
        PQclear(staff);
        if (!usable) {
            if (identity_session_revoke_user(self, work->claims->user_id, "disabled") != 0)
                return -1;
            nagar_outcome_set(&work->outcome, NAGAR__STATUS_CODE__UNAUTHENTICATED,
                              "refreshToken", "the account is disabled");
            return 0;
        }
    }

    /* Strictly later than the last refresh token, so the new one differs. */
    int64_t now = nagar_bus_now_ms();
    if (now <= previous)
        now = previous + 1;
    if (sign_pair(self, work->claims->session_id, work->claims->user_id, role, ulb, now,
                  &work->tokens) != 0)
        return -1;
    char hash[65], issued[24], expires[24];
    token_hash_hex(work->tokens.refresh_token, hash);
    snprintf(issued, sizeof issued, "%" PRId64, now);
    snprintf(expires, sizeof expires, "%" PRId64, now + self->refresh_ttl_s * 1000);
    const char *update[] = {work->claims->session_id, hash, issued, expires};
    PGresult *result = nagar_service_query(
        self->db, "session_rotate",
        "UPDATE identity.session SET refresh_hash = decode($2, 'hex'), "
        "refresh_issued_at_ms = $3::bigint, expires_at = to_timestamp($4::bigint / 1000.0) "
        "WHERE session_id = $1",
        4, update);
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

int identity_session_refresh(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__RefreshRequest *request =
        (const Nagar__Identity__RefreshRequest *) message;
    nagar_token_claims_t claims;
    bool expired;
    if (check_refresh_token(self, call, request->refresh_token, &claims, false, &expired) != 0)
        return -1;
    refresh_work_t work = {.self = self, .token = request->refresh_token, .claims = &claims};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, refresh_work, &work);
    if (rc != 0) {
        identity_session_tokens_clear(&work.tokens);
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, rc, &work.outcome);
    }
    if (work.outcome.code != NAGAR__STATUS_CODE__OK) {
        identity_session_tokens_clear(&work.tokens);
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, 1, &work.outcome);
    }
    rc = identity_session_reply(call, &work.tokens);
    identity_session_tokens_clear(&work.tokens);
    return rc;
}

typedef struct {
    identity_t *self;
    const nagar_token_claims_t *claims;
} logout_work_t;

static int logout_work(nagar_db_t *db, void *arg)
{
    (void) db;
    logout_work_t *work = arg;
    return revoke_session(work->self, work->claims->session_id, "logout");
}

int identity_session_logout(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__LogoutRequest *request =
        (const Nagar__Identity__LogoutRequest *) message;
    nagar_token_claims_t claims;
    bool expired;
    if (check_refresh_token(self, call, request->refresh_token, &claims, true, &expired) != 0)
        return -1;
    Nagar__Identity__LogoutReply reply = NAGAR__IDENTITY__LOGOUT_REPLY__INIT;
    if (expired)   /* the session cannot be refreshed any more: nothing to end */
        return nagar_worker_call_reply(call, &reply.base);
    /* Only the session's own user may end it (a refresh token proves that). */
    if (strcmp(nagar_actor_user(call), "") != 0 &&
        strcmp(nagar_actor_user(call), claims.user_id) != 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "refreshToken",
                                      "the refresh token belongs to another user");
    logout_work_t work = {.self = self, .claims = &claims};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, logout_work, &work);
    if (rc != 0)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, rc, NULL);
    return nagar_worker_call_reply(call, &reply.base);
}

/* The page of revocations after after_id, as a reply whose arrays are
 * malloc'd and whose strings point into *rows (free with revocations_free).
 * Returns 0 or -1 on a database error. */
static int revocations_load(identity_t *self, int64_t after_id,
                            Nagar__Identity__ListRevocationsReply *reply, PGresult **rows,
                            Nagar__Identity__Revocation **items_out)
{
    *items_out = NULL;
    nagar__identity__list_revocations_reply__init(reply);
    char after[24], limit[16];
    snprintf(after, sizeof after, "%" PRId64, after_id);
    snprintf(limit, sizeof limit, "%d", REVOCATIONS_PAGE);
    const char *values[] = {after, limit};
    *rows = nagar_service_query(
        self->db, "revocations_list",
        "SELECT id, coalesce(session_id, ''), coalesce(user_id, ''), revoked_at_ms "
        "FROM identity.revocation WHERE id > $1::bigint ORDER BY id LIMIT $2::int",
        2, values);
    if (!*rows)
        return -1;
    int count = PQntuples(*rows);
    Nagar__Identity__Revocation *items = calloc((size_t) count + 1, sizeof *items);
    Nagar__Identity__Revocation **pointers = calloc((size_t) count + 1, sizeof *pointers);
    if (!items || !pointers) {
        free(items);
        free(pointers);
        PQclear(*rows);
        *rows = NULL;
        return -1;
    }
    for (int i = 0; i < count; i++) {
        nagar__identity__revocation__init(&items[i]);
        items[i].id = strtoll(PQgetvalue(*rows, i, 0), NULL, 10);
        items[i].session_id = PQgetvalue(*rows, i, 1);
        items[i].user_id = PQgetvalue(*rows, i, 2);
        items[i].revoked_at_ms = strtoll(PQgetvalue(*rows, i, 3), NULL, 10);
        pointers[i] = &items[i];
    }
    reply->n_revocations = (size_t) count;
    reply->revocations = pointers;
    *items_out = items;
    return 0;
}

static void revocations_free(Nagar__Identity__ListRevocationsReply *reply, PGresult **rows,
                             Nagar__Identity__Revocation *items)
{
    free(items);
    free(reply->revocations);
    reply->revocations = NULL;
    reply->n_revocations = 0;
    PQclear(*rows);
    *rows = NULL;
}

int identity_session_revocations(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                 void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__ListRevocationsRequest *request =
        (const Nagar__Identity__ListRevocationsRequest *) message;
    if (request->after_id < 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "afterId",
                                      "afterId must be 0 or a revocation id, not %" PRId64,
                                      request->after_id);
    Nagar__Identity__ListRevocationsReply reply;
    PGresult *rows = NULL;
    Nagar__Identity__Revocation *items = NULL;
    if (revocations_load(self, request->after_id, &reply, &rows, &items) != 0)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    int rc = nagar_worker_call_reply(call, &reply.base);
    revocations_free(&reply, &rows, items);
    return rc;
}

int identity_session_revocations_fetch(nagar_worker_t *worker, int64_t after_id, void *arg)
{
    identity_t *self = arg;
    Nagar__Identity__ListRevocationsReply reply;
    PGresult *rows = NULL;
    Nagar__Identity__Revocation *items = NULL;
    if (revocations_load(self, after_id, &reply, &rows, &items) != 0)
        return -1;
    nagar_worker_apply_revocations(worker, &reply);
    int count = (int) reply.n_revocations;
    revocations_free(&reply, &rows, items);
    return count;
}
