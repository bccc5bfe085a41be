/*
 * jobs.c — nagarctl demand generate and bills generate: a service's
 * set-based job (annual property-tax demand, monthly water bills) started
 * with the operator's job grant and watched to the end with a progress bar.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <czmq.h>

#include "ctl.h"
#include "job_grant.h"
#include "proto/envelope.pb-c.h"
#include "proto/property_tax.pb-c.h"
#include "proto/water_tax.pb-c.h"

/* An int64 or string field of a job reply, by name (DemandJob, BillJob). */
static int64_t job_int(const ProtobufCMessage *job, const char *name)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(job->descriptor, name);
    if (!field || (field->type != PROTOBUF_C_TYPE_INT64 && field->type != PROTOBUF_C_TYPE_INT32))
        return 0;
    const char *at = (const char *) job + field->offset;
    return field->type == PROTOBUF_C_TYPE_INT64 ? *(const int64_t *) at : *(const int32_t *) at;
}

static const char *job_text(const ProtobufCMessage *job, const char *name)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(job->descriptor, name);
    if (!field || field->type != PROTOBUF_C_TYPE_STRING)
        return "";
    const char *value = *(const char *const *) ((const char *) job + field->offset);
    return value ? value : "";
}

/* A set-based job of a service: started once, then watched by job id. */
typedef struct {
    const char *grant_job;        /* authority.h's job kind */
    const char *service;
    const char *start_method, *status_method;
    const char *what;             /* "demand", "bills" */
    const ProtobufCMessageDescriptor *job_type;      /* the reply of both methods */
    const ProtobufCMessageDescriptor *status_type;   /* { int64 job_id = 1; } */
} set_job_t;

static const set_job_t DEMAND_JOB = {"demand.generate", "property_tax", "demand.generate",
                                     "demand.status", "demand",
                                     &nagar__property_tax__demand_job__descriptor,
                                     &nagar__property_tax__demand_status_request__descriptor};
static const set_job_t BILLS_JOB = {"bill.generate", "water_tax", "bill.generate",
                                    "bill.status", "bills",
                                    &nagar__water_tax__bill_job__descriptor,
                                    &nagar__water_tax__bill_job_status_request__descriptor};

/* "2026-05" -> "2026-27" (the financial year a billing month falls in). */
static bool period_fy(const char *period, char fy[16])
{
    int year = 0, month = 0;
    char tail;
    if (strlen(period) != 7 || sscanf(period, "%4d-%2d%c", &year, &month, &tail) != 2 ||
        month < 1 || month > 12)
        return false;
    int start = month >= 4 ? year : year - 1;
    ctl_fmt(fy, 16, "%04d-%02d", start, (start + 1) % 100);
    return true;
}

/* Starts the job with the operator's grant (job_grant.h) and shows its
 * progress until it is DONE or wait_s runs out. request is the start
 * method's request (ulb and fy or period filled in). */
static int run_set_job(ctl_t *self, const set_job_t *kind, const char *ulb, const char *fy,
                       const char *scope_text, const ProtobufCMessage *request,
                       const char *operator_user, int wait_s)
{
    nagar_bus_client_t *client = ctl_connect_bus(self, "NAGAR_CTL_BATCH_CERT", "batch");
    if (!client)
        return EXIT_ERROR;
    char error[1024] = "";
    nagar_job_grant_t *grant = nagar_job_grant_new(self->config, client, operator_user,
                                                   kind->grant_job, ulb, fy, NULL, error,
                                                   sizeof error);
    if (!grant) {
        ctl_say_error("%s", error);
        nagar_bus_client_destroy(&client);
        return EXIT_ERROR;
    }
    char key[128];
    /* A new key per run: the job itself is idempotent (a re-run creates no
     * bill twice and picks up accounts added since), and a fixed key would
     * only replay the first job's answer. */
    ctl_fmt(key, sizeof key, "nagarctl-%s-%s-%s-%lld", kind->what, ulb, scope_text,
        (long long) time(NULL));
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    context.idempotency_key = key;
    context.authorization = (char *) nagar_job_grant_token(grant, error, sizeof error);
    nagar_bus_call_t call = {.service = kind->service, .method = kind->start_method,
                             .context = &context, .request = request, .timeout_ms = 30000};
    ProtobufCMessage *job = NULL;
    char message[1024] = "", field[128] = "";
    nagar_status_code_t code = nagar_bus_client_call(client, &call, kind->job_type, &job, message,
                                                     sizeof message, field, sizeof field);
    if (code != NAGAR__STATUS_CODE__OK) {
        ctl_say_error("%s for ULB %s, %s failed: %s: %s%s%s", kind->start_method, ulb, scope_text,
                  ctl_status_name(code), message, field[0] ? " (field " : "", field[0] ? field : "");
        nagar_job_grant_destroy(&grant);
        nagar_bus_client_destroy(&client);
        return code == NAGAR__STATUS_CODE__INVALID_ARGUMENT ? EXIT_USAGE : EXIT_ERROR;
    }
    int64_t job_id = job_int(job, "job_id");
    int rc = EXIT_ERROR;
    int64_t deadline = zclock_mono() + (int64_t) wait_s * 1000;
    while (zclock_mono() < deadline) {
        bool done = strcmp(job_text(job, "status"), "DONE") == 0;
        ctl_progress_bar(job_int(job, "processed"), job_int(job, "total"), kind->what);
        if (done) {
            fprintf(stderr, "\n");
            printf("%s job %" PRId64 " for ULB %s, %s: %" PRId64 " accounts, %" PRId64
                   " bills created, %" PRId64 " skipped; run for %s\n", kind->what, job_id, ulb,
                   scope_text, job_int(job, "total"), job_int(job, "bills_created"),
                   job_int(job, "skipped"), nagar_job_grant_operator(grant));
            rc = EXIT_OK;
            break;
        }
        protobuf_c_message_free_unpacked(job, NULL);
        job = NULL;
        zclock_sleep(300);
        context.idempotency_key = "";
        context.authorization = (char *) nagar_job_grant_token(grant, error, sizeof error);
        if (!context.authorization) {
            fprintf(stderr, "\n");
            ctl_say_error("%s (the job goes on; ask again later)", error);
            break;
        }
        /* The status request of both jobs is { int64 job_id = 1; }. */
        ProtobufCMessage *poll_request = calloc(1, kind->status_type->sizeof_message);
        if (!poll_request)
            break;
        protobuf_c_message_init(kind->status_type, poll_request);
        const ProtobufCFieldDescriptor *id_field =
            protobuf_c_message_descriptor_get_field_by_name(kind->status_type, "job_id");
        *(int64_t *) ((char *) poll_request + id_field->offset) = job_id;
        nagar_bus_call_t poll = {.service = kind->service, .method = kind->status_method,
                                 .context = &context, .request = poll_request,
                                 .timeout_ms = 10000, .repeatable = true};   /* a read */
        code = nagar_bus_client_call(client, &poll, kind->job_type, &job, message,
                                     sizeof message, NULL, 0);
        free(poll_request);
        if (code != NAGAR__STATUS_CODE__OK) {
            fprintf(stderr, "\n");
            ctl_say_error("%s of job %" PRId64 " failed: %s: %s (the job goes on; ask again later)",
                      kind->status_method, job_id, ctl_status_name(code), message);
            break;
        }
    }
    if (rc != EXIT_OK && job)
        ctl_say_error("%s job %" PRId64 " still running after %d s", kind->what, job_id, wait_s);
    if (job)
        protobuf_c_message_free_unpacked(job, NULL);
    nagar_job_grant_destroy(&grant);
    nagar_bus_client_destroy(&client);
    return rc;
}

int ctl_demand_generate(ctl_t *self, const char *ulb, const char *fy,
                               const char *operator_user, int wait_s)
{
    Nagar__PropertyTax__GenerateDemandRequest request =
        NAGAR__PROPERTY_TAX__GENERATE_DEMAND_REQUEST__INIT;
    request.ulb = (char *) ulb;
    request.fy = (char *) fy;
    return run_set_job(self, &DEMAND_JOB, ulb, fy, fy, &request.base, operator_user, wait_s);
}

int ctl_bills_generate(ctl_t *self, const char *ulb, const char *period,
                              const char *operator_user, int wait_s)
{
    char fy[16];
    if (!period_fy(period, fy)) {
        ctl_say_error("PERIOD must be the billing month, YYYY-MM (e.g. 2026-05), not \"%s\"",
                  period);
        return EXIT_USAGE;
    }
    Nagar__WaterTax__GenerateBillsRequest request = NAGAR__WATER_TAX__GENERATE_BILLS_REQUEST__INIT;
    request.ulb = (char *) ulb;
    request.period = (char *) period;
    return run_set_job(self, &BILLS_JOB, ulb, fy, period, &request.base, operator_user, wait_s);
}

