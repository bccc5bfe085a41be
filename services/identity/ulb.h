/*
 * ulb.h — ULB master data: the urban local bodies, keyed by LGD code.
 *
 *   ulb.list    public; filters (name substring, type, district), pages
 *   ulb.get     public; one body by LGD code
 *   ulb.create  STATE_ADMIN; adds a body the LGD snapshot lacks; audited
 *
 * identity_ulb_seed loads the LGD CSV (see data/README.md) for `nagar-identity
 * seed-ulbs FILE`: types 4, 5, 7 upserted by code in one transaction, type 8
 * (cantonment-like bodies) skipped; running it twice changes nothing.
 */
#ifndef NAGAR_IDENTITY_ULB_H
#define NAGAR_IDENTITY_ULB_H

#include "identity.h"

int identity_ulb_list(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int identity_ulb_get(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);
int identity_ulb_create(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

/* Returns 0 and prints a summary, or -1 with the reason (file, line) in error. */
int identity_ulb_seed(identity_t *self, const char *csv_path, char *error, size_t error_size);

/* Whether a ULB with code exists (inside or outside a transaction):
 * 1 yes, 0 no, -1 database error. */
int identity_ulb_exists(identity_t *self, const char *code);

#endif
