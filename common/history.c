/*
 * history.c — checking the history of tracked tables (history.h).
 *
 * The row check is one statement per table, built here from the table's
 * primary key columns (read from the catalog, then checked to be plain
 * lower-case identifiers before they are quoted into the statement; the
 * table's own name is checked the same way): the last image of every key
 * on the history — an INSERT, UPDATE or BASELINE entry's new rows, or a
 * DELETE entry's old rows marking it gone — full-joined with the table's
 * current rows, both as jsonb. An entry's rows are JSON objects, or the
 * rows' text (a table set to history_rows_as_text, common/sql/history
 * 004), read back through the table's row type: either form compares the
 * same, and a chain may hold both.
 */
#include "history.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define FIELDS 11
#define KEY_COLUMNS_MAX 4
#define NAME_MAX_BYTES 63      /* PostgreSQL's identifiers: NAMEDATALEN - 1 */

const nagar_chain_kind_t nagar_history_chain = {
    .name = "history",
    .chains_sql = "SELECT tbl, ulb FROM (SELECT tbl, ulb FROM history_head UNION SELECT DISTINCT "
                  "tbl, ulb FROM history) c ORDER BY tbl, ulb",
    .page_sql = "SELECT tbl, ulb, seq::text, op, old_rows, new_rows, actor, actor_role, "
                "request_id, reason, recorded_us::text, encode(hash, 'hex') FROM history "
                "WHERE tbl = $1 AND ulb = $2 AND seq > $3::bigint ORDER BY history.seq LIMIT 5000",
    .head_sql = "SELECT seq, encode(hash, 'hex') FROM history_head WHERE tbl = $1 AND ulb = $2",
    .key_parts = 2,
    .fields = FIELDS,
    .seq_field = 2,
};

static int key_columns(nagar_db_t *db, const char *qualified, char columns[][NAME_MAX_BYTES + 1],
                       int *count, char *error, size_t error_size)
{
    const char *values[] = {qualified};
    PGresult *res = nagar_db_exec(
        db,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY (i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)",
        1, values);
    if (!res) {
        snprintf(error, error_size, "reading the primary key of %s failed: %s", qualified,
                 nagar_db_error(db));
        return -1;
    }
    int rows = PQntuples(res);
    int rc = 0;
    if (rows == 0 || rows > KEY_COLUMNS_MAX) {
        snprintf(error, error_size, "%s has %s primary key: its history cannot be checked",
                 qualified, rows == 0 ? "no" : "too wide a");
        rc = -1;
    }
    for (int i = 0; i < rows && rc == 0; i++) {
        const char *name = PQgetvalue(res, i, 0);
        if (!nagar_text_plain_name(name, NAME_MAX_BYTES)) {
            snprintf(error, error_size, "%s has a key column named \"%.64s\"", qualified, name);
            rc = -1;
        } else {
            snprintf(columns[i], NAME_MAX_BYTES + 1, "%s", name);
        }
    }
    PQclear(res);
    *count = rows;
    return rc;
}

/* "jsonb_build_array(<row>->'a', <row>->'b')::text" into out. */
static void key_expression(char *out, size_t size, const char *row,
                           char columns[][NAME_MAX_BYTES + 1], int count)
{
    size_t used = (size_t) snprintf(out, size, "jsonb_build_array(");
    for (int i = 0; i < count && used < size; i++)
        used += (size_t) snprintf(out + used, size - used, "%s%s->'%s'", i ? ", " : "", row,
                                  columns[i]);
    if (used < size)
        snprintf(out + used, size - used, ")::text");
}

int nagar_history_check_rows(nagar_db_t *db, const char *schema, const char *table,
                             nagar_history_mismatch_t **mismatches, size_t *count, char *error,
                             size_t error_size)
{
    *mismatches = NULL;
    *count = 0;
    if (!nagar_text_plain_name(schema, NAME_MAX_BYTES) ||
        !nagar_text_plain_name(table, NAME_MAX_BYTES)) {
        snprintf(error, error_size, "\"%.64s.%.64s\" is not a table name", schema, table);
        return -1;
    }
    char qualified[2 * NAME_MAX_BYTES + 8];
    snprintf(qualified, sizeof qualified, "%s.%s", schema, table);
    char columns[KEY_COLUMNS_MAX][NAME_MAX_BYTES + 1];
    int key_count = 0;
    if (key_columns(db, qualified, columns, &key_count, error, error_size) != 0)
        return -1;
    char image_key[512], row_key[512], element[512], sql[8192];
    key_expression(image_key, sizeof image_key, "x.e", columns, key_count);
    key_expression(row_key, sizeof row_key, "c.r", columns, key_count);
    /* An element is the row as a JSON object, or (a table recording its
     * rows as text, history 004) the row's text, read back through the
     * table's own row type into the same JSON. */
    snprintf(element, sizeof element,
             "CASE WHEN jsonb_typeof(r.raw) = 'string' THEN to_jsonb((r.raw #>> '{}')::"
             "\"%s\".\"%s\") ELSE r.raw END", schema, table);
    snprintf(sql, sizeof sql,
             "WITH img AS ("
             " SELECT DISTINCT ON (k) k, seq, ulb, gone, img FROM ("
             "  SELECT %s AS k, h.seq, h.ulb, h.op = 'DELETE' AS gone, x.e AS img, x.o"
             "    FROM \"%s\".history h CROSS JOIN LATERAL (SELECT %s AS e, r.o"
             "         FROM jsonb_array_elements("
             "         coalesce(nullif(CASE WHEN h.op = 'DELETE' THEN h.old_rows ELSE h.new_rows "
             "END, ''), '[]')::jsonb)"
             "         WITH ORDINALITY AS r(raw, o)) x"
             "   WHERE h.tbl = $1 AND (h.op = 'DELETE' OR h.new_rows <> '')) s"
             " ORDER BY k, seq DESC, o DESC),"
             " cur AS (SELECT %s AS k, c.r FROM (SELECT to_jsonb(t) AS r FROM \"%s\".\"%s\" t) c) "
             "SELECT coalesce(cur.k, img.k), coalesce(img.ulb, cur.r->>'ulb', ''), "
             "       coalesce(img.seq, 0),"
             "       CASE WHEN img.k IS NULL THEN 'the row is on no history entry: it was added "
             "outside the rules with the triggers off'"
             "            WHEN cur.k IS NULL THEN 'the row the history holds is gone: it was "
             "removed with the triggers off'"
             "            WHEN img.gone THEN 'the row the history deleted is back'"
             "            ELSE 'the row differs from its last history entry: it was changed "
             "with the triggers off' END"
             "  FROM cur FULL JOIN img ON img.k = cur.k"
             " WHERE img.k IS NULL OR (cur.k IS NULL AND NOT img.gone) OR (cur.k IS NOT NULL AND "
             "img.gone) OR cur.r <> img.img"
             " ORDER BY 1 LIMIT %d",
             image_key, schema, element, row_key, schema, table, NAGAR_HISTORY_MISMATCHES_MAX);
    /* The triggers render timestamps in UTC and dates in ISO order; so must
     * the rows compared, and the rows read back from text. */
    PGresult *res = nagar_db_exec(db,
                                  "SELECT set_config('TimeZone', 'UTC', false), "
                                  "set_config('DateStyle', 'ISO, YMD', false)", 0, NULL);
    if (!res) {
        snprintf(error, error_size, "setting the time zone and date style failed: %s",
                 nagar_db_error(db));
        return -1;
    }
    PQclear(res);
    const char *values[] = {table};
    res = nagar_db_exec(db, sql, 1, values);
    if (!res) {
        snprintf(error, error_size, "comparing %s with its history failed: %s", qualified,
                 nagar_db_error(db));
        return -1;
    }
    /* The entries among themselves: the row an UPDATE or DELETE found must
     * be the one the entry before it left; a change with the triggers off
     * between them shows here even when a later change covered it. */
    char continuity[8192];
    snprintf(continuity, sizeof continuity,
             "WITH ev AS ("
             " SELECT %s AS k, h.seq, h.ulb, s.side, x.e AS img"
             "   FROM \"%s\".history h"
             "   CROSS JOIN LATERAL (VALUES ('old', h.old_rows), ('new', h.new_rows)) s(side, rows)"
             "   CROSS JOIN LATERAL (SELECT %s AS e FROM jsonb_array_elements("
             "        coalesce(nullif(s.rows, ''), '[]')::jsonb) AS r(raw)) x"
             "  WHERE h.tbl = $1),"
             " ordered AS ("
             " SELECT k, seq, ulb, side, img,"
             "        lag(img) OVER w AS prev, lag(side) OVER w AS prev_side,"
             "        lag(seq) OVER w AS prev_seq"
             "   FROM ev WINDOW w AS (PARTITION BY k ORDER BY seq, side DESC)) "
             "SELECT k, ulb, seq, CASE WHEN prev IS NULL OR prev_side <> 'new' THEN 'entry ' || seq "
             "|| ' changed a row the history never had: it was added with the triggers off'"
             " ELSE 'the row was changed between entries ' || prev_seq || ' and ' || seq || "
             "' with the triggers off' END"
             "  FROM ordered WHERE side = 'old' AND (prev IS NULL OR prev_side <> 'new' OR "
             "prev <> img)"
             " ORDER BY 1, 3 LIMIT %d", image_key, schema, element, NAGAR_HISTORY_MISMATCHES_MAX);
    PGresult *gaps = nagar_db_exec(db, continuity, 1, values);
    if (!gaps) {
        PQclear(res);
        snprintf(error, error_size, "reading the history of %s in order failed: %s", qualified,
                 nagar_db_error(db));
        return -1;
    }
    int rows = PQntuples(res), more = PQntuples(gaps);
    nagar_history_mismatch_t *out = calloc((size_t) (rows + more) + 1, sizeof *out);
    if (!out) {
        PQclear(res);
        PQclear(gaps);
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    for (int i = 0; i < rows + more; i++) {
        PGresult *from = i < rows ? res : gaps;
        int row = i < rows ? i : i - rows;
        snprintf(out[i].key, sizeof out[i].key, "%s", PQgetvalue(from, row, 0));
        snprintf(out[i].ulb, sizeof out[i].ulb, "%.15s", PQgetvalue(from, row, 1));
        out[i].seq = strtoll(PQgetvalue(from, row, 2), NULL, 10);
        snprintf(out[i].problem, sizeof out[i].problem, "%s", PQgetvalue(from, row, 3));
    }
    PQclear(res);
    PQclear(gaps);
    *mismatches = out;
    *count = (size_t) (rows + more);
    return rows + more;
}

int nagar_history_tracked(nagar_db_t *db, const char *schema, const char *table, char *problem,
                          size_t problem_size)
{
    char qualified[2 * NAME_MAX_BYTES + 8];
    snprintf(qualified, sizeof qualified, "%s.%s", schema, table);
    const char *values[] = {qualified, table};
    PGresult *res = nagar_db_exec(
        db,
        "SELECT e.event, t.tgenabled FROM unnest(ARRAY['insert', 'update', 'delete']) e(event) "
        "LEFT JOIN pg_trigger t ON t.tgrelid = to_regclass($1) "
        "AND t.tgname = $2 || '_history_' || e.event ORDER BY 1",
        2, values);
    if (!res)
        return -1;
    int rc = 1;
    for (int i = 0; i < PQntuples(res) && rc == 1; i++) {
        const char *enabled = PQgetvalue(res, i, 1);
        if (PQgetisnull(res, i, 1) || strcmp(enabled, "D") == 0) {
            snprintf(problem, problem_size, "the %s trigger of %s's history is %s",
                     PQgetvalue(res, i, 0), qualified,
                     PQgetisnull(res, i, 1) ? "gone" : "disabled");
            rc = 0;
        }
    }
    PQclear(res);
    return rc;
}
