/*
 * test_db.c — unit tests for db.h's transaction rules against a throwaway
 * PostgreSQL (throwaway_pg.h): which SQLSTATEs nagar_db_transaction runs
 * the work again for (40001 serialization failure and 40P01 deadlock, from
 * the work or from COMMIT, also when the work ignored the error) and which
 * it does not (any other error, a refusal of the work, a connection lost
 * inside the transaction without a fail-over wait); that a retried attempt
 * leaves nothing of the failed one behind; that it gives up after the
 * configured attempts saying so; the error format callers match on
 * ("SQLSTATE xxxxx: ..."); and the named-statement rules of
 * nagar_db_prepare. The errors are raised by the server with the SQLSTATE
 * under test (RAISE ... USING ERRCODE), so the classification is tested
 * exactly; tests/system/test_db_retry.py provokes genuine conflicts
 * between two connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "db.h"
#include "throwaway_pg.h"

static throwaway_pg_t cluster;
static nagar_db_t *db;

/* Runs SQL that must succeed. */
static void must(const char *sql)
{
    throwaway_pg_must(db, sql);
}

static long count_rows(const char *tag)
{
    const char *values[] = {tag};
    PGresult *result = nagar_db_exec(db, "SELECT count(*) FROM attempt_row WHERE tag = $1", 1,
                                     values);
    assert_non_null(result);
    long count = strtol(PQgetvalue(result, 0, 0), NULL, 10);
    PQclear(result);
    return count;
}

static int group_setup(void **state)
{
    (void) state;
    setenv("NAGAR_DB_RECONNECT_WAIT_MS", "0", 1);
    if (throwaway_pg_open(&cluster, "unitdb", &db) != 0)
        return -1;
    must("CREATE TABLE attempt_row (tag text NOT NULL, attempt int NOT NULL)");
    /* A check run at COMMIT: raises the SQLSTATE in column sqlstate of the
     * row's tag in fail_at_commit while attempt < until_attempt. */
    must("CREATE TABLE fail_at_commit (tag text PRIMARY KEY, sqlstate text, until_attempt int)");
    must("CREATE FUNCTION check_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$\n"
         "DECLARE f fail_at_commit;\n"
         "BEGIN\n"
         "  SELECT * INTO f FROM fail_at_commit WHERE tag = NEW.tag;\n"
         "  IF FOUND AND NEW.attempt < f.until_attempt THEN\n"
         "    RAISE EXCEPTION 'refused at commit (attempt %)', NEW.attempt"
         "      USING ERRCODE = f.sqlstate;\n"
         "  END IF;\n"
         "  RETURN NULL;\n"
         "END $$");
    must("CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON attempt_row"
         " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_at_commit()");
    return 0;
}

static int test_setup(void **state)
{
    (void) state;
    nagar_db_set_max_attempts(db, 5);
    return 0;
}

/* ---- a scripted piece of work ------------------------------------------------------- */

typedef struct {
    const char *tag;          /* rows it writes carry this tag */
    const char *sqlstate;     /* what it raises ... */
    int fail_until;           /* ... on attempts before this one (0: never) */
    bool ignore_error;        /* carries on and returns 0 after its statement failed */
    int refuse_with;          /* returns this instead of 0 (0: does not refuse) */
    int runs;                 /* how often it ran */
    char seen_sqlstate[6];    /* the SQLSTATE the failing statement reported */
} work_t;

static int scripted_work(nagar_db_t *db_, void *arg)
{
    work_t *work = arg;
    work->runs++;
    char attempt[16];
    snprintf(attempt, sizeof attempt, "%d", work->runs);
    const char *row[] = {work->tag, attempt};
    PGresult *result = nagar_db_exec(db_, "INSERT INTO attempt_row (tag, attempt) "
                                          "VALUES ($1, $2::int)", 2, row);
    if (!result)
        return -1;
    PQclear(result);
    if (work->sqlstate && work->runs < work->fail_until) {
        result = nagar_db_exec(db_,
                               "DO $$ BEGIN RAISE EXCEPTION 'scripted failure' USING ERRCODE = "
                               "current_setting('nagar_test.sqlstate'); END $$",
                               0, NULL);
        if (result)
            PQclear(result);
    }
    if (work->refuse_with)
        return work->refuse_with;
    return 0;
}

/* The DO block cannot take parameters, so the SQLSTATE travels in a
 * session setting, set here before each run of the work. */
static int work_with_setting(nagar_db_t *db_, void *arg)
{
    work_t *work = arg;
    if (work->sqlstate) {
        const char *values[] = {work->sqlstate};
        PGresult *result = nagar_db_exec(db_, "SELECT set_config('nagar_test.sqlstate', $1, true)",
                                         1, values);
        if (!result)
            return -1;
        PQclear(result);
    }
    int rc = scripted_work(db_, arg);
    if (work->sqlstate && work->runs < work->fail_until) {
        snprintf(work->seen_sqlstate, sizeof work->seen_sqlstate, "%s", nagar_db_sqlstate(db_));
        return work->ignore_error ? rc : -1;
    }
    return rc;
}

/* ---- what is retried ---------------------------------------------------------------- */

static void retried_code_commits_once(const char *sqlstate, const char *tag)
{
    work_t work = {.tag = tag, .sqlstate = sqlstate, .fail_until = 3};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_SERIALIZABLE, work_with_setting, &work), 0);
    assert_string_equal(work.seen_sqlstate, sqlstate);
    assert_int_equal(work.runs, 3);
    assert_int_equal(nagar_db_last_attempts(db), 3);
    assert_string_equal(nagar_db_error(db), "");
    assert_false(nagar_db_in_transaction(db));
    /* Only the attempt that committed left its row. */
    assert_int_equal(count_rows(tag), 1);
}

static void serialization_failure_is_retried(void **state)
{
    (void) state;
    retried_code_commits_once("40001", "serialization");
}

static void deadlock_is_retried(void **state)
{
    (void) state;
    retried_code_commits_once("40P01", "deadlock");
}

/* Work that swallowed the failure and returned 0 still gets another try:
 * the transaction is aborted, and the failure was one worth retrying. */
static void ignored_serialization_failure_is_retried(void **state)
{
    (void) state;
    work_t work = {.tag = "ignored40001", .sqlstate = "40001", .fail_until = 2,
                   .ignore_error = true};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_SERIALIZABLE, work_with_setting, &work), 0);
    assert_int_equal(nagar_db_last_attempts(db), 2);
    assert_int_equal(count_rows("ignored40001"), 1);
}

/* A serialization failure reported by COMMIT itself (deferred checks). */
static void failure_at_commit_is_retried(void **state)
{
    (void) state;
    must("INSERT INTO fail_at_commit VALUES ('commit40001', '40001', 3)");
    work_t work = {.tag = "commit40001"};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_SERIALIZABLE, work_with_setting, &work), 0);
    assert_int_equal(work.runs, 3);
    assert_int_equal(nagar_db_last_attempts(db), 3);
    assert_int_equal(count_rows("commit40001"), 1);
}

/* ---- what is not -------------------------------------------------------------------- */

static void other_errors_are_not_retried(void **state)
{
    (void) state;
    /* Unique violation, check violation, insufficient privilege, a plain
     * RAISE, and the class-40 codes other than the two retried. */
    static const char *const codes[] = {"23505", "23514", "42501", "P0001", "40002", "40003"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "other%s", codes[i]);
        work_t work = {.tag = tag, .sqlstate = codes[i], .fail_until = 100};
        assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, work_with_setting,
                                              &work), -1);
        assert_int_equal(work.runs, 1);
        assert_int_equal(nagar_db_last_attempts(db), 1);
        assert_string_equal(nagar_db_sqlstate(db), codes[i]);
        assert_false(nagar_db_in_transaction(db));
        assert_int_equal(count_rows(tag), 0);
    }
}

static void error_at_commit_other_than_retried_is_not_retried(void **state)
{
    (void) state;
    must("INSERT INTO fail_at_commit VALUES ('commit23514', '23514', 3)");
    work_t work = {.tag = "commit23514"};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, work_with_setting, &work),
                     -1);
    assert_int_equal(work.runs, 1);
    assert_string_equal(nagar_db_sqlstate(db), "23514");
    assert_int_equal(count_rows("commit23514"), 0);
}

/* The work's own refusal comes back as its value, rolled back, run once. */
static void refusal_is_returned_and_rolled_back(void **state)
{
    (void) state;
    work_t work = {.tag = "refused", .refuse_with = 7};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, work_with_setting, &work), 7);
    assert_int_equal(work.runs, 1);
    assert_int_equal(nagar_db_last_attempts(db), 1);
    assert_false(nagar_db_in_transaction(db));
    assert_int_equal(count_rows("refused"), 0);
}

/* Work that ignores an error which is not retried and returns 0 must not
 * be taken for committed: COMMIT of an aborted transaction rolls back. */
static void ignored_error_is_reported_as_aborted(void **state)
{
    (void) state;
    work_t work = {.tag = "ignored22012", .sqlstate = "22012", .fail_until = 100,
                   .ignore_error = true};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, work_with_setting, &work),
                     -1);
    assert_int_equal(work.runs, 1);
    assert_string_equal(work.seen_sqlstate, "22012");
    assert_string_equal(nagar_db_sqlstate(db), "25P02");
    assert_int_equal(count_rows("ignored22012"), 0);
}

static void gives_up_after_the_configured_attempts(void **state)
{
    (void) state;
    nagar_db_set_max_attempts(db, 3);
    work_t work = {.tag = "always40001", .sqlstate = "40001", .fail_until = 1000};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_SERIALIZABLE, work_with_setting, &work), -1);
    assert_int_equal(work.runs, 3);
    assert_int_equal(nagar_db_last_attempts(db), 3);
    assert_string_equal(nagar_db_sqlstate(db), "40001");
    assert_non_null(strstr(nagar_db_error(db), "SQLSTATE 40001: gave up after 3 attempts"));
    assert_non_null(strstr(nagar_db_error(db), "scripted failure"));
    assert_int_equal(count_rows("always40001"), 0);
    /* Out-of-range settings are ignored. */
    nagar_db_set_max_attempts(db, 0);
    nagar_db_set_max_attempts(db, 101);
    work_t again = {.tag = "always40001b", .sqlstate = "40001", .fail_until = 1000};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_SERIALIZABLE, work_with_setting, &again), -1);
    assert_int_equal(again.runs, 3);
}

static int nested_work(nagar_db_t *db_, void *arg)
{
    work_t *inner = arg;
    int rc = nagar_db_transaction(db_, NAGAR_DB_READ_COMMITTED, work_with_setting, inner);
    snprintf(inner->seen_sqlstate, sizeof inner->seen_sqlstate, "%s", nagar_db_sqlstate(db_));
    return rc == 0 ? 0 : 9;
}

static void nesting_is_refused(void **state)
{
    (void) state;
    work_t inner = {.tag = "nested"};
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, nested_work, &inner), 9);
    assert_string_equal(inner.seen_sqlstate, "25001");
    assert_int_equal(inner.runs, 0);
    assert_false(nagar_db_in_transaction(db));
}

/* Without a fail-over wait, a connection lost inside the transaction is
 * reported (the work is gone) and not run again; the next call outside a
 * transaction reconnects. */
static int killing_work(nagar_db_t *db_, void *arg)
{
    int *runs = arg;
    (*runs)++;
    PGresult *result = nagar_db_exec(db_, "INSERT INTO attempt_row VALUES ('killed', 1) "
                                          "RETURNING pg_backend_pid()", 0, NULL);
    if (!result)
        return -1;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s, 10000)", PQgetvalue(result, 0, 0));
    PQclear(result);
    /* The server goes away under the open transaction (the wait makes sure
     * it has gone before the next statement is sent). */
    if (throwaway_pg_admin(&cluster, "unitdb", sql) != 0)
        return 0;   /* the test then fails: nothing was lost */
    result = nagar_db_exec(db_, "SELECT 1", 0, NULL);
    if (result)
        PQclear(result);
    return result ? 0 : -1;
}

static void lost_connection_is_reported_not_retried(void **state)
{
    (void) state;
    int runs = 0;
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, killing_work, &runs), -1);
    assert_int_equal(runs, 1);
    assert_int_equal(nagar_db_last_attempts(db), 1);
    const char *sqlstate = nagar_db_sqlstate(db);
    assert_true(strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0);
    assert_false(nagar_db_in_transaction(db));
    /* The next statement runs on a new connection; the row was never committed. */
    assert_int_equal(count_rows("killed"), 0);
}

/* ---- errors and statements ---------------------------------------------------------- */

static void errors_carry_their_sqlstate(void **state)
{
    (void) state;
    must("CREATE TABLE IF NOT EXISTS unique_row (k text PRIMARY KEY)");
    must("INSERT INTO unique_row VALUES ('a')");
    const char *values[] = {"a"};
    assert_null(nagar_db_exec(db, "INSERT INTO unique_row VALUES ($1)", 1, values));
    assert_string_equal(nagar_db_sqlstate(db), "23505");
    assert_true(strncmp(nagar_db_error(db), "SQLSTATE 23505: ", 16) == 0);
    assert_non_null(strstr(nagar_db_error(db), "unique_row_pkey"));
    /* The next success clears it. */
    PGresult *result = nagar_db_exec(db, "SELECT 1", 0, NULL);
    assert_non_null(result);
    PQclear(result);
    assert_string_equal(nagar_db_error(db), "");
    assert_string_equal(nagar_db_sqlstate(db), "");
}

static void parameters_travel_out_of_band(void **state)
{
    (void) state;
    const char *values[] = {"x'); DROP TABLE attempt_row; --", NULL};
    PGresult *result = nagar_db_exec(db, "SELECT $1::text, $2::text IS NULL", 2, values);
    assert_non_null(result);
    assert_string_equal(PQgetvalue(result, 0, 0), values[0]);
    assert_string_equal(PQgetvalue(result, 0, 1), "t");
    PQclear(result);
    assert_int_equal(count_rows("nothing"), 0);   /* the table is still there */
}

static void statement_names_follow_the_rules(void **state)
{
    (void) state;
    assert_int_equal(nagar_db_prepare(db, "count_tag", "SELECT count(*) FROM attempt_row "
                                                       "WHERE tag = $1", 1), 0);
    /* The same again is a no-op; other SQL under that name is refused. */
    assert_int_equal(nagar_db_prepare(db, "count_tag", "SELECT count(*) FROM attempt_row "
                                                       "WHERE tag = $1", 1), 0);
    assert_int_equal(nagar_db_prepare(db, "count_tag", "SELECT 2", 0), -1);
    /* Names: 1..63 of [a-z0-9_]. */
    assert_int_equal(nagar_db_prepare(db, "", "SELECT 1", 0), -1);
    assert_int_equal(nagar_db_prepare(db, "Upper", "SELECT 1", 0), -1);
    assert_int_equal(nagar_db_prepare(db, "has space", "SELECT 1", 0), -1);
    char longest[65];
    memset(longest, 'a', 63);
    longest[63] = '\0';
    assert_int_equal(nagar_db_prepare(db, longest, "SELECT 1", 0), 0);
    longest[63] = 'a';
    longest[64] = '\0';
    assert_int_equal(nagar_db_prepare(db, longest, "SELECT 1", 0), -1);
    /* A registered name runs the registered statement. */
    const char *values[] = {"nothing"};
    PGresult *result = nagar_db_exec(db, "count_tag", 1, values);
    assert_non_null(result);
    assert_string_equal(PQgetvalue(result, 0, 0), "0");
    PQclear(result);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(serialization_failure_is_retried, test_setup),
        cmocka_unit_test_setup(deadlock_is_retried, test_setup),
        cmocka_unit_test_setup(ignored_serialization_failure_is_retried, test_setup),
        cmocka_unit_test_setup(failure_at_commit_is_retried, test_setup),
        cmocka_unit_test_setup(other_errors_are_not_retried, test_setup),
        cmocka_unit_test_setup(error_at_commit_other_than_retried_is_not_retried, test_setup),
        cmocka_unit_test_setup(refusal_is_returned_and_rolled_back, test_setup),
        cmocka_unit_test_setup(ignored_error_is_reported_as_aborted, test_setup),
        cmocka_unit_test_setup(gives_up_after_the_configured_attempts, test_setup),
        cmocka_unit_test_setup(nesting_is_refused, test_setup),
        cmocka_unit_test_setup(lost_connection_is_reported_not_retried, test_setup),
        cmocka_unit_test_setup(errors_carry_their_sqlstate, test_setup),
        cmocka_unit_test_setup(parameters_travel_out_of_band, test_setup),
        cmocka_unit_test_setup(statement_names_follow_the_rules, test_setup),
    };
    return cmocka_run_group_tests_name("db", tests, group_setup,
                                       throwaway_pg_group_teardown);
}
