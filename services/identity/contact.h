/*
 * contact.h — a person's verified contacts, for notifications only.
 *
 *   contact.lookup  LookupContactsRequest -> LookupContactsReply   caller: notifications
 *
 * Publishers name the person an event is for by user id, never by a mobile
 * number (issue 12 item 4); notifications asks here for the contact to use.
 * A citizen's mobile is verified: it is the number their OTP login proved.
 * Staff accounts have no verified contact (their mobile is typed in by an
 * administrator), so they are found with none. At most 100 ids per call.
 */
#ifndef NAGAR_IDENTITY_CONTACT_H
#define NAGAR_IDENTITY_CONTACT_H

#include "identity.h"

int identity_contact_lookup(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg);

#endif
