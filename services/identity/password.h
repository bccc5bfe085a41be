/*
 * password.h — staff passwords after the account exists: the one-time
 * password replaced at the first login, and a staff member changing their
 * own.
 *
 *   staff.replace_one_time_password  ReplaceOneTimePasswordRequest -> ChangePasswordReply
 *                                    public (the gateway routes it without a login)
 *   staff.change_password            ChangePasswordRequest -> ChangePasswordReply
 *                                    any signed-in staff member, for their own account
 *
 * An account on a one-time password (must_change_password: the first state
 * admin, printed by bootstrap-admin) logs in to a password-change token
 * only: an access token whose sole audience is "password", valid
 * PASSWORD_CHANGE_TTL_S, with no refresh token and no session. The gateway
 * and every service refuse it (their audience is "api"); identity accepts
 * it for staff.replace_one_time_password and nothing else, once: the new
 * password clears the flag. Changing one's own password needs the current
 * one (checked and throttled as a login is). Either way every session of
 * the account ends (a user revocation, so its tokens stop within one poll)
 * and the change is audited ("staff.password_changed"); the holder logs in
 * again with the new password.
 */
#ifndef NAGAR_IDENTITY_PASSWORD_H
#define NAGAR_IDENTITY_PASSWORD_H

#include <sodium.h>

#include "identity.h"

#define PASSWORD_CHANGE_TTL_S 600

/* Hashes a staff password (argon2id, libsodium's interactive limits: about
 * 0.1 s and 64 MiB; run it outside any transaction). 0, or -1 when out of
 * memory. Every staff password is hashed here: staff.create, bootstrap-admin,
 * the password changes, and the dummy hash of an unknown login. */
int identity_password_hash(char hash[crypto_pwhash_STRBYTES], const char *password);

/* Answers a login of an account on a one-time password: a TokenPair with
 * the password-change token and password_change_required. Returns as
 * nagar_worker_call_reply, or -1 (answered INTERNAL) when signing failed. */
int identity_password_change_token_reply(identity_t *self, nagar_worker_call_t *call,
                                         const char *user_id, const char *role, const char *ulb);

int identity_staff_replace_one_time_password(nagar_worker_call_t *call,
                                             const ProtobufCMessage *request, void *arg);
int identity_staff_change_password(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                   void *arg);

#endif
