/*
 * backup.c — nagarctl backup, backup-verify and restore: deploy/backup.sh
 * (pgBackRest) run with a deadline; and running any other program, which
 * key rotation does too.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <czmq.h>

#include "ctl.h"

/* Runs argv, waiting at most timeout_s (0 = no limit, for restores);
 * returns its exit status, or -1 when it could not run or was killed. */
int ctl_run_program(ctl_t *self, char *const argv[], int timeout_s)
{
    pid_t pid = fork();
    if (pid < 0) {
        ctl_say_error("fork failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* What nagarctl quietened for itself must not quieten what it starts
         * (a restarted service logs at its own level). */
        if (self->quiet_logs)
            unsetenv("NAGAR_LOG_LEVEL");
        execv(argv[0], argv);
        fprintf(stderr, "nagarctl: error: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int64_t deadline = timeout_s > 0 ? zclock_mono() + (int64_t) timeout_s * 1000 : 0;
    int status = 0;
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            break;
        if (done < 0 && errno != EINTR) {
            ctl_say_error("waiting for %s failed: %s", argv[0], strerror(errno));
            return -1;
        }
        if (deadline && zclock_mono() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            ctl_say_error("%s did not finish within %d s and was stopped", argv[0], timeout_s);
            return -1;
        }
        zclock_sleep(50);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void find_backup_script(ctl_t *self, char *out, size_t size)
{
    const char *given = ctl_setting(self, "NAGAR_BACKUP_SCRIPT", NULL);
    if (given) {
        ctl_fmt(out, size, "%s", given);
        return;
    }
    /* build/, build/<name>/ in a checkout, or an installed layout. */
    const char *candidates[] = {"%s/../deploy/backup.sh", "%s/../../deploy/backup.sh",
                                "%s/../share/nagar/deploy/backup.sh"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        ctl_fmt(out, size, candidates[i], self->self_dir);
        if (access(out, X_OK) == 0)
            return;
    }
    ctl_fmt(out, size, "/usr/share/nagar/deploy/backup.sh");
}

int ctl_backup_script(ctl_t *self, int argc, char **argv)
{
    char script[PATH_BYTES];
    find_backup_script(self, script, sizeof script);
    char *args[16] = {script};
    int n = 1;
    for (int i = 0; i < argc && n < 15; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    int rc = ctl_run_program(self, args, 0);
    if (rc < 0)
        return EXIT_ERROR;
    return rc == EXIT_USAGE ? EXIT_USAGE : rc == 0 ? EXIT_OK : EXIT_ERROR;
}

