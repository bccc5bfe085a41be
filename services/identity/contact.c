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

int contact_lookup(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__LookupContactsRequest *request =
        (const Nagar__Identity__LookupContactsRequest *) message;
    if (request->n_user_ids < 1 || request->n_user_ids > CONTACT_LOOKUP_MAX)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "userIds",
                                      "userIds must list 1 to %d user ids", CONTACT_LOOKUP_MAX);
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < request->n_user_ids; i++) {
        if (!user_id_valid(request->user_ids[i])) {
            json_decref(ids);
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "userIds",
                                          "userIds[%zu] is not a user id such as citizen:<id>",
                                          i);
        }
        json_array_append_new(ids, json_string(request->user_ids[i]));
    }
    char *ids_text = ids ? json_dumps(ids, JSON_COMPACT) : NULL;
    json_decref(ids);
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
    Nagar__Identity__Contact *contacts = calloc(count, sizeof *contacts);
    Nagar__Identity__Contact **pointers = calloc(count, sizeof *pointers);
    if (!contacts || !pointers) {
        free(contacts);
        free(pointers);
        PQclear(result);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        nagar__identity__contact__init(&contacts[i]);
        contacts[i].user_id = request->user_ids[i];
        pointers[i] = &contacts[i];
        for (int row = 0; row < PQntuples(result); row++)
            if (strcmp(PQgetvalue(result, row, 0), request->user_ids[i]) == 0) {
                contacts[i].found = true;
                contacts[i].mobile = PQgetvalue(result, row, 1);
            }
    }
    Nagar__Identity__LookupContactsReply reply = NAGAR__IDENTITY__LOOKUP_CONTACTS_REPLY__INIT;
    reply.n_contacts = count;
    reply.contacts = pointers;
    int rc = nagar_worker_call_reply(call, &reply.base);
    free(contacts);
    free(pointers);
    PQclear(result);
    return rc;
}
