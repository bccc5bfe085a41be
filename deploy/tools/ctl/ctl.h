/*
 * ctl.h — what the files of nagarctl share (deploy/tools/ctl/): its
 * settings, exit codes and helpers, and the commands main.c dispatches to.
 *
 * One file per subject, as the usage in main.c lists them:
 *   main.c       settings, usage, dispatch
 *   admin.c      status, quarantine, release (the broker's nagar.admin)
 *   verify.c     verify: every chain against the signed checkpoint, every
 *                record against the others (the walks themselves are
 *                common/'s chain.h and certificate_chain.h)
 *   checkpoint.c checkpoint, checkpoint-keygen, and which checkpoint is
 *                pinned (files or the witness store)
 *   keys.c       keys rotate, keys finish
 *   backup.c     backup, backup-verify, restore (deploy/backup.sh), and
 *                running other programs
 *   jobs.c       demand generate, bills generate
 *   receipts.c   receipts replay
 * Each command returns one of the exit codes below.
 */
#ifndef NAGAR_CTL_H
#define NAGAR_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bus_client.h"
#include "checkpoint.h"
#include "config.h"
#include "db.h"
#include "status.h"
#include "verify.h"
#include "proto/admin.pb-c.h"

#define EXIT_OK 0
#define EXIT_ERROR 1
#define EXIT_USAGE 2
#define EXIT_TAMPER 3

#define PATH_BYTES 4096

typedef struct {
    nagar_config_t *config;
    char var[PATH_BYTES];
    char keys[PATH_BYTES];
    char secrets[PATH_BYTES];
    char checkpoint_dir[PATH_BYTES];
    char checkpoint_key[PATH_BYTES];
    char checkpoint_public[PATH_BYTES];
    char certificate_keys[PATH_BYTES];
    char db_host[256];
    char db_port[16];
    char self_dir[PATH_BYTES];      /* directory of this binary */
    bool quiet_logs;                /* main() set NAGAR_LOG_LEVEL=warn for nagarctl itself */
} ctl_t;

/* snprintf that always truncates quietly: paths and messages here are
 * bounded by their buffers, and a cut path simply fails to open. */
void ctl_fmt(char *out, size_t size, const char *format, ...) __attribute__((format(printf, 3, 4)));
/* "nagarctl: error: ..." on stderr. */
void ctl_say_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* A setting (environment or NAGAR_CONFIG), fallback when unset or empty. */
const char *ctl_setting(ctl_t *self, const char *key, const char *fallback);
/* Database dbname as role, with its password from <secrets>/<role>.pgpass,
 * unless the setting conninfo_setting gives the whole conninfo. NULL with
 * the reason in error. */
nagar_db_t *ctl_connect_db(ctl_t *self, const char *conninfo_setting, const char *dbname,
                           const char *role, char *error, size_t error_size);
/* mkdir that accepts an existing directory; -1 said on stderr. */
int ctl_make_dir(const char *path, mode_t mode);
/* A progress line on stderr, redrawn in place. */
void ctl_progress_bar(int64_t done, int64_t total, const char *what);

/* ---- the bus (admin.c) ---------------------------------------------------------------- */

/* A client as principal "operator" (cert_setting NAGAR_BUS_CERT) or
 * "batch" (NAGAR_CTL_BATCH_CERT); NULL said on stderr. */
nagar_bus_client_t *ctl_connect_bus(ctl_t *self, const char *cert_setting,
                                    const char *default_name);
/* A call of the broker's nagar.admin service. */
nagar_status_code_t ctl_call_admin(nagar_bus_client_t *client, const char *method,
                                   const ProtobufCMessage *request,
                                   const ProtobufCMessageDescriptor *reply_type,
                                   ProtobufCMessage **reply, char *message, size_t message_size);
const char *ctl_status_name(nagar_status_code_t code);
/* The broker's statistics; -1 said on stderr. */
int ctl_fetch_stats(nagar_bus_client_t *client, Nagar__Admin__StatsReply **stats);

/* Runs argv, waiting at most timeout_s (0 = no limit, for restores);
 * returns its exit status, or -1 when it could not run or was killed
 * (backup.c). */
int ctl_run_program(ctl_t *self, char *const argv[], int timeout_s);

/* ---- chains and checkpoints (verify.c, checkpoint.c) ------------------------------------ */

typedef struct {
    int checked;        /* chains */
    int broken;         /* chains that fail verification (exit 3) */
    int errors;         /* ledgers that could not be read (exit 1) */
    int findings;       /* records that disagree with others (exit 3) */
} ctl_tally_t;

/* Verifies every service's chains against their checkpoint heads and
 * prints a table; when next is given, the heads of good chains are added
 * to it. A full verification (findings given) also checks the records
 * against each other (verify.h) and walks every chain from its start; a
 * checkpoint walks each chain from its pinned row. */
void ctl_verify_all(ctl_t *self, nagar_checkpoint_t *pinned, nagar_checkpoint_t *next,
                    nagar_findings_t *findings, ctl_tally_t *tally);
/* The latest signed checkpoint (*pinned NULL when there is none yet):
 * EXIT_OK, EXIT_TAMPER when it does not verify, EXIT_ERROR. */
int ctl_load_pinned(ctl_t *self, nagar_checkpoint_t **pinned, bool quiet_when_none);

/* ---- the commands ------------------------------------------------------------------- */

int ctl_status(ctl_t *self);
int ctl_quarantine(ctl_t *self, const char *service, const char *reason, bool release);
int ctl_verify(ctl_t *self);
int ctl_checkpoint(ctl_t *self);
int ctl_checkpoint_keygen(ctl_t *self);
int ctl_keys_rotate(ctl_t *self, const char *service, const char *restart, int wait_s);
int ctl_keys_finish(ctl_t *self, const char *service);
/* deploy/backup.sh with argv[0..argc). */
int ctl_backup_script(ctl_t *self, int argc, char **argv);
int ctl_demand_generate(ctl_t *self, const char *ulb, const char *fy, const char *operator_user,
                        int wait_s);
int ctl_bills_generate(ctl_t *self, const char *ulb, const char *period,
                       const char *operator_user, int wait_s);
int ctl_receipts_replay(ctl_t *self, const char *csv_path, const char *ulb, const char *clerk,
                        const char *operator_user, const char *report_path);

#endif
