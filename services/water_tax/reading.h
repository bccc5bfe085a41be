/*
 * reading.h — meter readings: one by staff, many by a bulk import over the
 * queue (each row taken or refused with its line and field), a meter
 * replacement (the old meter's final and the new meter's initial reading),
 * and a connection's reading history.
 */
#ifndef NAGAR_WATER_TAX_READING_H
#define NAGAR_WATER_TAX_READING_H

#include <stddef.h>

#include <jansson.h>

#include "water_tax.h"

#define READING_IMPORT_MAX_ROWS 5000

int water_tax_reading_import(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

/* The rows of an import CSV (header connection_id,reading_date,reading_litres)
 * as [{line, connectionId, readingDate, readingLitres}], or NULL with the
 * reason in error. */
json_t *water_tax_reading_csv_rows(const char *csv, char *error, size_t error_size);

#endif
