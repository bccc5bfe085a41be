/*
 * throwaway_pg.c — the private PostgreSQL cluster of the unit tests and
 * their shared fixture (what and why: throwaway_pg.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "migrate.h"
#include "scratch_dir.h"
#include "throwaway_pg.h"

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

int throwaway_pg_free_port(void)
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

void throwaway_pg_stop(throwaway_pg_t *pg)
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

int throwaway_pg_start(throwaway_pg_t *pg)
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

int throwaway_pg_admin(throwaway_pg_t *pg, const char *dbname, const char *sql)
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

int throwaway_pg_role(throwaway_pg_t *pg, const char *name)
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

int throwaway_pg_schema(throwaway_pg_t *pg, const char *name, char *conninfo, size_t size)
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

/* What throwaway_pg_open() opened, for throwaway_pg_group_teardown(). */
static throwaway_pg_t *opened_pg;
static nagar_db_t **opened_db_p;

int throwaway_pg_open(throwaway_pg_t *pg, const char *name, nagar_db_t **db_p)
{
    *db_p = NULL;
    if (throwaway_pg_start(pg) != 0 || throwaway_pg_role(pg, name) != 0 ||
        throwaway_pg_schema(pg, name, pg->conninfo, sizeof pg->conninfo) != 0)
        return -1;
    opened_pg = pg;
    opened_db_p = db_p;
    char error[2048];
    *db_p = nagar_db_connect(pg->conninfo, error, sizeof error);
    if (!*db_p) {
        fprintf(stderr, "throwaway_pg: connecting as %s: %s\n", name, error);
        return -1;
    }
    return 0;
}

void throwaway_pg_close(throwaway_pg_t *pg, nagar_db_t **db_p)
{
    nagar_db_destroy(db_p);
    throwaway_pg_stop(pg);
}

int throwaway_pg_group_teardown(void **state)
{
    (void) state;
    if (opened_pg)
        throwaway_pg_close(opened_pg, opened_db_p);
    opened_pg = NULL;
    opened_db_p = NULL;
    return 0;
}

void throwaway_pg_must(nagar_db_t *db, const char *sql)
{
    PGresult *result = nagar_db_exec(db, sql, 0, NULL);
    if (!result)
        fail_msg("setup SQL failed: %s: %s", sql, nagar_db_error(db));
    PQclear(result);
}

static int write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    if (!file)
        return -1;
    fputs(text, file);
    return fclose(file);
}

int throwaway_pg_install_modules(throwaway_pg_t *pg, nagar_db_t *db, const char *modules)
{
    char service[PATH_MAX], path[PATH_MAX + 64];
    scratch_dir_new(service, sizeof service, "unit-service");
    snprintf(path, sizeof path, "%s/sql", service);
    int made = mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/migrations", service);
    made |= mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/sql/modules", service);
    made |= write_file(path, modules);
    snprintf(path, sizeof path, "%s/migrations/001_none.sql", service);
    made |= write_file(path, "SELECT 1;\n");
    char common_sql[PATH_MAX + 32], error[2048] = "";
    snprintf(common_sql, sizeof common_sql, "%s/common/sql", pg->root);
    int applied = made == 0 ? nagar_migrate_service(db, service, common_sql, error, sizeof error)
                            : -1;
    scratch_dir_remove(service);
    if (applied < 0)
        fprintf(stderr, "throwaway_pg: migrating with modules %s: %s\n", modules,
                made == 0 ? error : "cannot write the service's files");
    return applied;
}
