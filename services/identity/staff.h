/*
 * staff.h — staff accounts, passwords and roles per ULB.
 *
 *   staff.login      StaffLoginRequest -> TokenPair
 *   staff.create     CreateStaffRequest -> StaffAccount        audited
 *   staff.disable    DisableStaffRequest -> StaffAccount       audited; revokes sessions
 *   staff.set_role   SetStaffRoleRequest -> StaffAccount       audited; revokes sessions
 *   staff.list       ListStaffRequest -> ListStaffReply
 *   (passwords after creation: password.h)
 *
 * Who may manage whom: a STATE_ADMIN any account anywhere; a COMMISSIONER
 * only CLERK, REGISTRAR and REVENUE_OFFICER accounts of their own ULB (never
 * granting COMMISSIONER or STATE_ADMIN); nobody else. Passwords are argon2id
 * (crypto_pwhash_str, interactive limits), at least 12 characters. Failed
 * logins slow down the address that fails them, not the account
 * (login_throttle.h); unknown user, wrong password and disabled all get the
 * same answer.
 */
#ifndef NAGAR_IDENTITY_STAFF_H
#define NAGAR_IDENTITY_STAFF_H

#include "identity.h"

#define PASSWORD_MIN 12      /* characters of a staff password */
#define PASSWORD_MAX 128

int identity_staff_login(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int identity_staff_create(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int identity_staff_disable(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int identity_staff_set_role(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int identity_staff_list(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

/* Checks username's password, throttled (login_throttle.h). Returns 0 with
 * user_id (96 bytes) set when it is right and the account enabled; else
 * answers the call (UNAUTHENTICATED, RESOURCE_EXHAUSTED, INVALID_ARGUMENT)
 * and returns -1. */
int identity_staff_check_password(identity_t *self, nagar_worker_call_t *call, const char *username,
                                  const char *password, char user_id[96]);

/* `nagar-identity bootstrap-admin USERNAME`: creates the first STATE_ADMIN
 * when no enabled one exists and prints its one-time password on stdout
 * (must_change_password: its first login can only replace it, password.h).
 * Returns 0; -2 when an enabled state admin already exists; -1 on other
 * failures; the reason is in error. */
int identity_staff_bootstrap_admin(identity_t *self, const char *username, char *error,
                                   size_t error_size);

#endif
