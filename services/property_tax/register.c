/*
 * register.c — the property register's methods (register.h). The rules
 * (validation, numbering, reach) are pt_property_* in sql/property.sql; this
 * file wires them and turns an import CSV into rows.
 */
#include "register.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_COLUMNS 10
#define CSV_FIELD_MAX 300

static const char *const CSV_HEADER[CSV_COLUMNS] = {
    "ward", "zone", "address", "usage", "construction", "occupancy", "exemption",
    "owner_name", "owner_mobile", "area_sqft"};

/* Reads one CSV field at *cursor (RFC 4180 quoting); advances past its
 * separator. Returns 1 when the line ends after it, 0 when another field
 * follows, -1 on a malformed or overlong field. */
static int csv_field(const char **cursor, char *out, size_t out_size)
{
    const char *p = *cursor;
    size_t used = 0;
    bool quoted = *p == '"';
    if (quoted)
        p++;
    for (;;) {
        char c = *p;
        if (quoted) {
            if (c == '\0')
                return -1;
            if (c == '"') {
                if (p[1] == '"') {
                    c = '"';
                    p++;
                } else {
                    p++;
                    quoted = false;
                    continue;
                }
            }
        } else if (c == ',' || c == '\n' || c == '\r' || c == '\0') {
            break;
        }
        if (used + 1 >= out_size)
            return -1;
        out[used++] = c;
        p++;
    }
    out[used] = '\0';
    int end_of_line = *p != ',';
    if (*p == ',')
        p++;
    else if (*p == '\r' && p[1] == '\n')
        p += 2;
    else if (*p == '\r' || *p == '\n')
        p++;
    *cursor = p;
    return end_of_line;
}

json_t *property_tax_register_csv_rows(const char *csv, char *error, size_t error_size)
{
    const char *cursor = csv;
    char fields[CSV_COLUMNS][CSV_FIELD_MAX + 1];
    json_t *rows = json_array();
    if (!rows) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    for (int line = 1; *cursor; line++) {
        int count = 0, end = 0;
        while (!end) {
            char scratch[CSV_FIELD_MAX + 1];
            end = csv_field(&cursor, count < CSV_COLUMNS ? fields[count] : scratch,
                            CSV_FIELD_MAX + 1);
            if (end < 0) {
                snprintf(error, error_size, "csv line %d: field %d is longer than %d characters or "
                         "has an unterminated quote", line, count + 1, CSV_FIELD_MAX);
                json_decref(rows);
                return NULL;
            }
            count++;
        }
        if (count == 1 && fields[0][0] == '\0')
            continue;     /* a blank line */
        if (count != CSV_COLUMNS) {
            snprintf(error, error_size, "csv line %d has %d fields; every line needs %d: ward,zone,"
                     "address,usage,construction,occupancy,exemption,owner_name,owner_mobile,"
                     "area_sqft", line, count, CSV_COLUMNS);
            json_decref(rows);
            return NULL;
        }
        if (line == 1) {
            for (int i = 0; i < CSV_COLUMNS; i++)
                if (strcmp(fields[i], CSV_HEADER[i]) != 0) {
                    snprintf(error, error_size, "csv line 1 must be the header ward,zone,address,"
                             "usage,construction,occupancy,exemption,owner_name,owner_mobile,"
                             "area_sqft (column %d is \"%s\")", i + 1, fields[i]);
                    json_decref(rows);
                    return NULL;
                }
            continue;
        }
        if (json_array_size(rows) == REGISTER_IMPORT_MAX_ROWS) {
            snprintf(error, error_size, "csv has more than %d rows; send it in chunks",
                     REGISTER_IMPORT_MAX_ROWS);
            json_decref(rows);
            return NULL;
        }
        json_t *row = json_pack(
            "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:i}], s:[{s:i, s:s}]}",
            "line", line, "ward", fields[0], "zone", fields[1], "address", fields[2], "usage",
            fields[3], "construction", fields[4], "occupancy", fields[5], "exemption",
            fields[6][0] ? fields[6] : "EXEMPTION_NONE", "owners", "name", fields[7], "mobile",
            fields[8], "shareBp", 10000, "floors", "floor", 0, "areaSqft", fields[9]);
        if (!row || json_array_append_new(rows, row) != 0) {
            snprintf(error, error_size, "csv line %d holds text that is not valid UTF-8", line);
            json_decref(rows);
            return NULL;
        }
    }
    if (json_array_size(rows) == 0) {
        snprintf(error, error_size, "csv has no property rows after its header");
        json_decref(rows);
        return NULL;
    }
    return rows;
}

int property_tax_register_property_import(nagar_worker_call_t *call,
                                          const ProtobufCMessage *message, void *arg)
{
    const Nagar__PropertyTax__ImportPropertiesRequest *request =
        (const Nagar__PropertyTax__ImportPropertiesRequest *) message;
    char error[512];
    json_t *rows = property_tax_register_csv_rows(request->csv, error, sizeof error);
    if (!rows)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "csv", "%s",
                                      error);
    pt_t *self = arg;
    return nagar_rules_import(&self->rules, call, message, request->ulb, rows,
                              "pt_property_import",
                              &nagar__property_tax__import_properties_reply__descriptor);
}
