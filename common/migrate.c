/*
 * migrate.c — the schema runner: modules, migrations and rule files; see
 * migrate.h.
 *
 * Every step that touches a bookkeeping table takes the same
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

#define FILE_NAME_MAX 128
#define FILES_MAX 1000
#define MODULES_MAX 32
#define MODULE_NAME_MAX 40
#define DIRECTIVES_MAX 32
#define SHA256_HEX_SIZE (crypto_hash_sha256_BYTES * 2 + 1)

typedef enum { KIND_MIGRATION, KIND_MODULE, KIND_RULES } kind_t;

static const char *const KIND_NAMES[] = {"migration", "module", "rules"};

typedef struct {
    int version;                       /* NNN of a numbered file; -1 for a rule file */
    char name[FILE_NAME_MAX + 1];
} sql_file_t;

/* What one apply transaction needs and reports. */
typedef struct {
    kind_t kind;
    const char *module;                /* KIND_MODULE: its name */
    const char *dir;
    const sql_file_t *file;
    const char *text;
    char recorded[MODULE_NAME_MAX + 1 + FILE_NAME_MAX + 1];   /* KIND_RULES: the row's name */
    char sha256[SHA256_HEX_SIZE];
    bool skipped;                      /* already applied with the same checksum */
    char problem[1024];                /* a non-database refusal, e.g. a changed file */
} apply_t;

/* A header line "-- nagar-migrate: replaces SHA" or "... retires NAME SHA". */
typedef struct {
    bool retire;
    int version;                       /* of the file replaced or retired */
    char name[FILE_NAME_MAX + 1];      /* retire: the retired file's name */
    char sha256[SHA256_HEX_SIZE];      /* the applied text's checksum */
    char new_sha256[SHA256_HEX_SIZE];  /* replace: the file's own checksum */
    char new_name[FILE_NAME_MAX + 1];  /* the file that carries the line */
} directive_t;

typedef struct {
    directive_t items[DIRECTIVES_MAX];
    int count;
    char problem[1024];
} directives_t;

static const char *lock_key_text(void)
{
    static char text[32];
    snprintf(text, sizeof text, "%lld", (long long) NAGAR_MIGRATE_ADVISORY_LOCK);
    return text;
}

static bool lower_digit_underscore(const char *text, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return to > from;
}

/* ^[0-9]{3}_[a-z0-9_]+\.sql$ */
static bool numbered_name_is_valid(const char *name)
{
    size_t length = strlen(name);
    if (length < 9 || length > FILE_NAME_MAX)
        return false;
    for (int i = 0; i < 3; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return name[3] == '_' && strcmp(name + length - 4, ".sql") == 0 &&
           lower_digit_underscore(name, 4, length - 4);
}

/* ^[a-z0-9_]+\.sql$ */
static bool rule_name_is_valid(const char *name)
{
    size_t length = strlen(name);
    return length > 4 && length <= FILE_NAME_MAX && strcmp(name + length - 4, ".sql") == 0 &&
           lower_digit_underscore(name, 0, length - 4);
}

static bool ends_with_sql(const char *name)
{
    size_t length = strlen(name);
    return length >= 4 && strcmp(name + length - 4, ".sql") == 0;
}

static int compare_files(const void *a, const void *b)
{
    return strcmp(((const sql_file_t *) a)->name, ((const sql_file_t *) b)->name);
}

/* The valid .sql files of dir, sorted by name; NULL on error. A missing
 * directory is an empty list when optional. */
static sql_file_t *list_files(const char *dir, bool numbered, bool optional, int *count,
                              char *error, size_t error_size)
{
    *count = 0;
    DIR *handle = opendir(dir);
    if (!handle && optional && errno == ENOENT)
        return calloc(1, sizeof(sql_file_t));
    if (!handle) {
        snprintf(error, error_size, "cannot open SQL directory \"%s\": %s", dir, strerror(errno));
        return NULL;
    }
    sql_file_t *list = calloc(FILES_MAX, sizeof *list);
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
        if (numbered ? !numbered_name_is_valid(name) : !rule_name_is_valid(name)) {
            snprintf(error, error_size,
                     "SQL file \"%.200s\" in \"%s\" is badly named: names must match %s; rename it",
                     name, dir,
                     numbered ? "^[0-9]{3}_[a-z0-9_]+\\.sql$ (for example 004_add_receipts.sql)"
                              : "^[a-z0-9_]+\\.sql$ (for example payment.sql)");
            goto fail;
        }
        if (found == FILES_MAX) {
            snprintf(error, error_size, "more than %d SQL files in \"%s\"", FILES_MAX, dir);
            goto fail;
        }
        memcpy(list[found].name, name, strlen(name) + 1);   /* length checked above */
        list[found].version = numbered ? (name[0] - '0') * 100 + (name[1] - '0') * 10 +
                                             (name[2] - '0')
                                       : -1;
        found++;
    }
    closedir(handle);
    handle = NULL;
    qsort(list, (size_t) found, sizeof *list, compare_files);
    for (int i = 1; numbered && i < found; i++)
        if (list[i].version == list[i - 1].version) {
            snprintf(error, error_size,
                     "\"%s\" and \"%s\" in \"%s\" share version %03d; give each file its own "
                     "number",
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

/* Reads a whole SQL file, bounded and NUL-free. */
static char *read_sql_file(const char *path, char *error, size_t error_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(error, error_size, "cannot open \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        snprintf(error, error_size, "\"%s\" is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (info.st_size > NAGAR_MIGRATE_FILE_MAX) {
        snprintf(error, error_size, "\"%s\" is %lld bytes; the limit is %d — split it", path,
                 (long long) info.st_size, NAGAR_MIGRATE_FILE_MAX);
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
            snprintf(error, error_size, "cannot read \"%s\": %s", path,
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
        snprintf(error, error_size, "\"%s\" contains a NUL byte; it must be SQL text", path);
        free(text);
        return NULL;
    }
    return text;
}

static char *read_file_in(const char *dir, const char *name, char *error, size_t error_size)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int) sizeof path) {
        snprintf(error, error_size, "path of \"%s\" in \"%s\" is too long", name, dir);
        return NULL;
    }
    return read_sql_file(path, error, error_size);
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
    const char *values[] = {lock_key_text()};
    return exec_ignoring_result(db, "SELECT pg_advisory_xact_lock($1::bigint)", 1, values);
}

/* ---- bookkeeping -------------------------------------------------------------------- */

static const struct {
    const char *table;
    const char *create;
} BOOKKEEPING[] = {
    {"nagar_schema_migrations",
     "CREATE TABLE nagar_schema_migrations ("
     " version int PRIMARY KEY CHECK (version BETWEEN 0 AND 999),"
     " name text NOT NULL,"
     " sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),"
     " applied_at timestamptz NOT NULL DEFAULT now())"},
    {"nagar_schema_modules",
     "CREATE TABLE nagar_schema_modules ("
     " module text NOT NULL CHECK (module ~ '^[a-z_]{1,40}$'),"
     " version int NOT NULL CHECK (version BETWEEN 0 AND 999),"
     " name text NOT NULL,"
     " sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),"
     " applied_at timestamptz NOT NULL DEFAULT now(),"
     " PRIMARY KEY (module, version))"},
    {"nagar_schema_rules",
     "CREATE TABLE nagar_schema_rules ("
     " name text PRIMARY KEY,"
     " sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),"
     " applied_at timestamptz NOT NULL DEFAULT now())"},
};
#define BOOKKEEPING_COUNT (sizeof BOOKKEEPING / sizeof BOOKKEEPING[0])

/* Creates the bookkeeping tables once. Only their owner may change them:
 * the schema's default privileges would otherwise let the app role rewrite
 * the history of what was applied, so those grants are narrowed to SELECT. */
static int ensure_tables(nagar_db_t *db, void *arg)
{
    size_t tables = *(size_t *) arg;
    if (take_lock(db) != 0)
        return -1;
    for (size_t i = 0; i < tables; i++) {
        const char *name[] = {BOOKKEEPING[i].table};
        PGresult *result = nagar_db_exec(db, "SELECT to_regclass($1) IS NULL", 1, name);
        if (!result)
            return -1;
        bool missing = strcmp(PQgetvalue(result, 0, 0), "t") == 0;
        PQclear(result);
        if (!missing)
            continue;
        if (exec_ignoring_result(db, BOOKKEEPING[i].create, 0, NULL) != 0 ||
            exec_ignoring_result(db, "SELECT set_config('nagar.migrate_table', $1, true)", 1,
                                 name) != 0 ||
            exec_ignoring_result(
                db,
                "DO $$\n"
                "DECLARE grantee_name name; t regclass := to_regclass(current_setting("
                "'nagar.migrate_table'));\n"
                "BEGIN\n"
                "  FOR grantee_name IN\n"
                "    SELECT DISTINCT r.rolname\n"
                "      FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a\n"
                "      JOIN pg_roles r ON r.oid = a.grantee\n"
                "     WHERE c.oid = t AND a.grantee <> c.relowner\n"
                "  LOOP\n"
                "    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'\n"
                "                   ' ON %s FROM %I', t, grantee_name);\n"
                "  END LOOP;\n"
                "END $$",
                0, NULL) != 0)
            return -1;
    }
    return 0;
}

static int create_bookkeeping(nagar_db_t *db, size_t tables, char *error, size_t error_size,
                              const char *dir)
{
    if (nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, ensure_tables, &tables) != 0) {
        snprintf(error, error_size, "cannot create the bookkeeping tables for \"%s\": %s", dir,
                 nagar_db_error(db));
        return -1;
    }
    return 0;
}

static int apply_one(nagar_db_t *db, void *arg)
{
    apply_t *apply = arg;
    apply->skipped = false;
    apply->problem[0] = '\0';
    if (take_lock(db) != 0)
        return -1;

    char version[16];
    snprintf(version, sizeof version, "%d", apply->file->version);
    PGresult *result;
    if (apply->kind == KIND_MIGRATION) {
        const char *lookup[] = {version};
        result = nagar_db_exec(db, "SELECT name, sha256 FROM nagar_schema_migrations "
                                   "WHERE version = $1::int", 1, lookup);
    } else if (apply->kind == KIND_MODULE) {
        const char *lookup[] = {apply->module, version};
        result = nagar_db_exec(db, "SELECT name, sha256 FROM nagar_schema_modules "
                                   "WHERE module = $1 AND version = $2::int", 2, lookup);
    } else {
        const char *lookup[] = {apply->recorded};
        result = nagar_db_exec(db, "SELECT name, sha256 FROM nagar_schema_rules WHERE name = $1",
                               1, lookup);
    }
    if (!result)
        return -1;
    bool recorded = PQntuples(result) == 1;
    if (recorded) {
        const char *applied_name = PQgetvalue(result, 0, 0);
        const char *applied_sha = PQgetvalue(result, 0, 1);
        if (strcmp(applied_sha, apply->sha256) == 0 &&
            strcmp(applied_name, apply->kind == KIND_RULES ? apply->recorded
                                                           : apply->file->name) == 0)
            apply->skipped = true;
        else if (apply->kind == KIND_RULES)
            ;   /* changed rule file: applied again below */
        else if (strcmp(applied_sha, apply->sha256) != 0)
            snprintf(apply->problem, sizeof apply->problem,
                     "%s \"%s\" in \"%s\" was already applied with SHA-256 %s but the file now has "
                     "%s; an applied %s must never change — restore the file and put the change "
                     "in a new one",
                     KIND_NAMES[apply->kind], apply->file->name, apply->dir, applied_sha,
                     apply->sha256, KIND_NAMES[apply->kind]);
        else
            snprintf(apply->problem, sizeof apply->problem,
                     "version %03d was applied as \"%.200s\" but the file is now named \"%s\" in "
                     "\"%s\"; restore the original name",
                     apply->file->version, applied_name, apply->file->name, apply->dir);
    }
    PQclear(result);
    if (apply->skipped || apply->problem[0])
        return apply->problem[0] ? 1 : 0;

    /* The file may SET search_path; the bookkeeping row must still land in
     * the runner's schema, so remember it and restore it afterwards. The
     * file runs with the schema, then pg_temp, as its path: what SECURITY
     * DEFINER functions capture with SET search_path FROM CURRENT. */
    result = nagar_db_exec(db, "SELECT current_setting('search_path'), "
                               "set_config('search_path', quote_ident(current_schema()) || "
                               "', pg_temp', true)", 0, NULL);
    if (!result)
        return -1;
    char search_path[1024];
    snprintf(search_path, sizeof search_path, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    /* NOTICEs of DROP ... IF EXISTS and the like are not news. */
    if (exec_ignoring_result(db, "SET LOCAL client_min_messages = warning", 0, NULL) != 0 ||
        (apply->kind == KIND_RULES &&
         exec_ignoring_result(db, "SET LOCAL check_function_bodies = off", 0, NULL) != 0))
        return -1;

    /* SQL files are trusted code shipped with the service, not input, and
     * are multi-statement: this is the one place a file's text is executed
     * as is (PQexec). Everything else here is parameterised. */
    if (nagar_db_exec_trusted_script(db, apply->text) != 0)
        return -1;
    if (!nagar_db_in_transaction(db)) {
        snprintf(apply->problem, sizeof apply->problem,
                 "\"%s\" in \"%s\" ended the transaction itself (COMMIT, ROLLBACK or END); "
                 "remove transaction control from the file — the runner wraps each file in its "
                 "own transaction. Check what it left behind before running again",
                 apply->file->name, apply->dir);
        return 1;
    }
    const char *restore[] = {search_path};
    if (exec_ignoring_result(db, "SELECT set_config('search_path', $1, true)", 1, restore) != 0)
        return -1;
    if (apply->kind == KIND_MIGRATION) {
        const char *record[] = {version, apply->file->name, apply->sha256};
        return exec_ignoring_result(db,
                                    "INSERT INTO nagar_schema_migrations (version, name, sha256)"
                                    " VALUES ($1::int, $2, $3)",
                                    3, record);
    }
    if (apply->kind == KIND_MODULE) {
        const char *record[] = {apply->module, version, apply->file->name, apply->sha256};
        return exec_ignoring_result(db,
                                    "INSERT INTO nagar_schema_modules (module, version, name, "
                                    "sha256) VALUES ($1, $2::int, $3, $4)",
                                    4, record);
    }
    const char *record[] = {apply->recorded, apply->sha256};
    return exec_ignoring_result(db,
                                "INSERT INTO nagar_schema_rules (name, sha256) VALUES ($1, $2) "
                                "ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, "
                                "applied_at = now()",
                                2, record);
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

/* Applies the files of one directory in order. Returns the number applied
 * or -1; *skipped counts those already there. */
static int apply_files(nagar_db_t *db, kind_t kind, const char *module, const char *dir,
                       const sql_file_t *files, int count, int *skipped, char *error,
                       size_t error_size)
{
    int applied = 0;
    for (int i = 0; i < count; i++) {
        char *text = read_file_in(dir, files[i].name, error, error_size);
        if (!text)
            return -1;
        apply_t apply = {.kind = kind, .module = module, .dir = dir, .file = &files[i],
                         .text = text};
        /* A module's functions file is recorded as "<module>/<name>", apart
         * from the service's own rule file of the same name. */
        snprintf(apply.recorded, sizeof apply.recorded, "%s%s%s", module ? module : "",
                 module ? "/" : "", files[i].name);
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
                         "%s \"%s\" in \"%s\" failed and was rolled back: %s; fix the file (it "
                         "was not recorded) and run again",
                         KIND_NAMES[kind], files[i].name, dir, nagar_db_error(db));
            return -1;
        }
        if (apply.skipped) {
            (*skipped)++;
            continue;
        }
        applied++;
        json_t *fields = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I, s:s}", "kind", KIND_NAMES[kind],
                                   "module", module ? module : "", "version", files[i].version,
                                   "name", files[i].name, "sha256", apply.sha256, "duration_ms",
                                   (json_int_t) elapsed_ms(&start), "dir", dir);
        nagar_log_write(NAGAR_LOG_INFO, "migrate.applied", fields, "applied %s %s%s%s",
                        KIND_NAMES[kind], module ? module : "", module ? "/" : "", files[i].name);
    }
    return applied;
}

/* Applied versions whose file is gone are worth a warning, not a stop: the
 * schema already contains them and nothing will run them again. */
static void warn_about_missing_files(nagar_db_t *db, const sql_file_t *list, int count,
                                     const char *dir)
{
    char versions[FILES_MAX * 4 + 3];
    size_t used = (size_t) snprintf(versions, sizeof versions, "{");
    for (int i = 0; i < count; i++)
        used += (size_t) snprintf(versions + used, sizeof versions - used, "%s%d", i ? "," : "",
                                  list[i].version);
    snprintf(versions + used, sizeof versions - used, "}");
    const char *values[] = {versions};
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

/* ---- the layout change: replaced and retired migrations ---------------------------- */

static bool is_hex64(const char *text)
{
    if (strlen(text) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return false;
    return true;
}

/* Reads the "-- nagar-migrate:" lines of one migration's leading comments. */
static int parse_directives(const char *text, const sql_file_t *file, const char *sha,
                            directives_t *out, char *error, size_t error_size)
{
    static const char PREFIX[] = "-- nagar-migrate:";
    const char *line = text;
    while (line && strncmp(line, "--", 2) == 0) {
        const char *end = strchr(line, '\n');
        size_t length = end ? (size_t) (end - line) : strlen(line);
        if (length > sizeof PREFIX - 1 && strncmp(line, PREFIX, sizeof PREFIX - 1) == 0) {
            char body[512];
            snprintf(body, sizeof body, "%.*s", (int) (length - (sizeof PREFIX - 1)),
                     line + sizeof PREFIX - 1);
            char verb[16] = "", first[FILE_NAME_MAX + 1] = "", second[80] = "";
            int words = sscanf(body, " %15s %128s %79s", verb, first, second);
            if (out->count == DIRECTIVES_MAX) {
                snprintf(error, error_size, "\"%s\" has more than %d nagar-migrate lines",
                         file->name, DIRECTIVES_MAX);
                return -1;
            }
            directive_t *d = &out->items[out->count];
            memset(d, 0, sizeof *d);
            snprintf(d->new_sha256, sizeof d->new_sha256, "%s", sha);
            snprintf(d->new_name, sizeof d->new_name, "%s", file->name);
            if (words == 2 && strcmp(verb, "replaces") == 0 && is_hex64(first)) {
                d->version = file->version;
                snprintf(d->name, sizeof d->name, "%s", file->name);
                memcpy(d->sha256, first, 65);     /* is_hex64: 64 characters and the NUL */
            } else if (words == 3 && strcmp(verb, "retires") == 0 &&
                       numbered_name_is_valid(first) && is_hex64(second)) {
                d->retire = true;
                d->version = (first[0] - '0') * 100 + (first[1] - '0') * 10 + (first[2] - '0');
                snprintf(d->name, sizeof d->name, "%s", first);
                memcpy(d->sha256, second, 65);
            } else {
                snprintf(error, error_size,
                         "\"%s\": cannot read \"%.*s\"; write \"-- nagar-migrate: replaces "
                         "<sha256>\" or \"-- nagar-migrate: retires NNN_name.sql <sha256>\"",
                         file->name, (int) length, line);
                return -1;
            }
            out->count++;
        }
        line = end ? end + 1 : NULL;
    }
    return 0;
}

static int apply_directives(nagar_db_t *db, void *arg)
{
    directives_t *directives = arg;
    directives->problem[0] = '\0';
    if (take_lock(db) != 0)
        return -1;
    for (int i = 0; i < directives->count; i++) {
        const directive_t *d = &directives->items[i];
        char version[16];
        snprintf(version, sizeof version, "%d", d->version);
        const char *lookup[] = {version};
        PGresult *result = nagar_db_exec(db, "SELECT name, sha256 FROM nagar_schema_migrations "
                                             "WHERE version = $1::int", 1, lookup);
        if (!result)
            return -1;
        bool recorded = PQntuples(result) == 1;
        bool same = recorded && strcmp(PQgetvalue(result, 0, 0), d->name) == 0 &&
                    strcmp(PQgetvalue(result, 0, 1), d->sha256) == 0;
        bool already = recorded && !d->retire && strcmp(PQgetvalue(result, 0, 1),
                                                        d->new_sha256) == 0;
        char applied_name[FILE_NAME_MAX + 1] = "";
        if (recorded)
            snprintf(applied_name, sizeof applied_name, "%s", PQgetvalue(result, 0, 0));
        PQclear(result);
        if (!recorded || already)
            continue;
        if (!same) {
            if (!d->retire)
                continue;   /* another text of this version: apply_one will name it */
            snprintf(directives->problem, sizeof directives->problem,
                     "\"%s\" retires %s with SHA-256 %s, but this database applied version %03d "
                     "as \"%s\" with another text: it is not the layout this release upgrades; "
                     "restore it from a backup of that release or upgrade through it",
                     d->new_name, d->name, d->sha256, d->version, applied_name);
            return 1;
        }
        if (d->retire) {
            const char *values[] = {version};
            if (exec_ignoring_result(db, "DELETE FROM nagar_schema_migrations "
                                         "WHERE version = $1::int", 1, values) != 0)
                return -1;
            nagar_log_info("migrate.retired", "migration %s is retired: its SQL now lives in "
                           "modules and rule files (%s says so)", d->name, d->new_name);
        } else {
            const char *values[] = {version, d->new_sha256};
            if (exec_ignoring_result(db, "UPDATE nagar_schema_migrations SET sha256 = $2 "
                                         "WHERE version = $1::int", 2, values) != 0)
                return -1;
            nagar_log_info("migrate.replaced", "migration %s as applied is recorded as its new "
                           "text (%s): the tables are the same, the shared SQL moved to modules",
                           d->name, d->new_sha256);
        }
    }
    return 0;
}

/* Collects the directives of every migration and applies them. */
static int process_directives(nagar_db_t *db, const char *dir, const sql_file_t *files,
                              int count, char *error, size_t error_size)
{
    directives_t *directives = calloc(1, sizeof *directives);
    if (!directives) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        char *text = read_file_in(dir, files[i].name, error, error_size);
        if (!text) {
            rc = -1;
            break;
        }
        char sha[SHA256_HEX_SIZE];
        sha256_hex(text, sha);
        rc = parse_directives(text, &files[i], sha, directives, error, error_size);
        free(text);
    }
    for (int i = 0; rc == 0 && i < directives->count; i++)
        for (int f = 0; f < count && directives->items[i].retire; f++)
            if (files[f].version == directives->items[i].version) {
                snprintf(error, error_size,
                         "\"%s\" retires version %03d, which \"%s\" uses again; a retired "
                         "version number is never reused", directives->items[i].new_name,
                         files[f].version, files[f].name);
                rc = -1;
            }
    if (rc == 0 && directives->count > 0 &&
        nagar_db_transaction(db, NAGAR_DB_READ_COMMITTED, apply_directives, directives) != 0) {
        if (directives->problem[0])
            snprintf(error, error_size, "%s", directives->problem);
        else
            snprintf(error, error_size, "recording the layout change of \"%s\" failed: %s", dir,
                     nagar_db_error(db));
        rc = -1;
    }
    free(directives);
    return rc;
}

/* ---- modules -------------------------------------------------------------------------- */

typedef struct {
    char names[MODULES_MAX][MODULE_NAME_MAX + 1];
    int count;
} modules_t;

static bool module_name_is_valid(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > MODULE_NAME_MAX)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '_'))
            return false;
    return true;
}

static int module_index(const modules_t *modules, const char *name)
{
    for (int i = 0; i < modules->count; i++)
        if (strcmp(modules->names[i], name) == 0)
            return i;
    return -1;
}

/* Reads service_dir/sql/modules; no file means no modules. */
static int read_module_list(const char *service_dir, modules_t *out, char *error,
                            size_t error_size)
{
    out->count = 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/sql/modules", service_dir);
    FILE *file = fopen(path, "re");
    if (!file) {
        if (errno == ENOENT)
            return 0;
        snprintf(error, error_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[256];
    int number = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, file)) {
        number++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char name[MODULE_NAME_MAX + 2] = "";
        if (sscanf(line, " %41s", name) != 1)
            continue;
        if (!module_name_is_valid(name)) {
            snprintf(error, error_size, "%s line %d: \"%s\" is not a module name (1 to %d of "
                     "a-z and _)", path, number, name, MODULE_NAME_MAX);
            rc = -1;
        } else if (module_index(out, name) >= 0) {
            snprintf(error, error_size, "%s line %d: module %s is listed twice", path, number,
                     name);
            rc = -1;
        } else if (out->count == MODULES_MAX) {
            snprintf(error, error_size, "%s lists more than %d modules", path, MODULES_MAX);
            rc = -1;
        } else {
            memcpy(out->names[out->count++], name, strlen(name) + 1);   /* valid: bounded */
        }
    }
    fclose(file);
    return rc;
}

/* Checks the "-- requires: a, b" lines of a module's files against the list. */
static int check_requires(const modules_t *modules, int index, const char *text,
                          const char *file_name, char *error, size_t error_size)
{
    static const char PREFIX[] = "-- requires:";
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t length = end ? (size_t) (end - line) : strlen(line);
        if (length > sizeof PREFIX - 1 && strncmp(line, PREFIX, sizeof PREFIX - 1) == 0) {
            char list[256];
            snprintf(list, sizeof list, "%.*s", (int) (length - (sizeof PREFIX - 1)),
                     line + sizeof PREFIX - 1);
            char *save = NULL;
            for (char *name = strtok_r(list, " ,\t", &save); name;
                 name = strtok_r(NULL, " ,\t", &save)) {
                int at = module_index(modules, name);
                if (at < 0 || at >= index) {
                    snprintf(error, error_size,
                             "module %s (%s) requires module %s: list it before %s in the "
                             "service's sql/modules",
                             modules->names[index], file_name, name, modules->names[index]);
                    return -1;
                }
            }
        }
        line = end ? end + 1 : NULL;
    }
    return 0;
}

static int apply_module(nagar_db_t *db, const modules_t *modules, int index,
                        const char *modules_dir, int *skipped, char *error, size_t error_size)
{
    const char *module = modules->names[index];
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/%s", modules_dir, module) >= (int) sizeof dir) {
        snprintf(error, error_size, "path of module %s is too long", module);
        return -1;
    }
    int count = 0;
    sql_file_t *files = list_files(dir, true, false, &count, error, error_size);
    if (!files) {
        if (errno == ENOENT)
            snprintf(error, error_size, "there is no module %s in %s (no directory %s)", module,
                     modules_dir, dir);
        return -1;
    }
    int rc = count == 0 ? -1 : 0;
    if (count == 0)
        snprintf(error, error_size, "module %s has no NNN_name.sql files in %s", module, dir);
    for (int i = 0; i < count && rc == 0; i++) {
        char *text = read_file_in(dir, files[i].name, error, error_size);
        if (!text)
            rc = -1;
        else
            rc = check_requires(modules, index, text, files[i].name, error, error_size);
        free(text);
    }
    if (rc == 0)
        rc = apply_files(db, KIND_MODULE, module, dir, files, count, skipped, error, error_size);
    free(files);
    if (rc < 0)
        return rc;
    /* Then its functions, CREATE OR REPLACE by subject, applied again
     * whenever one changes (as a service's sql/ files are): a function is
     * changed in place instead of restated whole in a new numbered file. */
    char functions_dir[PATH_MAX];
    if (snprintf(functions_dir, sizeof functions_dir, "%s/functions", dir) >=
        (int) sizeof functions_dir) {
        snprintf(error, error_size, "path of module %s's functions is too long", module);
        return -1;
    }
    int function_count = 0;
    sql_file_t *functions = list_files(functions_dir, false, true, &function_count, error,
                                       error_size);
    if (!functions)
        return -1;
    int applied = apply_files(db, KIND_RULES, module, functions_dir, functions, function_count,
                              skipped, error, error_size);
    free(functions);
    return applied < 0 ? -1 : rc + applied;
}

/* ---- the runs --------------------------------------------------------------------------- */

static int start(nagar_db_t *db, const char *dir, char **error, size_t *error_size,
                 char *scratch, size_t scratch_size)
{
    if (!*error) {
        *error = scratch;
        *error_size = scratch_size;
    }
    (*error)[0] = '\0';
    if (!db || !dir) {
        snprintf(*error, *error_size, "nagar_migrate: no database or no directory");
        return -1;
    }
    if (sodium_init() < 0) {
        snprintf(*error, *error_size, "libsodium failed to initialise");
        return -1;
    }
    return 0;
}

static void log_done(int applied, int skipped, const char *dir)
{
    json_t *fields = json_pack("{s:i, s:i, s:s}", "applied", applied, "already_applied", skipped,
                               "dir", dir);
    nagar_log_write(NAGAR_LOG_INFO, "migrate.done", fields,
                    "%d file(s) applied, %d already applied", applied, skipped);
}

int nagar_migrate_run(nagar_db_t *db, const char *dir, char *error, size_t error_size)
{
    char scratch[1024];
    if (start(db, dir, &error, &error_size, scratch, sizeof scratch) != 0)
        return -1;
    int count = 0;
    sql_file_t *list = list_files(dir, true, false, &count, error, error_size);
    if (!list)
        return -1;
    if (create_bookkeeping(db, 1, error, error_size, dir) != 0) {
        free(list);
        return -1;
    }
    int skipped = 0;
    int applied = apply_files(db, KIND_MIGRATION, NULL, dir, list, count, &skipped, error,
                              error_size);
    if (applied >= 0) {
        warn_about_missing_files(db, list, count, dir);
        log_done(applied, skipped, dir);
    }
    free(list);
    return applied;
}

int nagar_migrate_service(nagar_db_t *db, const char *service_dir, const char *modules_dir,
                          char *error, size_t error_size)
{
    char scratch[1024];
    if (start(db, service_dir, &error, &error_size, scratch, sizeof scratch) != 0)
        return -1;
    modules_t modules;
    if (read_module_list(service_dir, &modules, error, error_size) != 0)
        return -1;
    if (modules.count > 0 && !modules_dir) {
        snprintf(error, error_size, "%s uses modules but no modules directory was given",
                 service_dir);
        return -1;
    }
    char migrations_dir[PATH_MAX], rules_dir[PATH_MAX];
    snprintf(migrations_dir, sizeof migrations_dir, "%s/migrations", service_dir);
    snprintf(rules_dir, sizeof rules_dir, "%s/sql", service_dir);
    int migration_count = 0, rule_count = 0;
    sql_file_t *migrations = list_files(migrations_dir, true, false, &migration_count, error,
                                        error_size);
    if (!migrations)
        return -1;
    sql_file_t *rules = list_files(rules_dir, false, true, &rule_count, error, error_size);
    if (!rules) {
        free(migrations);
        return -1;
    }
    int total = -1, skipped = 0;
    if (create_bookkeeping(db, BOOKKEEPING_COUNT, error, error_size, service_dir) == 0 &&
        process_directives(db, migrations_dir, migrations, migration_count, error,
                           error_size) == 0) {
        total = 0;
        for (int i = 0; i < modules.count && total >= 0; i++) {
            int applied = apply_module(db, &modules, i, modules_dir, &skipped, error, error_size);
            total = applied < 0 ? -1 : total + applied;
        }
        if (total >= 0) {
            int applied = apply_files(db, KIND_MIGRATION, NULL, migrations_dir, migrations,
                                      migration_count, &skipped, error, error_size);
            total = applied < 0 ? -1 : total + applied;
        }
        if (total >= 0) {
            int applied = apply_files(db, KIND_RULES, NULL, rules_dir, rules, rule_count,
                                      &skipped, error, error_size);
            total = applied < 0 ? -1 : total + applied;
        }
        if (total >= 0) {
            warn_about_missing_files(db, migrations, migration_count, migrations_dir);
            log_done(total, skipped, service_dir);
        }
    }
    free(migrations);
    free(rules);
    return total;
}
