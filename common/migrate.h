/*
 * migrate.h — brings a service's database to its SQL: the shared modules it
 * uses, its own numbered migrations, and its rule functions.
 *
 * A service's SQL lives in four places, applied in this order:
 *
 *   common/sql/<module>/NNN_name.sql   shared modules (ledger, history, receipt,
 *                                      outbox, idempotency, audit, rules, ...):
 *                                      each file applied once into the service's
 *                                      own schema, owned by its own owner role
 *   common/sql/<module>/functions/<subject>.sql   the module's functions
 *                                      by subject, CREATE OR REPLACE only:
 *                                      applied after the module's numbered
 *                                      files, and again whenever one changes
 *                                      (recorded as "<module>/<subject>.sql")
 *   services/<svc>/migrations/NNN_name.sql   the service's tables: each file
 *                                      applied once, in order, never edited
 *   services/<svc>/sql/<subject>.sql   the service's rule functions by subject,
 *                                      CREATE OR REPLACE only: applied again
 *                                      whenever the file's checksum changes
 *
 * The modules a service uses are named, one a line and in order, in
 * services/<svc>/sql/modules ('#' starts a comment). A module file may say
 * "-- requires: a, b": those modules must come earlier in the list.
 *
 * Everything is recorded, with each file's SHA-256, in tables of the
 * connecting role's current schema, in the same transaction as the file:
 *
 *   nagar_schema_migrations(version, name, sha256, applied_at)
 *   nagar_schema_modules(module, version, name, sha256, applied_at)
 *   nagar_schema_rules(name, sha256, applied_at)
 *
 * A numbered file already applied is skipped when its SHA-256 matches and
 * is an error naming the file when it changed (a shipped file is never
 * edited; add a new one). Names must match ^[0-9]{3}_[a-z0-9_]+\.sql$
 * (rule files ^[a-z0-9_]+\.sql$); other names ending in .sql are an error,
 * other files are ignored. Files are at most 1 MiB and must not contain
 * BEGIN/COMMIT. Rule files are applied with check_function_bodies off, so
 * one may call a function another file defines.
 *
 * One layout change is provided for: a migration rewritten when its shared
 * SQL moved into modules says so in its header,
 *
 *   -- nagar-migrate: replaces <sha256 of the text it replaces>
 *   -- nagar-migrate: retires NNN_name.sql <sha256>
 *
 * and on a database that applied exactly those texts the runner records the
 * new file in place of the old one (without running it: its tables are
 * there) and forgets the retired ones (their functions now live in sql/),
 * logged as "migrate.replaced" and "migrate.retired". Module files are
 * written to adopt the copies the older layout made (CREATE ... IF NOT
 * EXISTS, CREATE OR REPLACE). A retired version number is never reused.
 *
 * Runners on the same database are serialised by a transaction-scoped
 * advisory lock. Functions are created with search_path set to the
 * schema followed by pg_temp, which SECURITY DEFINER functions capture
 * (SET search_path FROM CURRENT). Each applied file is logged as
 * "migrate.applied" (kind, module, version, name, sha256, duration_ms);
 * the run ends with "migrate.done".
 */
#ifndef NAGAR_MIGRATE_H
#define NAGAR_MIGRATE_H

#include "db.h"

#include <stddef.h>

#define NAGAR_MIGRATE_FILE_MAX (1024 * 1024)
#define NAGAR_MIGRATE_ADVISORY_LOCK 0x6e61676172LL /* "nagar" */

/* Applies the numbered migrations of dir only (a service with no modules
 * and no rule files, or a test's migration set). Returns the number of
 * migrations applied (0 when up to date), or -1 with the reason in error:
 * which file, what failed, what to do. */
int nagar_migrate_run(nagar_db_t *db, const char *dir, char *error, size_t error_size);

/* Applies all of a service's SQL: the modules named in
 * service_dir/sql/modules (from modules_dir), service_dir/migrations, then
 * service_dir/sql/<subject>.sql. Returns the number of files applied, or
 * -1 with the reason in error. */
int nagar_migrate_service(nagar_db_t *db, const char *service_dir, const char *modules_dir,
                          char *error, size_t error_size);

#endif
