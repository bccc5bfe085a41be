/*
 * staff_names.h — staff.names: staff user ids to full names, for the
 * documents other services print (a receipt names who recorded it).
 *
 *   staff.names      StaffNamesRequest -> StaffNamesReply     property_tax, water_tax,
 *                                                             certificates (receipts)
 *
 * A name is what a counter clerk wears on a badge; the services that may
 * ask are listed in main.c, and nothing else about the account is told.
 */
#ifndef NAGAR_IDENTITY_STAFF_NAMES_H
#define NAGAR_IDENTITY_STAFF_NAMES_H

#include "identity.h"

#define STAFF_NAMES_MAX 100

int identity_staff_names(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
