/*
 * contact.c — contact.lookup: user ids to verified contacts (see contact.h).
 */
#include "contact.h"

#include <stdlib.h>
#include <string.h>

#define CONTACT_LOOKUP_MAX 100

static bool user_id_valid(const char *text)
{
    return identity_text_valid(text, 3, 100) && strchr(text, ':') != NULL;
}

int identity_contact_lookup(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__LookupContactsRequest *request =
        (const Nagar__Identity__LookupContactsRequest *) message;
    if (request->n_user_ids < 1 || request->n_user_ids > CONTACT_LOOKUP_MAX)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "userIds",
                                      "userIds must list 1 to %d user ids", CONTACT_LOOKUP_MAX);
    for (size_t i = 0; i < request->n_user_ids; i++)
        if (!user_id_valid(request->user_ids[i]))
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "userIds",
                                          "userIds[%zu] is not a user id such as citizen:<id>",
                                          i);
    char *ids_text = identity_ids_json(request->user_ids, request->n_user_ids);
    if (!ids_text)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    const char *values[] = {ids_text};
    PGresult *result = nagar_service_query(
        self->db, "contact_lookup",
        "SELECT c.user_id, c.mobile FROM identity.citizen c "
        "WHERE c.user_id IN (SELECT jsonb_array_elements_text($1::jsonb)) "
        "UNION ALL SELECT s.user_id, '' FROM identity.staff s "
        "WHERE s.user_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
        1, values);
    free(ids_text);
    if (!result)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    size_t count = request->n_user_ids;
    Nagar__Identity__Contact **contacts = nagar_reply_list(count, sizeof **contacts);
    if (!contacts) {
        PQclear(result);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        Nagar__Identity__Contact *contact = contacts[i];
        nagar__identity__contact__init(contact);
        contact->user_id = request->user_ids[i];
        int row = identity_row_of(result, request->user_ids[i]);
        contact->found = row >= 0;
        if (row >= 0)
            contact->mobile = PQgetvalue(result, row, 1);
    }
    Nagar__Identity__LookupContactsReply reply = NAGAR__IDENTITY__LOOKUP_CONTACTS_REPLY__INIT;
    reply.n_contacts = count;
    reply.contacts = contacts;
    int rc = nagar_worker_call_reply(call, &reply.base);
    free(contacts);
    PQclear(result);
    return rc;
}
