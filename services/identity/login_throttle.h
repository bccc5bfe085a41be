/*
 * login_throttle.h — failed staff logins slow down whoever fails, not the
 * account's owner (issue 12; migrations/003_login_throttle.sql).
 *
 * Three counters of failures, each with its own free allowance, after which
 * every further failure doubles how long that counter refuses new tries
 * (1 s, 2 s, 4 s, ... up to NAGAR_IDENTITY_LOGIN_BACKOFF_MAX_S):
 *
 *   account and client address  NAGAR_IDENTITY_LOGIN_FREE_FAILURES (3)
 *   client address, any account NAGAR_IDENTITY_LOGIN_CLIENT_FREE_FAILURES (20)
 *   account, any address        NAGAR_IDENTITY_LOGIN_ACCOUNT_FREE_FAILURES (50),
 *                               holding back only addresses the account has
 *                               never logged in from
 *
 * Counters restart once their last failure is older than
 * NAGAR_IDENTITY_LOGIN_WINDOW_S (3600). While any counter that applies
 * refuses, the login is answered RESOURCE_EXHAUSTED (429) without checking
 * the password, so guessing gains nothing; the right password from another
 * address is not held back by someone else's failures. The client address
 * is the one the gateway saw (RequestContext.client_ip), or "bus:<caller
 * principal>" for a login made on the bus directly (nagarctl, nagar-batch).
 */
#ifndef NAGAR_IDENTITY_LOGIN_THROTTLE_H
#define NAGAR_IDENTITY_LOGIN_THROTTLE_H

#include "identity.h"

#define LOGIN_CLIENT_MAX 80

/* The client address of a login call into client. */
void identity_login_throttle_client(nagar_worker_call_t *call, char client[LOGIN_CLIENT_MAX]);

/* Seconds before username may try again from client (0: now) into *wait_s.
 * Returns 0, or -1 on a database error. */
int identity_login_throttle_wait(identity_t *self, const char *username, const char *client,
                                 long *wait_s);

/* Counts a failed login; *wait_s is how long the next try now waits.
 * Returns 0 or -1. */
int identity_login_throttle_failed(identity_t *self, const char *username, const char *client,
                                   long *wait_s);

/* A login that succeeded clears its (account, client) counter. */
int identity_login_throttle_succeeded(identity_t *self, const char *username, const char *client);

/* Drops counters that have gone quiet (housekeeping). */
void identity_login_throttle_forget_old(identity_t *self);

#endif
