/*
 * migrate.c — the schema migration runner; see migrate.h.
 *
 * Every step that touches the bookkeeping table takes the same
 * transaction-scoped advisory lock first, so concurrent runners queue up:
 * the second one finds the file recorded (same checksum) and skips it.
 * Each file and its bookkeeping row commit together or not at all.
 */
#include "migrate.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIGRATION_NAME_MAX 128
#define MIGRATIONS_MAX 1000
#define SHA256_HEX_SIZE (crypto_hash_sha256_BYTES * 2 + 1)

typedef struct {
    int version;
    char name[MIGRATION_NAME_MAX + 1];
} migration_t;

/* What one apply transaction needs and reports. */
typedef struct {
    const migration_t *migration;
    const char *dir;
    const char *text;
    char sha256[SHA256_HEX_SIZE];
    bool skipped;            /* already applied with the same checksum */
    char problem[1024];      /* a non-database refusal, e.g. a changed file */
} apply_t;

static const char *lock_key_text(void)
{
    static char text[32];
    snprintf(text, sizeof text, "%lld", (long long) NAGAR_MIGRATE_ADVISORY_LOCK);
    return text;
}

/* ^[0-9]{3}_[a-z0-9_]+\.sql$ */
static bool name_is_valid(const char *name)
{
    size_t length = strlen(name);
    if (length < 9 || length > MIGRATION_NAME_MAX)
        return false;
    for (int i = 0; i < 3; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    if (name[3] != '_' || strcmp(name + length - 4, ".sql") != 0)
        return false;
    for (size_t i = 4; i < length - 4; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static bool ends_with_sql(const char *name)
{
    size_t length = strlen(name);
    return length >= 4 && strcmp(name + length - 4, ".sql") == 0;
}

static int compare_migrations(const void *a, const void *b)
{
    return strcmp(((const migration_t *) a)->name, ((const migration_t *) b)->name);
}

/* The valid migration files of dir, sorted; NULL on error. */
static migration_t *list_migrations(const char *dir, int *count, char *error, size_t error_size)
{
    DIR *handle = opendir(dir);
    if (!handle) {
        snprintf(error, error_size, "cannot open migrations directory \"%s\": %s", dir,
                 strerror(errno));
        return NULL;
    }
    migration_t *list = calloc(MIGRATIONS_MAX, sizeof *list);
    if (!list) {
        closedir(handle);
        snprintf(error, error_size, "out of memory listing \"%s\"", dir);
        return NULL;
    }
    int found = 0;
    struct dirent *entry;
    while ((entry = readdir(handle)) != NULL) {
        const char *name = entry->d_name;
        if (name[0] == '.' || !ends_with_sql(name))
            continue;
        if (!name_is_valid(name)) {
            snprintf(error, error_size,
                     "migration file \"%.200s\" in \"%s\" is badly named: names must match "
                     "^[0-9]{3}_[a-z0-9_]+\\.sql$ (for example 004_add_receipts.sql); rename it",
                     name, dir);
            goto fail;
        }
        if (found == MIGRATIONS_MAX) {
            snprintf(error, error_size, "more than %d migration files in \"%s\"", MIGRATIONS_MAX,
                     dir);
            goto fail;
        }
        memcpy(list[found].name, name, strlen(name) + 1);   /* length checked above */
        list[found].version = (name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
        found++;
    }
    closedir(handle);
    handle = NULL;
    qsort(list, (size_t) found, sizeof *list, compare_migrations);
    for (int i = 1; i < found; i++)
        if (list[i].version == list[i - 1].version) {
            snprintf(error, error_size,
                     "migrations \"%s\" and \"%s\" in \"%s\" share version %03d; give each file "
                     "its own number",
                     list[i - 1].name, list[i].name, dir, list[i].version);
            goto fail;
        }
    *count = found;
    return list;
fail:
    if (handle)
        closedir(handle);
    free(list);
    return NULL;
}

/* Reads a whole migration file, bounded and NUL-free. */
static char *read_migration(const char *path, char *error, size_t error_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(error, error_size, "cannot open migration \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        snprintf(error, error_size, "migration \"%s\" is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (info.st_size > NAGAR_MIGRATE_FILE_MAX) {
        snprintf(error, error_size, "migration \"%s\" is %lld bytes; the limit is %d — split it",
                 path, (long long) info.st_size, NAGAR_MIGRATE_FILE_MAX);
        close(fd);
        return NULL;
    }
    char *text = malloc((size_t) info.st_size + 1);
    if (!text) {
        snprintf(error, error_size, "out of memory reading \"%s\"", path);
        close(fd);
        return NULL;
    }
    size_t total = 0;
    while (total < (size_t) info.st_size) {
        ssize_t got = read(fd, text + total, (size_t) info.st_size - total);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            snprintf(error, error_size, "cannot read migration \"%s\": %s", path,
                     got < 0 ? strerror(errno) : "file shrank while reading");
            free(text);
            close(fd);
            return NULL;
        }
        total += (size_t) got;
    }
    close(fd);
    text[total] = '\0';
    if (strlen(text) != total) {
        snprintf(error, error_size, "migration \"%s\" contains a NUL byte; it must be SQL text",
                 path);
        free(text);
        return NULL;
    }
    return text;
}

static void sha256_hex(const char *text, char hex[SHA256_HEX_SIZE])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *) text, strlen(text));
    sodium_bin2hex(hex, SHA256_HEX_SIZE, digest, sizeof digest);
}

/* Runs a statement and drops its result; 0 or -1 (error kept in db). */
static int exec_ignoring_result(nagar_db_t *db, const char *sql, int nparams,
                                const char *const *values)
{
    PGresult *result = nagar_db_exec(db, sql, nparams, values);
    if (!result)
        return -1;
    PQclear(result);
    return 0;
}

static int take_lock(nagar_db_t *db)
{
    const char *values[] = { lock_key_text() };
    return exec_ignoring_result(db, "SELECT pg_advisory_xact_lock($1::bigint)", 1, values);
}

/* Creates the bookkeeping table once. Only its owner may change it: the
 * schema's default privileges would otherwise let the app role rewrite the
 * history of what was applied, so those grants are narrowed to SELECT. */
static int ensure_table(nagar_db_t *db, void *arg)
{
    (void) arg;
    if (take_lock(db) != 0)
        return -1;
    PGresult *result = nagar_db_exec(
        db, "SELECT to_regclass('nagar_schema_migrations') IS NULL", 0, NULL);
    if (!result)
        return -1;
    bool missing = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
    PQclear(result);
    if (!missing)
        return 0;
    if (exec_ignoring_result(db,
                             "CREATE TABLE nagar_schema_migrations ("
                             " version int PRIMARY KEY CHECK (version BETWEEN 0 AND 999),"
                             " name text NOT NULL,"
                             " sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),"
                             " applied_at timestamptz NOT NULL DEFAULT now())",
                             0, NULL) != 0)
        return -1;
    return exec_ignoring_result(
        db,
        "DO $$\n"
        "DECLARE grantee_name name;\n"
        "BEGIN\n"
        "  FOR grantee_name IN\n"
        "    SELECT DISTINCT r.rolname\n"
        "      FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a\n"
        "      JOIN pg_roles r ON r.oid = a.grantee\n"
        "     WHERE c.oid = 'nagar_schema_migrations'::regclass AND a.grantee <> c.relowner\n"
        "  LOOP\n"
        "    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'\n"
        "                   ' ON nagar_schema_migrations FROM %I', grantee_name);\n"
        "  END LOOP;\n"
        "END $$",
        0, NULL);
}

static int apply_one(nagar_db_t *db, void *arg)
{
    apply_t *apply = arg;
    apply->skipped = false;
    apply->problem[0] = '\0';
    if (take_lock(db) != 0)
        return -1;

    char version[16];
    snprintf(version, sizeof version, "%d", apply->migration->version);
    const char *lookup[] = { version };
    PGresult *result = nagar_db_exec(
        db, "SELECT name, sha256 FROM nagar_schema_migrations WHERE version = $1::int", 1, lookup);
    if (!result)
        return -1;
    if (PQntuples(result) == 1) {
        const char *applied_name = PQgetvalue(result, 0, 0);
        const char *applied_sha = PQgetvalue(result, 0, 1);
        if (strcmp(applied_sha, apply->sha256) != 0)
            snprintf(apply->problem, sizeof apply->problem,
                     "migration \"%s\" in \"%s\" was already applied with SHA-256 %s but the file "
                     "now has %s; an applied migration must never change — restore the file and "
                     "put the change in a new migration",
                     apply->migration->name, apply->dir, applied_sha, apply->sha256);
        else if (strcmp(applied_name, apply->migration->name) != 0)
            snprintf(apply->problem, sizeof apply->problem,
                     "migration version %03d was applied as \"%.200s\" but the file is now named "
                     "\"%s\" in \"%s\"; restore the original name",
                     apply->migration->version, applied_name, apply->migration->name, apply->dir);
        else
            apply->skipped = true;
        PQclear(result);
        return apply->problem[0] ? 1 : 0;
    }
    PQclear(result);

    /* The file may SET search_path; the bookkeeping row must still land in
     * the runner's schema, so remember it and restore it afterwards. */
    result = nagar_db_exec(db, "SELECT current_setting('search_path')", 0, NULL);
    if (!result)
        return -1;
    char search_path[1024];
    snprintf(search_path, sizeof search_path, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);

    /* Migrations are trusted code shipped with the service, not input, and
     * are multi-statement: this is the one place a file's text is executed
     * as is (PQexec). Everything else here is parameterised. */
    if (nagar_db_exec_trusted_script(db, apply->text) != 0)
        return -1;
    if (!nagar_db_in_transaction(db)) {
        snprintf(apply->problem, sizeof apply->problem,
                 "migration \"%s\" in \"%s\" ended the transaction itself (COMMIT, ROLLBACK or "
                 "END); remove transaction control from the file — the runner wraps each file in "
                 "its own transaction. Check what it left behind before running again",
                 apply->migration->name, apply->dir);
        return 1;
    }
    const char *restore[] = { search_path };
    if (exec_ignoring_result(db, "SELECT set_config('search_path', $1, true)", 1, restore) != 0)
        return -1;
    const char *record[] = { version, apply->migration->name, apply->sha256 };
    return exec_ignoring_result(db,
                                "INSERT INTO nagar_schema_migrations (version, name, sha256)"
                                " VALUES ($1::int, $2, $3)",
                                3, record);
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

/* Applied versions whose file is gone are worth a warning, not a stop: the
 * schema already contains them and nothing will run them again. */
static void warn_about_missing_files(nagar_db_t *db, const migration_t *list, int count,
                                     const char *dir)
{
    char versions[MIGRATIONS_MAX * 4 + 3];
    size_t used = (size_t) snprintf(versions, sizeof versions, "{");
    for (int i = 0; i < count; i++)
        used += (size_t) snprintf(versions + used, sizeof versions - used, "%s%d", i ? "," : "",
                                  list[i].version);
    snprintf(versions + used, sizeof versions - used, "}");
    const char *values[] = { versions };
    PGresult *result = nagar_db_exec(db,
                                     "SELECT version, name FROM nagar_schema_migrations"
                                     " WHERE NOT version = ANY($1::int[]) ORDER BY version",
                                     1, values);
    if (!result)
        return;
    for (int row = 0; row < PQntuples(result); row++)
        nagar_log_warn("migrate.file_missing",
                       "migration %s (version %s) is recorded as applied but has no file in %s",
                       PQgetvalue(result, row, 1), PQgetvalue(result, row, 0), dir);
    PQclear(result);
}

int nagar_migrate_run(nagar_db_t *db, const char *dir, char *error, size_t error_size)
{
    char scratch[1024];
    if (!error) {
        error = scratch;
        error_size = sizeof scratch;
    }
    error[0] = '\0';
    if (!db || !dir) {
        snprintf(error, error_size, "nagar_migrate_run: no database or no directory");
        return -1;
    }
    if (sodium_init() < 0) {
        snprintf(error, error_size, "libsodium failed to initialise");
        return -1;
    }
    int count = 0;
    migration_t *list = list_migrations(dir, &count, error, error_size);
    if (!list)
        return -1;
    if (nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, ensure_table, NULL) != 0) {
        snprintf(error, error_size, "cannot create nagar_schema_migrations for \"%s\": %s", dir,
                 nagar_db_error(db));
        free(list);
        return -1;
    }
    int applied = 0, skipped = 0;
    for (int i = 0; i < count; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, list[i].name) >= (int) sizeof path) {
            snprintf(error, error_size, "path of migration \"%s\" in \"%s\" is too long",
                     list[i].name, dir);
            applied = -1;
            break;
        }
        char *text = read_migration(path, error, error_size);
        if (!text) {
            applied = -1;
            break;
        }
        apply_t apply = { .migration = &list[i], .dir = dir, .text = text };
        sha256_hex(text, apply.sha256);
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        int rc = nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, apply_one, &apply);
        free(text);
        if (rc != 0) {
            if (apply.problem[0])
                snprintf(error, error_size, "%s", apply.problem);
            else
                snprintf(error, error_size,
                         "migration \"%s\" in \"%s\" failed and was rolled back: %s; fix the "
                         "file (it was not recorded) and run again",
                         list[i].name, dir, nagar_db_error(db));
            applied = -1;
            break;
        }
        if (apply.skipped) {
            skipped++;
            continue;
        }
        applied++;
        json_t *fields = json_pack("{s:i, s:s, s:s, s:I, s:s}", "version", list[i].version,
                                   "name", list[i].name, "sha256", apply.sha256, "duration_ms",
                                   (json_int_t) elapsed_ms(&start), "dir", dir);
        nagar_log_write(NAGAR_LOG_INFO, "migrate.applied", fields, "applied migration %s",
                        list[i].name);
    }
    if (applied >= 0) {
        warn_about_missing_files(db, list, count, dir);
        json_t *fields = json_pack("{s:i, s:i, s:s}", "applied", applied, "already_applied",
                                   skipped, "dir", dir);
        nagar_log_write(NAGAR_LOG_INFO, "migrate.done", fields,
                        "%d migration(s) applied, %d already applied", applied, skipped);
    }
    free(list);
    return applied;
}
