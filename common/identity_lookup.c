/*
 * identity_lookup.c — names for printed documents from identity (see
 * identity_lookup.h).
 */
#include "identity_lookup.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "proto/identity.pb-c.h"

/* One call to identity with the caller's deadline only (the lookup is the
 * service's own, not the end user's); *reply on OK, else NULL. */
static void ask_identity(nagar_bus_client_t *bus, nagar_worker_call_t *call, const char *method,
                         const ProtobufCMessage *request,
                         const ProtobufCMessageDescriptor *reply_type, ProtobufCMessage **reply,
                         const char *what)
{
    *reply = NULL;
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.deadline_unix_ms = nagar_worker_call_context(call)->deadline_unix_ms;
    nagar_bus_call_t lookup = {.service = "identity", .method = method, .context = &context,
                               .request = request, .timeout_ms = NAGAR_IDENTITY_LOOKUP_MS,
                               .max_attempts = 1, .repeatable = true};   /* a read */
    char message[256] = "";
    nagar_status_code_t code =
        nagar_bus_client_call(bus, &lookup, reply_type, reply, message, sizeof message, NULL, 0);
    if (code != NAGAR__STATUS_CODE__OK) {
        if (*reply)
            protobuf_c_message_free_unpacked(*reply, NULL);
        *reply = NULL;
        nagar_log_debug("identity_lookup.unavailable",
                        "no name for %s from identity (%s); the document prints the code", what,
                        message);
    }
}

void nagar_identity_ulb_name(nagar_bus_client_t *bus, nagar_worker_call_t *call,
                             const char *ulb, char name[NAGAR_IDENTITY_NAME_MAX])
{
    name[0] = '\0';
    if (!bus || !ulb || !ulb[0])
        return;
    Nagar__Identity__GetUlbRequest request = NAGAR__IDENTITY__GET_ULB_REQUEST__INIT;
    request.code = (char *) ulb;
    ProtobufCMessage *reply = NULL;
    ask_identity(bus, call, "ulb.get", &request.base, &nagar__identity__ulb__descriptor, &reply,
                 ulb);
    if (!reply)
        return;
    const Nagar__Identity__Ulb *found = (const Nagar__Identity__Ulb *) reply;
    snprintf(name, NAGAR_IDENTITY_NAME_MAX, "%s", found->name ? found->name : "");
    protobuf_c_message_free_unpacked(reply, NULL);
}

void nagar_identity_staff_name(nagar_bus_client_t *bus, nagar_worker_call_t *call,
                               const char *user_id, char name[NAGAR_IDENTITY_NAME_MAX])
{
    name[0] = '\0';
    if (!bus || !user_id || strncmp(user_id, "staff:", 6) != 0)
        return;
    Nagar__Identity__StaffNamesRequest request = NAGAR__IDENTITY__STAFF_NAMES_REQUEST__INIT;
    char *ids[] = {(char *) user_id};
    request.n_user_ids = 1;
    request.user_ids = ids;
    ProtobufCMessage *reply = NULL;
    ask_identity(bus, call, "staff.names", &request.base,
                 &nagar__identity__staff_names_reply__descriptor, &reply, user_id);
    if (!reply)
        return;
    const Nagar__Identity__StaffNamesReply *found = (const Nagar__Identity__StaffNamesReply *) reply;
    if (found->n_names == 1 && found->names[0]->found && found->names[0]->full_name)
        snprintf(name, NAGAR_IDENTITY_NAME_MAX, "%s", found->names[0]->full_name);
    protobuf_c_message_free_unpacked(reply, NULL);
}
