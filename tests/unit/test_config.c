/* Unit tests for config.h: precedence, parsing and bounds, and status.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "status.h"

static char config_path[64];

static void write_config(const char *text)
{
    FILE *file = fopen(config_path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static int setup(void **state)
{
    (void) state;
    snprintf(config_path, sizeof config_path, "/tmp/nagar-config-test-%d.conf", (int) getpid());
    unsetenv("NAGAR_CONFIG");
    unsetenv("NAGAR_TEST_A");
    unsetenv("NAGAR_TEST_N");
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    unlink(config_path);
    unsetenv("NAGAR_TEST_A");
    unsetenv("NAGAR_TEST_N");
    return 0;
}

static void environment_wins_over_file_over_default(void **state)
{
    (void) state;
    write_config("# comment\n\nNAGAR_TEST_A = from-file  # trailing comment\nNAGAR_TEST_B=b\n");
    char error[NAGAR_CONFIG_ERROR_MAX];
    nagar_config_t *config = nagar_config_new(config_path, error, sizeof error);
    assert_non_null(config);
    assert_string_equal(nagar_config_get(config, "NAGAR_TEST_A", "default"), "from-file");
    assert_string_equal(nagar_config_source(config, "NAGAR_TEST_A"), "file");
    assert_string_equal(nagar_config_get(config, "NAGAR_TEST_C", "default"), "default");
    assert_string_equal(nagar_config_source(config, "NAGAR_TEST_C"), "default");
    setenv("NAGAR_TEST_A", "from-env", 1);
    assert_string_equal(nagar_config_get(config, "NAGAR_TEST_A", "default"), "from-env");
    assert_string_equal(nagar_config_source(config, "NAGAR_TEST_A"), "environment");
    nagar_config_destroy(&config);
    assert_null(config);
}

static void file_named_by_environment(void **state)
{
    (void) state;
    write_config("NAGAR_TEST_B=via-env-path\n");
    setenv("NAGAR_CONFIG", config_path, 1);
    nagar_config_t *config = nagar_config_new(NULL, NULL, 0);
    unsetenv("NAGAR_CONFIG");
    assert_non_null(config);
    assert_string_equal(nagar_config_get(config, "NAGAR_TEST_B", NULL), "via-env-path");
    nagar_config_destroy(&config);
}

static void malformed_file_is_refused_with_line(void **state)
{
    (void) state;
    char error[NAGAR_CONFIG_ERROR_MAX];
    write_config("NAGAR_OK=1\nthis line has no equals sign\n");
    assert_null(nagar_config_new(config_path, error, sizeof error));
    assert_non_null(strstr(error, ":2: expected KEY=VALUE"));
    write_config("lower_case=1\n");
    assert_null(nagar_config_new(config_path, error, sizeof error));
    assert_non_null(strstr(error, "upper-case"));
    assert_null(nagar_config_new("/nonexistent/nagar.conf", error, sizeof error));
    assert_non_null(strstr(error, "/nonexistent/nagar.conf"));
}

static void integers_and_booleans_are_bounded(void **state)
{
    (void) state;
    write_config("NAGAR_TEST_N=250\nNAGAR_TEST_BOOL=Yes\nNAGAR_TEST_BAD=maybe\n");
    char error[NAGAR_CONFIG_ERROR_MAX];
    nagar_config_t *config = nagar_config_new(config_path, error, sizeof error);
    assert_non_null(config);
    long value = 0;
    assert_int_equal(nagar_config_get_int(config, "NAGAR_TEST_N", 5, 1, 1000, &value, error, sizeof error), 0);
    assert_int_equal(value, 250);
    assert_int_equal(nagar_config_get_int(config, "NAGAR_TEST_MISSING", 5, 1, 1000, &value, error, sizeof error), 0);
    assert_int_equal(value, 5);
    assert_int_equal(nagar_config_get_int(config, "NAGAR_TEST_N", 5, 1, 100, &value, error, sizeof error), -1);
    assert_non_null(strstr(error, "NAGAR_TEST_N"));
    assert_non_null(strstr(error, "from 1 to 100"));
    setenv("NAGAR_TEST_N", "12abc", 1);
    assert_int_equal(nagar_config_get_int(config, "NAGAR_TEST_N", 5, 1, 1000, &value, error, sizeof error), -1);
    assert_non_null(strstr(error, "environment"));
    bool flag = false;
    assert_int_equal(nagar_config_get_bool(config, "NAGAR_TEST_BOOL", false, &flag, error, sizeof error), 0);
    assert_true(flag);
    assert_int_equal(nagar_config_get_bool(config, "NAGAR_TEST_BAD", false, &flag, error, sizeof error), -1);
    assert_non_null(strstr(error, "NAGAR_TEST_BAD"));
    /* Text into a fixed buffer: the default when unset, refused when too long. */
    char text[4];
    assert_int_equal(nagar_config_get_text(config, "NAGAR_TEST_BOOL", "x", text, sizeof text,
                                           error, sizeof error), 0);
    assert_string_equal(text, "Yes");
    assert_int_equal(nagar_config_get_text(config, "NAGAR_TEST_MISSING", "dflt", text, sizeof text,
                                           error, sizeof error), -1);
    assert_non_null(strstr(error, "NAGAR_TEST_MISSING is 4 bytes long (default); at most 3"));
    assert_int_equal(nagar_config_get_text(config, "NAGAR_TEST_MISSING", "", text, sizeof text,
                                           error, sizeof error), 0);
    assert_string_equal(text, "");
    nagar_config_destroy(&config);
}

static void status_codes_map_to_http(void **state)
{
    (void) state;
    assert_string_equal(nagar_status_name(NAGAR__STATUS_CODE__INVALID_ARGUMENT), "INVALID_ARGUMENT");
    assert_string_equal(nagar_status_name((nagar_status_code_t) 999), "UNKNOWN");
    assert_int_equal(nagar_status_http(NAGAR__STATUS_CODE__INVALID_ARGUMENT), 422);
    assert_int_equal(nagar_status_http(NAGAR__STATUS_CODE__PERMISSION_DENIED), 403);
    assert_int_equal(nagar_status_http(NAGAR__STATUS_CODE__UNAVAILABLE), 503);
    assert_int_equal(nagar_status_http(NAGAR__STATUS_CODE__DEADLINE_EXCEEDED), 504);
    assert_int_equal(nagar_status_http(NAGAR__STATUS_CODE__RESOURCE_EXHAUSTED), 429);
    assert_int_equal(nagar_status_http(NAGAR__STATUS_CODE__CONFLICT), 409);
    assert_true(nagar_status_is_retryable(NAGAR__STATUS_CODE__UNAVAILABLE));
    assert_false(nagar_status_is_retryable(NAGAR__STATUS_CODE__INVALID_ARGUMENT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(environment_wins_over_file_over_default, setup, teardown),
        cmocka_unit_test_setup_teardown(file_named_by_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_file_is_refused_with_line, setup, teardown),
        cmocka_unit_test_setup_teardown(integers_and_booleans_are_bounded, setup, teardown),
        cmocka_unit_test(status_codes_map_to_http),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
