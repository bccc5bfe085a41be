/*
 * db_retry_check.c — drives common/db.c against a real PostgreSQL and checks
 * what cannot be shown without one: that nagar_db_transaction retries a
 * genuine serialization failure (40001) and a genuine deadlock (40P01)
 * caused by a second connection and then commits once; that it gives up
 * after the configured attempts; that other errors and refusals roll back
 * without a retry; that named statements are prepared once per connection;
 * that statement_timeout applies; and that a broken connection is reset
 * outside a transaction but reported, never silently replaced, inside one.
 *
 *   NAGAR_DB_CONNINFO='host=... dbname=... user=<role that may CREATE TABLE>' db_retry_check
 *
 * Prints one JSON line per scenario to stdout ({"scenario":..,"ok":..,...})
 * and exits 0 only when every scenario passed. Run by
 * tests/system/test_db_retry.py.
 */
#include "db.h"
#include "log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TABLE "db_retry_check_rows"

static nagar_db_t *main_db;    /* the connection under test ("A") */
static nagar_db_t *other_db;   /* the interfering connection ("B") */
static int failures;

static void report(const char *scenario, bool ok, json_t *details)
{
    json_t *line = json_pack("{s:s, s:b}", "scenario", scenario, "ok", ok);
    if (details)
        json_object_update(line, details);
    json_decref(details);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(line);
    if (!ok)
        failures++;
}

/* Runs SQL that must succeed; exits the program when it does not, since the
 * scenarios below would then prove nothing. */
static void must(nagar_db_t *db, const char *sql, int nparams, const char *const *values)
{
    PGresult *result = nagar_db_exec(db, sql, nparams, values);
    if (!result) {
        fprintf(stderr, "db_retry_check: setup statement failed: %s: %s\n", sql,
                nagar_db_error(db));
        exit(2);
    }
    PQclear(result);
}

static long query_long(nagar_db_t *db, const char *sql)
{
    PGresult *result = nagar_db_exec(db, sql, 0, NULL);
    if (!result || PQntuples(result) != 1) {
        fprintf(stderr, "db_retry_check: query failed: %s: %s\n", sql, nagar_db_error(db));
        exit(2);
    }
    long value = strtol(PQgetvalue(result, 0, 0), NULL, 10);
    PQclear(result);
    return value;
}

static void reset_rows(void)
{
    must(other_db, "DELETE FROM " TABLE, 0, NULL);
    must(other_db, "INSERT INTO " TABLE " (id, v) VALUES (1, 0), (2, 0)", 0, NULL);
}

static void sleep_ms(long ms)
{
    struct timespec delay = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&delay, NULL);
}

typedef struct {
    int calls;
    char first_failure[6];
    pthread_t interferer;
    bool interferer_started;
} work_t;

/* Keeps the SQLSTATE of the first failure the work function saw. */
static int fail_with(nagar_db_t *db, work_t *work)
{
    if (!work->first_failure[0])
        snprintf(work->first_failure, sizeof work->first_failure, "%s", nagar_db_sqlstate(db));
    return -1;
}

static int exec_in_work(nagar_db_t *db, work_t *work, const char *sql)
{
    PGresult *result = nagar_db_exec(db, sql, 0, NULL);
    if (!result)
        return fail_with(db, work);
    PQclear(result);
    return 0;
}

/* 40001: our snapshot is older than a row another connection updated. */
static int concurrent_update_work(nagar_db_t *db, void *arg)
{
    work_t *work = arg;
    work->calls++;
    if (exec_in_work(db, work, "SELECT v FROM " TABLE " WHERE id = 1") != 0)
        return -1;
    if (work->calls == 1)
        must(other_db, "UPDATE " TABLE " SET v = v + 1 WHERE id = 1", 0, NULL);
    return exec_in_work(db, work, "UPDATE " TABLE " SET v = v + 10 WHERE id = 1");
}

static void scenario_serialization_failure(void)
{
    reset_rows();
    work_t work = { 0 };
    int rc = nagar_db_transaction(main_db, NAGAR_DB_REPEATABLE_READ, concurrent_update_work, &work);
    long v = query_long(main_db, "SELECT v FROM " TABLE " WHERE id = 1");
    int attempts = nagar_db_last_attempts(main_db);
    report("serialization_failure_retried",
           rc == 0 && attempts == 2 && work.calls == 2 && strcmp(work.first_failure, "40001") == 0
               && v == 11,
           json_pack("{s:i, s:i, s:s, s:I}", "rc", rc, "attempts", attempts, "first_failure",
                     work.first_failure, "final_value", (json_int_t) v));
}

/* The second connection takes row 2, then (from a thread, after we are
 * already waiting for row 2) asks for row 1, which we hold: a cycle. We
 * started waiting first, so our deadlock check fires first and we are the
 * victim. */
static void *deadlock_interferer(void *arg)
{
    (void) arg;
    sleep_ms(300);
    must(other_db, "UPDATE " TABLE " SET v = v + 100 WHERE id = 1", 0, NULL);
    must(other_db, "COMMIT", 0, NULL);
    return NULL;
}

static int deadlock_work(nagar_db_t *db, void *arg)
{
    work_t *work = arg;
    work->calls++;
    if (exec_in_work(db, work, "UPDATE " TABLE " SET v = v + 1 WHERE id = 1") != 0)
        return -1;
    if (work->calls == 1) {
        must(other_db, "BEGIN", 0, NULL);
        must(other_db, "UPDATE " TABLE " SET v = v + 100 WHERE id = 2", 0, NULL);
        if (pthread_create(&work->interferer, NULL, deadlock_interferer, NULL) != 0) {
            fprintf(stderr, "db_retry_check: cannot start a thread\n");
            exit(2);
        }
        work->interferer_started = true;
    }
    return exec_in_work(db, work, "UPDATE " TABLE " SET v = v + 1 WHERE id = 2");
}

static void scenario_deadlock(void)
{
    reset_rows();
    work_t work = { 0 };
    int rc = nagar_db_transaction(main_db, NAGAR_DB_READ_COMMITTED, deadlock_work, &work);
    if (work.interferer_started)
        pthread_join(work.interferer, NULL);
    long v1 = query_long(main_db, "SELECT v FROM " TABLE " WHERE id = 1");
    long v2 = query_long(main_db, "SELECT v FROM " TABLE " WHERE id = 2");
    int attempts = nagar_db_last_attempts(main_db);
    report("deadlock_retried",
           rc == 0 && attempts == 2 && strcmp(work.first_failure, "40P01") == 0 && v1 == 101
               && v2 == 101,
           json_pack("{s:i, s:i, s:s, s:I, s:I}", "rc", rc, "attempts", attempts,
                     "first_failure", work.first_failure, "row1", (json_int_t) v1, "row2",
                     (json_int_t) v2));
}

static int always_serialization_failure(nagar_db_t *db, void *arg)
{
    work_t *work = arg;
    work->calls++;
    return exec_in_work(db, work,
                        "DO $$BEGIN RAISE EXCEPTION 'forced by db_retry_check'"
                        " USING ERRCODE = 'serialization_failure'; END$$");
}

static void scenario_gives_up(void)
{
    work_t work = { 0 };
    nagar_db_set_max_attempts(main_db, 3);
    int rc = nagar_db_transaction(main_db, NAGAR_DB_SERIALIZABLE, always_serialization_failure,
                                  &work);
    nagar_db_set_max_attempts(main_db, 5);
    const char *error = nagar_db_error(main_db);
    report("gives_up_after_max_attempts",
           rc == -1 && work.calls == 3 && nagar_db_last_attempts(main_db) == 3
               && strcmp(nagar_db_sqlstate(main_db), "40001") == 0
               && strstr(error, "gave up after 3 attempts") && !nagar_db_in_transaction(main_db),
           json_pack("{s:i, s:i, s:s}", "rc", rc, "calls", work.calls, "error", error));
}

static int duplicate_key_work(nagar_db_t *db, void *arg)
{
    work_t *work = arg;
    work->calls++;
    if (exec_in_work(db, work, "INSERT INTO " TABLE " (id, v) VALUES (3, 0)") != 0)
        return -1;
    return exec_in_work(db, work, "INSERT INTO " TABLE " (id, v) VALUES (1, 0)");
}

static int refusing_work(nagar_db_t *db, void *arg)
{
    work_t *work = arg;
    work->calls++;
    if (exec_in_work(db, work, "INSERT INTO " TABLE " (id, v) VALUES (4, 0)") != 0)
        return -1;
    return 7;   /* a business rule said no */
}

static void scenario_no_retry_and_rollback(void)
{
    reset_rows();
    work_t work = { 0 };
    int rc = nagar_db_transaction(main_db, NAGAR_DB_READ_COMMITTED, duplicate_key_work, &work);
    char sqlstate[6];
    snprintf(sqlstate, sizeof sqlstate, "%s", nagar_db_sqlstate(main_db));
    long left = query_long(main_db, "SELECT count(*) FROM " TABLE " WHERE id = 3");
    report("other_error_rolled_back_not_retried",
           rc == -1 && work.calls == 1 && strcmp(sqlstate, "23505") == 0 && left == 0,
           json_pack("{s:i, s:i, s:s, s:I}", "rc", rc, "calls", work.calls, "sqlstate", sqlstate,
                     "rows_left", (json_int_t) left));

    work_t refusal = { 0 };
    rc = nagar_db_transaction(main_db, NAGAR_DB_READ_COMMITTED, refusing_work, &refusal);
    left = query_long(main_db, "SELECT count(*) FROM " TABLE " WHERE id = 4");
    report("refusal_rolled_back", rc == 7 && refusal.calls == 1 && left == 0,
           json_pack("{s:i, s:I}", "rc", rc, "rows_left", (json_int_t) left));
}

static void scenario_prepared_once(void)
{
    int rc = nagar_db_prepare(main_db, "retry_check_get_v", "SELECT v FROM " TABLE " WHERE id = $1",
                              1);
    const char *one[] = { "1" };
    int ok_runs = 0;
    for (int i = 0; i < 3; i++) {
        PGresult *result = nagar_db_exec(main_db, "retry_check_get_v", 1, one);
        if (result && PQntuples(result) == 1)
            ok_runs++;
        PQclear(result);
    }
    long prepared = query_long(main_db, "SELECT count(*) FROM pg_prepared_statements"
                                        " WHERE name = 'retry_check_get_v'");
    int conflicting = nagar_db_prepare(main_db, "retry_check_get_v", "SELECT 1", 0);
    report("prepared_lazily_once",
           rc == 0 && ok_runs == 3 && prepared == 1 && conflicting == -1,
           json_pack("{s:i, s:I}", "runs", ok_runs, "prepared_on_server", (json_int_t) prepared));
}

static void scenario_statement_timeout(char *conninfo)
{
    setenv("NAGAR_DB_STATEMENT_TIMEOUT_MS", "300", 1);
    char error[NAGAR_DB_ERROR_MAX];
    nagar_db_t *db = nagar_db_connect(conninfo, error, sizeof error);
    unsetenv("NAGAR_DB_STATEMENT_TIMEOUT_MS");
    if (!db) {
        report("statement_timeout", false, json_pack("{s:s}", "error", error));
        return;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    PGresult *result = nagar_db_exec(db, "SELECT pg_sleep(5)", 0, NULL);
    clock_gettime(CLOCK_MONOTONIC, &end);
    long ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    report("statement_timeout",
           !result && strcmp(nagar_db_sqlstate(db), "57014") == 0 && ms < 3000,
           json_pack("{s:s, s:I}", "error", nagar_db_error(db), "elapsed_ms", (json_int_t) ms));
    PQclear(result);
    nagar_db_destroy(&db);
}

/* Ends main_db's server session from the other connection. */
static void kill_main_backend(void)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", query_long(main_db, "SELECT pg_backend_pid()"));
    const char *values[] = { pid };
    must(other_db, "SELECT pg_terminate_backend($1::int, 5000)", 1, values);
}

static int killed_mid_work(nagar_db_t *db, void *arg)
{
    work_t *work = arg;
    work->calls++;
    if (exec_in_work(db, work, "INSERT INTO " TABLE " (id, v) VALUES (5, 0)") != 0)
        return -1;
    const char *values[] = { NULL };
    char pid[32];
    PGresult *result = nagar_db_exec(db, "SELECT pg_backend_pid()", 0, NULL);
    if (!result)
        return fail_with(db, work);
    snprintf(pid, sizeof pid, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    values[0] = pid;
    must(other_db, "SELECT pg_terminate_backend($1::int, 5000)", 1, values);
    return exec_in_work(db, work, "UPDATE " TABLE " SET v = 1 WHERE id = 5");
}

static void scenario_reconnect(void)
{
    /* Idle: the call that finds the connection dead fails, the next one
     * reconnects, with the session settings and statements restored. */
    kill_main_backend();
    PGresult *first = nagar_db_exec(main_db, "SELECT 1", 0, NULL);
    char first_state[6];
    snprintf(first_state, sizeof first_state, "%s", nagar_db_sqlstate(main_db));
    PQclear(first);
    const char *one[] = { "1" };
    PGresult *second = nagar_db_exec(main_db, "retry_check_get_v", 1, one);
    bool second_ok = second && PQntuples(second) == 1;
    PQclear(second);
    PGresult *timeout = nagar_db_exec(main_db, "SELECT current_setting('statement_timeout')", 0,
                                      NULL);
    char timeout_value[32] = "";
    if (timeout)
        snprintf(timeout_value, sizeof timeout_value, "%s", PQgetvalue(timeout, 0, 0));
    PQclear(timeout);
    report("reconnect_when_idle",
           first == NULL && first_state[0] && second_ok && strcmp(timeout_value, "10s") == 0,
           json_pack("{s:s, s:b, s:s}", "first_failure", first_state, "then_ok", second_ok,
                     "statement_timeout", timeout_value));

    /* Inside a transaction the loss is reported on every call until the
     * caller ends the transaction; only then does a reconnect happen. */
    must(main_db, "BEGIN", 0, NULL);
    must(main_db, "INSERT INTO " TABLE " (id, v) VALUES (6, 0)", 0, NULL);
    kill_main_backend();
    PGresult *lost = nagar_db_exec(main_db, "SELECT 1", 0, NULL);
    PGresult *still_lost = nagar_db_exec(main_db, "SELECT 1", 0, NULL);
    char still_state[6];
    snprintf(still_state, sizeof still_state, "%s", nagar_db_sqlstate(main_db));
    bool mentions_rollback = strstr(nagar_db_error(main_db), "ROLLBACK") != NULL;
    PGresult *rollback = nagar_db_exec(main_db, "ROLLBACK", 0, NULL);
    long rows = query_long(main_db, "SELECT count(*) FROM " TABLE " WHERE id = 6");
    report("no_silent_reconnect_in_transaction",
           !lost && !still_lost && strcmp(still_state, "08006") == 0 && mentions_rollback
               && rollback && rows == 0,
           json_pack("{s:s, s:I}", "sqlstate_while_lost", still_state, "rows_after",
                     (json_int_t) rows));
    PQclear(lost);
    PQclear(still_lost);
    PQclear(rollback);

    /* nagar_db_transaction does not retry a lost connection: the outcome
     * of the work is the caller's to decide (with its idempotency key). */
    work_t work = { 0 };
    int rc = nagar_db_transaction(main_db, NAGAR_DB_READ_COMMITTED, killed_mid_work, &work);
    long after = query_long(main_db, "SELECT count(*) FROM " TABLE " WHERE id = 5");
    report("lost_connection_not_retried",
           rc == -1 && work.calls == 1 && nagar_db_last_attempts(main_db) == 1 && after == 0,
           json_pack("{s:i, s:i, s:s, s:I}", "rc", rc, "calls", work.calls, "first_failure",
                     work.first_failure, "rows_after", (json_int_t) after));
}

/* Kills its own backend on the first run only, before COMMIT. */
static int killed_once_work(nagar_db_t *db, void *arg)
{
    work_t *work = arg;
    if (work->calls > 0) {
        work->calls++;
        return exec_in_work(db, work, "INSERT INTO " TABLE " (id, v) VALUES (7, 1)");
    }
    return killed_mid_work(db, arg);
}

/* With NAGAR_DB_RECONNECT_WAIT_MS (the cluster's setting) a connection lost
 * before COMMIT is made again, on the first host of the conninfo that
 * accepts writes, and the work runs again there: here the conninfo names a
 * dead host first, as a multi-host conninfo does after a fail-over. */
static void scenario_failover(const char *conninfo)
{
    PGresult *result = nagar_db_exec(other_db, "SELECT current_setting('port')", 0, NULL);
    char live_port[16] = "";
    if (result)
        snprintf(live_port, sizeof live_port, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    char failover_conninfo[2048];
    snprintf(failover_conninfo, sizeof failover_conninfo,
             "%s host=127.0.0.1,127.0.0.1 port=1,%s target_session_attrs=read-write", conninfo,
             live_port);
    setenv("NAGAR_DB_RECONNECT_WAIT_MS", "5000", 1);
    char error[NAGAR_DB_ERROR_MAX];
    nagar_db_t *db = nagar_db_connect(failover_conninfo, error, sizeof error);
    unsetenv("NAGAR_DB_RECONNECT_WAIT_MS");
    if (!db) {
        report("failover_lost_connection_retried", false, json_pack("{s:s}", "connect", error));
        return;
    }
    nagar_db_t *saved = main_db;
    main_db = db;               /* killed_mid_work kills main_db's backend */
    work_t work = { 0 };
    must(other_db, "DELETE FROM " TABLE " WHERE id IN (5, 7)", 0, NULL);
    int rc = nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, killed_once_work, &work);
    main_db = saved;
    long first = query_long(other_db, "SELECT count(*) FROM " TABLE " WHERE id = 5");
    long second = query_long(other_db, "SELECT count(*) FROM " TABLE " WHERE id = 7");
    report("failover_lost_connection_retried",
           rc == 0 && work.calls == 2 && nagar_db_last_attempts(db) == 2 && first == 0 &&
               second == 1,
           json_pack("{s:i, s:i, s:I, s:I}", "rc", rc, "calls", work.calls, "rows_of_first_run",
                     (json_int_t) first, "rows_of_second_run", (json_int_t) second));
    nagar_db_destroy(&db);
}

int main(void)
{
    nagar_log_init("db_retry_check");
    char *conninfo = getenv("NAGAR_DB_CONNINFO");
    if (!conninfo) {
        fprintf(stderr, "db_retry_check: set NAGAR_DB_CONNINFO\n");
        return 2;
    }
    char error[NAGAR_DB_ERROR_MAX];
    main_db = nagar_db_connect(conninfo, error, sizeof error);
    other_db = main_db ? nagar_db_connect(conninfo, error, sizeof error) : NULL;
    if (!main_db || !other_db) {
        fprintf(stderr, "db_retry_check: %s\n", error);
        nagar_db_destroy(&main_db);
        return 2;
    }
    must(other_db, "SET client_min_messages = warning", 0, NULL);
    must(other_db, "DROP TABLE IF EXISTS " TABLE, 0, NULL);
    must(other_db, "CREATE TABLE " TABLE " (id int PRIMARY KEY, v int NOT NULL)", 0, NULL);

    scenario_serialization_failure();
    scenario_deadlock();
    scenario_gives_up();
    scenario_no_retry_and_rollback();
    scenario_prepared_once();
    scenario_statement_timeout(conninfo);
    scenario_reconnect();
    scenario_failover(conninfo);

    must(other_db, "DROP TABLE " TABLE, 0, NULL);
    nagar_db_destroy(&main_db);
    nagar_db_destroy(&other_db);
    printf("{\"summary\":true,\"failures\":%d}\n", failures);
    return failures == 0 ? 0 : 1;
}
