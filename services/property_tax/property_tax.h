/*
 * property_tax.h — what every part of nagar-property-tax shares: the
 * service's state (the rules context of common/service_rules.h with its one
 * database connection, the payment provider key, the demand batch's
 * settings, the outbox relay's bus client; all set up by nagar_rules_main
 * from main.c) and pt_sql_method, which runs one of the pt_* SQL functions
 * of sql/<subject>.sql as a bus method.
 *
 * The domain lives next door: register.c (properties, owners, floors, CSV
 * import), rates.c (master data), assessment.c (self-assessment, mutation),
 * demand.c (the annual batch), payment.c (dues, counter and online payments,
 * reversals, the ledger), report.c (DCB, daily collection, defaulters).
 */
#ifndef NAGAR_PROPERTY_TAX_H
#define NAGAR_PROPERTY_TAX_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus_client.h"
#include "bus_worker.h"
#include "config.h"
#include "outbox.h"
#include "payment_provider.h"
#include "proto/property_tax.pb-c.h"
#include "service_rules.h"

#define PT_SERVICE "property_tax"
#define PT_PORTAL_URL_MAX 201

typedef struct {
    nagar_rules_t rules;                  /* db, error prefix PT, business date */
    nagar_payment_provider_t *provider;   /* NULL: online payments refused */
    nagar_rules_batch_t demand;           /* the annual demand's chunks (demand.h) */
    nagar_bus_client_t *bus;              /* the outbox relay's client; NULL: relay off */
    char portal_url[PT_PORTAL_URL_MAX];   /* NAGAR_PORTAL_URL: notices' payment page; "" none */
} pt_t;

/* A whole method: the request as JSON (request_json, or the request
 * encoded when NULL) through rule function in one transaction, with an
 * idempotency record when mutation is set, answered with reply_type;
 * finish (given self) fills the reply just before it is stored and sent. */
int pt_sql_method(pt_t *self, nagar_worker_call_t *call, const ProtobufCMessage *request,
                  const char *request_json, const char *function,
                  const ProtobufCMessageDescriptor *reply_type, bool mutation,
                  nagar_rules_finish_fn *finish);

#endif
