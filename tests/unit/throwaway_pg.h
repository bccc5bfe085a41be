/*
 * throwaway_pg.h — a private PostgreSQL cluster for the unit tests of the
 * modules that only make sense against a server (db, migrate, the SQL
 * modules, outbox, checkpoint).
 *
 * It is started exactly as the system tests start theirs
 * (tests/system/pg_fixtures.py): deploy/pg.sh init and start with NAGAR_VAR
 * in a fresh directory under /tmp and NAGAR_PG_PORT on a free loopback
 * port, so it never touches a developer's var/ or another worktree's
 * cluster; throwaway_pg_stop() stops it and removes the directory. pg.sh
 * handles running as root (the server then runs as `postgres`). The
 * repository is found from the test binary's own path
 * (<repo>/<BUILD>/tests/test_x), so the tests run from any directory.
 *
 * One role is made for the tests: throwaway_pg_role() creates <name>_owner
 * with a companion <name>_app, as deploy/provision.sh names a service's
 * roles, in a database of their own; throwaway_pg_schema() gives each test
 * a fresh schema as its search_path, so tests do not share state. The
 * tests connect over the unix socket as the superuser (peer, no password)
 * acting as <name>_owner from the start (options -c role=...): a SCRAM
 * login computes 4096 rounds of HMAC-SHA-256 in the client, which under
 * valgrind on a loaded machine outlasted a 60 s connect timeout. Only
 * session_user tells the difference; the modules tested here do not read
 * it.
 *
 * throwaway_pg_open() does all of that and connects through db.h, as the
 * modules' tests begin; throwaway_pg_close() ends what it began.
 *
 * Header-only (static functions) so that each test binary stays one
 * tests/unit/test_*.c, as the Makefile builds them.
 */
#ifndef NAGAR_TESTS_THROWAWAY_PG_H
#define NAGAR_TESTS_THROWAWAY_PG_H

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"

typedef struct {
    char root[PATH_MAX];        /* the repository */
    char var[PATH_MAX];         /* NAGAR_VAR of the cluster */
    int port;
    char socket_dir[PATH_MAX];
    char superuser[64];
    bool started;
    int schemas;                /* schemas handed out so far */
} throwaway_pg_t;

/* The repository: the first ancestor of this binary that has deploy/pg.sh. */
static int throwaway_pg_find_root(char root[PATH_MAX])
{
    ssize_t length = readlink("/proc/self/exe", root, PATH_MAX - 1);
    if (length <= 0)
        return -1;
    root[length] = '\0';
    for (;;) {
        char *slash = strrchr(root, '/');
        if (!slash || slash == root)
            return -1;
        *slash = '\0';
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof probe, "%s/deploy/pg.sh", root);
        if (access(probe, X_OK) == 0)
            return 0;
    }
}

static int throwaway_pg_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    int port = -1;
    if (bind(fd, (struct sockaddr *) &address, sizeof address) == 0 &&
        getsockname(fd, (struct sockaddr *) &address, &size) == 0)
        port = ntohs(address.sin_port);
    close(fd);
    return port;
}

/* Runs deploy/pg.sh <command> for this cluster; its output goes to
 * <var>/pg.sh.log, printed when it fails. */
static int throwaway_pg_script(throwaway_pg_t *pg, const char *command)
{
    char line[3 * PATH_MAX + 256];
    snprintf(line, sizeof line,
             "NAGAR_VAR='%s' NAGAR_PG_PORT=%d '%s/deploy/pg.sh' %s >>'%s/pg.sh.log' 2>&1",
             pg->var, pg->port, pg->root, command, pg->var);
    int rc = system(line);
    if (rc != 0) {
        snprintf(line, sizeof line, "cat '%s/pg.sh.log' >&2", pg->var);
        if (system(line) != 0)
            fprintf(stderr, "throwaway_pg: cannot show %s/pg.sh.log\n", pg->var);
        fprintf(stderr, "throwaway_pg: deploy/pg.sh %s failed (%d)\n", command, rc);
        return -1;
    }
    return 0;
}

/* One value of `deploy/pg.sh env` (NAME=value, shell-quoted only when it
 * needs quoting, which the paths used here never do). */
static int throwaway_pg_env(throwaway_pg_t *pg, const char *name, char *out, size_t size)
{
    char line[3 * PATH_MAX];
    snprintf(line, sizeof line, "NAGAR_VAR='%s' NAGAR_PG_PORT=%d '%s/deploy/pg.sh' env", pg->var,
             pg->port, pg->root);
    FILE *pipe = popen(line, "r");
    if (!pipe)
        return -1;
    int rc = -1;
    size_t name_length = strlen(name);
    while (fgets(line, sizeof line, pipe)) {
        if (strncmp(line, name, name_length) == 0 && line[name_length] == '=') {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, size, "%s", line + name_length + 1);
            rc = 0;
        }
    }
    if (pclose(pipe) != 0)
        rc = -1;
    return rc;
}

static void throwaway_pg_stop(throwaway_pg_t *pg)
{
    if (pg->started)
        (void) throwaway_pg_script(pg, "stop");
    pg->started = false;
    if (pg->var[0] && strncmp(pg->var, "/tmp/nagar-unit-", 16) == 0) {
        char line[PATH_MAX + 32];
        snprintf(line, sizeof line, "rm -rf '%s'", pg->var);
        if (system(line) != 0)
            fprintf(stderr, "throwaway_pg: could not remove %s\n", pg->var);
    }
    pg->var[0] = '\0';
}

/* Initialises and starts the cluster. 0, or -1 with the reason on stderr. */
static int throwaway_pg_start(throwaway_pg_t *pg)
{
    memset(pg, 0, sizeof *pg);
    if (throwaway_pg_find_root(pg->root) != 0) {
        fprintf(stderr, "throwaway_pg: no deploy/pg.sh above this binary\n");
        return -1;
    }
    snprintf(pg->var, sizeof pg->var, "/tmp/nagar-unit-XXXXXX");
    if (!mkdtemp(pg->var)) {
        pg->var[0] = '\0';
        return -1;
    }
    chmod(pg->var, 0755);   /* as root, the postgres user must reach the cluster */
    pg->port = throwaway_pg_free_port();
    if (pg->port <= 0 || throwaway_pg_script(pg, "init") != 0) {
        throwaway_pg_stop(pg);
        return -1;
    }
    pg->started = true;
    if (throwaway_pg_script(pg, "start") != 0 ||
        throwaway_pg_env(pg, "NAGAR_PG_SOCKET_DIR", pg->socket_dir, sizeof pg->socket_dir) != 0 ||
        throwaway_pg_env(pg, "NAGAR_PG_SUPERUSER", pg->superuser, sizeof pg->superuser) != 0) {
        throwaway_pg_stop(pg);
        return -1;
    }
    return 0;
}

/* Runs trusted setup SQL as the superuser in dbname. 0 or -1 (printed). */
static int throwaway_pg_admin(throwaway_pg_t *pg, const char *dbname, const char *sql)
{
    char conninfo[PATH_MAX + 256];
    snprintf(conninfo, sizeof conninfo, "host=%s port=%d user=%s dbname=%s connect_timeout=10",
             pg->socket_dir, pg->port, pg->superuser, dbname);
    PGconn *conn = PQconnectdb(conninfo);
    int rc = -1;
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "throwaway_pg: cannot connect as the superuser: %s",
                PQerrorMessage(conn));
    } else {
        PGresult *result = PQexec(conn, sql);
        ExecStatusType status = PQresultStatus(result);
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
            rc = 0;
        else
            fprintf(stderr, "throwaway_pg: setup SQL failed: %s\n%s", sql,
                    PQresultErrorMessage(result));
        PQclear(result);
    }
    PQfinish(conn);
    return rc;
}

/* Creates roles <name>_owner and <name>_app (NOLOGIN both) and a
 * database <name> owned by the first. 0 or -1. */
static int throwaway_pg_role(throwaway_pg_t *pg, const char *name)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "CREATE ROLE %s_owner NOLOGIN;"
             "CREATE ROLE %s_app NOLOGIN;",
             name, name);
    if (throwaway_pg_admin(pg, "postgres", sql) != 0)
        return -1;
    snprintf(sql, sizeof sql, "CREATE DATABASE %s OWNER %s_owner TEMPLATE template0", name, name);
    return throwaway_pg_admin(pg, "postgres", sql);
}

/* A fresh schema s<N> in database name, owned by <name>_owner, and the
 * conninfo that acts as that role with the schema as its search_path (N is
 * pg->schemas afterwards). 0 or -1. */
static int throwaway_pg_schema(throwaway_pg_t *pg, const char *name, char *conninfo,
                               size_t size)
{
    char sql[512];
    int number = ++pg->schemas;
    snprintf(sql, sizeof sql, "CREATE SCHEMA s%d AUTHORIZATION %s_owner", number, name);
    if (throwaway_pg_admin(pg, name, sql) != 0)
        return -1;
    snprintf(conninfo, size,
             "host=%s port=%d dbname=%s user=%s connect_timeout=60 "
             "options='-c role=%s_owner -c search_path=s%d'",
             pg->socket_dir, pg->port, name, pg->superuser, name, number);
    return 0;
}

/* The cluster started, role <name> made, a fresh schema, and a db.h
 * connection to it (conninfo kept for a second one): how every test of a
 * module that needs a server begins. NULL, with the reason on stderr,
 * when a step fails. */
__attribute__((unused))
static nagar_db_t *throwaway_pg_open(throwaway_pg_t *pg, const char *name, char *conninfo,
                                     size_t conninfo_size)
{
    if (throwaway_pg_start(pg) != 0 || throwaway_pg_role(pg, name) != 0 ||
        throwaway_pg_schema(pg, name, conninfo, conninfo_size) != 0)
        return NULL;
    char error[2048];
    nagar_db_t *db = nagar_db_connect(conninfo, error, sizeof error);
    if (!db)
        fprintf(stderr, "throwaway_pg: connecting as %s: %s\n", name, error);
    return db;
}

/* Closes the connection and stops and removes the cluster. */
static void throwaway_pg_close(throwaway_pg_t *pg, nagar_db_t **db_p)
{
    nagar_db_destroy(db_p);
    throwaway_pg_stop(pg);
}

#endif
