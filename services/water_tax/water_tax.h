/*
 * water_tax.h — what every part of nagar-water-tax shares: the service's
 * state (the rules context of common/service_rules.h with its one database
 * connection, the bill batch's settings, the outbox relay's bus client; all
 * set up by nagar_rules_main from main.c).
 *
 * The rules are the wt_* SQL functions of sql/<subject>.sql; most methods
 * are one row of main.c's RULE_METHODS. The handlers of their own live
 * next door: reading.c (the readings import), bill.c (the monthly bill
 * batch and the bill PDF), report.c (disconnection notices); the money
 * movements and the ledger check are common/rules_money.c's handlers, told
 * water charges' rules and messages by main.c's PAYMENTS.
 */
#ifndef NAGAR_WATER_TAX_H
#define NAGAR_WATER_TAX_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus_client.h"
#include "bus_worker.h"
#include "config.h"
#include "outbox.h"
#include "proto/water_tax.pb-c.h"
#include "service_rules.h"

#define WT_SERVICE "water_tax"

typedef struct {
    nagar_rules_t rules;                  /* db, error prefix WT, business date */
    nagar_rules_batch_t bills;            /* the bill runs' chunks (bill.h) */
    nagar_bus_client_t *bus;              /* the outbox relay's client; NULL: relay off */
} wt_t;

#endif
