/*
 * reading.c — meter readings (reading.h). The rules (lower than the last
 * reading, implausibly high, one per month, replacement) are
 * wt_reading_insert and friends in sql/reading.sql; here the
 * import CSV becomes rows.
 */
#include "reading.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_COLUMNS 3
#define CSV_FIELD_MAX 40

/* One line split at commas into at most CSV_COLUMNS fields of plain text
 * (the export of meter-reading devices has no quoting). Returns the number
 * of fields, or -1 when one is too long. */
static int split_line(const char *line, size_t length, char fields[][CSV_FIELD_MAX + 1])
{
    int count = 0;
    size_t used = 0;
    for (size_t i = 0; i <= length; i++) {
        if (i == length || line[i] == ',') {
            if (count < CSV_COLUMNS)
                fields[count][used] = '\0';
            count++;
            used = 0;
            continue;
        }
        if (line[i] == '\r' && i + 1 == length)
            continue;
        if (count < CSV_COLUMNS) {
            if (used == CSV_FIELD_MAX)
                return -1;
            fields[count][used++] = line[i];
        }
    }
    return count;
}

json_t *water_tax_reading_csv_rows(const char *csv, char *error, size_t error_size)
{
    json_t *rows = json_array();
    if (!rows) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    const char *cursor = csv;
    for (int line = 1; *cursor; line++) {
        const char *end = strchr(cursor, '\n');
        size_t length = end ? (size_t) (end - cursor) : strlen(cursor);
        char fields[CSV_COLUMNS][CSV_FIELD_MAX + 1];
        int count = split_line(cursor, length, fields);
        cursor += length + (end ? 1 : 0);
        if (count == 1 && fields[0][0] == '\0')
            continue;     /* a blank line */
        if (count != CSV_COLUMNS) {
            snprintf(error, error_size, "csv line %d has %d fields of at most %d characters; "
                     "every line needs 3: connection_id,reading_date,reading_litres",
                     line, count < 0 ? 0 : count, CSV_FIELD_MAX);
            json_decref(rows);
            return NULL;
        }
        if (line == 1) {
            if (strcmp(fields[0], "connection_id") || strcmp(fields[1], "reading_date") ||
                strcmp(fields[2], "reading_litres")) {
                snprintf(error, error_size, "csv line 1 must be the header "
                         "connection_id,reading_date,reading_litres");
                json_decref(rows);
                return NULL;
            }
            continue;
        }
        if (json_array_size(rows) == READING_IMPORT_MAX_ROWS) {
            snprintf(error, error_size, "csv has more than %d rows; send it in chunks, each "
                     "with its own idempotency key", READING_IMPORT_MAX_ROWS);
            json_decref(rows);
            return NULL;
        }
        /* The litres stay text: the rule reports a malformed number on its row. */
        json_t *row = json_pack("{s:i, s:s, s:s, s:s}", "line", line, "connectionId", fields[0],
                                "readingDate", fields[1], "readingLitres", fields[2]);
        if (!row || json_array_append_new(rows, row) != 0) {
            snprintf(error, error_size, "csv line %d holds text that is not valid UTF-8", line);
            json_decref(rows);
            return NULL;
        }
    }
    if (json_array_size(rows) == 0) {
        snprintf(error, error_size, "csv has no readings after its header");
        json_decref(rows);
        return NULL;
    }
    return rows;
}

int water_tax_reading_import(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    wt_t *self = arg;
    const Nagar__WaterTax__ImportReadingsRequest *request =
        (const Nagar__WaterTax__ImportReadingsRequest *) message;
    char error[512];
    json_t *rows = water_tax_reading_csv_rows(request->csv, error, sizeof error);
    if (!rows)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "csv", "%s",
                                      error);
    return nagar_rules_import(&self->rules, call, message, request->ulb, rows,
                              "wt_reading_import",
                              &nagar__water_tax__import_readings_reply__descriptor);
}
