/*
 * register.h — the property register: properties with their owners
 * (several, with shares) and floors, numbered gap-free per ULB and ward.
 *
 *   property.create   CreatePropertyRequest -> Property         audited, idempotent
 *   property.get      GetPropertyRequest -> Property
 *   property.list     ListPropertiesRequest -> ListPropertiesReply
 *   property.import   ImportPropertiesRequest -> ImportPropertiesReply   (CSV, audited, idempotent)
 *
 * Staff (CLERK, REVENUE_OFFICER, COMMISSIONER) work within their own ULB,
 * a STATE_ADMIN anywhere; a citizen sees only properties naming their
 * account among the owners. An import is all or nothing: a bad line is
 * INVALID_ARGUMENT on field "csv" naming the line, and nothing is added.
 */
#ifndef NAGAR_PROPERTY_TAX_REGISTER_H
#define NAGAR_PROPERTY_TAX_REGISTER_H

#include "property_tax.h"

#define REGISTER_IMPORT_MAX_ROWS 2000

int property_tax_register_property_import(nagar_worker_call_t *call,
                                          const ProtobufCMessage *request, void *arg);

/* Parses the import CSV (header line, then rows) into the JSON rows the
 * rule pt_property_import takes. Returns a new array, or NULL with the
 * reason (naming the line) in error. Pure: the unit of the import. */
json_t *property_tax_register_csv_rows(const char *csv, char *error, size_t error_size);

#endif
