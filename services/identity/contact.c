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
    PGresult *result;
    const char **mobiles;
    if (identity_lookup_by_ids(self, call, "contact_lookup",
                               "SELECT c.user_id, c.mobile FROM identity.citizen c "
                               "WHERE c.user_id IN (SELECT jsonb_array_elements_text($1::jsonb)) "
                               "UNION ALL SELECT s.user_id, '' FROM identity.staff s "
                               "WHERE s.user_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
                               request->user_ids, request->n_user_ids, &result, &mobiles) != 0)
        return -1;
    size_t count = request->n_user_ids;
    Nagar__Identity__Contact **contacts = nagar_reply_list(count, sizeof **contacts);
    for (size_t i = 0; contacts && i < count; i++) {
        nagar__identity__contact__init(contacts[i]);
        contacts[i]->user_id = request->user_ids[i];
        contacts[i]->found = mobiles[i] != NULL;
        if (mobiles[i])
            contacts[i]->mobile = (char *) mobiles[i];
    }
    Nagar__Identity__LookupContactsReply reply = NAGAR__IDENTITY__LOOKUP_CONTACTS_REPLY__INIT;
    reply.n_contacts = count;
    reply.contacts = contacts;
    int rc = contacts ? nagar_worker_call_reply(call, &reply.base)
                      : nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                               "out of memory");
    free(contacts);
    free(mobiles);
    PQclear(result);
    return rc;
}
