/*
 * main.c — nagarctl, the operator's tool (built as nagar-ctl): its settings
 * and its commands, each in a file of its own (ctl.h lists them).
 *
 *   nagarctl status                              services, workers, queues, errors (a table)
 *   nagarctl quarantine SERVICE [REASON]         cut a service off at the broker
 *   nagarctl release SERVICE                     let it serve again
 *   nagarctl keys rotate SERVICE [--restart CMD] [--wait SECONDS]
 *   nagarctl keys finish SERVICE                 second half of a rotation without --restart
 *   nagarctl checkpoint-keygen                   make the checkpoint signing key (once)
 *   nagarctl checkpoint                          verify what every chain appended since the
 *                                                last checkpoint, then sign every chain head
 *                                                into a file and the witness store
 *   nagarctl verify                              every chain from its start against the
 *                                                latest checkpoint, and every record against
 *                                                the others it must agree with (verify.h)
 *   nagarctl backup [full|diff|incr]             deploy/backup.sh backup
 *   nagarctl backup-verify                       deploy/backup.sh verify
 *   nagarctl restore --to TIME [--target DIR]    deploy/backup.sh restore (point in time)
 *   nagarctl demand generate ULB FY [--operator U]   annual property-tax demand, progress bar
 *   nagarctl bills generate ULB PERIOD [--operator U] monthly water bills, progress bar
 *   nagarctl receipts replay CSV --ulb ULB --clerk USER [--operator U] [--report FILE]
 *
 * Jobs that act for a person (demand, bills, receipt replay) log in as the
 * operator and carry the grant identity signs for that one job, ULB and
 * year (common/job_grant.h: NAGAR_OPERATOR_USER or --operator with
 * NAGAR_OPERATOR_PASSWORD or _PASSWORD_FILE, or NAGAR_OPERATOR_TOKEN); the
 * batch key alone starts nothing. A replay records the clerk on the slips
 * (--clerk, checked by identity to be counter staff of the ULB) and the
 * operator who replayed them.
 *
 * Exit codes scripts rely on: 0 done / everything verified; 1 an error (a
 * database, the broker or a file could not be reached or the operation was
 * refused); 2 usage; 3 verification failed: a chain is broken, shorter than
 * or different from its signed checkpoint, the checkpoint itself is not
 * validly signed, or records disagree (a payment with its ledger row, a row
 * with its history, a certificate with its registration or seal).
 *
 * Chains: each service's own (the ledger of property tax and water charges,
 * the register of issued certificates; checkpoint name "<service>") and the
 * history of each tracked table per ULB ("<service>.<table>"). Checkpoints
 * are written as files (NAGAR_CHECKPOINT_DIR) and into the witness store,
 * database nagar_witness, as witness_writer — a role no service has; the
 * latest valid one of either is what verification pins.
 *
 * Why a separate principal: bus commands use the "operator" key (which alone
 * may call nagar.admin) and batch commands the "batch" key, exactly as
 * deploy/principals.conf says; the ledgers are read with each service's
 * *_reader role, which may SELECT and nothing else (so the host that runs
 * checkpoints holds no password that can change a record), and
 * verification recomputes every hash itself (common/chain.c,
 * common/certificate_chain.c), never trusting a function in the database.
 *
 * Settings (environment; NAGAR_CONFIG file as config.h):
 *   NAGAR_VAR                 var directory of a make-run layout        ./var
 *   NAGAR_CTL_KEYS_DIR        CURVE keys (secret/, public/, broker.pub)  $NAGAR_VAR/keys
 *   NAGAR_BUS_ENDPOINT        broker                                     tcp://127.0.0.1:5555
 *   NAGAR_BUS_CERT            operator certificate        $KEYS/secret/operator.cert
 *   NAGAR_CTL_BATCH_CERT      batch certificate           $KEYS/secret/batch.cert
 *   NAGAR_BUS_BROKER_KEY      broker public key           $KEYS/broker.pub
 *   NAGAR_DB_HOST, NAGAR_DB_PORT   PostgreSQL                            127.0.0.1, NAGAR_PG_PORT or 5544
 *   NAGAR_CTL_SECRETS_DIR     <role>.pgpass files         $NAGAR_VAR/secrets
 *   NAGAR_CTL_CONNINFO_<SVC>  full libpq conninfo for one service (overrides the above)
 *   NAGAR_CHECKPOINT_DIR      checkpoints                 $NAGAR_VAR/checkpoints
 *   NAGAR_CHECKPOINT_KEY      signing key (secret)        $NAGAR_VAR/checkpoint_key/checkpoint.key
 *   NAGAR_CHECKPOINT_PUBLIC_KEY  pinned public key        $NAGAR_VAR/checkpoint_key/checkpoint.pub
 *   NAGAR_CTL_CONNINFO_WITNESS   the witness store        nagar_witness as witness_writer
 *                                                          (password $SECRETS/witness_writer.pgpass)
 *   NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR  certificate seal keys  $NAGAR_VAR/certificate_keys
 *   NAGAR_BACKUP_SCRIPT       deploy/backup.sh            found next to the binary's checkout
 *   NAGAR_KEYGEN              nagar-keygen                next to this binary
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <czmq.h>

#include "ctl.h"
#include "log.h"

/* ---- settings -------------------------------------------------------------------------- */

/* snprintf that always truncates quietly: paths and messages here are
 * bounded by their buffers, and a cut path simply fails to open. */
void ctl_fmt(char *out, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(out, size, format, args);
    va_end(args);
}

void ctl_say_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("nagarctl: error: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

const char *ctl_setting(ctl_t *self, const char *key, const char *fallback)
{
    const char *value = nagar_config_get(self->config, key, NULL);
    return value && value[0] ? value : fallback;
}

nagar_db_t *ctl_connect_db(ctl_t *self, const char *conninfo_setting, const char *dbname,
                           const char *role, char *error, size_t error_size)
{
    char conninfo[2048];
    const char *given = ctl_setting(self, conninfo_setting, NULL);
    if (given)
        ctl_fmt(conninfo, sizeof conninfo, "%s", given);
    else
        ctl_fmt(conninfo, sizeof conninfo,
                "host=%s port=%s dbname=%s user=%s connect_timeout=5 passfile=%s/%s.pgpass "
                "application_name=nagarctl target_session_attrs=read-write",
                self->db_host, self->db_port, dbname, role, self->secrets, role);
    return nagar_db_connect(conninfo, error, error_size);
}

int ctl_make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        ctl_say_error("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void ctl_progress_bar(int64_t done, int64_t total, const char *what)
{
    int width = 40;
    int filled = total > 0 ? (int) (done * width / total) : 0;
    if (filled > width)
        filled = width;
    char bar[64];
    memset(bar, '#', (size_t) filled);
    memset(bar + filled, ' ', (size_t) (width - filled));
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %" PRId64 "/%" PRId64, what, bar,
            total > 0 ? (int) (done * 100 / total) : 0, done, total);
    fflush(stderr);
}

static int ctl_init(ctl_t *self)
{
    char error[NAGAR_CONFIG_ERROR_MAX];
    self->config = nagar_config_new(NULL, error, sizeof error);
    if (!self->config) {
        ctl_say_error("%s", error);
        return -1;
    }
    ctl_fmt(self->var, sizeof self->var, "%s", ctl_setting(self, "NAGAR_VAR", "var"));
    char path[PATH_BYTES];
    ctl_fmt(path, sizeof path, "%s/keys", self->var);
    ctl_fmt(self->keys, sizeof self->keys, "%s", ctl_setting(self, "NAGAR_CTL_KEYS_DIR", path));
    ctl_fmt(path, sizeof path, "%s/secrets", self->var);
    ctl_fmt(self->secrets, sizeof self->secrets, "%s", ctl_setting(self, "NAGAR_CTL_SECRETS_DIR", path));
    ctl_fmt(path, sizeof path, "%s/checkpoints", self->var);
    ctl_fmt(self->checkpoint_dir, sizeof self->checkpoint_dir, "%s",
             ctl_setting(self, "NAGAR_CHECKPOINT_DIR", path));
    ctl_fmt(path, sizeof path, "%s/checkpoint_key/checkpoint.key", self->var);
    ctl_fmt(self->checkpoint_key, sizeof self->checkpoint_key, "%s",
             ctl_setting(self, "NAGAR_CHECKPOINT_KEY", path));
    ctl_fmt(path, sizeof path, "%s/checkpoint_key/checkpoint.pub", self->var);
    ctl_fmt(self->checkpoint_public, sizeof self->checkpoint_public, "%s",
             ctl_setting(self, "NAGAR_CHECKPOINT_PUBLIC_KEY", path));
    ctl_fmt(path, sizeof path, "%s/certificate_keys", self->var);
    ctl_fmt(self->certificate_keys, sizeof self->certificate_keys, "%s",
        ctl_setting(self, "NAGAR_CERTIFICATES_PUBLIC_KEYS_DIR", path));
    ctl_fmt(self->db_host, sizeof self->db_host, "%s", ctl_setting(self, "NAGAR_DB_HOST", "127.0.0.1"));
    ctl_fmt(self->db_port, sizeof self->db_port, "%s",
             ctl_setting(self, "NAGAR_DB_PORT", ctl_setting(self, "NAGAR_PG_PORT", "5544")));

    char exe[PATH_BYTES];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        ctl_fmt(self->self_dir, sizeof self->self_dir, "%s", dirname(exe));
    } else {
        ctl_fmt(self->self_dir, sizeof self->self_dir, ".");
    }
    return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nagarctl status\n"
            "       nagarctl quarantine SERVICE [REASON]\n"
            "       nagarctl release SERVICE\n"
            "       nagarctl keys rotate SERVICE [--restart COMMAND] [--wait SECONDS]\n"
            "       nagarctl keys finish SERVICE\n"
            "       nagarctl checkpoint-keygen\n"
            "       nagarctl checkpoint\n"
            "       nagarctl verify\n"
            "       nagarctl backup [full|diff|incr]\n"
            "       nagarctl backup-verify\n"
            "       nagarctl restore --to TIME [--target DIR]\n"
            "       nagarctl demand generate ULB FY [--operator USER] [--wait SECONDS]\n"
            "       nagarctl bills generate ULB PERIOD [--operator USER] [--wait SECONDS]\n"
            "       nagarctl receipts replay CSV --ulb ULB --clerk USER [--operator USER]\n"
            "                [--report FILE]\n"
            "jobs that act for a person log in as the operator (NAGAR_OPERATOR_USER or\n"
            "--operator, with NAGAR_OPERATOR_PASSWORD(_FILE); or NAGAR_OPERATOR_TOKEN(_FILE))\n"
            "and carry the grant identity signs for that one job, ULB and year\n"
            "exit codes: 0 ok, 1 error, 2 usage, 3 verification failed (tampering detected)\n");
}

/* Finds "--name VALUE" among argv[from..]; NULL when absent. */
static const char *option(int argc, char **argv, int from, const char *name)
{
    for (int i = from; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static bool service_name_ok(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > 64)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '_' || name[i] == '.'))
            return false;
    return true;
}

static int dispatch(ctl_t *self, int argc, char **argv)
{
    const char *command = argv[1];
    if (strcmp(command, "status") == 0 && argc == 2)
        return ctl_status(self);
    if ((strcmp(command, "quarantine") == 0 && (argc == 3 || argc == 4)) ||
        (strcmp(command, "release") == 0 && argc == 3)) {
        if (!service_name_ok(argv[2]))
            return usage(stderr), EXIT_USAGE;
        return ctl_quarantine(self, argv[2], argc == 4 ? argv[3] : NULL,
                              strcmp(command, "release") == 0);
    }
    if (strcmp(command, "keys") == 0 && argc >= 4 && service_name_ok(argv[3])) {
        if (strcmp(argv[2], "finish") == 0 && argc == 4)
            return ctl_keys_finish(self, argv[3]);
        if (strcmp(argv[2], "rotate") == 0 && (argc == 4 || argc == 6 || argc == 8)) {
            const char *wait = option(argc, argv, 4, "--wait");
            int wait_s = wait ? atoi(wait) : 60;
            if (wait_s <= 0 || wait_s > 3600)
                return usage(stderr), EXIT_USAGE;
            return ctl_keys_rotate(self, argv[3], option(argc, argv, 4, "--restart"), wait_s);
        }
    }
    if (strcmp(command, "checkpoint-keygen") == 0 && argc == 2)
        return ctl_checkpoint_keygen(self);
    if (strcmp(command, "checkpoint") == 0 && argc == 2)
        return ctl_checkpoint(self);
    if (strcmp(command, "verify") == 0 && argc == 2)
        return ctl_verify(self);
    if (strcmp(command, "backup") == 0 && argc <= 3) {
        char *args[] = {"backup", argc == 3 ? argv[2] : "incr"};
        return ctl_backup_script(self, 2, args);
    }
    if (strcmp(command, "backup-verify") == 0 && argc == 2) {
        char *args[] = {"verify"};
        return ctl_backup_script(self, 1, args);
    }
    if (strcmp(command, "restore") == 0 && (argc == 4 || argc == 6) && option(argc, argv, 2, "--to")) {
        char *args[] = {"restore", "--to", (char *) option(argc, argv, 2, "--to"), "--target",
                        (char *) option(argc, argv, 2, "--target")};
        return ctl_backup_script(self, args[4] ? 5 : 3, args);
    }
    if ((strcmp(command, "demand") == 0 || strcmp(command, "bills") == 0) && argc >= 5 &&
        strcmp(argv[2], "generate") == 0) {
        if (option(argc, argv, 5, "--actor") || option(argc, argv, 5, "--role")) {
            ctl_say_error("--actor and --role are gone: a job now acts for the operator who logs in "
                      "(--operator USER, or NAGAR_OPERATOR_USER with NAGAR_OPERATOR_PASSWORD)");
            return EXIT_USAGE;
        }
        const char *wait = option(argc, argv, 5, "--wait");
        int wait_s = wait ? atoi(wait) : 3600;
        if (wait_s <= 0)
            return usage(stderr), EXIT_USAGE;
        const char *operator_user = option(argc, argv, 5, "--operator");
        return strcmp(command, "demand") == 0
                   ? ctl_demand_generate(self, argv[3], argv[4], operator_user, wait_s)
                   : ctl_bills_generate(self, argv[3], argv[4], operator_user, wait_s);
    }
    if (strcmp(command, "receipts") == 0 && argc >= 4 && strcmp(argv[2], "replay") == 0) {
        const char *ulb = option(argc, argv, 4, "--ulb"), *clerk = option(argc, argv, 4, "--clerk");
        if (!ulb || !clerk)
            return usage(stderr), EXIT_USAGE;
        return ctl_receipts_replay(self, argv[3], ulb, clerk, option(argc, argv, 4, "--operator"),
                                   option(argc, argv, 4, "--report"));
    }
    usage(stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    /* Messages for the operator go to stdout/stderr as text; libnagar's
     * JSON log lines (bus, database) only at warn and above. */
    bool quiet_logs = false;
    if (!getenv("NAGAR_LOG_LEVEL")) {
        setenv("NAGAR_LOG_LEVEL", "warn", 1);
        quiet_logs = true;
    }
    nagar_log_init("nagarctl");
    zsys_init();
    zsys_handler_set(NULL);
    if (sodium_init() < 0) {
        ctl_say_error("libsodium could not be initialised");
        return EXIT_ERROR;
    }
    ctl_t self = {.quiet_logs = quiet_logs};
    if (ctl_init(&self) != 0)
        return EXIT_ERROR;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = dispatch(&self, argc, argv);
    nagar_config_destroy(&self.config);
    return rc;
}
