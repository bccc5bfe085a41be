/* Unit tests for program.h: how a service's main() begins (the command, help) and the keygen
 * command (the key pair, its exit codes and log lines). */
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

#include "log.h"
#include "program.h"
#include "scratch_dir.h"

static char dir[64];

static int make_dir(void **state)
{
    (void) state;
    scratch_dir_new(dir, sizeof dir, "program");
    setenv("NAGAR_LOG_LEVEL", "info", 1);   /* the keygen's line is info */
    nagar_log_init("x");
    return sodium_init() >= 0 ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void) state;
    scratch_dir_remove(dir);
    return 0;
}

/* The usage function the programs are given: where it printed, how often. */
static FILE *usage_out;
static int usage_calls;

static void usage(FILE *out)
{
    usage_out = out;
    usage_calls++;
}

static void forget_usage(void)
{
    usage_out = NULL;
    usage_calls = 0;
}

/* The log lines (stderr) written while capturing, into a file of dir. */
static int saved_stderr = -1;
static char log_path[256];

static void capture_log(void)
{
    snprintf(log_path, sizeof log_path, "%s/log", dir);
    FILE *file = fopen(log_path, "w");
    assert_non_null(file);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(file), STDERR_FILENO) >= 0);
    fclose(file);
}

/* Ends the capture; what was logged (malloc'd). */
static char *captured_log(void)
{
    fflush(stderr);
    assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    saved_stderr = -1;
    FILE *file = fopen(log_path, "r");
    assert_non_null(file);
    char *text = calloc(1, 8192);
    assert_non_null(text);
    size_t length = fread(text, 1, 8191, file);
    fclose(file);
    text[length] = '\0';
    unlink(log_path);
    return text;
}

static void the_command_is_the_first_argument_or_serve(void **state)
{
    (void) state;
    forget_usage();
    const char *command = NULL;
    char *bare[] = {"nagar-x", NULL};
    assert_int_equal(nagar_program_start("x", 1, bare, usage, &command), -1);
    assert_string_equal(command, "serve");

    char *seed[] = {"nagar-x", "seed-ulbs", "file.csv", NULL};
    assert_int_equal(nagar_program_start("x", 3, seed, usage, &command), -1);
    assert_string_equal(command, "seed-ulbs");
    char *helpful[] = {"nagar-x", "helpme", NULL};   /* only the exact words are help */
    assert_int_equal(nagar_program_start("x", 2, helpful, usage, &command), -1);
    assert_string_equal(command, "helpme");
    assert_int_equal(usage_calls, 0);
}

static void help_prints_the_usage_on_stdout_and_ends(void **state)
{
    (void) state;
    static const char *const words[] = {"-h", "--help", "help"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        forget_usage();
        const char *command = NULL;
        char *argv[] = {"nagar-x", (char *) words[i], NULL};
        assert_int_equal(nagar_program_start("x", 2, argv, usage, &command), 0);
        assert_int_equal(usage_calls, 1);
        assert_ptr_equal(usage_out, stdout);
    }
}

static void keygen_writes_a_matching_key_pair_and_logs_it(void **state)
{
    (void) state;
    forget_usage();
    char *argv[] = {"nagar-x", "keygen", dir, "k2026", NULL};
    capture_log();
    int rc = nagar_program_keygen("x", 4, argv, usage, "token key pair", ": publish it");
    char *log = captured_log();
    assert_int_equal(rc, 0);
    assert_int_equal(usage_calls, 0);
    assert_non_null(strstr(log, "\"event\":\"x.keygen\""));
    assert_non_null(strstr(log, "token key pair k2026 written to"));
    assert_non_null(strstr(log, "(k2026.key secret, k2026.pub public: publish it)"));
    free(log);

    char secret_path[256], public_path[256];
    snprintf(secret_path, sizeof secret_path, "%s/k2026.key", dir);
    snprintf(public_path, sizeof public_path, "%s/k2026.pub", dir);
    scratch_dir_check_key_pair(secret_path, public_path);
    struct stat info;
    assert_int_equal(stat(secret_path, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);
}

static void keygen_never_replaces_a_key_and_says_why(void **state)
{
    (void) state;
    forget_usage();
    char *first[] = {"nagar-x", "keygen", dir, "again", NULL};
    capture_log();
    assert_int_equal(nagar_program_keygen("x", 4, first, usage, "seal key pair", ""), 0);
    free(captured_log());
    char path[256], before[256], after[256];
    snprintf(path, sizeof path, "%s/again.pub", dir);
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    assert_non_null(fgets(before, sizeof before, file));
    fclose(file);

    capture_log();
    int rc = nagar_program_keygen("x", 4, first, usage, "seal key pair", "");
    char *log = captured_log();
    assert_int_equal(rc, 1);
    assert_non_null(strstr(log, "\"event\":\"x.keygen_failed\""));
    assert_non_null(strstr(log, "again"));
    free(log);
    file = fopen(path, "r");
    assert_non_null(file);
    assert_non_null(fgets(after, sizeof after, file));
    fclose(file);
    assert_string_equal(before, after);

    char missing[256];
    snprintf(missing, sizeof missing, "%s/no/such/dir", dir);
    char *nowhere[] = {"nagar-x", "keygen", missing, "k1", NULL};
    capture_log();
    rc = nagar_program_keygen("x", 4, nowhere, usage, "seal key pair", "");
    log = captured_log();
    assert_int_equal(rc, 1);
    assert_non_null(strstr(log, "\"event\":\"x.keygen_failed\""));
    free(log);
    assert_int_equal(usage_calls, 0);
}

static void keygen_without_dir_and_key_id_prints_the_usage_on_stderr(void **state)
{
    (void) state;
    char *short_argv[] = {"nagar-x", "keygen", dir, NULL};
    char *long_argv[] = {"nagar-x", "keygen", dir, "k1", "extra", NULL};
    struct {
        int argc;
        char **argv;
    } cases[] = {{2, short_argv}, {3, short_argv}, {5, long_argv}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        forget_usage();
        assert_int_equal(nagar_program_keygen("x", cases[i].argc, cases[i].argv, usage,
                                              "token key pair", ""), 2);
        assert_int_equal(usage_calls, 1);
        assert_ptr_equal(usage_out, stderr);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/k1.key", dir);
    assert_int_equal(access(path, F_OK), -1);   /* nothing written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_command_is_the_first_argument_or_serve),
        cmocka_unit_test(help_prints_the_usage_on_stdout_and_ends),
        cmocka_unit_test(keygen_writes_a_matching_key_pair_and_logs_it),
        cmocka_unit_test(keygen_never_replaces_a_key_and_says_why),
        cmocka_unit_test(keygen_without_dir_and_key_id_prints_the_usage_on_stderr),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
