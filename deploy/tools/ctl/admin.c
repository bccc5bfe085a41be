/*
 * admin.c — nagarctl status, quarantine and release: the broker's
 * nagar.admin service, called with the "operator" key (the only one that
 * may), and the bus helpers the other commands use.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* A client as principal "operator" (cert_key NAGAR_BUS_CERT) or "batch". */
nagar_bus_client_t *ctl_connect_bus(ctl_t *self, const char *cert_setting,
                                       const char *default_name)
{
    /* Not nagar_bus_options_load: the make-run layout implies every path. */
    nagar_bus_options_t options;
    char error[1024];
    memset(&options, 0, sizeof options);
    ctl_fmt(options.endpoint, sizeof options.endpoint, "%s",
             ctl_setting(self, "NAGAR_BUS_ENDPOINT", "tcp://127.0.0.1:5555"));
    char path[PATH_BYTES];
    ctl_fmt(path, sizeof path, "%s/secret/%s.cert", self->keys, default_name);
    ctl_fmt(options.certificate_path, sizeof options.certificate_path, "%s",
             ctl_setting(self, cert_setting, path));
    ctl_fmt(path, sizeof path, "%s/broker.pub", self->keys);
    ctl_fmt(options.broker_key_path, sizeof options.broker_key_path, "%s",
             ctl_setting(self, "NAGAR_BUS_BROKER_KEY", path));
    nagar_bus_client_t *client = nagar_bus_client_new(&options, self->config, error, sizeof error);
    if (!client)
        ctl_say_error("cannot reach the broker at %s as %s: %s", options.endpoint,
                  options.certificate_path, error);
    return client;
}

nagar_status_code_t ctl_call_admin(nagar_bus_client_t *client, const char *method,
                                      const ProtobufCMessage *request,
                                      const ProtobufCMessageDescriptor *reply_type,
                                      ProtobufCMessage **reply, char *message, size_t message_size)
{
    nagar_bus_call_t call = {.service = "nagar.admin", .method = method, .request = request,
                             .timeout_ms = 5000, .max_attempts = 2};
    return nagar_bus_client_call(client, &call, reply_type, reply, message, message_size, NULL, 0);
}

const char *ctl_status_name(nagar_status_code_t code)
{
    const ProtobufCEnumValue *value =
        protobuf_c_enum_descriptor_get_value(&nagar__status_code__descriptor, (int) code);
    return value ? value->name : "UNKNOWN";
}

int ctl_fetch_stats(nagar_bus_client_t *client, Nagar__Admin__StatsReply **stats)
{
    Nagar__Admin__StatsRequest request = NAGAR__ADMIN__STATS_REQUEST__INIT;
    char message[1024] = "";
    nagar_status_code_t code = ctl_call_admin(client, "stats", &request.base,
                                          &nagar__admin__stats_reply__descriptor,
                                          (ProtobufCMessage **) stats, message, sizeof message);
    if (code != NAGAR__STATUS_CODE__OK) {
        ctl_say_error("nagar.admin stats failed: %s: %s", ctl_status_name(code), message);
        return -1;
    }
    return 0;
}

int ctl_status(ctl_t *self)
{
    nagar_bus_client_t *client = ctl_connect_bus(self, "NAGAR_BUS_CERT", "operator");
    if (!client)
        return EXIT_ERROR;
    Nagar__Admin__StatsReply *stats = NULL;
    if (ctl_fetch_stats(client, &stats) != 0) {
        nagar_bus_client_destroy(&client);
        return EXIT_ERROR;
    }
    printf("%-20s %7s %5s %7s %10s %7s  %s\n", "SERVICE", "WORKERS", "IDLE", "QUEUED", "SERVED",
           "ERRORS", "STATE");
    for (size_t i = 0; i < stats->n_services; i++) {
        const Nagar__Admin__ServiceStats *s = stats->services[i];
        char state[300];
        if (s->quarantined)
            ctl_fmt(state, sizeof state, "QUARANTINED%s%s", s->quarantine_reason[0] ? ": " : "",
                     s->quarantine_reason);
        else
            ctl_fmt(state, sizeof state, "%s", s->workers ? "serving" : "DOWN (no workers)");
        printf("%-20s %7u %5u %7u %10" PRIu64 " %7" PRIu64 "  %s\n", s->name, s->workers,
               s->idle_workers, s->queued, s->served, s->errors, state);
    }
    printf("\nbroker up %" PRIu64 " s; %" PRIu64 " messages refused by the ACL or a quarantine; "
           "%zu revoked key%s\n", stats->uptime_ms / 1000, stats->denied, stats->n_revoked_keys,
           stats->n_revoked_keys == 1 ? "" : "s");
    /* Who was refused, and why: a compromised key shows up here first. */
    printf("\n%-16s %9s %10s %8s %10s %10s %9s %6s %8s\n", "PRINCIPAL", "IN FLIGHT", "REQUESTS",
           "ACL", "QUARANTINE", "IN-FLIGHT", "RATE", "BY SVC", "LIMITS");
    for (size_t i = 0; i < stats->n_principals; i++) {
        const Nagar__Admin__PrincipalStats *p = stats->principals[i];
        char limits[48];
        if (p->rate > 0)
            ctl_fmt(limits, sizeof limits, "%u, %.0f/s", p->max_in_flight, p->rate);
        else
            ctl_fmt(limits, sizeof limits, "%u", p->max_in_flight);
        printf("%-16s %9u %10" PRIu64 " %8" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9" PRIu64
               " %6" PRIu64 " %8s\n", p->name, p->in_flight, p->requests, p->refused_acl,
               p->refused_quarantine, p->refused_in_flight, p->refused_rate,
               p->refused_by_service, limits);
    }
    protobuf_c_message_free_unpacked(&stats->base, NULL);
    nagar_bus_client_destroy(&client);
    return EXIT_OK;
}

int ctl_quarantine(ctl_t *self, const char *service, const char *reason, bool release)
{
    nagar_bus_client_t *client = ctl_connect_bus(self, "NAGAR_BUS_CERT", "operator");
    if (!client)
        return EXIT_ERROR;
    Nagar__Admin__QuarantineRequest quarantine = NAGAR__ADMIN__QUARANTINE_REQUEST__INIT;
    Nagar__Admin__ReleaseRequest release_request = NAGAR__ADMIN__RELEASE_REQUEST__INIT;
    quarantine.service = (char *) service;
    quarantine.reason = (char *) (reason ? reason : "by nagarctl");
    release_request.service = (char *) service;
    Nagar__Admin__AdminReply *reply = NULL;
    char message[1024] = "";
    nagar_status_code_t code = ctl_call_admin(
        client, release ? "release" : "quarantine",
        release ? &release_request.base : &quarantine.base, &nagar__admin__admin_reply__descriptor,
        (ProtobufCMessage **) &reply, message, sizeof message);
    int rc = EXIT_OK;
    if (code == NAGAR__STATUS_CODE__OK) {
        printf("%s\n", reply->detail[0] ? reply->detail
                                        : (release ? "released" : "quarantined"));
        protobuf_c_message_free_unpacked(&reply->base, NULL);
    } else {
        ctl_say_error("%s %s failed: %s: %s", release ? "release" : "quarantine", service,
                  ctl_status_name(code), message);
        rc = EXIT_ERROR;
    }
    nagar_bus_client_destroy(&client);
    return rc;
}

