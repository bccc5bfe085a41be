/*
 * test_migrate.c — unit tests for migrate.h against a throwaway PostgreSQL
 * (throwaway_pg.h), on SQL files written by each test into a directory of
 * its own and a schema of its own: numbered files applied once, in order of
 * their number, each recorded with its SHA-256; an applied file that
 * changed or was renamed stops the run naming it; badly named files,
 * shared version numbers, transaction control, oversized files and failing
 * files are refused without recording anything; a service's modules are
 * applied in the order of sql/modules and their "-- requires:" lines are
 * checked against it; rule files are applied again when (and only when)
 * their text changes, with function bodies not checked so that one file may
 * call what a later one defines. These are the promises every service's
 * start-up and every upgrade rely on.
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
#include <sodium.h>

#include "db.h"
#include "migrate.h"
#include "scratch_dir.h"
#include "throwaway_pg.h"

static throwaway_pg_t cluster;
static nagar_db_t *db;
static char dir[64];          /* this test's SQL tree */
static char error[2048];

/* ---- helpers ------------------------------------------------------------------------ */

/* Writes text to dir/relative, creating the directories on the way. */
static void write_sql(const char *relative, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, relative);
    for (char *slash = strchr(path + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0755);
        *slash = '/';
    }
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(fputs(text, file) >= 0, 1);
    assert_int_equal(fclose(file), 0);
}

static void remove_sql(const char *relative)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, relative);
    assert_int_equal(unlink(path), 0);
}

/* dir/relative; two may be used in one call (two buffers, in turn). */
static const char *in_dir(const char *relative)
{
    static char paths[2][PATH_MAX];
    static int turn;
    char *path = paths[turn++ % 2];
    snprintf(path, PATH_MAX, "%s/%s", dir, relative);
    return path;
}

/* The one-value answer of a query, copied ("" for NULL, "(error)" on error). */
static const char *query(const char *sql)
{
    static char value[4096];
    PGresult *result = nagar_db_exec(db, sql, 0, NULL);
    if (!result)
        return "(error)";
    snprintf(value, sizeof value, "%s",
             PQntuples(result) > 0 ? PQgetvalue(result, 0, 0) : "(no row)");
    PQclear(result);
    return value;
}

static void sha256_hex(const char *text, char hex[65])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *) text, strlen(text));
    sodium_bin2hex(hex, 65, digest, sizeof digest);
}

static void assert_error_mentions(const char *a, const char *b)
{
    if (!strstr(error, a) || (b && !strstr(error, b)))
        fail_msg("error \"%s\" does not mention \"%s\"%s%s", error, a, b ? " and " : "",
                 b ? b : "");
}

/* ---- fixtures ----------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void) state;
    return sodium_init() < 0 ? -1 : throwaway_pg_open(&cluster, "unitmig", &db);
}

/* One connection for the group (a login is slow under valgrind); each
 * test gets a fresh schema as its search_path and a fresh SQL tree. */
static int test_setup(void **state)
{
    (void) state;
    char conninfo[PATH_MAX + 256];
    if (throwaway_pg_schema(&cluster, "unitmig", conninfo, sizeof conninfo) != 0)
        return -1;
    char schema[32];
    snprintf(schema, sizeof schema, "s%d", cluster.schemas);
    const char *values[] = {schema};
    PGresult *result = nagar_db_exec(db, "SELECT set_config('search_path', $1, false)", 1, values);
    if (!result)
        return -1;
    PQclear(result);
    scratch_dir_new(dir, sizeof dir, "migrate");
    error[0] = '\0';
    return 0;
}

static int test_teardown(void **state)
{
    (void) state;
    scratch_dir_remove(dir);
    return 0;
}

/* ---- numbered migrations ------------------------------------------------------------ */

static const char FIRST[] = "CREATE TABLE step (n serial PRIMARY KEY, x text NOT NULL);\n"
                            "INSERT INTO step (x) VALUES ('a');\n";

static void applies_in_order_of_number_once(void **state)
{
    (void) state;
    /* Written out of order; 010 sorts after 002 by its number. */
    write_sql("m/010_c.sql", "INSERT INTO step (x) VALUES ('c');\n");
    write_sql("m/002_b.sql", "INSERT INTO step (x) VALUES ('b');\n");
    write_sql("m/001_a.sql", FIRST);
    write_sql("m/README.md", "not SQL, ignored\n");
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), 3);
    assert_string_equal(query("SELECT string_agg(x, '' ORDER BY n) FROM step"), "abc");
    /* Each recorded with its number, name and checksum. */
    assert_string_equal(query("SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
                              "FROM nagar_schema_migrations"),
                        "1:001_a.sql,2:002_b.sql,10:010_c.sql");
    char sha[65];
    sha256_hex(FIRST, sha);
    assert_string_equal(query("SELECT sha256 FROM nagar_schema_migrations WHERE version = 1"), sha);
    /* Up to date: nothing runs again. */
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), 0);
    assert_string_equal(query("SELECT count(*) FROM step"), "3");
    /* A new file is the only one applied. */
    write_sql("m/011_d.sql", "INSERT INTO step (x) VALUES ('d');\n");
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), 1);
    assert_string_equal(query("SELECT string_agg(x, '' ORDER BY n) FROM step"), "abcd");
}

static void an_applied_file_that_changed_stops_the_run(void **state)
{
    (void) state;
    write_sql("m/001_a.sql", FIRST);
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), 1);
    write_sql("m/001_a.sql", "CREATE TABLE step (n int);\n");
    write_sql("m/002_b.sql", "INSERT INTO step (x) VALUES ('b');\n");
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), -1);
    assert_error_mentions("\"001_a.sql\"", "must never change");
    /* The later file was not applied either. */
    assert_string_equal(query("SELECT count(*) FROM step"), "1");
    assert_string_equal(query("SELECT count(*) FROM nagar_schema_migrations"), "1");
}

static void an_applied_file_that_was_renamed_stops_the_run(void **state)
{
    (void) state;
    write_sql("m/001_a.sql", FIRST);
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), 1);
    remove_sql("m/001_a.sql");
    write_sql("m/001_renamed.sql", FIRST);
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), -1);
    assert_error_mentions("001_a.sql", "restore the original name");
}

static void bad_names_and_shared_numbers_are_refused(void **state)
{
    (void) state;
    static const char *const bad[] = {"1_a.sql", "001_A.sql", "001-a.sql", "001_.sql",
                                      "0001_a.sql", "001_a b.sql"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "bad%zu/%s", i, bad[i]);
        write_sql(name, "CREATE TABLE never (x int);\n");
        snprintf(name, sizeof name, "bad%zu", i);
        error[0] = '\0';
        assert_int_equal(nagar_migrate_run(db, in_dir(name), error, sizeof error), -1);
        assert_error_mentions(bad[i], "badly named");
    }
    write_sql("twice/001_a.sql", "CREATE TABLE never (x int);\n");
    write_sql("twice/001_b.sql", "CREATE TABLE never2 (x int);\n");
    assert_int_equal(nagar_migrate_run(db, in_dir("twice"), error, sizeof error), -1);
    assert_error_mentions("share version 001", NULL);
    assert_string_equal(query("SELECT to_regclass('never') IS NULL"), "t");
    /* A missing directory is an error for migrations. */
    assert_int_equal(nagar_migrate_run(db, in_dir("absent"), error, sizeof error), -1);
    assert_error_mentions("cannot open SQL directory", NULL);
}

static void a_failing_file_is_rolled_back_and_not_recorded(void **state)
{
    (void) state;
    write_sql("m/001_a.sql", FIRST);
    write_sql("m/002_b.sql", "CREATE TABLE half (x int);\nSELECT 1 / 0;\n");
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), -1);
    assert_error_mentions("\"002_b.sql\"", "rolled back");
    assert_error_mentions("SQLSTATE 22012", NULL);
    assert_string_equal(query("SELECT to_regclass('half') IS NULL"), "t");
    assert_string_equal(query("SELECT string_agg(version::text, ',') FROM nagar_schema_migrations"),
                        "1");
    /* Fixed, it is applied on the next run. */
    write_sql("m/002_b.sql", "CREATE TABLE half (x int);\n");
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), 1);
    assert_string_equal(query("SELECT to_regclass('half') IS NULL"), "f");
}

static void transaction_control_in_a_file_is_refused(void **state)
{
    (void) state;
    write_sql("m/001_a.sql", "CREATE TABLE escaped (x int);\nCOMMIT;\n");
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), -1);
    assert_error_mentions("\"001_a.sql\"", "ended the transaction itself");
    assert_string_equal(query("SELECT count(*) FROM nagar_schema_migrations"), "0");
}

static void oversized_files_are_refused(void **state)
{
    (void) state;
    size_t size = NAGAR_MIGRATE_FILE_MAX + 1;
    char *text = malloc(size + 1);
    assert_non_null(text);
    memset(text, ' ', size);
    memcpy(text, "SELECT 1;", 9);
    text[size] = '\0';
    write_sql("m/001_big.sql", text);
    free(text);
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), -1);
    assert_error_mentions("001_big.sql", "the limit is 1048576");
    assert_string_equal(query("SELECT count(*) FROM nagar_schema_migrations"), "0");
}

/* The bookkeeping is the owner's: even where the schema's default
 * privileges give the app role everything, it may read the history of what
 * was applied but not rewrite it. */
static void bookkeeping_is_read_only_for_others(void **state)
{
    (void) state;
    char grant[256];
    snprintf(grant, sizeof grant, "ALTER DEFAULT PRIVILEGES IN SCHEMA %s GRANT ALL ON TABLES TO "
             "unitmig_app", query("SELECT current_schema()"));
    assert_string_equal(query(grant), "(no row)");
    write_sql("m/001_a.sql", FIRST);
    assert_int_equal(nagar_migrate_run(db, in_dir("m"), error, sizeof error), 1);
    assert_string_equal(query("SELECT has_table_privilege('unitmig_app', "
                              "'nagar_schema_migrations', 'UPDATE')"), "f");
    assert_string_equal(query("SELECT has_table_privilege('unitmig_app', "
                              "'nagar_schema_migrations', 'DELETE')"), "f");
    assert_string_equal(query("SELECT has_table_privilege('unitmig_app', "
                              "'nagar_schema_migrations', 'SELECT')"), "t");
    /* The migration's own table keeps what the defaults give. */
    assert_string_equal(query("SELECT has_table_privilege('unitmig_app', 'step', 'UPDATE')"), "t");
}

/* ---- a service: modules, migrations, rule files ------------------------------------- */

static void service_applies_modules_then_migrations_then_rules(void **state)
{
    (void) state;
    write_sql("modules/base/001_base.sql",
              "CREATE TABLE IF NOT EXISTS trail (n serial, x text);\n"
              "INSERT INTO trail (x) VALUES ('module base');\n");
    write_sql("modules/extra/001_extra.sql",
              "-- requires: base\nINSERT INTO trail (x) VALUES ('module extra');\n");
    write_sql("svc/sql/modules", "# shared SQL this service uses\nbase\n\nextra   # needs base\n");
    write_sql("svc/migrations/001_tables.sql", "INSERT INTO trail (x) VALUES ('migration');\n");
    /* a.sql calls b() before b.sql defines it: bodies are not checked. */
    write_sql("svc/sql/a.sql", "CREATE OR REPLACE FUNCTION a() RETURNS text LANGUAGE plpgsql AS "
                               "$$ BEGIN RETURN 'a' || b(); END $$;\n");
    write_sql("svc/sql/b.sql", "CREATE OR REPLACE FUNCTION b() RETURNS text LANGUAGE sql AS "
                               "$$ SELECT 'b1' $$;\n");
    write_sql("svc/sql/c.sql", "CREATE OR REPLACE FUNCTION c() RETURNS text LANGUAGE sql "
                               "SET search_path FROM CURRENT AS "
                               "$$ SELECT current_setting('search_path') $$;\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), 6);
    assert_string_equal(query("SELECT string_agg(x, ',' ORDER BY n) FROM trail"),
                        "module base,module extra,migration");
    assert_string_equal(query("SELECT a()"), "ab1");
    assert_string_equal(query("SELECT string_agg(module || '/' || name, ',' ORDER BY module) "
                              "FROM nagar_schema_modules"),
                        "base/001_base.sql,extra/001_extra.sql");
    /* Files run with the schema, then pg_temp, as their search_path, which
     * SET search_path FROM CURRENT captures. */
    char expected_path[128];
    snprintf(expected_path, sizeof expected_path, "%s, pg_temp", query("SELECT current_schema()"));
    assert_string_equal(query("SELECT c()"), expected_path);

    /* Nothing changed: nothing applied. */
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), 0);
    /* A changed rule file is applied again, and only it. */
    write_sql("svc/sql/b.sql", "CREATE OR REPLACE FUNCTION b() RETURNS text LANGUAGE sql AS "
                               "$$ SELECT 'b2' $$;\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), 1);
    assert_string_equal(query("SELECT a()"), "ab2");
    char sha[65];
    sha256_hex("CREATE OR REPLACE FUNCTION b() RETURNS text LANGUAGE sql AS $$ SELECT 'b2' $$;\n",
               sha);
    assert_string_equal(query("SELECT sha256 FROM nagar_schema_rules WHERE name = 'b.sql'"), sha);
    assert_string_equal(query("SELECT string_agg(x, ',' ORDER BY n) FROM trail"),
                        "module base,module extra,migration");
    /* A changed module file, like a migration, is refused. */
    write_sql("modules/base/001_base.sql", "SELECT 'edited';\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), -1);
    assert_error_mentions("module \"001_base.sql\"", "must never change");
}

/* A module's functions/ files come after its numbered files, are recorded
 * as "<module>/<name>" beside a service rule file of the same name, and are
 * applied again when they change, as rule files are. */
static void module_functions_are_applied_again_when_changed(void **state)
{
    (void) state;
    write_sql("modules/base/001_base.sql",
              "CREATE OR REPLACE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'v1' $$;\n");
    write_sql("modules/base/functions/f.sql",
              "CREATE OR REPLACE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'v2' $$;\n");
    write_sql("svc/sql/modules", "base\n");
    write_sql("svc/migrations/001_tables.sql", "CREATE TABLE svc_t (x int);\n");
    write_sql("svc/sql/f.sql", "CREATE OR REPLACE FUNCTION g() RETURNS text LANGUAGE sql AS "
                               "$$ SELECT 'g' || f() $$;\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), 4);
    assert_string_equal(query("SELECT g()"), "gv2");
    assert_string_equal(query("SELECT string_agg(name, ',' ORDER BY name) FROM nagar_schema_rules"),
                        "base/f.sql,f.sql");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), 0);
    write_sql("modules/base/functions/f.sql",
              "CREATE OR REPLACE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'v3' $$;\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), 1);
    assert_string_equal(query("SELECT g()"), "gv3");
    /* Named as rule files are. */
    write_sql("modules/base/functions/F.sql", "SELECT 1;\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), -1);
    assert_error_mentions("F.sql", "badly named");
}

static void module_requirements_follow_the_list(void **state)
{
    (void) state;
    write_sql("modules/base/001_base.sql", "CREATE TABLE base_t (x int);\n");
    write_sql("modules/extra/001_extra.sql", "-- requires: base\nCREATE TABLE extra_t (x int);\n");
    write_sql("svc/migrations/001_tables.sql", "CREATE TABLE svc_t (x int);\n");
    /* extra listed before the module it requires. */
    write_sql("svc/sql/modules", "extra\nbase\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), -1);
    assert_error_mentions("requires module base", "list it before extra");
    assert_string_equal(query("SELECT to_regclass('extra_t') IS NULL AND "
                              "to_regclass('svc_t') IS NULL"), "t");
    /* Listed twice, unknown, or not a module name. */
    write_sql("svc/sql/modules", "base\nbase\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), -1);
    assert_error_mentions("line 2", "listed twice");
    write_sql("svc/sql/modules", "base\nmissing\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), -1);
    assert_error_mentions("there is no module missing", NULL);
    write_sql("svc/sql/modules", "Base\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), -1);
    assert_error_mentions("\"Base\" is not a module name", NULL);
    /* Modules but no modules directory. */
    write_sql("svc/sql/modules", "base\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), NULL, error, sizeof error), -1);
    assert_error_mentions("no modules directory was given", NULL);
    /* In order, the rest applied: base was applied by the run that
     * stopped at "missing" (each file is its own transaction). */
    write_sql("svc/sql/modules", "base\nextra\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), in_dir("modules"), error,
                                           sizeof error), 2);
    assert_string_equal(query("SELECT string_agg(module, ',' ORDER BY applied_at, module) "
                              "FROM nagar_schema_modules"), "base,extra");
    assert_string_equal(query("SELECT to_regclass('svc_t') IS NULL"), "f");
}

static void badly_named_rule_files_are_refused(void **state)
{
    (void) state;
    write_sql("svc/migrations/001_tables.sql", "CREATE TABLE svc_t (x int);\n");
    write_sql("svc/sql/Payment.sql", "SELECT 1;\n");
    assert_int_equal(nagar_migrate_service(db, in_dir("svc"), NULL, error, sizeof error), -1);
    assert_error_mentions("Payment.sql", "badly named");
    assert_string_equal(query("SELECT to_regclass('svc_t') IS NULL"), "t");
}

/* Missing arguments are an error, not a crash; the error buffer may be NULL. */
static void missing_arguments_are_an_error(void **state)
{
    (void) state;
    assert_int_equal(nagar_migrate_run(NULL, in_dir("m"), error, sizeof error), -1);
    assert_error_mentions("no database or no directory", NULL);
    assert_int_equal(nagar_migrate_run(db, NULL, NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(applies_in_order_of_number_once, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(an_applied_file_that_changed_stops_the_run, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(an_applied_file_that_was_renamed_stops_the_run,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(bad_names_and_shared_numbers_are_refused, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(a_failing_file_is_rolled_back_and_not_recorded,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(transaction_control_in_a_file_is_refused, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(oversized_files_are_refused, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(bookkeeping_is_read_only_for_others, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(service_applies_modules_then_migrations_then_rules,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(module_functions_are_applied_again_when_changed,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(module_requirements_follow_the_list, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(badly_named_rule_files_are_refused, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(missing_arguments_are_an_error, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests_name("migrate", tests, group_setup,
                                       throwaway_pg_group_teardown);
}
