/*
 * throwaway_pg.h — a private PostgreSQL cluster for the unit tests of the
 * modules that only make sense against a server (db, migrate, the SQL
 * modules, outbox, receipt, certificate chain), and the fixture those
 * tests share.
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
 * modules' tests begin (in their cmocka group setup);
 * throwaway_pg_group_teardown() is the group teardown that ends it, or
 * throwaway_pg_close() when a test has more to stop.
 *
 * Built once (tests/unit/throwaway_pg.c) and linked into every unit test
 * binary by the Makefile.
 */
#ifndef NAGAR_TESTS_THROWAWAY_PG_H
#define NAGAR_TESTS_THROWAWAY_PG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    char conninfo[PATH_MAX + 256];  /* of throwaway_pg_open's schema, for a second connection */
} throwaway_pg_t;

/* A free TCP port on the loopback (for a cluster, a broker ...), or -1. */
int throwaway_pg_free_port(void);

/* Initialises and starts the cluster. 0, or -1 with the reason on stderr. */
int throwaway_pg_start(throwaway_pg_t *pg);

/* Stops the cluster and removes its directory. */
void throwaway_pg_stop(throwaway_pg_t *pg);

/* Runs trusted setup SQL as the superuser in dbname. 0 or -1 (printed). */
int throwaway_pg_admin(throwaway_pg_t *pg, const char *dbname, const char *sql);

/* Creates roles <name>_owner and <name>_app (NOLOGIN both) and a
 * database <name> owned by the first. 0 or -1. */
int throwaway_pg_role(throwaway_pg_t *pg, const char *name);

/* A fresh schema s<N> in database name, owned by <name>_owner, and the
 * conninfo that acts as that role with the schema as its search_path (N is
 * pg->schemas afterwards). 0 or -1. */
int throwaway_pg_schema(throwaway_pg_t *pg, const char *name, char *conninfo, size_t size);

/* The cluster started, role <name> made, a fresh schema (its conninfo in
 * pg->conninfo), and a db.h connection to it in *db_p: how every test of a
 * module that needs a server begins. 0, or -1 with the reason on stderr.
 * Remembers pg and db_p for throwaway_pg_group_teardown(). */
int throwaway_pg_open(throwaway_pg_t *pg, const char *name, nagar_db_t **db_p);

/* Closes the connection (*db_p becomes NULL) and stops and removes the
 * cluster. */
void throwaway_pg_close(throwaway_pg_t *pg, nagar_db_t **db_p);

/* A cmocka group teardown: throwaway_pg_close() of what the last
 * throwaway_pg_open() opened. Always 0. */
int throwaway_pg_group_teardown(void **state);

/* Runs setup SQL on db that must succeed; the test fails naming the SQL
 * and the server's error otherwise. */
void throwaway_pg_must(nagar_db_t *db, const char *sql);

/* Migrates db as a service is migrated (nagar_migrate_service) whose
 * sql/modules lists `modules` (one name a line) and whose one migration
 * does nothing: installs those shared SQL modules of the repository's
 * common/sql. The number of steps applied, or -1 with the reason on
 * stderr. */
int throwaway_pg_install_modules(throwaway_pg_t *pg, nagar_db_t *db, const char *modules);

#endif
