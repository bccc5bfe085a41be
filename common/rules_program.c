/*
 * rules_program.c — the program of a rules service (service_rules.h,
 * nagar_rules_main): the command line, the settings such services share,
 * the worker with the outbox relay on its tick.
 */
#include "service_rules.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "document.h"
#include "ledger.h"
#include "log.h"
#include "outbox.h"

/* ---- the program -------------------------------------------------------------------- */

typedef struct {
    const nagar_rules_service_t *service;
    nagar_config_t *config;
    nagar_outbox_relay_t *relay;   /* NULL: relay off */
    long relay_interval_ms;
    int64_t relay_next_ms;         /* monotonic */
    nagar_payment_provider_t *provider;   /* NAGAR_PAYMENT_PROVIDER_KEY_FILE; NULL: unset */
    nagar_rules_payments_t payments;      /* the service's, with rules and provider */
} program_t;

static void usage(const nagar_rules_service_t *service, FILE *out)
{
    const char *program = service->program;
    fprintf(out,
            "usage: %s%-24sserve %s on the bus\n"
            "       %s%-24sverify the ledger chain(s)\n"
            "       %s%-24screate the payment provider key\n",
            program, "", service->rules->service, program, " verify [ULB]", program,
            " provider-keygen FILE");
}

/* "<settings_prefix>_<what>": the name of one of the service's settings. */
static const char *setting_name(const program_t *program, char out[128], const char *what)
{
    snprintf(out, 128, "%s_%s", program->service->settings_prefix, what);
    return out;
}

/* The business date and the provider key, then the service's own settings
 * (into ready). Answers the worker's idle tick in ms, or -1. */
static int load_settings(program_t *program, json_t *ready)
{
    const nagar_rules_service_t *service = program->service;
    nagar_rules_t *rules = service->rules;
    char error[1024], event[96], name[128];
    const char *date =
        nagar_config_get(program->config, setting_name(program, name, "BUSINESS_DATE"), "");
    if (date[0]) {
        nagar_date_t parsed;
        if (nagar_date_parse(date, &parsed, error, sizeof error) != 0) {
            nagar_log_error(nagar_rules_event_name(rules, event, "config_invalid"), "%s=%s: %s", name, date,
                            error);
            return -1;
        }
        nagar_date_format(parsed, rules->business_date);
        nagar_log_warn(nagar_rules_event_name(rules, event, "business_date_fixed"),
                       "the business date is fixed at %s (%s); payments are dated that day",
                       rules->business_date, name);
    }
    const char *key_file =
        nagar_config_get(program->config, "NAGAR_PAYMENT_PROVIDER_KEY_FILE", "");
    if (key_file[0]) {
        program->provider = nagar_payment_provider_new(key_file, error, sizeof error);
        if (!program->provider) {
            nagar_log_error(nagar_rules_event_name(rules, event, "config_invalid"), "%s", error);
            return -1;
        }
    } else {
        nagar_log_warn(nagar_rules_event_name(rules, event, "online_off"),
                       "NAGAR_PAYMENT_PROVIDER_KEY_FILE is not set: "
                       "online payments will be refused");
    }
    return service->settings(service->arg, program->config, ready);
}

/* The worker's tick: the service's batch, and every relay interval the outbox. */
static void program_tick(nagar_worker_t *worker, void *arg)
{
    program_t *program = arg;
    if (program->service->tick)
        program->service->tick(worker, program->service->arg);
    if (program->relay && nagar_rules_monotonic_ms() >= program->relay_next_ms) {
        nagar_outbox_relay_run_once(program->relay, 100, 2000);
        program->relay_next_ms = nagar_rules_monotonic_ms() + program->relay_interval_ms;
    }
}

/* Starts the outbox relay, with its own bus client, when it is on. */
static int start_relay(program_t *program, const nagar_bus_options_t *options, bool *relay)
{
    const nagar_rules_service_t *service = program->service;
    nagar_rules_t *rules = service->rules;
    char error[1024], event[96], name[128];
    if (nagar_config_get_bool(program->config, setting_name(program, name, "OUTBOX_RELAY"), true,
                              relay, error, sizeof error) != 0) {
        nagar_log_error(nagar_rules_event_name(rules, event, "config_invalid"), "%s", error);
        return -1;
    }
    if (nagar_service_config_long(program->config, rules->service,
                                  setting_name(program, name, "RELAY_INTERVAL_MS"), 1000, 50,
                                  600000, &program->relay_interval_ms) != 0)
        return -1;
    if (!*relay)
        return 0;
    *service->bus = nagar_bus_client_new(options, program->config, error, sizeof error);
    program->relay =
        *service->bus ? nagar_outbox_relay_new(rules->db, *service->bus, rules->service) : NULL;
    if (!program->relay) {
        nagar_log_error(nagar_rules_event_name(rules, event, "worker_failed"),
                        "the outbox relay could not start: %s",
                        *service->bus ? "out of memory" : error);
        return -1;
    }
    return 0;
}

/* A row of the rule-method table, served: the service's arg begins with
 * its nagar_rules_t, which knows the table. */
static int rule_method(nagar_worker_call_t *call, const ProtobufCMessage *request, void *arg)
{
    nagar_rules_t *rules = arg;
    const char *name = nagar_worker_call_method(call);
    for (const nagar_rule_method_t *row = rules->rule_methods; row && row->name; row++)
        if (strcmp(row->name, name) == 0)
            return nagar_rules_method(rules, call, request, NULL, row->function, row->reply_type,
                                      row->mutation, NULL, NULL);
    return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INTERNAL, NULL,
                                  "method '%s' names no rule function", name);
}

/* The worker's table: the service's own methods, then its rule methods. */
static nagar_method_t *method_table(const nagar_rules_service_t *service)
{
    size_t own = 0, rules = 0;
    while (service->methods && service->methods[own].name)
        own++;
    while (service->rule_methods && service->rule_methods[rules].name)
        rules++;
    nagar_method_t *table = calloc(own + rules + 1, sizeof *table);
    if (!table)
        return NULL;
    for (size_t i = 0; i < own; i++)
        table[i] = service->methods[i];
    for (size_t i = 0; i < rules; i++) {
        const nagar_rule_method_t *row = &service->rule_methods[i];
        table[own + i] = (nagar_method_t){.name = row->name, .request_type = row->request_type,
                                          .callers = row->callers, .handler = rule_method};
    }
    return table;
}

static int serve(program_t *program)
{
    const nagar_rules_service_t *service = program->service;
    nagar_rules_t *rules = service->rules;
    char error[1024], event[96];
    json_t *ready = json_object();   /* the service's fields first, as it adds them */
    int tick_ms = load_settings(program, ready);
    if (tick_ms < 0 || !(rules->db = nagar_service_db_connect(program->config, rules->service))) {
        json_decref(ready);
        return 1;
    }
    if (service->connected)
        service->connected(service->arg);
    nagar_bus_options_t options;
    if (nagar_bus_options_load(&options, program->config, error, sizeof error) != 0) {
        nagar_log_error(nagar_rules_event_name(rules, event, "config_invalid"), "%s", error);
        json_decref(ready);
        return 1;
    }
    bool relay = true;
    if (start_relay(program, &options, &relay) != 0) {
        json_decref(ready);
        return 1;
    }
    rules->rule_methods = service->rule_methods;
    if (service->payments) {
        program->payments = *service->payments;
        program->payments.rules = rules;
        program->payments.provider = program->provider;
        rules->payments = &program->payments;
    }
    nagar_method_t *methods = method_table(service);
    nagar_worker_t *worker = methods ? nagar_worker_new(&options, program->config, rules->service,
                                                        methods, service->arg, error,
                                                        sizeof error)
                                     : NULL;
    if (!worker) {
        nagar_log_error(nagar_rules_event_name(rules, event, "worker_failed"), "%s",
                        methods ? error : "out of memory");
        free(methods);
        json_decref(ready);
        return 1;
    }
    nagar_worker_set_tick(worker, tick_ms, program_tick, program);
    nagar_service_keep_worker_alive(rules->db, worker);
    nagar_service_keep_worker_alive_on_bus(*service->bus, worker);
    json_object_set_new(ready, "online_payments", json_boolean(program->provider != NULL));
    json_object_set_new(ready, "business_date",
                        json_string(rules->business_date[0] ? rules->business_date : "today"));
    json_object_set_new(ready, "relay", json_boolean(relay));
    nagar_log_write(NAGAR_LOG_INFO, nagar_rules_event_name(rules, event, "ready"), ready,
                    "%s serving on the bus", rules->service);
    int rc = nagar_worker_run(worker);
    nagar_worker_destroy(&worker);
    free(methods);
    nagar_log_info(nagar_rules_event_name(rules, event, "stopped"), "%s stopped", rules->service);
    return rc == 0 ? 0 : 1;
}

/* Exit 0: every chain whole; 3: a chain is broken; 1: could not verify. */
static int verify(program_t *program, const char *ulb)
{
    nagar_rules_t *rules = program->service->rules;
    rules->db = nagar_service_db_connect(program->config, rules->service);
    if (!rules->db)
        return 1;
    return nagar_ledger_check(rules->db, rules->service, ulb);
}

static int keygen(const nagar_rules_service_t *service, const char *path)
{
    char error[1024], event[96];
    if (nagar_payment_provider_keygen(path, error, sizeof error) != 0) {
        nagar_log_error(nagar_rules_event_name(service->rules, event, "keygen_failed"), "%s", error);
        return 1;
    }
    nagar_log_info(nagar_rules_event_name(service->rules, event, "provider_keygen"),
                   "payment provider key written to %s", path);
    return 0;
}

int nagar_rules_main(const nagar_rules_service_t *service, int argc, char **argv)
{
    nagar_rules_t *rules = service->rules;
    char error[1024], event[96];
    nagar_log_init(rules->service);
    if (sodium_init() < 0) {
        nagar_log_error(nagar_rules_event_name(rules, event, "start_failed"), "libsodium failed to initialise");
        return 1;
    }
    const char *command = argc > 1 ? argv[1] : "serve";
    if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "help") == 0) {
        usage(service, stdout);
        return 0;
    }
    if (strcmp(command, "provider-keygen") == 0) {
        if (argc != 3) {
            usage(service, stderr);
            return 2;
        }
        return keygen(service, argv[2]);
    }
    program_t program = {.service = service};
    program.config = nagar_config_new(NULL, error, sizeof error);
    if (!program.config) {
        nagar_log_error(nagar_rules_event_name(rules, event, "config_invalid"), "%s", error);
        return 1;
    }
    int rc;
    if (strcmp(command, "serve") == 0 && argc <= 2) {
        rc = serve(&program);
    } else if (strcmp(command, "verify") == 0 && argc <= 3) {
        rc = verify(&program, argc == 3 ? argv[2] : NULL);
    } else {
        usage(service, stderr);
        rc = 2;
    }
    nagar_outbox_relay_destroy(&program.relay);
    nagar_bus_client_destroy(service->bus);
    rules->payments = NULL;   /* it was program's */
    nagar_payment_provider_destroy(&program.provider);
    nagar_db_destroy(&rules->db);
    nagar_config_destroy(&program.config);
    nagar_document_shutdown();   /* Pango's font caches, so a leak checker sees a clean exit */
    return rc;
}
