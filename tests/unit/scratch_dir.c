/*
 * scratch_dir.c — a unit test's own directory under /tmp (what and why:
 * scratch_dir.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scratch_dir.h"

void scratch_dir_new(char *dir, size_t size, const char *what)
{
    int length = snprintf(dir, size, "/tmp/nagar-%s-XXXXXX", what);
    if (length < 0 || (size_t) length >= size || !mkdtemp(dir))
        fail_msg("cannot make a scratch directory /tmp/nagar-%s-XXXXXX", what);
}

void scratch_dir_remove(char *dir)
{
    if (!dir[0])
        return;
    if (strncmp(dir, "/tmp/nagar-", 11) != 0 || strchr(dir, '\''))
        fail_msg("not a scratch directory: %s", dir);
    char line[512];
    snprintf(line, sizeof line, "rm -rf '%s'", dir);
    if (system(line) != 0)
        fail_msg("could not remove %s", dir);
    dir[0] = '\0';
}
