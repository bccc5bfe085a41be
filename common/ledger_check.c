/*
 * ledger_check.c — the ledger's chains checked for a service (ledger.h):
 * `nagar-<service> verify [ULB]` (nagar_ledger_check) and the ledger.verify
 * bus method (nagar_ledger_check_method), both walking every chain with
 * nagar_ledger_verify and logging <service>.ledger_broken for each broken
 * one.
 */
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "message_fields.h"
#include "service.h"

/* nagar_ledger_verify of ulb's chains (every ULB's for ""), logged: a
 * failure to read them as <service>.ledger_verify_failed, each broken
 * chain as <service>.ledger_broken. What nagar_ledger_verify returns. */
static int verify_logged(nagar_db_t *db, const char *service, const char *ulb,
                         nagar_ledger_chain_status_t **chains, size_t *count)
{
    char error[512], event[96];
    int broken = nagar_ledger_verify(db, ulb, chains, count, error, sizeof error);
    if (broken < 0) {
        snprintf(event, sizeof event, "%s.ledger_verify_failed", service);
        nagar_log_error(event, "%s", error);
        return broken;
    }
    snprintf(event, sizeof event, "%s.ledger_broken", service);
    for (size_t i = 0; i < *count; i++) {
        const nagar_ledger_chain_status_t *chain = &(*chains)[i];
        if (chain->ok)
            continue;
        json_t *fields = json_pack("{s:s, s:I}", "ulb", chain->ulb, "seq",
                                   (json_int_t) chain->broken_seq);
        nagar_log_write(NAGAR_LOG_ERROR, event, fields, "%s", chain->problem);
    }
    return broken;
}

int nagar_ledger_check(nagar_db_t *db, const char *service, const char *ulb)
{
    nagar_ledger_chain_status_t *chains = NULL;
    size_t count = 0;
    int broken = verify_logged(db, service, ulb, &chains, &count);
    if (broken < 0)
        return 1;
    for (size_t i = 0; i < count; i++) {
        if (chains[i].ok)
            printf("ulb %s: ok, %lld rows\n", chains[i].ulb, (long long) chains[i].rows);
        else
            printf("ulb %s: BROKEN at seq %lld: %s\n", chains[i].ulb,
                   (long long) chains[i].broken_seq, chains[i].problem);
    }
    free(chains);
    return broken > 0 ? 3 : 0;
}

/* ---- ledger.verify ------------------------------------------------------------------ */

/* The verify reply borrows its strings from the chain statuses and is freed
 * here, not with protobuf_c_message_free_unpacked. */

/* Whether the actor may verify the ledger of ulb; answers the call when not. */
static bool verify_allowed(nagar_worker_call_t *call, const char *ulb, int *rc)
{
    const char *role = nagar_actor_role(call);
    bool state = strcmp(role, "STATE_ADMIN") == 0;
    if (!nagar_actor_user(call)[0] ||
        (!state && strcmp(role, "COMMISSIONER") != 0 && strcmp(role, "REVENUE_OFFICER") != 0))
        *rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                     "verifying the ledger needs STATE_ADMIN, COMMISSIONER or "
                                     "REVENUE_OFFICER");
    else if (ulb[0] && (strspn(ulb, "0123456789") != strlen(ulb) || strlen(ulb) > 10))
        *rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "ulb",
                                     "ulb must be the LGD code of a ULB (1 to 10 digits)");
    else if (!state && (!ulb[0] || strcmp(ulb, nagar_actor_ulb(call)) != 0))
        *rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__PERMISSION_DENIED, NULL,
                                     "a %s may verify the ledger of their own ULB %s only",
                                     role, nagar_actor_ulb(call));
    else
        return true;
    return false;
}

int nagar_ledger_check_method(nagar_db_t *db, const char *service, nagar_worker_call_t *call,
                              const ProtobufCMessage *request,
                              const ProtobufCMessageDescriptor *reply_type)
{
    const char *ulb = nagar_message_text(request, "ulb");
    int rc = 0;
    if (!verify_allowed(call, ulb, &rc))
        return rc;
    nagar_ledger_chain_status_t *chains = NULL;
    size_t count = 0;
    int broken = verify_logged(db, service, ulb, &chains, &count);
    if (broken < 0) {
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__UNAVAILABLE, NULL,
                                      "the ledger could not be read; retry later");
    }
    const ProtobufCFieldDescriptor *chains_field =
        protobuf_c_message_descriptor_get_field_by_name(reply_type, "chains");
    if (!chains_field || chains_field->type != PROTOBUF_C_TYPE_MESSAGE ||
        chains_field->label != PROTOBUF_C_LABEL_REPEATED) {
        free(chains);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                      "%s has no repeated message field chains", reply_type->name);
    }
    const ProtobufCMessageDescriptor *chain_type = chains_field->descriptor;
    ProtobufCMessage *reply = malloc(reply_type->sizeof_message);
    char *items = calloc(count ? count : 1, chain_type->sizeof_message);
    ProtobufCMessage **pointers = calloc(count ? count : 1, sizeof *pointers);
    if (!reply || !items || !pointers) {
        free(reply);
        free(items);
        free(pointers);
        free(chains);
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL, "out of memory");
    }
    reply_type->message_init(reply);
    bool fits = nagar_message_set_bool(reply, "ok", broken == 0);
    for (size_t i = 0; i < count; i++) {
        ProtobufCMessage *item = (ProtobufCMessage *) (items + i * chain_type->sizeof_message);
        chain_type->message_init(item);
        fits = nagar_message_set_text(item, "ulb", chains[i].ulb) && nagar_message_set_bool(item, "ok", chains[i].ok) &&
               nagar_message_set_int(item, "rows", chains[i].rows) &&
               nagar_message_set_int(item, "broken_seq", chains[i].ok ? 0 : chains[i].broken_seq) &&
               nagar_message_set_text(item, "problem", chains[i].problem) && fits;
        pointers[i] = item;
    }
    *(size_t *) ((char *) reply + chains_field->quantifier_offset) = count;
    *(ProtobufCMessage ***) ((char *) reply + chains_field->offset) = pointers;
    if (fits)
        rc = nagar_worker_call_reply(call, reply);
    else
        rc = nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                    "%s lacks a field of a ledger chain's status",
                                    reply_type->name);
    free(reply);
    free(items);
    free(pointers);
    free(chains);
    return rc;
}
