/*
 * staff_names.c — staff.names: staff user ids to full names (see
 * staff_names.h). One query for the whole list; the answer keeps the
 * request's order and says which ids are unknown.
 */
#include "staff_names.h"

#include <stdlib.h>
#include <string.h>

int identity_staff_names(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    identity_t *self = arg;
    const Nagar__Identity__StaffNamesRequest *request =
        (const Nagar__Identity__StaffNamesRequest *) message;
    if (request->n_user_ids < 1 || request->n_user_ids > STAFF_NAMES_MAX)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "userIds",
                                      "userIds must list 1 to %d staff user ids",
                                      STAFF_NAMES_MAX);
    for (size_t i = 0; i < request->n_user_ids; i++) {
        if (!identity_staff_user_id_valid(request->user_ids[i])) {
            char field[32];
            snprintf(field, sizeof field, "userIds[%zu]", i);
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                                          "%s must be a staff user id (\"staff:<uuid>\")",
                                          field);
        }
    }
    PGresult *result;
    const char **full_names;
    if (identity_lookup_by_ids(self, call, "staff_names",
                               "SELECT s.user_id, s.full_name FROM identity.staff s "
                               "WHERE s.user_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
                               request->user_ids, request->n_user_ids, &result, &full_names) != 0)
        return -1;
    size_t count = request->n_user_ids;
    Nagar__Identity__StaffName **names = nagar_reply_list(count, sizeof **names);
    for (size_t i = 0; names && i < count; i++) {
        nagar__identity__staff_name__init(names[i]);
        names[i]->user_id = request->user_ids[i];
        names[i]->found = full_names[i] != NULL;
        if (full_names[i])
            names[i]->full_name = (char *) full_names[i];
    }
    Nagar__Identity__StaffNamesReply reply = NAGAR__IDENTITY__STAFF_NAMES_REPLY__INIT;
    reply.n_names = count;
    reply.names = names;
    int rc = names ? nagar_worker_call_reply(call, &reply.base)
                   : nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                            "out of memory");
    free(names);
    free(full_names);
    PQclear(result);
    return rc;
}
