/*
 * migrate.c — nagar-migrate: brings one service's database to its SQL.
 *
 *   NAGAR_DB_CONNINFO='host=127.0.0.1 port=5544 dbname=nagar_water_tax user=water_tax_owner' \
 *   PGPASSFILE=var/secrets/water_tax_owner.pgpass \
 *   nagar-migrate --service services/water_tax [--modules common/sql]
 *
 * applies the modules the service names in services/water_tax/sql/modules
 * (from --modules, by default common/sql beside the service's directory:
 * ../../common/sql), its migrations and its rule files (common/migrate.h).
 * --dir DIR applies the numbered migrations of DIR alone.
 *
 * Runs as the service's <svc>_owner role (the app role cannot create
 * objects). The connection string comes only from the environment or the
 * NAGAR_CONFIG file, never from the command line, so it never shows in ps;
 * the password belongs in a pgpass file and is never printed. Logs one
 * JSON line per applied migration ("migrate.applied") and a summary
 * ("migrate.done") on stderr; exits 0 when the database is up to date, 1 on
 * any error (event "migrate.failed" says which file and why), 2 on usage.
 *
 * Migrations may build indexes on large tables, so unless
 * NAGAR_DB_STATEMENT_TIMEOUT_MS is set in the environment, statements get
 * 10 minutes here instead of the services' 10 seconds.
 */
#include "config.h"
#include "db.h"
#include "log.h"
#include "migrate.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nagar-migrate --service DIR [--modules DIR]\n"
            "       nagar-migrate --dir DIR\n"
            "  --service: the modules named in DIR/sql/modules (from --modules, default\n"
            "  DIR/../../common/sql; each module's NNN_name.sql, then its functions/*.sql),\n"
            "  DIR/migrations/NNN_name.sql, then DIR/sql/*.sql.\n"
            "  --dir: DIR/NNN_name.sql only. Each file is recorded with its SHA-256.\n"
            "  Connection: NAGAR_DB_CONNINFO (libpq conninfo or URI), password from\n"
            "  PGPASSFILE or ~/.pgpass.\n");
}

int main(int argc, char **argv)
{
    nagar_log_init("migrate");
    static const struct option options[] = {
        { "dir", required_argument, NULL, 'd' },
        { "service", required_argument, NULL, 's' },
        { "modules", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *dir = NULL, *service = NULL, *modules = NULL;
    int option;
    while ((option = getopt_long(argc, argv, "d:s:m:h", options, NULL)) != -1) {
        switch (option) {
        case 'd':
            dir = optarg;
            break;
        case 's':
            service = optarg;
            break;
        case 'm':
            modules = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!dir == !service || (modules && !service) || optind != argc) {
        usage(stderr);
        return 2;
    }

    char error[NAGAR_DB_ERROR_MAX + 512];
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    if (!config) {
        nagar_log_error("migrate.failed", "%s", error);
        return 1;
    }
    const char *conninfo = nagar_config_get(config, "NAGAR_DB_CONNINFO", NULL);
    if (!conninfo || !*conninfo) {
        nagar_log_error("migrate.failed",
                        "NAGAR_DB_CONNINFO is not set; set it to the libpq connection string of "
                        "the service's owner role, e.g. \"host=127.0.0.1 port=5544 "
                        "dbname=nagar_water_tax user=water_tax_owner\"");
        nagar_config_destroy(&config);
        return 1;
    }
    if (!getenv("NAGAR_DB_STATEMENT_TIMEOUT_MS"))
        setenv("NAGAR_DB_STATEMENT_TIMEOUT_MS", "600000", 0);

    nagar_db_t *db = nagar_db_connect(conninfo, error, sizeof error);
    nagar_config_destroy(&config);
    if (!db) {
        nagar_log_error("migrate.failed", "%s", error);
        return 1;
    }
    char default_modules[4096];
    if (service && !modules) {
        snprintf(default_modules, sizeof default_modules, "%s/../../common/sql", service);
        modules = default_modules;
    }
    int applied = service ? nagar_migrate_service(db, service, modules, error, sizeof error)
                          : nagar_migrate_run(db, dir, error, sizeof error);
    nagar_db_destroy(&db);
    if (applied < 0) {
        nagar_log_error("migrate.failed", "%s", error);
        return 1;
    }
    return 0;
}
