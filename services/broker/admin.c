/*
 * admin.c — the "nagar.admin" service (see admin.h): decodes the operator's
 * request, asks the broker to act, encodes the answer, and writes one
 * "admin.<action>" log line per action with the operator's principal, so
 * every quarantine or revocation can be traced to whoever ordered it.
 */
#include "admin.h"

#include <string.h>

#include "log.h"
#include "proto/admin.pb-c.h"
#include "proto/envelope.pb-c.h"

#define ADMIN_MAX_SERVICES 4096
#define ADMIN_TEXT_MAX 512

static zframe_t *reply_frame(const char *request_id, nagar_status_code_t code,
                             const char *message, const char *field,
                             const ProtobufCMessage *payload)
{
    Nagar__Status status = NAGAR__STATUS__INIT;
    status.code = code;
    status.message = (char *) (message ? message : "");
    status.field = (char *) (field ? field : "");
    Nagar__Reply reply = NAGAR__REPLY__INIT;
    reply.request_id = (char *) request_id;
    reply.status = &status;
    uint8_t *payload_bytes = NULL;
    if (payload && code == NAGAR__STATUS_CODE__OK) {
        reply.payload.len = protobuf_c_message_get_packed_size(payload);
        payload_bytes = malloc(reply.payload.len ? reply.payload.len : 1);
        protobuf_c_message_pack(payload, payload_bytes);
        reply.payload.data = payload_bytes;
    }
    size_t size = nagar__reply__get_packed_size(&reply);
    zframe_t *frame = zframe_new(NULL, size);
    nagar__reply__pack(&reply, zframe_data(frame));
    free(payload_bytes);
    return frame;
}

static zframe_t *handle_stats(const broker_admin_target_t *broker, const char *request_id)
{
    broker_service_stats_t *services = calloc(ADMIN_MAX_SERVICES, sizeof *services);
    size_t count = broker->stats_services(broker->self, services, ADMIN_MAX_SERVICES);
    if (count > ADMIN_MAX_SERVICES)
        count = ADMIN_MAX_SERVICES;
    Nagar__Admin__ServiceStats *entries = calloc(count ? count : 1, sizeof *entries);
    Nagar__Admin__ServiceStats **pointers = calloc(count ? count : 1, sizeof *pointers);
    for (size_t i = 0; i < count; i++) {
        nagar__admin__service_stats__init(&entries[i]);
        entries[i].name = (char *) services[i].name;
        entries[i].workers = services[i].workers;
        entries[i].idle_workers = services[i].idle_workers;
        entries[i].queued = services[i].queued;
        entries[i].served = services[i].served;
        entries[i].errors = services[i].errors;
        entries[i].quarantined = services[i].quarantined;
        entries[i].quarantine_reason = (char *) services[i].quarantine_reason;
        pointers[i] = &entries[i];
    }
    zhashx_t *revoked = broker->revoked_keys(broker->self);
    zlistx_t *revoked_keys = zhashx_keys(revoked);
    size_t revoked_count = zlistx_size(revoked_keys);
    char **keys = calloc(revoked_count ? revoked_count : 1, sizeof *keys);
    size_t k = 0;
    for (char *key = zlistx_first(revoked_keys); key; key = zlistx_next(revoked_keys))
        keys[k++] = key;

    broker_principals_t *principals = broker->stats_principals(broker->self);
    size_t principal_count = broker_principals_count(principals);
    Nagar__Admin__PrincipalStats *shares =
        calloc(principal_count ? principal_count : 1, sizeof *shares);
    Nagar__Admin__PrincipalStats **share_pointers =
        calloc(principal_count ? principal_count : 1, sizeof *share_pointers);
    for (size_t i = 0; shares && share_pointers && i < principal_count; i++) {
        const broker_principal_t *p = broker_principals_at(principals, i);
        nagar__admin__principal_stats__init(&shares[i]);
        shares[i].name = (char *) broker_principal_name(p);
        shares[i].in_flight = broker_principal_in_flight(p);
        shares[i].max_in_flight = broker_principal_max_in_flight(p);
        shares[i].rate = broker_principal_rate(p);
        shares[i].requests = broker_principal_requests(p);
        shares[i].refused_acl = broker_principal_refusals(p, BROKER_REFUSED_ACL);
        shares[i].refused_quarantine = broker_principal_refusals(p, BROKER_REFUSED_QUARANTINE);
        shares[i].refused_in_flight = broker_principal_refusals(p, BROKER_REFUSED_IN_FLIGHT);
        shares[i].refused_rate = broker_principal_refusals(p, BROKER_REFUSED_RATE);
        shares[i].refused_by_service = broker_principal_refusals(p, BROKER_REFUSED_BY_SERVICE);
        share_pointers[i] = &shares[i];
    }

    Nagar__Admin__StatsReply reply = NAGAR__ADMIN__STATS_REPLY__INIT;
    reply.n_principals = shares && share_pointers ? principal_count : 0;
    reply.principals = share_pointers;
    reply.n_services = count;
    reply.services = pointers;
    reply.n_revoked_keys = revoked_count;
    reply.revoked_keys = keys;
    reply.uptime_ms = broker->stats_uptime_ms(broker->self);
    reply.denied = broker->stats_denied(broker->self);
    zframe_t *frame = reply_frame(request_id, NAGAR__STATUS_CODE__OK, "", NULL,
                                  (const ProtobufCMessage *) &reply);
    free(keys);
    free(share_pointers);
    free(shares);
    zlistx_destroy(&revoked_keys);
    free(pointers);
    free(entries);
    free(services);
    return frame;
}

static void log_action(const char *action, const char *operator, const char *target,
                       nagar_status_code_t code, const char *detail)
{
    char event[64];
    snprintf(event, sizeof event, "admin.%s", action);
    nagar_log_write(code == NAGAR__STATUS_CODE__OK ? NAGAR_LOG_WARN : NAGAR_LOG_ERROR, event,
                    json_pack("{s:s, s:s, s:s}", "operator", operator, "target", target,
                              "outcome", nagar_status_name(code)),
                    "%s by \"%s\": %s", action, operator, detail);
}

static zframe_t *admin_reply(const char *request_id, nagar_status_code_t code, const char *detail)
{
    if (code != NAGAR__STATUS_CODE__OK)
        return reply_frame(request_id, code, detail, NULL, NULL);
    Nagar__Admin__AdminReply reply = NAGAR__ADMIN__ADMIN_REPLY__INIT;
    reply.detail = (char *) detail;
    return reply_frame(request_id, code, "", NULL, (const ProtobufCMessage *) &reply);
}

/* One action of nagar.admin on a decoded request: asks the broker, writes
 * what it did into detail, and names what it acted on in *target (for the
 * log line). */
typedef nagar_status_code_t admin_action_fn(const broker_admin_target_t *broker,
                                            const ProtobufCMessage *args,
                                            const char *operator_key, char *detail,
                                            size_t detail_size, const char **target);

static nagar_status_code_t act_quarantine(const broker_admin_target_t *broker,
                                          const ProtobufCMessage *message, const char *operator_key,
                                          char *detail, size_t detail_size, const char **target)
{
    (void) operator_key;
    const Nagar__Admin__QuarantineRequest *args =
        (const Nagar__Admin__QuarantineRequest *) message;
    *target = args->service;
    if (strlen(args->reason) > ADMIN_TEXT_MAX) {
        snprintf(detail, detail_size, "reason is longer than %d bytes", ADMIN_TEXT_MAX);
        return NAGAR__STATUS_CODE__INVALID_ARGUMENT;
    }
    return broker->quarantine(broker->self, args->service, args->reason, detail, detail_size);
}

static nagar_status_code_t act_release(const broker_admin_target_t *broker,
                                       const ProtobufCMessage *message, const char *operator_key,
                                       char *detail, size_t detail_size, const char **target)
{
    (void) operator_key;
    const Nagar__Admin__ReleaseRequest *args = (const Nagar__Admin__ReleaseRequest *) message;
    *target = args->service;
    return broker->release(broker->self, args->service, detail, detail_size);
}

static nagar_status_code_t act_revoke(const broker_admin_target_t *broker,
                                      const ProtobufCMessage *message, const char *operator_key,
                                      char *detail, size_t detail_size, const char **target)
{
    const Nagar__Admin__RevokeRequest *args = (const Nagar__Admin__RevokeRequest *) message;
    *target = *args->principal ? args->principal : args->public_key;
    return broker->revoke(broker->self, args->principal, args->public_key, operator_key, detail,
                          detail_size);
}

/* The actions, by method, with the payload each takes. */
static const struct {
    const char *method;
    const ProtobufCMessageDescriptor *payload;
    admin_action_fn *act;
} ACTIONS[] = {
    {"quarantine", &nagar__admin__quarantine_request__descriptor, act_quarantine},
    {"release", &nagar__admin__release_request__descriptor, act_release},
    {"revoke", &nagar__admin__revoke_request__descriptor, act_revoke},
};

/* Decodes the payload of action `at`, acts, logs "admin.<method>" and
 * answers. */
static zframe_t *handle_action(const broker_admin_target_t *broker, size_t at,
                               const char *operator, const char *operator_key,
                               const char *request_id, const uint8_t *payload,
                               size_t payload_size)
{
    char detail[ADMIN_TEXT_MAX + 256] = "";
    nagar_status_code_t code;
    ProtobufCMessage *args = protobuf_c_message_unpack(ACTIONS[at].payload, NULL, payload_size,
                                                       payload);
    if (!args) {
        code = NAGAR__STATUS_CODE__INVALID_ARGUMENT;
        snprintf(detail, sizeof detail, "payload is not a %s", ACTIONS[at].payload->name);
        log_action(ACTIONS[at].method, operator, "", code, detail);
    } else {
        const char *target = "";
        code = ACTIONS[at].act(broker, args, operator_key, detail, sizeof detail, &target);
        log_action(ACTIONS[at].method, operator, target, code, detail);
        protobuf_c_message_free_unpacked(args, NULL);
    }
    return admin_reply(request_id, code, detail);
}

zframe_t *broker_admin_handle(const broker_admin_target_t *broker, const char *operator, const char *operator_key,
                              zframe_t *body)
{
    Nagar__Request *request =
        body ? nagar__request__unpack(NULL, zframe_size(body), zframe_data(body)) : NULL;
    if (!request)
        return reply_frame("", NAGAR__STATUS_CODE__INVALID_ARGUMENT,
                           "the body is not a nagar.Request envelope", NULL, NULL);
    char request_id[129] = "";
    if (request->context && request->context->request_id)
        snprintf(request_id, sizeof request_id, "%s", request->context->request_id);
    nagar_log_set_request_id(request_id);

    const char *method = request->method ? request->method : "";
    const uint8_t *payload = request->payload.data;
    size_t payload_size = request->payload.len;
    zframe_t *reply = NULL;

    if (strcmp(method, "stats") == 0)
        reply = handle_stats(broker, request_id);
    for (size_t at = 0; !reply && at < sizeof ACTIONS / sizeof ACTIONS[0]; at++)
        if (strcmp(method, ACTIONS[at].method) == 0)
            reply = handle_action(broker, at, operator, operator_key, request_id, payload,
                                  payload_size);
    if (!reply) {
        char detail[256];
        snprintf(detail, sizeof detail,
                 "nagar.admin has no method \"%.64s\"; it has stats, quarantine, release, revoke",
                 method);
        reply = reply_frame(request_id, NAGAR__STATUS_CODE__INVALID_ARGUMENT, detail, "method",
                            NULL);
    }
    nagar__request__free_unpacked(request, NULL);
    nagar_log_set_request_id(NULL);
    return reply;
}
