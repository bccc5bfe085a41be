/*
 * identity_lookup.h — the names a printed document shows, asked of identity:
 * a ULB's display name (ulb.get) and a staff member's full name
 * (staff.names), for receipts and notices that would otherwise print an LGD
 * code or "staff:<uuid>".
 *
 * A name is a nicety, never a reason to hold a printout: each lookup is one
 * attempt with a short deadline (NAGAR_IDENTITY_LOOKUP_MS, and never past
 * the caller's own deadline), and when identity is down, slow, or does not
 * know the id, the answer is "" and the document prints the code or id.
 * The client is the service's own (its outbox relay's); NULL answers "".
 */
#ifndef NAGAR_IDENTITY_LOOKUP_H
#define NAGAR_IDENTITY_LOOKUP_H

#include <stddef.h>

#include "bus_client.h"
#include "bus_worker.h"

#define NAGAR_IDENTITY_LOOKUP_MS 1000
#define NAGAR_IDENTITY_NAME_MAX 256

/* The ULB's name ("Bina Nagar Palika Parishad") into name, or "". */
void nagar_identity_ulb_name(nagar_bus_client_t *bus, nagar_worker_call_t *call,
                             const char *ulb, char name[NAGAR_IDENTITY_NAME_MAX]);

/* A staff member's full name by user id ("staff:<uuid>") into name, or ""
 * (also for ids that are not staff ids: a citizen paying online). */
void nagar_identity_staff_name(nagar_bus_client_t *bus, nagar_worker_call_t *call,
                               const char *user_id, char name[NAGAR_IDENTITY_NAME_MAX]);

#endif
