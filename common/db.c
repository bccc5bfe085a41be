/*
 * db.c — one PostgreSQL connection with deadlines, lazy prepared statements,
 * a retrying transaction helper and SQLSTATE-carrying errors; see db.h.
 *
 * The connection's transaction state is tracked so that a connection lost
 * inside a transaction is reported to the caller (the server has rolled the
 * work back) instead of being papered over by a reconnect: the reconnect
 * only happens on the next call outside a transaction.
 *
 * Fail-over (a Patroni cluster named by a multi-host conninfo with
 * target_session_attrs=read-write): a lost connection is re-made with
 * PQreset, which tries every host again and keeps the one that accepts
 * writes, for up to NAGAR_DB_RECONNECT_WAIT_MS; nagar_db_transaction runs
 * the work again on the new primary when the connection went before COMMIT
 * was sent (the server rolled it back, so nothing can be doubled). A
 * COMMIT whose answer was lost, or that came back with PostgreSQL's
 * warning that the wait for the synchronous standby was cancelled (the
 * commit is then on one node only), is "in doubt": SQLSTATE 08007 for the
 * caller, who retries with its idempotency key; the _idempotent variant
 * runs such work again itself, since work that checks its key first
 * returns the recorded answer if the first COMMIT did land.
 */
#include "db.h"

#include "config.h"
#include "log.h"

#include <ctype.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define STATEMENT_NAME_MAX 63
#define BACKOFF_BASE_MS 5
#define BACKOFF_CAP_MS 1000
#define RECONNECT_FIRST_DELAY_MS 100
#define RECONNECT_MAX_DELAY_MS 1000

typedef struct {
    char name[STATEMENT_NAME_MAX + 1];
    char *sql;
    int nparams;
    bool prepared;   /* on the current physical connection */
} statement_t;

struct nagar_db_t {
    PGconn *conn;
    long statement_timeout_ms;
    long reconnect_wait_ms;         /* NAGAR_DB_RECONNECT_WAIT_MS */
    void (*wait_hook)(void *arg);   /* run while waiting for a server */
    void *wait_hook_arg;
    PQnoticeReceiver next_receiver; /* libpq's, to which notices still go */
    bool sync_wait_canceled;        /* the server said so since the flag was cleared */
    int max_attempts;
    int last_attempts;
    bool in_work;         /* inside nagar_db_transaction */
    bool saw_retryable;   /* 40001/40P01 seen during the current attempt */
    bool tx_open;         /* server was in a transaction after the last call */
    bool tx_lost;         /* connection died inside a transaction; not yet acknowledged */
    statement_t *statements[NAGAR_DB_MAX_STATEMENTS];
    int statement_count;
    char sqlstate[6];
    char error[NAGAR_DB_ERROR_MAX];
};

static void clear_error(nagar_db_t *self)
{
    self->sqlstate[0] = '\0';
    self->error[0] = '\0';
}

/* libpq messages end in newlines and may span lines; logs want one line. */
static void flatten(char *text)
{
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    size_t length = strlen(text);
    while (length > 0 && text[length - 1] == ' ')
        text[--length] = '\0';
}

static void set_error(nagar_db_t *self, const char *sqlstate, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(nagar_db_t *self, const char *sqlstate, const char *format, ...)
{
    snprintf(self->sqlstate, sizeof self->sqlstate, "%s", sqlstate);
    int used = snprintf(self->error, sizeof self->error, "SQLSTATE %s: ", self->sqlstate);
    va_list args;
    va_start(args, format);
    vsnprintf(self->error + used, sizeof self->error - (size_t) used, format, args);
    va_end(args);
    flatten(self->error);
}

static bool is_retryable(const char *sqlstate)
{
    return strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0;
}

static void update_transaction_state(nagar_db_t *self)
{
    PGTransactionStatusType status = PQtransactionStatus(self->conn);
    self->tx_open = status == PQTRANS_INTRANS || status == PQTRANS_INERROR
                    || status == PQTRANS_ACTIVE;
}

/* Keeps the server's SQLSTATE, primary message, detail and hint. */
static void capture_error(nagar_db_t *self, const PGresult *result, const char *statement_name)
{
    const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_HINT) : NULL;
    bool connection_bad = PQstatus(self->conn) != CONNECTION_OK;
    if (!sqlstate)
        sqlstate = connection_bad ? "08006" : "XX000";
    char fallback[512];
    if (!primary) {
        snprintf(fallback, sizeof fallback, "%s", PQerrorMessage(self->conn));
        flatten(fallback);
        primary = fallback[0] ? fallback : "unknown error (no message from libpq)";
    }
    char message[NAGAR_DB_ERROR_MAX];
    int used = snprintf(message, sizeof message, "%s%s%s", statement_name ? "statement " : "",
                        statement_name ? statement_name : "", statement_name ? ": " : "");
    used += snprintf(message + used, sizeof message - (size_t) used, "%s", primary);
    if (detail && used < (int) sizeof message)
        used += snprintf(message + used, sizeof message - (size_t) used, " (DETAIL: %s)", detail);
    if (hint && used < (int) sizeof message)
        snprintf(message + used, sizeof message - (size_t) used, " (HINT: %s)", hint);
    set_error(self, sqlstate, "%s", message);
    if (self->in_work && is_retryable(self->sqlstate))
        self->saw_retryable = true;
}

/* Turns a libpq result into the caller's result or NULL with the error. */
static PGresult *check_result(nagar_db_t *self, PGresult *result, const char *statement_name)
{
    bool was_in_transaction = self->tx_open || self->in_work;
    ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        update_transaction_state(self);
        return result;
    }
    if (status == PGRES_EMPTY_QUERY)
        set_error(self, "42601", "%s%sempty SQL statement", statement_name ? statement_name : "",
                  statement_name ? ": " : "");
    else if (status != PGRES_FATAL_ERROR && status != PGRES_NONFATAL_ERROR
             && status != PGRES_BAD_RESPONSE)
        set_error(self, "0A000", "%s%sunsupported result %s (COPY is not supported here)",
                  statement_name ? statement_name : "", statement_name ? ": " : "",
                  PQresStatus(status));
    else
        capture_error(self, result, statement_name);
    PQclear(result);
    if (PQstatus(self->conn) != CONNECTION_OK) {
        self->tx_lost = was_in_transaction;
        self->tx_open = false;
        if (self->tx_lost)
            snprintf(self->error + strlen(self->error), sizeof self->error - strlen(self->error),
                     " — the connection was lost inside a transaction, which the server rolled "
                     "back; end the transaction (ROLLBACK) and run it again");
    }
    else
        update_transaction_state(self);
    return NULL;
}

/* Passes every notice on to libpq's receiver (which prints it, as before)
 * and notes the one that makes a COMMIT doubtful: PostgreSQL's WARNING
 * that the wait for synchronous replication was cancelled (a statement
 * timeout, a cancel, or the server shutting down), after which the
 * transaction is committed locally but not known to be on the standby. */
static void notice_receiver(void *arg, const PGresult *result)
{
    nagar_db_t *self = arg;
    const char *primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    if (primary && strstr(primary, "synchronous replication"))
        self->sync_wait_canceled = true;
    if (self->next_receiver)
        self->next_receiver(NULL, result);
}

static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec delay = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&delay, NULL);
}

/* Per-session settings; run after every (re)connect. */
static int session_setup(nagar_db_t *self)
{
    for (int i = 0; i < self->statement_count; i++)
        self->statements[i]->prepared = false;
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%ld", self->statement_timeout_ms);
    const char *values[] = { timeout };
    PGresult *result = PQexecParams(self->conn, "SELECT set_config('statement_timeout', $1, false)",
                                    1, NULL, values, NULL, NULL, 0);
    result = check_result(self, result, "session_setup");
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

static void describe_target(PGconn *conn, char *buffer, size_t size)
{
    const char *db = PQdb(conn), *user = PQuser(conn), *host = PQhost(conn), *port = PQport(conn);
    snprintf(buffer, size, "database \"%s\" as user \"%s\" on host \"%s\" port %s",
             db ? db : "?", user ? user : "?", host ? host : "?", port ? port : "?");
}

nagar_db_t *nagar_db_connect(const char *conninfo, char *error, size_t error_size)
{
    char scratch[NAGAR_DB_ERROR_MAX];
    if (!error) {
        error = scratch;
        error_size = sizeof scratch;
    }
    error[0] = '\0';
    if (sodium_init() < 0) {
        snprintf(error, error_size, "libsodium failed to initialise");
        return NULL;
    }
    nagar_config_t *config = nagar_config_new(NULL, error, error_size);
    if (!config)
        return NULL;
    long connect_timeout_s = 0, statement_timeout_ms = 0, attempts = 0, reconnect_wait_ms = 0;
    int rc = nagar_config_get_int(config, "NAGAR_DB_CONNECT_TIMEOUT_S", 5, 1, 300,
                                  &connect_timeout_s, error, error_size);
    if (rc == 0)
        rc = nagar_config_get_int(config, "NAGAR_DB_RECONNECT_WAIT_MS", 0, 0, 600000,
                                  &reconnect_wait_ms, error, error_size);
    if (rc == 0)
        rc = nagar_config_get_int(config, "NAGAR_DB_STATEMENT_TIMEOUT_MS", 10000, 1, 3600000,
                                  &statement_timeout_ms, error, error_size);
    if (rc == 0)
        rc = nagar_config_get_int(config, "NAGAR_DB_TX_MAX_ATTEMPTS", 5, 1, 100, &attempts, error,
                                  error_size);
    nagar_config_destroy(&config);
    if (rc != 0)
        return NULL;

    char timeout_text[16];
    snprintf(timeout_text, sizeof timeout_text, "%ld", connect_timeout_s);
    /* Entries before dbname may be overridden by the conninfo; the connect
     * deadline comes after it so it always applies. A server that vanished
     * (its host lost, or cut off by a partition) is noticed within seconds:
     * keepalives after 5 s idle, and sent data unacknowledged for 5 s ends
     * the connection (tcp_user_timeout), so a fail-over is not waited out
     * on a dead socket. */
    const char *keys[] = { "fallback_application_name", "client_encoding", "keepalives",
                           "keepalives_idle", "keepalives_interval", "keepalives_count",
                           "tcp_user_timeout", "dbname", "connect_timeout", NULL };
    const char *values[] = { "nagar", "UTF8", "1", "5", "2", "3", "5000",
                             conninfo ? conninfo : "", timeout_text, NULL };
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (!conn) {
        snprintf(error, error_size, "cannot connect to the database: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char target[512], reason[512];
        describe_target(conn, target, sizeof target);
        snprintf(reason, sizeof reason, "%s", PQerrorMessage(conn));
        flatten(reason);
        snprintf(error, error_size,
                 "cannot connect to %s: %s — check NAGAR_DB_CONNINFO, that the server is "
                 "running, and the password file (PGPASSFILE)",
                 target, reason);
        PQfinish(conn);
        return NULL;
    }
    nagar_db_t *self = calloc(1, sizeof *self);
    if (!self) {
        PQfinish(conn);
        snprintf(error, error_size, "cannot connect to the database: out of memory");
        return NULL;
    }
    self->conn = conn;
    self->statement_timeout_ms = statement_timeout_ms;
    self->reconnect_wait_ms = reconnect_wait_ms;
    self->max_attempts = (int) attempts;
    /* libpq's default receiver ignores its argument. */
    self->next_receiver = PQsetNoticeReceiver(conn, notice_receiver, self);
    if (session_setup(self) != 0) {
        snprintf(error, error_size, "cannot set up the database session: %s", self->error);
        nagar_db_destroy(&self);
        return NULL;
    }
    return self;
}

void nagar_db_destroy(nagar_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    nagar_db_t *self = *self_p;
    for (int i = 0; i < self->statement_count; i++) {
        free(self->statements[i]->sql);
        free(self->statements[i]);
    }
    PQfinish(self->conn);
    free(self);
    *self_p = NULL;
}

static statement_t *statement_find(nagar_db_t *self, const char *name)
{
    for (int i = 0; i < self->statement_count; i++)
        if (strcmp(self->statements[i]->name, name) == 0)
            return self->statements[i];
    return NULL;
}

static bool statement_name_valid(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > STATEMENT_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '_'))
            return false;
    return true;
}

int nagar_db_prepare(nagar_db_t *self, const char *name, const char *sql, int nparams)
{
    clear_error(self);
    if (!name || !statement_name_valid(name)) {
        set_error(self, "42602", "statement name \"%.80s\" is invalid: use 1 to %d of [a-z0-9_]",
                  name ? name : "(null)", STATEMENT_NAME_MAX);
        return -1;
    }
    if (!sql || nparams < 0 || nparams > NAGAR_DB_MAX_PARAMS) {
        set_error(self, "22023", "statement %s: SQL missing or parameter count %d outside 0..%d",
                  name, nparams, NAGAR_DB_MAX_PARAMS);
        return -1;
    }
    statement_t *existing = statement_find(self, name);
    if (existing) {
        if (strcmp(existing->sql, sql) == 0 && existing->nparams == nparams)
            return 0;
        set_error(self, "42P05", "statement %s is already registered with different SQL", name);
        return -1;
    }
    if (self->statement_count == NAGAR_DB_MAX_STATEMENTS) {
        set_error(self, "54000", "statement %s: more than %d named statements on one connection",
                  name, NAGAR_DB_MAX_STATEMENTS);
        return -1;
    }
    statement_t *statement = calloc(1, sizeof *statement);
    char *copy = strdup(sql);
    if (!statement || !copy) {
        free(statement);
        free(copy);
        set_error(self, "53200", "statement %s: out of memory", name);
        return -1;
    }
    snprintf(statement->name, sizeof statement->name, "%s", name);
    statement->sql = copy;
    statement->nparams = nparams;
    self->statements[self->statement_count++] = statement;
    return 0;
}

/* Reconnects a broken connection, but only outside a transaction. */
static int ensure_connected(nagar_db_t *self)
{
    if (PQstatus(self->conn) == CONNECTION_OK)
        return 0;
    if (self->tx_lost || self->in_work) {
        set_error(self, "08006",
                  "the connection was lost inside a transaction, which the server rolled back; "
                  "end the transaction (ROLLBACK) and run it again");
        return -1;
    }
    char target[512];
    describe_target(self->conn, target, sizeof target);
    if (self->reconnect_wait_ms > 0)
        nagar_log_warn("db.reconnect", "connection to %s was lost; reconnecting for up to %ld ms",
                       target, self->reconnect_wait_ms);
    else
        nagar_log_warn("db.reconnect", "connection to %s was lost; reconnecting once", target);
    int64_t started = monotonic_ms();
    int64_t deadline = started + self->reconnect_wait_ms;
    long delay = RECONNECT_FIRST_DELAY_MS;
    int tries = 0;
    for (;;) {
        /* PQreset tries every host of the conninfo again, in order, and
         * with target_session_attrs keeps only one that accepts writes. */
        PQreset(self->conn);
        tries++;
        if (PQstatus(self->conn) == CONNECTION_OK)
            break;
        int64_t now = monotonic_ms();
        if (now >= deadline) {
            char reason[512];
            snprintf(reason, sizeof reason, "%s", PQerrorMessage(self->conn));
            set_error(self, "08006", "cannot reconnect to %s after %d tr%s in %" PRId64 " ms: %s",
                      target, tries, tries == 1 ? "y" : "ies", now - started, reason);
            return -1;
        }
        if (self->wait_hook)
            self->wait_hook(self->wait_hook_arg);
        sleep_ms(deadline - now < delay ? (long) (deadline - now) : delay);
        if (self->wait_hook)
            self->wait_hook(self->wait_hook_arg);
        delay = delay * 2 > RECONNECT_MAX_DELAY_MS ? RECONNECT_MAX_DELAY_MS : delay * 2;
    }
    if (tries > 1) {
        describe_target(self->conn, target, sizeof target);
        nagar_log_info("db.reconnected", "connected to %s after %d tries in %" PRId64 " ms",
                       target, tries, monotonic_ms() - started);
    }
    self->tx_open = false;
    return session_setup(self);
}

PGresult *nagar_db_exec(nagar_db_t *self, const char *name_or_sql, int nparams,
                        const char *const *values)
{
    clear_error(self);
    if (!name_or_sql || nparams < 0 || nparams > NAGAR_DB_MAX_PARAMS || (nparams > 0 && !values)) {
        set_error(self, "22023", "nagar_db_exec: missing SQL or %d parameters without values",
                  nparams);
        return NULL;
    }
    /* The caller acknowledges a transaction lost with its connection. */
    if (self->tx_lost && !self->in_work && strcasecmp(name_or_sql, "ROLLBACK") == 0) {
        self->tx_lost = false;
        self->tx_open = false;
        return PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK);
    }
    if (ensure_connected(self) != 0)
        return NULL;
    statement_t *statement = statement_find(self, name_or_sql);
    if (!statement)
        return check_result(self,
                            PQexecParams(self->conn, name_or_sql, nparams, NULL, values, NULL,
                                         NULL, 0),
                            NULL);
    if (nparams != statement->nparams) {
        set_error(self, "08P01", "statement %s takes %d parameters, got %d", statement->name,
                  statement->nparams, nparams);
        return NULL;
    }
    if (!statement->prepared) {
        PGresult *prepared = check_result(self,
                                          PQprepare(self->conn, statement->name, statement->sql,
                                                    statement->nparams, NULL),
                                          statement->name);
        if (!prepared)
            return NULL;
        PQclear(prepared);
        statement->prepared = true;
    }
    return check_result(self,
                        PQexecPrepared(self->conn, statement->name, nparams, values, NULL, NULL,
                                       0),
                        statement->name);
}

int nagar_db_exec_trusted_script(nagar_db_t *self, const char *script)
{
    clear_error(self);
    if (!script) {
        set_error(self, "22023", "nagar_db_exec_trusted_script: no script");
        return -1;
    }
    if (ensure_connected(self) != 0)
        return -1;
    /* PQexec is the only libpq call that runs several statements at once;
     * the script is code shipped with the service, never input. */
    PGresult *result = PQexec(self->conn, script);
    if (result && PQresultStatus(result) == PGRES_EMPTY_QUERY) {
        /* Only comments: nothing to run, which is not an error here. */
        PQclear(result);
        update_transaction_state(self);
        return 0;
    }
    result = check_result(self, result, NULL);
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

/* Ends the current attempt without losing the error that ended it. */
static void rollback_keeping_error(nagar_db_t *self)
{
    if (PQstatus(self->conn) != CONNECTION_OK) {
        /* The server rolled back when the connection went; acknowledge it. */
        self->tx_lost = false;
        self->tx_open = false;
        return;
    }
    PGTransactionStatusType status = PQtransactionStatus(self->conn);
    if (status != PQTRANS_INTRANS && status != PQTRANS_INERROR)
        return;
    char sqlstate[sizeof self->sqlstate], error[sizeof self->error];
    memcpy(sqlstate, self->sqlstate, sizeof sqlstate);
    memcpy(error, self->error, sizeof error);
    PGresult *result = check_result(self, PQexec(self->conn, "ROLLBACK"), "rollback");
    if (result)
        PQclear(result);
    else
        nagar_log_warn("db.rollback_failed", "ROLLBACK failed: %s", self->error);
    self->tx_lost = false;
    self->tx_open = false;
    memcpy(self->sqlstate, sqlstate, sizeof sqlstate);
    memcpy(self->error, error, sizeof error);
}

/* Exponential back-off with jitter, so two clients that collided do not
 * collide again in lock step: a uniform pick in [cap/2, cap]. */
static void backoff_sleep(int attempt)
{
    long cap_ms = BACKOFF_BASE_MS;
    for (int i = 1; i < attempt && cap_ms < BACKOFF_CAP_MS; i++)
        cap_ms *= 2;
    if (cap_ms > BACKOFF_CAP_MS)
        cap_ms = BACKOFF_CAP_MS;
    long sleep_us = cap_ms * 500 + (long) randombytes_uniform((uint32_t) (cap_ms * 500 + 1));
    struct timespec delay = { sleep_us / 1000000, (sleep_us % 1000000) * 1000 };
    nanosleep(&delay, NULL);
}

/* Class 08 (connection exception) or the server going away (57P01
 * admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now): what a
 * fail-over looks like from here. */
static bool is_connection_loss(const char *sqlstate)
{
    return strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
           strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0;
}

static int run_transaction(nagar_db_t *self, nagar_db_isolation_t isolation, nagar_db_work_fn *fn,
                           void *arg, bool idempotent);

int nagar_db_transaction(nagar_db_t *self, nagar_db_isolation_t isolation, nagar_db_work_fn *fn,
                         void *arg)
{
    return run_transaction(self, isolation, fn, arg, false);
}

int nagar_db_transaction_idempotent(nagar_db_t *self, nagar_db_isolation_t isolation,
                                    nagar_db_work_fn *fn, void *arg)
{
    return run_transaction(self, isolation, fn, arg, true);
}

static int run_transaction(nagar_db_t *self, nagar_db_isolation_t isolation, nagar_db_work_fn *fn,
                           void *arg, bool idempotent)
{
    static const char *const begin_sql[] = {
        [NAGAR_DB_READ_COMMITTED] = "BEGIN ISOLATION LEVEL READ COMMITTED",
        [NAGAR_DB_REPEATABLE_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ",
        [NAGAR_DB_SERIALIZABLE] = "BEGIN ISOLATION LEVEL SERIALIZABLE",
    };
    clear_error(self);
    self->last_attempts = 0;
    if (!fn || (int) isolation < 0 || isolation > NAGAR_DB_SERIALIZABLE) {
        set_error(self, "22023", "nagar_db_transaction: no work function or bad isolation level");
        return -1;
    }
    if (self->in_work || self->tx_open) {
        set_error(self, "25001", "nagar_db_transaction: a transaction is already open");
        return -1;
    }
    int rc = -1;
    for (int attempt = 1; attempt <= self->max_attempts; attempt++) {
        self->last_attempts = attempt;
        PGresult *result = nagar_db_exec(self, begin_sql[isolation], 0, NULL);
        if (!result)
            return -1;
        PQclear(result);
        self->in_work = true;
        self->saw_retryable = false;
        bool in_doubt = false;      /* COMMIT sent, outcome not known */
        bool unreplicated = false;  /* committed here, not known to be on the standby */
        rc = fn(self, arg);
        if (rc == 0) {
            self->sync_wait_canceled = false;
            result = nagar_db_exec(self, "COMMIT", 0, NULL);
            if (result && strcmp(PQcmdStatus(result), "COMMIT") == 0 &&
                !self->sync_wait_canceled) {
                PQclear(result);
                self->in_work = false;
                return 0;
            }
            if (result && strcmp(PQcmdStatus(result), "COMMIT") == 0) {
                PQclear(result);
                in_doubt = unreplicated = true;
                set_error(self, "08007", "COMMIT returned, but PostgreSQL cancelled its wait for "
                          "the synchronous standby: the transaction is not known to be on two "
                          "nodes; retry with the same idempotency key");
            } else if (result) {
                /* COMMIT of an aborted transaction answers ROLLBACK. */
                PQclear(result);
                set_error(self, "25P02",
                          "the transaction was aborted by an earlier error that the work "
                          "function ignored; COMMIT rolled it back");
            } else if (is_connection_loss(self->sqlstate)) {
                in_doubt = true;
                char lost[NAGAR_DB_ERROR_MAX];
                snprintf(lost, sizeof lost, "%s", self->error);
                set_error(self, "08007", "the connection was lost while COMMIT was in flight: the "
                          "transaction may or may not have committed; retry with the same "
                          "idempotency key (%s)", lost);
            }
            rc = -1;
        }
        /* A connection lost before COMMIT was sent: the server rolled the
         * work back, and a reconnect finds the primary (perhaps a new one). */
        bool lost_before_commit = !in_doubt && rc == -1 && is_connection_loss(self->sqlstate) &&
                                  self->reconnect_wait_ms > 0;
        /* Work that checks its idempotency key first may run again after a
         * COMMIT lost in flight: a transaction still waiting for its standby
         * is not visible yet, so the retry either finds it committed (and
         * replicated) or does the work itself. Not after the server said it
         * stopped waiting for the standby: its rows are visible here while
         * on no other node, and a retry would take them for acknowledged. */
        bool retry = self->saw_retryable || lost_before_commit ||
                     (in_doubt && !unreplicated && idempotent && self->reconnect_wait_ms > 0);
        rollback_keeping_error(self);
        self->in_work = false;
        if (!retry)
            return rc;
        if (attempt == self->max_attempts)
            break;
        nagar_log_info("db.transaction_retry", "attempt %d of %d failed (%s); retrying", attempt,
                       self->max_attempts, self->error);
        backoff_sleep(attempt);
    }
    char last[NAGAR_DB_ERROR_MAX];
    snprintf(last, sizeof last, "%s", self->error);
    char sqlstate[sizeof self->sqlstate];
    memcpy(sqlstate, self->sqlstate, sizeof sqlstate);
    /* last starts with "SQLSTATE xxxxx: "; keep only its message. */
    set_error(self, sqlstate, "gave up after %d attempts; last error: %s", self->max_attempts,
              strlen(last) > 16 ? last + 16 : last);
    return rc == 0 ? -1 : rc;
}

void nagar_db_set_wait_hook(nagar_db_t *self, void (*fn)(void *arg), void *arg)
{
    self->wait_hook = fn;
    self->wait_hook_arg = arg;
}

const char *nagar_db_error(nagar_db_t *self)
{
    return self->error;
}

const char *nagar_db_sqlstate(nagar_db_t *self)
{
    return self->sqlstate;
}

bool nagar_db_in_transaction(nagar_db_t *self)
{
    return self->tx_open;
}

int nagar_db_last_attempts(nagar_db_t *self)
{
    return self->last_attempts;
}

void nagar_db_set_max_attempts(nagar_db_t *self, int attempts)
{
    if (attempts >= 1 && attempts <= 100)
        self->max_attempts = attempts;
}
