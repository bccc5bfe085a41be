/*
 * session.h — logins as sessions, and the tokens that carry them.
 *
 * A login (OTP or staff password) creates a session and a token pair: a
 * short-lived access token the gateway verifies by itself, and a refresh
 * token that only identity accepts. Each refresh rotates the refresh
 * token: the session remembers a hash of the one valid refresh token, and
 * presenting an older one is taken as theft, so the session is revoked.
 * Logout and disabling a user write revocation rows that the gateway and
 * every service poll (token.revocations) to refuse access tokens that have
 * not expired yet; identity's own worker reads them straight from the table
 * (identity_session_revocations_fetch).
 *
 *   token.refresh      RefreshRequest -> TokenPair
 *   token.logout       LogoutRequest -> LogoutReply
 *   token.revocations  ListRevocationsRequest -> ListRevocationsReply (gateway, services)
 */
#ifndef NAGAR_IDENTITY_SESSION_H
#define NAGAR_IDENTITY_SESSION_H

#include "identity.h"

typedef struct {
    char *access_token;    /* malloc'd */
    char *refresh_token;   /* malloc'd */
    uint32_t access_expires_in_seconds;
    uint32_t refresh_expires_in_seconds;
    char user_id[96];
    char role[32];
    char ulb[16];
} session_tokens_t;

/* Frees the tokens and clears the struct (safe to call twice). */
void identity_session_tokens_clear(session_tokens_t *tokens);

/* Creates a session for user and signs its first token pair, inside the
 * caller's transaction. Returns 0 or -1 on a database (or signing) error. */
int identity_session_create(identity_t *self, nagar_worker_call_t *call, const char *user_id,
                            const char *role, const char *ulb, session_tokens_t *tokens);

/* Answers the call with tokens as a TokenPair. */
int identity_session_reply(nagar_worker_call_t *call, const session_tokens_t *tokens);

/* Ends every session of user_id and records a user revocation, inside the
 * caller's transaction. Returns 0 or -1. */
int identity_session_revoke_user(identity_t *self, const char *user_id, const char *reason);

int identity_session_refresh(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int identity_session_logout(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int identity_session_revocations(nagar_worker_call_t *call, const ProtobufCMessage *request,
                                 void *arg);
/* nagar_worker_set_revocations_source's fetch for identity's own worker. */
int identity_session_revocations_fetch(nagar_worker_t *worker, int64_t after_id, void *arg);

#endif
