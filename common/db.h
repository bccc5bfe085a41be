/*
 * db.h — one PostgreSQL connection of a Nagar process (libpq).
 *
 * A service process holds one nagar_db_t. It gives:
 *   - a connect with a deadline (connect_timeout) and a per-session
 *     statement_timeout (NAGAR_DB_STATEMENT_TIMEOUT_MS, default 10000), so no
 *     query waits forever;
 *   - named statements registered once and prepared lazily on first use on
 *     each physical connection (and again after a reconnect);
 *   - parameterised execution only (PQexecParams / PQexecPrepared): values
 *     travel out of band, SQL is never built from strings;
 *   - a transaction helper that retries serialization failures (40001) and
 *     deadlocks (40P01) with jittered exponential back-off;
 *   - errors kept with their SQLSTATE, primary message and detail;
 *   - a reconnect (PQreset) when the connection broke while idle — never
 *     silently inside a transaction, where the work is already lost and the
 *     caller must know;
 *   - fail-over: with NAGAR_DB_RECONNECT_WAIT_MS > 0 the reconnect keeps
 *     trying for that long (a conninfo naming every node with
 *     target_session_attrs=read-write lands on the new primary), and a
 *     transaction whose connection went before COMMIT is run again there.
 *     A COMMIT whose answer was lost, or that PostgreSQL answered with its
 *     warning that the wait for the synchronous standby was cancelled, is
 *     "in doubt": SQLSTATE 08007, retry with the same idempotency key
 *     (nagar_db_transaction_idempotent does that itself for a lost answer).
 *     Dead servers are noticed by TCP keepalives (5 s idle) and
 *     tcp_user_timeout (5 s), unless the conninfo says otherwise.
 *
 * Settings read at connect (environment over NAGAR_CONFIG file, config.h):
 *   NAGAR_DB_CONNECT_TIMEOUT_S     seconds to establish a connection, per host (5)
 *   NAGAR_DB_STATEMENT_TIMEOUT_MS  per-statement limit on the server (10000)
 *   NAGAR_DB_TX_MAX_ATTEMPTS       attempts of nagar_db_transaction (5)
 *   NAGAR_DB_RECONNECT_WAIT_MS     how long a lost connection is tried again
 *                                  (0: once, the single-server default; the
 *                                  cluster sets 20000 — a fail-over takes 10-15 s)
 *
 * Not thread-safe: one nagar_db_t per thread.
 */
#ifndef NAGAR_DB_H
#define NAGAR_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define NAGAR_DB_ERROR_MAX 1024
#define NAGAR_DB_MAX_STATEMENTS 256
#define NAGAR_DB_MAX_PARAMS 1024

typedef struct nagar_db_t nagar_db_t;

typedef enum {
    NAGAR_DB_READ_COMMITTED,
    NAGAR_DB_REPEATABLE_READ,
    NAGAR_DB_SERIALIZABLE,
} nagar_db_isolation_t;

/* The work of a transaction. Returns 0 to commit; anything else rolls back
 * and is returned by nagar_db_transaction (after retries when the failure
 * was a serialization failure or deadlock). It may run several times, so it
 * must reset any output it fills in arg at its start. */
typedef int (nagar_db_work_fn)(nagar_db_t *db, void *arg);

/* Opens a connection. conninfo is a libpq keyword/value string or URI; the
 * password may come from PGPASSFILE / ~/.pgpass. Returns NULL and writes into
 * error which database, user and host failed and why (never the password). */
nagar_db_t *nagar_db_connect(const char *conninfo, char *error, size_t error_size);

void nagar_db_destroy(nagar_db_t **self_p);

/* Registers a named statement; it is prepared on the server on first use.
 * name: 1..63 of [a-z0-9_]. Registering the same name with the same SQL
 * again is a no-op; with different SQL it is an error. Returns 0 or -1. */
int nagar_db_prepare(nagar_db_t *self, const char *name, const char *sql, int nparams);

/* Runs a registered statement by name, or else name_or_sql as one SQL
 * statement with $1..$n parameters. values are text; NULL means SQL NULL.
 * Returns the result (caller PQclear()s it) when it is COMMAND_OK or
 * TUPLES_OK; otherwise NULL with the error in nagar_db_error(). */
PGresult *nagar_db_exec(nagar_db_t *self, const char *name_or_sql, int nparams,
                        const char *const *values);

/* Runs fn between BEGIN ISOLATION LEVEL ... and COMMIT. On 40001 / 40P01
 * (from fn or from COMMIT) rolls back, sleeps a jittered back-off and runs fn
 * again, up to the configured attempts. Returns 0 when committed, the
 * non-zero value of fn, or -1 on a database error (nagar_db_error() says
 * which). Must not be nested. */
int nagar_db_transaction(nagar_db_t *self, nagar_db_isolation_t isolation, nagar_db_work_fn *fn,
                         void *arg);

/* nagar_db_transaction for work that checks an idempotency key before it
 * changes anything: a COMMIT whose answer was lost is retried too (on the
 * new primary after a fail-over), since a second run of such work returns
 * what the first recorded if the first did commit. */
int nagar_db_transaction_idempotent(nagar_db_t *self, nagar_db_isolation_t isolation,
                                    nagar_db_work_fn *fn, void *arg);

/* fn(arg) is called, at least once a second, while the connection waits
 * for a server (NAGAR_DB_RECONNECT_WAIT_MS): a worker passes its
 * heartbeat, so the broker does not take a fail-over for a dead worker. */
void nagar_db_set_wait_hook(nagar_db_t *self, void (*fn)(void *arg), void *arg);

/* Runs a multi-statement script with PQexec. ONLY for trusted SQL shipped
 * with the code (migrations); never for anything built from input. */
int nagar_db_exec_trusted_script(nagar_db_t *self, const char *script);

/* The last error: "SQLSTATE 42501: permission denied for table x (DETAIL: ...)",
 * or "" when the last call succeeded. */
const char *nagar_db_error(nagar_db_t *self);

/* The five-character SQLSTATE of the last error, "" when none. Errors of the
 * client side (connection lost, bad arguments) use class 08 / 22 / 54 codes. */
const char *nagar_db_sqlstate(nagar_db_t *self);

/* Whether the server reported an open transaction after the last call
 * (from nagar_db_transaction or a BEGIN the caller sent). A script that ran
 * COMMIT inside nagar_db_transaction makes this false. */
bool nagar_db_in_transaction(nagar_db_t *self);

/* Attempts made by the last nagar_db_transaction (1 when it ran once). */
int nagar_db_last_attempts(nagar_db_t *self);

/* Overrides NAGAR_DB_TX_MAX_ATTEMPTS (1..100). */
void nagar_db_set_max_attempts(nagar_db_t *self, int attempts);

#endif
