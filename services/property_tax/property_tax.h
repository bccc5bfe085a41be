/*
 * property_tax.h — what every part of nagar-property-tax shares: the
 * service's state (the rules context of common/service_rules.h with its one
 * database connection, the demand batch's settings, the outbox relay's bus
 * client; all set up by nagar_rules_main from main.c).
 *
 * The rules are the pt_* SQL functions of sql/<subject>.sql; most methods
 * are one row of main.c's RULE_METHODS. The handlers of their own live
 * next door: register.c (the CSV import), demand.c (the annual batch),
 * receipt_pdf.c (the receipt PDF); the money movements and the ledger check
 * are common/rules_money.c's handlers, told property tax's rules and
 * messages by main.c's PAYMENTS.
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
#include "proto/property_tax.pb-c.h"
#include "service_rules.h"

#define PT_SERVICE "property_tax"
#define PT_PORTAL_URL_MAX 201

typedef struct {
    nagar_rules_t rules;                  /* db, error prefix PT, business date */
    nagar_rules_batch_t demand;           /* the annual demand's chunks (demand.h) */
    nagar_rules_batch_t notice_messages;  /* its notices' messages, after it (notice.h) */
    nagar_bus_client_t *bus;              /* the outbox relay's client; NULL: relay off */
    char portal_url[PT_PORTAL_URL_MAX];   /* NAGAR_PORTAL_URL: notices' payment page; "" none */
} pt_t;

#endif
