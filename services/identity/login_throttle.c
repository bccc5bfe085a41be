/*
 * login_throttle.c — counting failed staff logins per account and address,
 * per address and per account, with exponential back-off (login_throttle.h).
 *
 * The arithmetic of one counter lives in identity.login_failed (SQL), so
 * that several identity processes share the counters and one failure is
 * counted once however many workers see it. Reads and writes are single
 * statements outside any transaction: a lost increment under a race costs
 * an attacker's one extra try, never the owner's access.
 */
#include "login_throttle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void identity_login_throttle_client(nagar_worker_call_t *call, char client[LOGIN_CLIENT_MAX])
{
    const char *ip = nagar_worker_call_context(call)->client_ip;
    if (ip && ip[0])
        snprintf(client, LOGIN_CLIENT_MAX, "%.63s", ip);
    else
        snprintf(client, LOGIN_CLIENT_MAX, "bus:%.63s", nagar_worker_call_caller(call));
}

static int single_number(PGresult *result, long *out)
{
    if (!result)
        return -1;
    *out = PQntuples(result) == 1 && !PQgetisnull(result, 0, 0)
               ? strtol(PQgetvalue(result, 0, 0), NULL, 10)
               : 0;
    PQclear(result);
    return 0;
}

int identity_login_throttle_wait(identity_t *self, const char *username, const char *client,
                                 long *wait_s)
{
    const char *values[] = {username, client};
    PGresult *result = nagar_service_query(
        self->db, "login_throttle_wait",
        "SELECT coalesce(ceil(max(extract(epoch FROM t.blocked_until - now()))), 0)::int "
        "FROM identity.login_throttle t WHERE t.blocked_until > now() AND ("
        " (t.scope = 'account_client' AND t.key = $1 || '|' || $2)"
        " OR (t.scope = 'client' AND t.key = $2)"
        " OR (t.scope = 'account' AND t.key = $1 AND NOT EXISTS ("
        "   SELECT 1 FROM identity.session s JOIN identity.staff st USING (user_id)"
        "   WHERE st.username = $1 AND s.client_ip = $2)))",
        2, values);
    return single_number(result, wait_s);
}

int identity_login_throttle_failed(identity_t *self, const char *username, const char *client,
                                   long *wait_s)
{
    char free_pair[16], free_client[16], free_account[16], max_s[16], window_s[16];
    snprintf(free_pair, sizeof free_pair, "%ld", self->login_free_failures);
    snprintf(free_client, sizeof free_client, "%ld", self->login_client_free_failures);
    snprintf(free_account, sizeof free_account, "%ld", self->login_account_free_failures);
    snprintf(max_s, sizeof max_s, "%ld", self->login_backoff_max_s);
    snprintf(window_s, sizeof window_s, "%ld", self->login_window_s);
    const char *values[] = {username, client, free_pair, free_client, free_account, max_s,
                            window_s};
    PGresult *result = nagar_service_query(
        self->db, "login_throttle_failed",
        "SELECT greatest("
        " identity.login_failed('account_client', $1 || '|' || $2, $3::int, $6::int, $7::int),"
        " identity.login_failed('client', $2, $4::int, $6::int, $7::int),"
        " identity.login_failed('account', $1, $5::int, $6::int, $7::int))",
        7, values);
    if (single_number(result, wait_s) != 0)
        return -1;
    if (*wait_s > 0) {
        json_t *fields = json_pack("{s:s, s:s, s:i}", "username", username, "client", client,
                                   "wait_s", (int) *wait_s);
        nagar_log_write(NAGAR_LOG_WARN, "identity.login_throttled", fields,
                        "failed logins: the next try of this account from this address waits");
    }
    return 0;
}

int identity_login_throttle_succeeded(identity_t *self, const char *username, const char *client)
{
    const char *values[] = {username, client};
    PGresult *result = nagar_service_query(
        self->db, "login_throttle_clear",
        "DELETE FROM identity.login_throttle WHERE scope = 'account_client' "
        "AND key = $1 || '|' || $2",
        2, values);
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

void identity_login_throttle_forget_old(identity_t *self)
{
    char window_s[16];
    snprintf(window_s, sizeof window_s, "%ld", self->login_window_s);
    const char *values[] = {window_s};
    PGresult *result = nagar_service_query(
        self->db, "login_throttle_forget",
        "DELETE FROM identity.login_throttle WHERE blocked_until < now() "
        "AND last_failure_at < now() - make_interval(secs => $1::int)",
        1, values);
    if (result)
        PQclear(result);
    else
        nagar_log_warn("identity.housekeeping_failed", "removing old login counters failed: %s",
                       nagar_db_error(self->db));
}
