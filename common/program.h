/*
 * program.h — how a service program's main() begins: its log named for the
 * service, libsodium ready, help on -h, --help or help, and the command
 * that writes a signing key pair (keygen DIR KEY_ID: identity signs tokens
 * with it, certificates signs certificates).
 *
 * Every service's main() had these lines; the commands of its own (serve,
 * seed-ulbs, verify-qr, ...) stay in its main.c.
 */
#ifndef NAGAR_PROGRAM_H
#define NAGAR_PROGRAM_H

#include <stdio.h>

/* Prints the program's usage to out. */
typedef void (nagar_program_usage_fn)(FILE *out);

/* Starts the program of service: nagar_log_init(service), sodium_init().
 * *command is argv[1], or "serve" when there is none. Returns -1 when
 * main() goes on with *command, else the exit code: 0 after printing the
 * usage to stdout for help, 1 when libsodium failed (logged as
 * <service>.start_failed). */
int nagar_program_start(const char *service, int argc, char **argv, nagar_program_usage_fn *usage,
                        const char **command);

/* keygen DIR KEY_ID (argv[2], argv[3]): writes DIR/KEY_ID.key (secret) and
 * DIR/KEY_ID.pub (nagar_token_keygen of token.h) and logs <service>.keygen
 * naming what ("token key pair"), with note after the public half (""
 * or ": publish it ..."). Returns the exit code: 0, 1 when writing failed
 * (<service>.keygen_failed), 2 with the usage on stderr when the arguments
 * are not DIR and KEY_ID. */
int nagar_program_keygen(const char *service, int argc, char **argv, nagar_program_usage_fn *usage,
                         const char *what, const char *note);

#endif
