/*
 * staff.c — staff login, accounts and roles, and the first state admin
 * (see staff.h).
 *
 * Password hashing (argon2id, ~0.1 s and 64 MiB) runs outside any
 * transaction so no row stays locked while it runs. Every change and its
 * audit row commit together; a commissioner's reach is checked against the
 * locked row inside the transaction, not against what the caller says.
 */
#include "staff.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "login_throttle.h"
#include "password.h"
#include "session.h"
#include "ulb.h"

#define STAFF_PAGE_DEFAULT 50
#define STAFF_PAGE_MAX 200
#define LOGIN_FAILED "invalid username or password"

static const char STAFF_COLUMNS[] =
    "user_id, username, full_name, role, coalesce(ulb, ''), disabled, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), mobile, "
    "must_change_password";

static void staff_from_row(Nagar__Identity__StaffAccount *account, PGresult *result, int row)
{
    nagar__identity__staff_account__init(account);
    account->user_id = PQgetvalue(result, row, 0);
    account->username = PQgetvalue(result, row, 1);
    account->full_name = PQgetvalue(result, row, 2);
    account->role = PQgetvalue(result, row, 3);
    account->ulb = PQgetvalue(result, row, 4);
    account->disabled = strcmp(PQgetvalue(result, row, 5), "t") == 0;
    account->created_at = PQgetvalue(result, row, 6);
    account->mobile = PQgetvalue(result, row, 7);
    account->password_change_required = strcmp(PQgetvalue(result, row, 8), "t") == 0;
}

/* Roles a commissioner may hand out within their own ULB. */
static bool commissioner_may_manage(const char *role)
{
    return strcmp(role, "CLERK") == 0 || strcmp(role, "REGISTRAR") == 0 ||
           strcmp(role, "REVENUE_OFFICER") == 0;
}

static bool is_state_admin(const char *role)
{
    return strcmp(role, "STATE_ADMIN") == 0;
}

/* STATE_ADMIN or COMMISSIONER with a ULB; answers PERMISSION_DENIED otherwise. */
static int require_manager(nagar_worker_call_t *call, const char *what)
{
    if (nagar_actor_is(call, "STATE_ADMIN"))
        return 0;
    if (nagar_actor_is(call, "COMMISSIONER") && nagar_actor_ulb(call)[0])
        return 0;
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                  "%s needs the STATE_ADMIN or COMMISSIONER role", what);
}

static int validate_role_and_ulb(nagar_worker_call_t *call, const char *role, const char *ulb)
{
    if (!identity_staff_role_valid(role))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "role",
                                      "role must be CLERK, REGISTRAR, REVENUE_OFFICER, "
                                      "COMMISSIONER or STATE_ADMIN");
    if (is_state_admin(role) && ulb[0])
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "a STATE_ADMIN serves every ULB: leave ulb empty");
    if (!is_state_admin(role) && !nagar_text_digits(ulb, 1, 10))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be the LGD code (1 to 10 digits) of the ULB the "
                                      "%s works for",
                                      role);
    return 0;
}

/* A commissioner may grant only the three ULB roles, only in their ULB. */
static int check_grant_scope(nagar_worker_call_t *call, const char *role, const char *ulb)
{
    if (!nagar_actor_is(call, "COMMISSIONER"))
        return 0;
    if (!commissioner_may_manage(role))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "role",
                                      "a commissioner may grant CLERK, REGISTRAR or "
                                      "REVENUE_OFFICER only, not %s",
                                      role);
    if (strcmp(ulb, nagar_actor_ulb(call)) != 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "ulb",
                                      "a commissioner manages the staff of ULB %s only",
                                      nagar_actor_ulb(call));
    return 0;
}

/* 0 when ulb is "" or a ULB that exists; 1 with the outcome set when no
 * ULB has that code; -1 when the database failed. */
static int ulb_known(identity_t *self, nagar_outcome_t *outcome, const char *ulb)
{
    int exists = ulb[0] ? identity_ulb_exists(self, ulb) : 1;
    if (exists < 0)
        return -1;
    if (!exists) {
        nagar_outcome_set(outcome, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                          "no ULB has LGD code %s", ulb);
        return 1;
    }
    return 0;
}

static int validate_user_id(nagar_worker_call_t *call, const char *user_id)
{
    if (identity_staff_user_id_valid(user_id))
        return 0;
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "userId",
                                  "userId must be a staff user id (\"staff:<uuid>\")");
}

/* ---- staff.login --------------------------------------------------------- */

/* A hash of a random password, verified against when the user is unknown so
 * that the answer takes as long as for a real account. */
static const char *dummy_hash(void)
{
    static char hash[crypto_pwhash_STRBYTES];
    if (!hash[0]) {
        char password[33];
        unsigned char random[16];
        randombytes_buf(random, sizeof random);
        sodium_bin2hex(password, sizeof password, random, sizeof random);
        if (identity_password_hash(hash, password) != 0)
            hash[0] = '\0';
    }
    return hash;
}

typedef struct {
    identity_t *self;
    nagar_worker_call_t *call;
    const char *user_id;
    session_tokens_t tokens;
    bool refused;
    bool must_change_password;    /* on a one-time password: no session, a change token */
    char role[32], ulb[16];
} login_work_t;

static int login_work(nagar_db_t *db, void *arg)
{
    (void) db;
    login_work_t *work = arg;
    identity_session_tokens_clear(&work->tokens);
    work->refused = false;
    /* Re-read under lock: disabled or re-roled since the password check? */
    const char *values[] = {work->user_id};
    PGresult *result = nagar_service_query(
        work->self->db, "staff_login_recheck",
        "SELECT role, coalesce(ulb, ''), must_change_password FROM identity.staff "
        "WHERE user_id = $1 AND NOT disabled FOR SHARE",
        1, values);
    if (!result)
        return -1;
    if (PQntuples(result) != 1) {
        PQclear(result);
        work->refused = true;
        return 1;
    }
    snprintf(work->role, sizeof work->role, "%s", PQgetvalue(result, 0, 0));
    snprintf(work->ulb, sizeof work->ulb, "%s", PQgetvalue(result, 0, 1));
    work->must_change_password = strcmp(PQgetvalue(result, 0, 2), "t") == 0;
    PQclear(result);
    if (work->must_change_password)
        return 0;
    return identity_session_create(work->self, work->call, work->user_id, work->role, work->ulb,
                                   &work->tokens);
}

/* Checks a staff member's password, throttled per account and address
 * (login_throttle.h). Returns 0 with user_id set when it is right and the
 * account enabled; otherwise answers the call and returns -1. Shared by
 * staff.login and grant.issue. */
int identity_staff_check_password(identity_t *self, nagar_worker_call_t *call, const char *username,
                                  const char *password, char user_id[96])
{
    user_id[0] = '\0';
    if (identity_username_check(call, username) != 0)
        return -1;
    size_t password_length = strnlen(password, PASSWORD_MAX * 4 + 1);
    if (password_length == 0 || password_length > PASSWORD_MAX * 4)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "password",
                                      "password must be 1 to %d characters", PASSWORD_MAX);
    char client[LOGIN_CLIENT_MAX];
    identity_login_throttle_client(call, client);
    long wait_s = 0;
    if (identity_login_throttle_wait(self, username, client, &wait_s) != 0)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    if (wait_s > 0) {
        /* No password is checked while held back: guessing gains nothing. */
        json_t *fields = json_pack("{s:s, s:s, s:s, s:i}", "username", username, "client",
                                   client, "reason", "throttled", "wait_s", (int) wait_s);
        nagar_log_write(NAGAR_LOG_WARN, "identity.login_failed", fields, "staff login refused");
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED, NULL,
                                      "too many failed logins for this account from this "
                                      "address; try again in %ld s", wait_s);
    }

    const char *values[] = {username};
    PGresult *result = nagar_service_query(
        self->db, "staff_login_get",
        "SELECT user_id, password_hash, disabled FROM identity.staff WHERE username = $1", 1,
        values);
    if (!result)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    bool found = PQntuples(result) == 1;
    char hash[crypto_pwhash_STRBYTES] = "";
    bool disabled = false;
    if (found) {
        snprintf(user_id, 96, "%s", PQgetvalue(result, 0, 0));
        snprintf(hash, sizeof hash, "%s", PQgetvalue(result, 0, 1));
        disabled = strcmp(PQgetvalue(result, 0, 2), "t") == 0;
    }
    PQclear(result);

    bool password_ok = crypto_pwhash_str_verify(found ? hash : dummy_hash(), password,
                                                password_length) == 0;
    sodium_memzero(hash, sizeof hash);
    if (found && !disabled && password_ok) {
        if (identity_login_throttle_succeeded(self, username, client) != 0)
            return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
        return 0;
    }
    user_id[0] = '\0';
    if (identity_login_throttle_failed(self, username, client, &wait_s) != 0)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    const char *reason = !found ? "unknown_user" : disabled ? "disabled" : "wrong_password";
    json_t *fields = json_pack("{s:s, s:s, s:s}", "username", username, "client", client,
                               "reason", reason);
    nagar_log_write(NAGAR_LOG_WARN, "identity.login_failed", fields, "staff login refused");
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAUTHENTICATED, NULL,
                                  LOGIN_FAILED);
}

int identity_staff_login(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__StaffLoginRequest *request =
        (const Nagar__Identity__StaffLoginRequest *) message;
    char user_id[96];
    if (identity_staff_check_password(self, call, request->username, request->password, user_id) !=
        0)
        return -1;

    login_work_t work = {.self = self, .call = call, .user_id = user_id};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, login_work, &work);
    if (rc != 0) {
        identity_session_tokens_clear(&work.tokens);
        if (rc == 1 && work.refused)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAUTHENTICATED, NULL,
                                          LOGIN_FAILED);
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, rc, NULL);
    }
    if (work.must_change_password) {
        json_t *fields = json_pack("{s:s, s:s}", "user_id", user_id, "role", work.role);
        nagar_log_write(NAGAR_LOG_INFO, "identity.staff_login_password_change", fields,
                        "staff logged in with a one-time password: a password-change token only");
        return identity_password_change_token_reply(self, call, user_id, work.role, work.ulb);
    }
    json_t *fields = json_pack("{s:s, s:s}", "user_id", user_id, "role", work.tokens.role);
    nagar_log_write(NAGAR_LOG_INFO, "identity.staff_login", fields, "staff logged in");
    rc = identity_session_reply(call, &work.tokens);
    identity_session_tokens_clear(&work.tokens);
    return rc;
}

/* ---- staff.create -------------------------------------------------------- */

typedef struct {
    nagar_keyed_work_t base;      /* first: the key, the outcome (no call: bootstrap-admin) */
    identity_t *self;
    const char *username, *full_name, *role, *ulb, *mobile, *password_hash;
    const char *created_by;
    bool must_change_password;    /* a one-time password (bootstrap-admin) */
    PGresult *row;
} create_work_t;

/* Inserts the account and its audit row; shared with bootstrap-admin. */
static int insert_staff(create_work_t *work)
{
    identity_t *self = work->self;
    int known = ulb_known(self, &work->base.outcome, work->ulb);
    if (known != 0)
        return known;
    const char *values[] = {work->username, work->full_name, work->role,
                            work->ulb[0] ? work->ulb : NULL, work->mobile, work->password_hash,
                            work->created_by, work->must_change_password ? "t" : "f"};
    char sql[700];
    snprintf(sql, sizeof sql,
             "INSERT INTO identity.staff (user_id, username, full_name, role, ulb, mobile, "
             "password_hash, created_by, must_change_password) VALUES ('staff:' || "
             "gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7, $8::boolean) "
             "ON CONFLICT (username) DO NOTHING RETURNING %s",
             STAFF_COLUMNS);
    work->row = nagar_service_query(self->db, "staff_insert", sql, 8, values);
    if (!work->row)
        return -1;
    if (PQntuples(work->row) != 1) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__CONFLICT, "username",
                          "username \"%s\" is taken; choose another", work->username);
        return 1;
    }
    json_t *detail = json_pack("{s:s, s:s, s:s, s:s, s:s}", "username", work->username,
                               "fullName", work->full_name, "role", work->role, "ulb", work->ulb,
                               "mobile", work->mobile);
    return identity_audit_append(self, work->base.call, work->base.call ? NULL : work->created_by,
                                 work->base.call ? NULL : "SYSTEM", "staff.create",
                                 PQgetvalue(work->row, 0, 0), work->ulb, detail);
}

static int create_work(nagar_db_t *db, void *arg)
{
    (void) db;
    create_work_t *work = arg;
    PQclear(work->row);
    work->row = NULL;
    int begun;
    if (!nagar_keyed_work_begin(&work->base, &begun))
        return begun;
    int rc = insert_staff(work);
    if (rc != 0)
        return rc;
    Nagar__Identity__StaffAccount account;
    staff_from_row(&account, work->row, 0);
    return nagar_keyed_work_store(&work->base, &account.base);
}

/* Answers after the transaction (rc): the failure, the stored reply of a
 * key seen before, or the account in row; clears the row. */
static int reply_account(nagar_keyed_work_t *base, int rc, PGresult **row)
{
    Nagar__Identity__StaffAccount account = NAGAR__IDENTITY__STAFF_ACCOUNT__INIT;
    if (rc == 0 && !base->stored)
        staff_from_row(&account, *row, 0);
    rc = nagar_keyed_work_answer(base, rc, &nagar__identity__staff_account__descriptor,
                                 &account.base);
    PQclear(*row);
    *row = NULL;
    return rc;
}

int identity_staff_create(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__CreateStaffRequest *request =
        (const Nagar__Identity__CreateStaffRequest *) message;
    if (require_manager(call, "creating staff accounts") != 0)
        return -1;
    if (identity_username_check(call, request->username) != 0)
        return -1;
    if (!identity_text_valid(request->full_name, 1, 100))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "fullName",
                                      "fullName must be 1 to 100 printable characters");
    if (validate_role_and_ulb(call, request->role, request->ulb) != 0)
        return -1;
    if (!identity_text_valid(request->password, PASSWORD_MIN, PASSWORD_MAX))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "password",
                                      "password must be %d to %d printable characters",
                                      PASSWORD_MIN, PASSWORD_MAX);
    if (request->mobile[0] && !identity_mobile_valid(request->mobile))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "mobile",
                                      "mobile must be empty or a 10-digit Indian mobile number "
                                      "starting with 6, 7, 8 or 9");
    if (check_grant_scope(call, request->role, request->ulb) != 0)
        return -1;

    char hash[crypto_pwhash_STRBYTES];
    if (identity_password_hash(hash, request->password) != 0)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "out of memory hashing the password; retry later");
    create_work_t work = {.base = IDENTITY_KEYED_WORK(self, call, message), .self = self,
                          .username = request->username, .full_name = request->full_name,
                          .role = request->role, .ulb = request->ulb, .mobile = request->mobile,
                          .password_hash = hash, .created_by = nagar_actor_user(call)};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, create_work, &work);
    return reply_account(&work.base, rc, &work.row);
}

/* ---- staff.disable and staff.set_role ------------------------------------- */

typedef struct {
    nagar_keyed_work_t base;      /* first: the key, the outcome */
    identity_t *self;
    const char *user_id;
    bool disable;                 /* else set role */
    const char *reason;           /* disable */
    const char *role, *ulb;       /* set role */
    PGresult *row;
} change_work_t;

static int change_work(nagar_db_t *db, void *arg)
{
    (void) db;
    change_work_t *work = arg;
    identity_t *self = work->self;
    nagar_worker_call_t *call = work->base.call;
    PQclear(work->row);
    work->row = NULL;
    int begun;
    if (!nagar_keyed_work_begin(&work->base, &begun))
        return begun;

    const char *values[] = {work->user_id};
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM identity.staff WHERE user_id = $1 FOR UPDATE",
             STAFF_COLUMNS);
    PGresult *current = nagar_service_query(self->db, "staff_lock", sql, 1, values);
    if (!current)
        return -1;
    bool found = PQntuples(current) == 1;
    char old_role[32] = "", old_ulb[16] = "", username[65] = "";
    bool disabled = false;
    if (found) {
        snprintf(username, sizeof username, "%s", PQgetvalue(current, 0, 1));
        snprintf(old_role, sizeof old_role, "%s", PQgetvalue(current, 0, 3));
        snprintf(old_ulb, sizeof old_ulb, "%s", PQgetvalue(current, 0, 4));
        disabled = strcmp(PQgetvalue(current, 0, 5), "t") == 0;
    }
    PQclear(current);

    /* Another ULB's staff are not a commissioner's to see (staff.list shows
     * their own only): the same answer as no such account (issue 12). */
    if (!found ||
        (nagar_actor_is(call, "COMMISSIONER") && strcmp(old_ulb, nagar_actor_ulb(call)) != 0)) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__NOT_FOUND, "userId",
                          "no staff account has user id %s", work->user_id);
        return 1;
    }
    if (nagar_actor_is(call, "COMMISSIONER") && !commissioner_may_manage(old_role)) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__PERMISSION_DENIED, "userId",
                          "a commissioner manages CLERK, REGISTRAR and REVENUE_OFFICER "
                          "accounts of ULB %s only",
                          nagar_actor_ulb(call));
        return 1;
    }
    if (strcmp(work->user_id, nagar_actor_user(call)) == 0) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__FAILED_PRECONDITION, "userId",
                          "you cannot %s your own account; ask another administrator",
                          work->disable ? "disable" : "change the role of");
        return 1;
    }

    bool changed;
    json_t *detail;
    const char *action;
    const char *audit_ulb = old_ulb;
    if (work->disable) {
        changed = !disabled;
        action = "staff.disable";
        detail = json_pack("{s:s, s:s}", "username", username, "reason", work->reason);
        if (changed) {
            PGresult *result = nagar_service_query(
                self->db, "staff_disable",
                "UPDATE identity.staff SET disabled = true, disabled_at = now() WHERE user_id = $1",
                1, values);
            if (!result) {
                json_decref(detail);
                return -1;
            }
            PQclear(result);
        }
    } else {
        int known = ulb_known(self, &work->base.outcome, work->ulb);
        if (known != 0)
            return known;
        changed = strcmp(old_role, work->role) != 0 || strcmp(old_ulb, work->ulb) != 0;
        action = "staff.set_role";
        detail = json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "username", username, "from",
                           "role", old_role, "ulb", old_ulb, "to", "role", work->role, "ulb",
                           work->ulb);
        if (work->ulb[0])
            audit_ulb = work->ulb;
        if (changed) {
            const char *update[] = {work->user_id, work->role, work->ulb[0] ? work->ulb : NULL};
            PGresult *result = nagar_service_query(
                self->db, "staff_set_role",
                "UPDATE identity.staff SET role = $2, ulb = $3 WHERE user_id = $1", 3, update);
            if (!result) {
                json_decref(detail);
                return -1;
            }
            PQclear(result);
        }
    }
    if (changed) {
        /* Tokens carry the role: old ones must stop working either way. */
        if (identity_session_revoke_user(self, work->user_id,
                                         work->disable ? "disabled" : "role_changed") != 0) {
            json_decref(detail);
            return -1;
        }
        /* A move between ULBs is seen by both commissioners. */
        if (!work->disable && old_ulb[0] && strcmp(old_ulb, audit_ulb) != 0) {
            if (identity_audit_append(self, call, NULL, NULL, action, work->user_id, old_ulb,
                                      json_incref(detail)) != 0) {
                json_decref(detail);
                return -1;
            }
        }
        if (identity_audit_append(self, call, NULL, NULL, action, work->user_id, audit_ulb,
                                  detail) != 0)
            return -1;
    } else {
        json_decref(detail);
    }
    snprintf(sql, sizeof sql, "SELECT %s FROM identity.staff WHERE user_id = $1", STAFF_COLUMNS);
    work->row = nagar_service_query(self->db, "staff_get", sql, 1, values);
    if (!work->row)
        return -1;
    Nagar__Identity__StaffAccount account;
    staff_from_row(&account, work->row, 0);
    return nagar_keyed_work_store(&work->base, &account.base);
}

static int run_change(identity_t *self, change_work_t *work)
{
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, change_work, work);
    return reply_account(&work->base, rc, &work->row);
}

int identity_staff_disable(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__DisableStaffRequest *request =
        (const Nagar__Identity__DisableStaffRequest *) message;
    if (require_manager(call, "disabling staff accounts") != 0)
        return -1;
    if (validate_user_id(call, request->user_id) != 0)
        return -1;
    if (!identity_text_valid(request->reason, 0, 500))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "reason",
                                      "reason must be at most 500 printable characters");
    change_work_t work = {.base = IDENTITY_KEYED_WORK(self, call, message), .self = self,
                          .user_id = request->user_id, .disable = true,
                          .reason = request->reason};
    return run_change(self, &work);
}

int identity_staff_set_role(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__SetStaffRoleRequest *request =
        (const Nagar__Identity__SetStaffRoleRequest *) message;
    if (require_manager(call, "changing staff roles") != 0)
        return -1;
    if (validate_user_id(call, request->user_id) != 0)
        return -1;
    if (validate_role_and_ulb(call, request->role, request->ulb) != 0)
        return -1;
    if (check_grant_scope(call, request->role, request->ulb) != 0)
        return -1;
    change_work_t work = {.base = IDENTITY_KEYED_WORK(self, call, message), .self = self,
                          .user_id = request->user_id, .disable = false, .role = request->role,
                          .ulb = request->ulb};
    return run_change(self, &work);
}

/* ---- staff.list ---------------------------------------------------------- */

int identity_staff_list(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__ListStaffRequest *request =
        (const Nagar__Identity__ListStaffRequest *) message;
    if (require_manager(call, "listing staff accounts") != 0)
        return -1;
    if (request->ulb[0] && !nagar_text_digits(request->ulb, 1, 10))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb must be empty or an LGD code of 1 to 10 digits");
    const char *ulb = request->ulb[0] ? request->ulb : NULL;
    if (nagar_actor_is(call, "COMMISSIONER")) {
        if (ulb && strcmp(ulb, nagar_actor_ulb(call)) != 0)
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, "ulb",
                                          "a commissioner sees the staff of ULB %s only",
                                          nagar_actor_ulb(call));
        ulb = nagar_actor_ulb(call);
    }
    identity_page_t page;   /* after the username */
    if (identity_page_read(&page, call, request->page_size, request->page_token,
                           STAFF_PAGE_DEFAULT, STAFF_PAGE_MAX, 1, identity_username_valid) != 0)
        return -1;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM identity.staff WHERE ($1::text IS NULL OR ulb = $1) "
             "AND ($2::text IS NULL OR username > $2) ORDER BY username LIMIT $3::int",
             STAFF_COLUMNS);
    const char *values[] = {ulb, page.after ? page.parts[0] : NULL, page.limit};
    PGresult *result = nagar_service_query(self->db, "staff_list", sql, 3, values);
    if (!result)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    char next[512];
    static const int token_columns[] = {1};   /* username */
    int shown = identity_page_end(result, &page, token_columns, 1, next, sizeof next);
    Nagar__Identity__StaffAccount **accounts = nagar_reply_list((size_t) shown, sizeof **accounts);
    for (int i = 0; accounts && i < shown; i++)
        staff_from_row(accounts[i], result, i);
    Nagar__Identity__ListStaffReply reply = NAGAR__IDENTITY__LIST_STAFF_REPLY__INIT;
    return nagar_reply_page(call, &reply.base, "staff", accounts, (size_t) shown, next, result);
}

/* ---- bootstrap-admin ----------------------------------------------------- */

typedef struct {
    create_work_t create;
    bool admin_exists;
} bootstrap_work_t;

static int bootstrap_work(nagar_db_t *db, void *arg)
{
    (void) db;
    bootstrap_work_t *work = arg;
    nagar_outcome_reset(&work->create.base.outcome);
    PQclear(work->create.row);
    work->create.row = NULL;
    work->admin_exists = false;
    const char *lock[] = {"identity.bootstrap-admin"};
    PGresult *result = nagar_service_query(work->create.self->db, "bootstrap_lock",
                                           "SELECT pg_advisory_xact_lock(hashtext($1))", 1, lock);
    if (!result)
        return -1;
    PQclear(result);
    result = nagar_service_query(work->create.self->db, "bootstrap_admins",
                                 "SELECT 1 FROM identity.staff WHERE role = 'STATE_ADMIN' "
                                 "AND NOT disabled LIMIT 1",
                                 0, NULL);
    if (!result)
        return -1;
    work->admin_exists = PQntuples(result) > 0;
    PQclear(result);
    if (work->admin_exists)
        return 1;
    return insert_staff(&work->create);
}

int identity_staff_bootstrap_admin(identity_t *self, const char *username, char *error,
                                   size_t error_size)
{
    if (!identity_username_valid(username)) {
        snprintf(error, error_size,
                 "username \"%.80s\" is not valid: use 3 to 64 of a-z, 0-9, '.', '_' and '-'",
                 username);
        return -1;
    }
    /* 20 characters from 56 unambiguous ones: about 116 bits. */
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    char password[21];
    for (size_t i = 0; i < sizeof password - 1; i++)
        password[i] = alphabet[randombytes_uniform((uint32_t) (sizeof alphabet - 1))];
    password[sizeof password - 1] = '\0';
    char hash[crypto_pwhash_STRBYTES];
    if (identity_password_hash(hash, password) != 0) {
        sodium_memzero(password, sizeof password);
        snprintf(error, error_size, "out of memory hashing the password");
        return -1;
    }
    bootstrap_work_t work = {
        .create = {.self = self, .username = username, .full_name = "State administrator",
                   .role = "STATE_ADMIN", .ulb = "", .mobile = "", .password_hash = hash,
                   .created_by = "system:bootstrap-admin", .must_change_password = true},
    };
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, bootstrap_work, &work);
    if (rc != 0) {
        sodium_memzero(password, sizeof password);
        if (rc == 1 && work.admin_exists) {
            snprintf(error, error_size,
                     "an enabled STATE_ADMIN account already exists; bootstrap-admin only creates "
                     "the first one (use staff.create as a state admin)");
            PQclear(work.create.row);
            return -2;
        }
        if (rc == 1)
            snprintf(error, error_size, "%s", work.create.base.outcome.message);
        else
            snprintf(error, error_size, "creating the state admin failed in the database: %s",
                     nagar_db_error(self->db));
        PQclear(work.create.row);
        return -1;
    }
    json_t *fields = json_pack("{s:s, s:s}", "username", username, "user_id",
                               PQgetvalue(work.create.row, 0, 0));
    nagar_log_write(NAGAR_LOG_INFO, "identity.bootstrap_admin", fields,
                    "first state admin created; its one-time password is on stdout");
    PQclear(work.create.row);
    printf("%s\n", password);
    fflush(stdout);
    sodium_memzero(password, sizeof password);
    return 0;
}
