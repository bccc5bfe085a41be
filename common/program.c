/*
 * program.c — how a service program's main() begins (see program.h).
 */
#include "program.h"

#include <sodium.h>
#include <string.h>

#include "log.h"
#include "token.h"

int nagar_program_start(const char *service, int argc, char **argv, nagar_program_usage_fn *usage,
                        const char **command)
{
    nagar_log_init(service);
    *command = argc > 1 ? argv[1] : "serve";
    if (sodium_init() < 0) {
        char event[64];
        snprintf(event, sizeof event, "%s.start_failed", service);
        nagar_log_error(event, "libsodium failed to initialise");
        return 1;
    }
    if (strcmp(*command, "-h") == 0 || strcmp(*command, "--help") == 0 ||
        strcmp(*command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    return -1;
}

int nagar_program_keygen(const char *service, int argc, char **argv, nagar_program_usage_fn *usage,
                         const char *what, const char *note)
{
    if (argc != 4) {
        usage(stderr);
        return 2;
    }
    char error[1024], event[64];
    if (nagar_token_keygen(argv[2], argv[3], error, sizeof error) != 0) {
        snprintf(event, sizeof event, "%s.keygen_failed", service);
        nagar_log_error(event, "%s", error);
        return 1;
    }
    snprintf(event, sizeof event, "%s.keygen", service);
    nagar_log_info(event, "%s %s written to %s (%s.key secret, %s.pub public%s)", what, argv[3],
                   argv[2], argv[3], argv[3], note);
    return 0;
}
