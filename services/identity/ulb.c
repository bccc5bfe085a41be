/*
 * ulb.c — ULB master data: list, search, get, create, and the LGD loader.
 *
 * Lists are ordered by (name, code) and paged by keyset (the last name and
 * code seen, in an opaque token), so a page never skips or repeats a body
 * while others are added. The total counts every body matching the filters.
 */
#include "ulb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"

#define ULB_PAGE_DEFAULT 50
#define ULB_PAGE_MAX 200
#define CSV_LINE_MAX 4096
#define CSV_FIELDS 6

static const char ULB_COLUMNS[] =
    "code, name, type, district_code, district_name, census2011_code";

static void ulb_from_row(Nagar__Identity__Ulb *ulb, PGresult *result, int row)
{
    nagar__identity__ulb__init(ulb);
    ulb->code = PQgetvalue(result, row, 0);
    ulb->name = PQgetvalue(result, row, 1);
    ulb->type = (Nagar__Identity__UlbType) atoi(PQgetvalue(result, row, 2));
    ulb->district_code = PQgetvalue(result, row, 3);
    ulb->district_name = PQgetvalue(result, row, 4);
    ulb->census2011_code = PQgetvalue(result, row, 5);
}

static bool ulb_code_valid(const char *code)
{
    return nagar_text_digits(code, 1, 10);
}

int identity_ulb_exists(identity_t *self, const char *code)
{
    const char *values[] = {code};
    PGresult *result = nagar_service_query(self->db, "ulb_exists",
                                           "SELECT 1 FROM identity.ulb WHERE code = $1", 1, values);
    if (!result)
        return -1;
    int found = PQntuples(result) == 1;
    PQclear(result);
    return found;
}

int identity_ulb_list(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__ListUlbsRequest *request =
        (const Nagar__Identity__ListUlbsRequest *) message;

    if (!identity_text_valid(request->query, 0, 100))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "query",
                                      "query must be at most 100 printable characters");
    if ((int) request->type < 0 || (int) request->type > 3)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "type",
                                      "type must be NAGAR_NIGAM, NAGAR_PALIKA_PARISHAD or "
                                      "NAGAR_PARISHAD, not %d", (int) request->type);
    if (!identity_text_valid(request->district, 0, 100))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "district",
                                      "district must be a district name or LGD code of at most "
                                      "100 characters");
    identity_page_t page;   /* after the name and code */
    if (identity_page_read(&page, call, request->page_size, request->page_token,
                           ULB_PAGE_DEFAULT, ULB_PAGE_MAX, 2, ulb_code_valid) != 0)
        return -1;

    char type_text[8];
    snprintf(type_text, sizeof type_text, "%d", (int) request->type);
    const char *values[] = {request->query, type_text, request->district,
                            page.after ? page.parts[0] : NULL, page.after ? page.parts[1] : NULL,
                            page.limit};
    static const char FILTER[] =
        "($1 = '' OR strpos(lower(name), lower($1)) > 0) AND ($2::int = 0 OR type = $2::int) "
        "AND ($3 = '' OR district_code = $3 OR lower(district_name) = lower($3))";
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM identity.ulb WHERE %s AND ($4::text IS NULL OR (name, code) > "
             "($4::text, $5::text)) ORDER BY name, code LIMIT $6::int",
             ULB_COLUMNS, FILTER);
    PGresult *result = nagar_service_query(self->db, "ulb_list", sql, 6, values);
    if (!result)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM identity.ulb WHERE %s", FILTER);
    PGresult *count = nagar_service_query(self->db, "ulb_count", sql, 3, values);
    if (!count) {
        PQclear(result);
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    }

    char next[512];
    static const int token_columns[] = {1, 0};   /* name, code */
    int shown = identity_page_end(result, &page, token_columns, 2, next, sizeof next);
    Nagar__Identity__Ulb **ulbs = nagar_reply_list((size_t) shown, sizeof **ulbs);
    for (int i = 0; ulbs && i < shown; i++)
        ulb_from_row(ulbs[i], result, i);
    Nagar__Identity__ListUlbsReply reply = NAGAR__IDENTITY__LIST_ULBS_REPLY__INIT;
    reply.total = (uint32_t) strtoul(PQgetvalue(count, 0, 0), NULL, 10);
    PQclear(count);
    return nagar_reply_page(call, &reply.base, "ulbs", ulbs, (size_t) shown, next, result);
}

int identity_ulb_get(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__GetUlbRequest *request =
        (const Nagar__Identity__GetUlbRequest *) message;
    if (!nagar_text_digits(request->code, 1, 10))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "code",
                                      "code must be an LGD code of 1 to 10 digits");
    const char *values[] = {request->code};
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM identity.ulb WHERE code = $1", ULB_COLUMNS);
    PGresult *result = nagar_service_query(self->db, "ulb_get", sql, 1, values);
    if (!result)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    int rc;
    if (PQntuples(result) != 1) {
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__NOT_FOUND, "code",
                                    "no ULB has LGD code %s", request->code);
    } else {
        Nagar__Identity__Ulb ulb;
        ulb_from_row(&ulb, result, 0);
        rc = nagar_worker_call_reply(call, &ulb.base);
    }
    PQclear(result);
    return rc;
}

typedef struct {
    nagar_keyed_work_t base;      /* first: the key, the outcome */
    identity_t *self;
    const Nagar__Identity__Ulb *ulb;
} create_work_t;

static int create_work(nagar_db_t *db, void *arg)
{
    (void) db;
    create_work_t *work = arg;
    identity_t *self = work->self;
    const Nagar__Identity__Ulb *ulb = work->ulb;
    int begun;
    if (!nagar_keyed_work_begin(&work->base, &begun))
        return begun;

    char type_text[8];
    snprintf(type_text, sizeof type_text, "%d", (int) ulb->type);
    const char *values[] = {ulb->code, ulb->name, type_text, ulb->district_code,
                            ulb->district_name, ulb->census2011_code};
    PGresult *result = nagar_service_query(
        self->db, "ulb_create",
        "INSERT INTO identity.ulb (code, name, type, district_code, district_name, "
        "census2011_code, source) VALUES ($1, $2, $3::smallint, $4, $5, $6, 'staff') "
        "ON CONFLICT (code) DO NOTHING RETURNING code",
        6, values);
    if (!result)
        return -1;
    int inserted = PQntuples(result);
    PQclear(result);
    if (inserted != 1) {
        nagar_outcome_set(&work->base.outcome, NAGAR__STATUS_CODE__CONFLICT, "ulb.code",
                          "a ULB with LGD code %s already exists", ulb->code);
        return 1;
    }
    json_t *detail = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "code", ulb->code, "name",
                               ulb->name, "type", (int) ulb->type, "districtCode",
                               ulb->district_code, "districtName", ulb->district_name,
                               "census2011Code", ulb->census2011_code);
    if (identity_audit_append(self, work->base.call, NULL, NULL, "ulb.create", ulb->code,
                              ulb->code, detail) != 0)
        return -1;
    return nagar_keyed_work_store(&work->base, &ulb->base);
}

int identity_ulb_create(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__CreateUlbRequest *request =
        (const Nagar__Identity__CreateUlbRequest *) message;
    if (!nagar_actor_is(call, "STATE_ADMIN"))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                      "adding a ULB needs the STATE_ADMIN role");
    const Nagar__Identity__Ulb *ulb = request->ulb;
    if (!ulb)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                      "ulb is required");
    if (!nagar_text_digits(ulb->code, 1, 10))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb.code",
                                      "ulb.code must be an LGD code of 1 to 10 digits");
    if (!identity_text_valid(ulb->name, 1, 100))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb.name",
                                      "ulb.name must be 1 to 100 printable characters");
    if ((int) ulb->type < 1 || (int) ulb->type > 3)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb.type",
                                      "ulb.type must be NAGAR_NIGAM, NAGAR_PALIKA_PARISHAD or "
                                      "NAGAR_PARISHAD");
    if (!nagar_text_digits(ulb->district_code, 1, 10))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "ulb.districtCode",
                                      "ulb.districtCode must be an LGD district code of 1 to 10 "
                                      "digits");
    if (!identity_text_valid(ulb->district_name, 1, 100))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "ulb.districtName",
                                      "ulb.districtName must be 1 to 100 printable characters");
    if (!nagar_text_digits(ulb->census2011_code, 0, 10))
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                                      "ulb.census2011Code",
                                      "ulb.census2011Code must be empty or up to 10 digits");

    create_work_t work = {.base = IDENTITY_KEYED_WORK(self, call, message), .self = self,
                          .ulb = ulb};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, create_work, &work);
    return nagar_keyed_work_answer(&work.base, rc, &nagar__identity__ulb__descriptor, &ulb->base);
}

/* ---- LGD CSV loader ------------------------------------------------------ */

/* Splits one RFC 4180 record (already read as one line: the file has no
 * quoted newlines) into fields, unquoting in place. Returns the number of
 * fields or -1 on a stray quote. */
static int csv_split(char *line, char *fields[], int max_fields)
{
    int count = 0;
    char *read = line;
    while (count < max_fields) {
        char *write = read;
        fields[count++] = write;
        if (*read == '"') {
            read++;
            for (;;) {
                if (*read == '\0')
                    return -1;
                if (*read == '"') {
                    if (read[1] == '"') {
                        *write++ = '"';
                        read += 2;
                        continue;
                    }
                    read++;
                    break;
                }
                *write++ = *read++;
            }
            if (*read != ',' && *read != '\0')
                return -1;
        } else {
            while (*read && *read != ',') {
                if (*read == '"')
                    return -1;
                *write++ = *read++;
            }
        }
        char separator = *read;
        *write = '\0';
        if (separator == '\0')
            return count;
        read++;
    }
    return -1;   /* more fields than expected */
}

typedef struct {
    identity_t *self;
    FILE *file;
    const char *path;
    long inserted, updated, unchanged, skipped;
    char error[512];
} seed_work_t;

static int seed_work(nagar_db_t *db, void *arg)
{
    (void) db;
    seed_work_t *work = arg;
    work->inserted = work->updated = work->unchanged = work->skipped = 0;
    work->error[0] = '\0';
    rewind(work->file);
    char line[CSV_LINE_MAX + 2];
    long number = 0;
    while (fgets(line, sizeof line, work->file)) {
        number++;
        size_t length = strlen(line);
        if (length > CSV_LINE_MAX) {
            snprintf(work->error, sizeof work->error, "%s line %ld: longer than %d bytes",
                     work->path, number, CSV_LINE_MAX);
            return 1;
        }
        while (length && (line[length - 1] == '\n' || line[length - 1] == '\r'))
            line[--length] = '\0';
        if (number == 1) {
            if (strcmp(line, "lgd_code,name,lgd_type_code,census2011_code,district_code,"
                             "district_name") != 0) {
                snprintf(work->error, sizeof work->error,
                         "%s line 1: expected the header lgd_code,name,lgd_type_code,"
                         "census2011_code,district_code,district_name",
                         work->path);
                return 1;
            }
            continue;
        }
        if (length == 0)
            continue;
        char *fields[CSV_FIELDS];
        if (csv_split(line, fields, CSV_FIELDS) != CSV_FIELDS) {
            snprintf(work->error, sizeof work->error,
                     "%s line %ld: expected %d comma-separated fields (RFC 4180 quoting)",
                     work->path, number, CSV_FIELDS);
            return 1;
        }
        const char *lgd_type = fields[2];
        int type;
        if (strcmp(lgd_type, "4") == 0)
            type = NAGAR__IDENTITY__ULB_TYPE__NAGAR_NIGAM;
        else if (strcmp(lgd_type, "5") == 0)
            type = NAGAR__IDENTITY__ULB_TYPE__NAGAR_PALIKA_PARISHAD;
        else if (strcmp(lgd_type, "7") == 0)
            type = NAGAR__IDENTITY__ULB_TYPE__NAGAR_PARISHAD;
        else if (strcmp(lgd_type, "8") == 0) {
            work->skipped++;   /* cantonment-like bodies are not municipal */
            continue;
        } else {
            snprintf(work->error, sizeof work->error,
                     "%s line %ld: lgd_type_code \"%.8s\" is not 4, 5, 7 or 8", work->path, number,
                     lgd_type);
            return 1;
        }
        if (!nagar_text_digits(fields[0], 1, 10) || !identity_text_valid(fields[1], 1, 100) ||
            !nagar_text_digits(fields[3], 0, 10) || !nagar_text_digits(fields[4], 1, 10) ||
            !identity_text_valid(fields[5], 1, 100)) {
            snprintf(work->error, sizeof work->error,
                     "%s line %ld: a field breaks its rule (code and district code 1-10 digits, "
                     "census code 0-10 digits, names 1-100 characters)",
                     work->path, number);
            return 1;
        }
        char type_text[4];
        snprintf(type_text, sizeof type_text, "%d", type);
        const char *values[] = {fields[0], fields[1], type_text, fields[4], fields[5], fields[3]};
        /* xmax = 0 tells an inserted row from an updated one; an unchanged
         * row is not touched at all (WHERE ... IS DISTINCT FROM). */
        PGresult *result = nagar_service_query(
            work->self->db, "ulb_seed",
            "INSERT INTO identity.ulb AS u (code, name, type, district_code, district_name, "
            "census2011_code, source) VALUES ($1, $2, $3::smallint, $4, $5, $6, 'lgd') "
            "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, type = EXCLUDED.type, "
            "district_code = EXCLUDED.district_code, district_name = EXCLUDED.district_name, "
            "census2011_code = EXCLUDED.census2011_code, updated_at = now() "
            "WHERE (u.name, u.type, u.district_code, u.district_name, u.census2011_code) "
            "IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.type, EXCLUDED.district_code, "
            "EXCLUDED.district_name, EXCLUDED.census2011_code) "
            "RETURNING (xmax = 0) AS inserted",
            6, values);
        if (!result)
            return -1;
        if (PQntuples(result) == 0)
            work->unchanged++;
        else if (strcmp(PQgetvalue(result, 0, 0), "t") == 0)
            work->inserted++;
        else
            work->updated++;
        PQclear(result);
    }
    if (ferror(work->file)) {
        snprintf(work->error, sizeof work->error, "%s: read error: %s", work->path,
                 strerror(errno));
        return 1;
    }
    if (number == 0) {
        snprintf(work->error, sizeof work->error, "%s is empty", work->path);
        return 1;
    }
    if (work->inserted + work->updated > 0) {
        json_t *detail = json_pack("{s:s, s:i, s:i, s:i, s:i}", "file", work->path, "inserted",
                                   (int) work->inserted, "updated", (int) work->updated,
                                   "unchanged", (int) work->unchanged, "skipped",
                                   (int) work->skipped);
        if (identity_audit_append(work->self, NULL, "system:seed-ulbs", "SYSTEM", "ulb.seed", "ulb",
                                  "", detail) != 0)
            return -1;
    }
    return 0;
}

int identity_ulb_seed(identity_t *self, const char *csv_path, char *error, size_t error_size)
{
    FILE *file = fopen(csv_path, "re");
    if (!file) {
        snprintf(error, error_size, "cannot open %s: %s", csv_path, strerror(errno));
        return -1;
    }
    seed_work_t work = {.self = self, .file = file, .path = csv_path};
    int rc = nagar_db_transaction(self->db, NAGAR_DB_READ_COMMITTED, seed_work, &work);
    fclose(file);
    if (rc == 1) {
        snprintf(error, error_size, "%s; nothing was loaded", work.error);
        return -1;
    }
    if (rc != 0) {
        snprintf(error, error_size, "loading %s failed in the database: %s; nothing was loaded",
                 csv_path, nagar_db_error(self->db));
        return -1;
    }
    json_t *fields = json_pack("{s:s, s:i, s:i, s:i, s:i}", "file", csv_path, "inserted",
                               (int) work.inserted, "updated", (int) work.updated, "unchanged",
                               (int) work.unchanged, "skipped", (int) work.skipped);
    nagar_log_write(NAGAR_LOG_INFO, "identity.ulbs_seeded", fields,
                    "ULB master data loaded: %ld inserted, %ld updated, %ld unchanged, %ld "
                    "skipped (not municipal)",
                    work.inserted, work.updated, work.unchanged, work.skipped);
    printf("seed-ulbs: %ld inserted, %ld updated, %ld unchanged, %ld skipped\n", work.inserted,
           work.updated, work.unchanged, work.skipped);
    return 0;
}
