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
        const char *id = request->user_ids[i];
        if (strncmp(id, "staff:", 6) != 0 || !identity_text_valid(id, 7, 64)) {
            char field[32];
            snprintf(field, sizeof field, "userIds[%zu]", i);
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                                          "%s must be a staff user id (\"staff:<uuid>\")",
                                          field);
        }
    }
    char *ids_text = identity_ids_json(request->user_ids, request->n_user_ids);
    if (!ids_text)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    const char *values[] = {ids_text};
    PGresult *result = nagar_service_query(
        self->db, "staff_names",
        "SELECT s.user_id, s.full_name FROM identity.staff s "
        "WHERE s.user_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
        1, values);
    free(ids_text);
    if (!result)
        return nagar_service_fail(self->db, IDENTITY_SERVICE, call, -1, NULL);
    size_t count = request->n_user_ids;
    Nagar__Identity__StaffName **names = nagar_reply_list(count, sizeof **names);
    if (!names) {
        PQclear(result);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        Nagar__Identity__StaffName *name = names[i];
        nagar__identity__staff_name__init(name);
        name->user_id = request->user_ids[i];
        int row = identity_row_of(result, request->user_ids[i]);
        name->found = row >= 0;
        if (row >= 0)
            name->full_name = PQgetvalue(result, row, 1);
    }
    Nagar__Identity__StaffNamesReply reply = NAGAR__IDENTITY__STAFF_NAMES_REPLY__INIT;
    reply.n_names = count;
    reply.names = names;
    int rc = nagar_worker_call_reply(call, &reply.base);
    free(names);
    PQclear(result);
    return rc;
}
