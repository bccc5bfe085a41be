/*
 * migrate.h — applies a service's schema migrations, each exactly once.
 *
 * A migration set is a directory of files named NNN_name.sql
 * (^[0-9]{3}_[a-z0-9_]+\.sql$; other names ending in .sql are an error,
 * files not ending in .sql are ignored). They are applied in order of NNN,
 * each in its own transaction together with its row in
 *
 *   nagar_schema_migrations(version int primary key, name text,
 *                           sha256 text, applied_at timestamptz)
 *
 * created in the connecting role's current schema. A file already applied
 * is skipped when its SHA-256 matches and is an error naming the file when
 * it changed (a shipped migration is never edited; add a new one). Runners
 * on the same database are serialised by a transaction-scoped advisory lock,
 * so two started at once apply each file once. Files are at most 1 MiB and
 * must not contain BEGIN/COMMIT themselves.
 *
 * Each applied file is logged as event "migrate.applied" (version, name,
 * sha256, duration_ms); the run ends with "migrate.done".
 */
#ifndef NAGAR_MIGRATE_H
#define NAGAR_MIGRATE_H

#include "db.h"

#include <stddef.h>

#define NAGAR_MIGRATE_FILE_MAX (1024 * 1024)
#define NAGAR_MIGRATE_ADVISORY_LOCK 0x6e61676172LL /* "nagar" */

/* Returns the number of migrations applied (0 when up to date), or -1 with
 * the reason in error: which file, what failed, what to do. */
int nagar_migrate_run(nagar_db_t *db, const char *dir, char *error, size_t error_size);

#endif
