/*
 * password.c — replacing a one-time password, changing one's own (see
 * password.h).
 *
 * The new password is hashed (argon2id, ~0.1 s) outside any transaction;
 * the transaction then changes the row only if its hash is still the one
 * the request was checked against, so two racing changes cannot both win
 * and a change cannot undo another made in between. The user revocation
 * written in the same transaction ends every session and access token of
 * the account that was issued before it.
 */
#include "password.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "session.h"
#include "staff.h"

int identity_password_hash(char hash[crypto_pwhash_STRBYTES], const char *password)
{
    return crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0
               ? 0
               : -1;
}

int identity_password_change_token_reply(identity_t *self, nagar_worker_call_t *call,
                                         const char *user_id, const char *role, const char *ulb)
{
    nagar_token_claims_t claims;
    memset(&claims, 0, sizeof claims);
    snprintf(claims.user_id, sizeof claims.user_id, "%s", user_id);
    snprintf(claims.role, sizeof claims.role, "%s", role);
    snprintf(claims.ulb, sizeof claims.ulb, "%s", ulb);
    claims.type = NAGAR__TOKEN_TYPE__ACCESS;
    claims.issued_at_ms = nagar_bus_now_ms();
    claims.not_before_ms = claims.issued_at_ms;
    claims.expires_at_ms = claims.issued_at_ms + PASSWORD_CHANGE_TTL_S * 1000;
    nagar_token_claims_add_audience(&claims, NAGAR_TOKEN_AUDIENCE_PASSWORD);
    char *token = nagar_token_sign(self->signer, &claims);
    if (!token) {
        nagar_log_error("identity.sign_failed", "could not sign a password-change token for %s",
                        user_id);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "the password-change token could not be signed");
    }
    Nagar__Identity__TokenPair pair = NAGAR__IDENTITY__TOKEN_PAIR__INIT;
    pair.access_token = token;
    pair.access_expires_in_seconds = PASSWORD_CHANGE_TTL_S;
    pair.user_id = (char *) user_id;
    pair.role = (char *) role;
    pair.ulb = (char *) ulb;
    pair.password_change_required = true;
    int rc = nagar_worker_call_reply(call, &pair.base);
    sodium_memzero(token, strlen(token));
    free(token);
    return rc;
}

/* ---- the change itself ----------------------------------------------------- */

typedef struct {
    nagar_keyed_work_t base;           /* first; request NULL: no record (anonymous call) */
    identity_t *self;
    const char *user_id;
    const char *actor_role;            /* who acts, for the audit row */
    const char *old_hash;              /* the row must still hold it */
    const char *new_hash;
    bool one_time;                     /* replacing the one-time password */
    char username[80];
    char ulb[16];
} change_t;

static int change_work(nagar_db_t *db, void *arg)
{
    (void) db;
    change_t *work = arg;
    identity_t *self = work->self;
    int begun;
    if (!nagar_keyed_work_begin(&work->base, &begun))
        return begun;
    const char *values[] = {work->user_id, work->old_hash, work->new_hash,
                            work->one_time ? "t" : "f"};
    PGresult *result = nagar_service_query(
        self->db, "staff_password_change",
        "UPDATE identity.staff SET password_hash = $3, must_change_password = false, "
        "password_changed_at = now() WHERE user_id = $1 AND password_hash = $2 "
        "AND NOT disabled AND must_change_password = $4::boolean "
        "RETURNING username, coalesce(ulb, '')",
        4, values);
    if (!result)
        return -1;
    if (PQntuples(result) != 1) {
        PQclear(result);
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION,
                          work->one_time ? "passwordChangeToken" : "currentPassword",
                          work->one_time
                              ? "the one-time password was replaced already (or the account "
                                "was disabled): log in with the new password"
                              : "the password changed meanwhile, or the account was disabled; "
                                "log in again");
        return 1;
    }
    snprintf(work->username, sizeof work->username, "%s", PQgetvalue(result, 0, 0));
    snprintf(work->ulb, sizeof work->ulb, "%s", PQgetvalue(result, 0, 1));
    PQclear(result);
    if (identity_session_revoke_user(self, work->user_id, "password changed") != 0)
        return -1;
    json_t *detail = json_pack("{s:b}", "oneTimePasswordReplaced", work->one_time);
    if (identity_audit_append(self, work->base.call, work->user_id, work->actor_role,
                              "staff.password_changed", work->user_id, work->ulb, detail) != 0)
        return -1;
    Nagar__Identity__ChangePasswordReply reply = NAGAR__IDENTITY__CHANGE_PASSWORD_REPLY__INIT;
    reply.user_id = (char *) work->user_id;
    reply.username = work->username;
    reply.sessions_revoked = true;
    return nagar_keyed_work_store(&work->base, &reply.base);
}

/* Hashes new_password and runs the change; answers the call. */
static int change(change_t *work, const char *new_password)
{
    identity_t *self = work->self;
    char hash[crypto_pwhash_STRBYTES];
    if (identity_password_hash(hash, new_password) != 0)
        return nagar_worker_call_fail(work->base.call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "out of memory hashing the password; retry later");
    work->new_hash = hash;
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, change_work, work);
    sodium_memzero(hash, sizeof hash);
    if (rc == 0 && !work->base.stored) {
        json_t *fields =
            json_pack("{s:s, s:b}", "user_id", work->user_id, "one_time", work->one_time);
        nagar_log_write(NAGAR_LOG_INFO, "identity.password_changed", fields,
                        "staff password changed; every session of the account ended");
    }
    Nagar__Identity__ChangePasswordReply reply = NAGAR__IDENTITY__CHANGE_PASSWORD_REPLY__INIT;
    reply.user_id = (char *) work->user_id;
    reply.username = work->username;
    reply.sessions_revoked = true;
    return nagar_keyed_work_answer(
        &work->base, rc, &nagar__identity__change_password_reply__descriptor, &reply.base);
}

static int check_new_password(nagar_worker_call_t *call, const char *new_password)
{
    if (!identity_text_valid(new_password, PASSWORD_MIN, PASSWORD_MAX))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "newPassword",
                                      "newPassword must be %d to %d printable characters",
                                      PASSWORD_MIN, PASSWORD_MAX);
    return 0;
}

/* The account's username and current hash (and whether it is on a one-time
 * password). Returns 1 when found and enabled, 0 when not, -1 on error. */
static int load_account(identity_t *self, const char *user_id, char username[80],
                        char hash[crypto_pwhash_STRBYTES], bool *one_time)
{
    const char *values[] = {user_id};
    PGresult *result = nagar_service_query(
        self->db, "staff_password_get",
        "SELECT username, password_hash, must_change_password FROM identity.staff "
        "WHERE user_id = $1 AND NOT disabled",
        1, values);
    if (!result)
        return -1;
    int found = PQntuples(result) == 1;
    if (found) {
        snprintf(username, 80, "%s", PQgetvalue(result, 0, 0));
        snprintf(hash, crypto_pwhash_STRBYTES, "%s", PQgetvalue(result, 0, 1));
        *one_time = strcmp(PQgetvalue(result, 0, 2), "t") == 0;
    }
    PQclear(result);
    return found;
}

int identity_staff_replace_one_time_password(nagar_worker_call_t *call,
                                             const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__ReplaceOneTimePasswordRequest *request =
        (const Nagar__Identity__ReplaceOneTimePasswordRequest *) message;
    if (!request->password_change_token[0] ||
        strnlen(request->password_change_token, NAGAR_TOKEN_MAX + 1) > NAGAR_TOKEN_MAX)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "passwordChangeToken",
                                      "passwordChangeToken is required: the accessToken a login "
                                      "with the one-time password answered");
    if (check_new_password(call, request->new_password) != 0)
        return -1;
    nagar_token_claims_t claims;
    nagar_token_result_t verdict =
        nagar_token_verify(self->verifier, request->password_change_token,
                           NAGAR__TOKEN_TYPE__ACCESS, NAGAR_TOKEN_AUDIENCE_PASSWORD,
                           nagar_bus_now_ms(), &claims);
    if (verdict != NAGAR_TOKEN_OK || strncmp(claims.user_id, "staff:", 6) != 0) {
        json_t *fields = json_pack("{s:s}", "reason", nagar_token_result_text(verdict));
        nagar_log_write(NAGAR_LOG_WARN, "identity.password_change_refused", fields,
                        "a password-change token was refused");
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAUTHENTICATED,
                                      "passwordChangeToken",
                                      "the password-change token is not valid (%s): log in with "
                                      "the one-time password again",
                                      nagar_token_result_text(verdict));
    }
    char username[80], hash[crypto_pwhash_STRBYTES];
    bool one_time = false;
    int found = load_account(self, claims.user_id, username, hash, &one_time);
    if (found < 0)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    if (!found || !one_time) {
        sodium_memzero(hash, sizeof hash);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__FAILED_PRECONDITION,
                                      "passwordChangeToken",
                                      "the one-time password was replaced already (or the "
                                      "account was disabled): log in with the new password");
    }
    if (crypto_pwhash_str_verify(hash, request->new_password, strlen(request->new_password)) ==
        0) {
        sodium_memzero(hash, sizeof hash);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "newPassword",
                                      "newPassword must not be the one-time password");
    }
    change_t work = {.base = IDENTITY_KEYED_WORK(self, call, NULL),
                     .self = self,
                     .user_id = claims.user_id,
                     .actor_role = claims.role,
                     .old_hash = hash,
                     .one_time = true};
    int rc = change(&work, request->new_password);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

int identity_staff_change_password(nagar_worker_call_t *call, const ProtobufCMessage *message,
                                   void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__ChangePasswordRequest *request =
        (const Nagar__Identity__ChangePasswordRequest *) message;
    const char *user_id = nagar_actor_user(call);
    if (strncmp(user_id, "staff:", 6) != 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "only a signed-in staff member changes a password (their "
                                      "own); citizens log in with one-time codes");
    if (!request->current_password[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "currentPassword", "currentPassword is required");
    if (check_new_password(call, request->new_password) != 0)
        return -1;
    if (strcmp(request->new_password, request->current_password) == 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "newPassword",
                                      "newPassword must differ from the current password");
    char username[80], hash[crypto_pwhash_STRBYTES];
    bool one_time = false;
    int found = load_account(self, user_id, username, hash, &one_time);
    if (found < 0)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    if (!found) {
        sodium_memzero(hash, sizeof hash);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAUTHENTICATED, NULL,
                                      "the account is disabled");
    }
    /* The current password is checked as a login is: throttled per account
     * and address, so a stolen access token cannot guess it. */
    char checked[96];
    if (identity_staff_check_password(self, call, username, request->current_password, checked) !=
        0) {
        sodium_memzero(hash, sizeof hash);
        return -1;
    }
    change_t work = {.base = IDENTITY_KEYED_WORK(self, call, message),
                     .self = self,
                     .user_id = user_id,
                     .actor_role = nagar_actor_role(call),
                     .old_hash = hash,
                     .one_time = one_time};
    int rc = change(&work, request->new_password);
    sodium_memzero(hash, sizeof hash);
    return rc;
}
