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
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < request->n_user_ids; i++) {
        const char *id = request->user_ids[i];
        if (strncmp(id, "staff:", 6) != 0 || !identity_text_valid(id, 7, 64)) {
            json_decref(ids);
            char field[32];
            snprintf(field, sizeof field, "userIds[%zu]", i);
            return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, field,
                                          "%s must be a staff user id (\"staff:<uuid>\")",
                                          field);
        }
        json_array_append_new(ids, json_string(id));
    }
    char *ids_text = ids ? json_dumps(ids, JSON_COMPACT) : NULL;
    json_decref(ids);
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
    Nagar__Identity__StaffName *names = calloc(count, sizeof *names);
    Nagar__Identity__StaffName **pointers = calloc(count, sizeof *pointers);
    if (!names || !pointers) {
        free(names);
        free(pointers);
        PQclear(result);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        nagar__identity__staff_name__init(&names[i]);
        names[i].user_id = request->user_ids[i];
        pointers[i] = &names[i];
        for (int row = 0; row < PQntuples(result); row++)
            if (strcmp(PQgetvalue(result, row, 0), request->user_ids[i]) == 0) {
                names[i].found = true;
                names[i].full_name = PQgetvalue(result, row, 1);
            }
    }
    Nagar__Identity__StaffNamesReply reply = NAGAR__IDENTITY__STAFF_NAMES_REPLY__INIT;
    reply.n_names = count;
    reply.names = pointers;
    int rc = nagar_worker_call_reply(call, &reply.base);
    free(names);
    free(pointers);
    PQclear(result);
    return rc;
}
