/*
 * test_receipt.c — unit tests for gap-free receipt numbers: receipt_next()
 * of the shared SQL module common/sql/receipt, installed by nagar-migrate
 * into a fresh schema of a throwaway PostgreSQL (throwaway_pg.h), as a
 * service installs it. What payments rely on: the one format
 * "<ulb>/<fy>/<counter>/<number, at least 6 digits>"; numbers 1, 2, 3 ...
 * per (ULB, financial year, counter), each counted on its own; a payment
 * that rolls back gives its number back, so numbers never skip; a second
 * payment at the same counter waits for the first rather than sharing its
 * number; malformed ULB, year or counter refused; the service's app role
 * may not delete or truncate the counters. The SQL function is tested, not
 * a C wrapper: the payments call it inside their own SQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "db.h"
#include "throwaway_pg.h"

static throwaway_pg_t cluster;
static nagar_db_t *db;

/* receipt_next(ulb, fy, counter), or "SQLSTATE xxxxx" when it failed. */
static const char *next(nagar_db_t *on, const char *ulb, const char *fy, const char *counter)
{
    static char answer[128];
    const char *values[] = {ulb, fy, counter};
    PGresult *result = nagar_db_exec(on, "SELECT receipt_next($1, $2, $3)", 3, values);
    if (!result) {
        snprintf(answer, sizeof answer, "SQLSTATE %s", nagar_db_sqlstate(on));
        return answer;
    }
    snprintf(answer, sizeof answer, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    return answer;
}

/* A service of one migration that uses the receipt module, migrated as a
 * service is: the real common/sql modules directory. */
static int group_setup(void **state)
{
    (void) state;
    if (throwaway_pg_open(&cluster, "unitrcpt", &db) != 0)
        return -1;
    /* As provision.sh does for a service: the app role gets what the
     * schema's defaults give, and the module narrows it. */
    PGresult *result = nagar_db_exec(db, "SELECT current_schema()", 0, NULL);
    if (!result)
        return -1;
    char grant[256];
    snprintf(grant, sizeof grant,
             "ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT ALL ON TABLES TO unitrcpt_app",
             PQgetvalue(result, 0, 0));
    PQclear(result);
    result = nagar_db_exec(db, grant, 0, NULL);
    if (!result)
        return -1;
    PQclear(result);
    return throwaway_pg_install_modules(&cluster, db, "receipt\n") >= 2 ? 0 : -1;
}

static void numbers_count_per_counter_in_the_one_format(void **state)
{
    (void) state;
    assert_string_equal(next(db, "802462", "2026-27", "C1"), "802462/2026-27/C1/000001");
    assert_string_equal(next(db, "802462", "2026-27", "C1"), "802462/2026-27/C1/000002");
    /* Another counter, year or ULB counts on its own. */
    assert_string_equal(next(db, "802462", "2026-27", "ONLINE"), "802462/2026-27/ONLINE/000001");
    assert_string_equal(next(db, "802462", "2027-28", "C1"), "802462/2027-28/C1/000001");
    assert_string_equal(next(db, "250786", "2026-27", "C1"), "250786/2026-27/C1/000001");
    assert_string_equal(next(db, "802462", "2026-27", "C1"), "802462/2026-27/C1/000003");
}

/* Past 999999 the number grows a digit; it is never cut. */
static void numbers_are_never_cut(void **state)
{
    (void) state;
    assert_string_equal(next(db, "1", "2030-31", "BIG"), "1/2030-31/BIG/000001");
    throwaway_pg_must(db, "UPDATE receipt_counter SET last_no = 999998 WHERE ulb = '1'");
    assert_string_equal(next(db, "1", "2030-31", "BIG"), "1/2030-31/BIG/999999");
    assert_string_equal(next(db, "1", "2030-31", "BIG"), "1/2030-31/BIG/1000000");
}

typedef struct {
    char taken[64];
} take_t;

static int take_then_refuse(nagar_db_t *on, void *arg)
{
    take_t *take = arg;
    snprintf(take->taken, sizeof take->taken, "%s", next(on, "802462", "2026-27", "C7"));
    return 1;   /* the payment is refused after its number was taken */
}

static int take_and_commit(nagar_db_t *on, void *arg)
{
    take_t *take = arg;
    snprintf(take->taken, sizeof take->taken, "%s", next(on, "802462", "2026-27", "C7"));
    return strncmp(take->taken, "SQLSTATE", 8) == 0 ? -1 : 0;
}

static void a_rolled_back_payment_gives_its_number_back(void **state)
{
    (void) state;
    take_t take;
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, take_and_commit, &take), 0);
    assert_string_equal(take.taken, "802462/2026-27/C7/000001");
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, take_then_refuse, &take), 1);
    assert_string_equal(take.taken, "802462/2026-27/C7/000002");
    assert_int_equal(nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, take_and_commit, &take), 0);
    assert_string_equal(take.taken, "802462/2026-27/C7/000002");
}

/* While one payment holds the counter's next number, another at the same
 * counter cannot take one (here: gives up at once, lock_timeout), and
 * after the first commits it takes the following number. Another counter
 * is not held up. */
static void a_second_payment_waits_instead_of_sharing(void **state)
{
    (void) state;
    char error[1024];
    nagar_db_t *other = nagar_db_connect(cluster.conninfo, error, sizeof error);
    assert_non_null(other);
    throwaway_pg_must(db, "BEGIN");
    assert_string_equal(next(db, "802462", "2026-27", "C9"), "802462/2026-27/C9/000001");
    throwaway_pg_must(other, "SET lock_timeout = 1");
    assert_string_equal(next(other, "802462", "2026-27", "C9"), "SQLSTATE 55P03");
    assert_string_equal(next(other, "802462", "2026-27", "C10"), "802462/2026-27/C10/000001");
    throwaway_pg_must(db, "COMMIT");
    assert_string_equal(next(other, "802462", "2026-27", "C9"), "802462/2026-27/C9/000002");
    nagar_db_destroy(&other);
}

static void malformed_keys_are_refused(void **state)
{
    (void) state;
    static const char *const bad[][3] = {
        {"80246A", "2026-27", "C1"},   {"", "2026-27", "C1"},
        {"802462", "2026-2027", "C1"}, {"802462", "26-27", "C1"},
        {"802462", "2026-27", "c1"},   {"802462", "2026-27", ""},
        {"802462", "2026-27", "C1/2"}, {"802462", "2026-27", "ABCDEFGHIJKLMNOPQ"},
        {"12345678901", "2026-27", "C1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *answer = next(db, bad[i][0], bad[i][1], bad[i][2]);
        if (strcmp(answer, "SQLSTATE 23514") != 0)
            fail_msg("receipt_next(%s, %s, %s) answered %s, not a check violation", bad[i][0],
                     bad[i][1], bad[i][2], answer);
    }
    /* The longest counter is fine. */
    assert_string_equal(next(db, "802462", "2026-27", "ABCDEFGHIJKLMNOP"),
                        "802462/2026-27/ABCDEFGHIJKLMNOP/000001");
}

static void the_app_role_cannot_delete_counters(void **state)
{
    (void) state;
    PGresult *result = nagar_db_exec(
        db,
        "SELECT has_table_privilege('unitrcpt_app', 'receipt_counter', 'DELETE'),"
        "       has_table_privilege('unitrcpt_app', 'receipt_counter', 'TRUNCATE'),"
        "       has_table_privilege('unitrcpt_app', 'receipt_counter', 'UPDATE')",
        0, NULL);
    assert_non_null(result);
    assert_string_equal(PQgetvalue(result, 0, 0), "f");
    assert_string_equal(PQgetvalue(result, 0, 1), "f");
    assert_string_equal(PQgetvalue(result, 0, 2), "t");   /* receipt_next runs as the caller */
    PQclear(result);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numbers_count_per_counter_in_the_one_format),
        cmocka_unit_test(numbers_are_never_cut),
        cmocka_unit_test(a_rolled_back_payment_gives_its_number_back),
        cmocka_unit_test(a_second_payment_waits_instead_of_sharing),
        cmocka_unit_test(malformed_keys_are_refused),
        cmocka_unit_test(the_app_role_cannot_delete_counters),
    };
    return cmocka_run_group_tests_name("receipt", tests, group_setup,
                                       throwaway_pg_group_teardown);
}
