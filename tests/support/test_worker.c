/*
 * test_worker.c — the "echo" service used by the bus system tests and the
 * bus benchmark: a real libnagar worker (bus_worker.h) with one method.
 *
 *   echo   request nagar.test.EchoRequest, reply nagar.test.EchoReply with
 *          the text, the caller principal the broker vouched for, this
 *          process's pid, the actor's user id and the idempotency key.
 *          sleep_ms makes it sleep first (in slices, keeping the broker's
 *          heartbeats going); crash makes it abort() instead of answering.
 *
 * Environment, besides the NAGAR_BUS_* settings of bus.h / bus_worker.h:
 *   TEST_WORKER_SERVICE  service name to serve, default "echo"
 *   TEST_WORKER_CALLERS  comma-separated principals allowed to call echo,
 *                        default "*" (anyone the broker lets through)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus_worker.h"
#include "config.h"
#include "log.h"
#include "tests/proto/echo.pb-c.h"

#define MAX_CALLERS 32
#define SLEEP_SLICE_MS 20
/* Longest sleep a request may ask for: keeps a test's worker bounded. */
#define SLEEP_MAX_MS 60000

static int echo_handler(nagar_worker_call_t *call, const ProtobufCMessage *message, void *arg)
{
    (void) arg;
    const Nagar__Test__EchoRequest *request = (const Nagar__Test__EchoRequest *) message;
    if (request->crash) {
        nagar_log_warn("echo.crash", "aborting as the request asked");
        abort();
    }
    if (request->sleep_ms > SLEEP_MAX_MS)
        return nagar_worker_call_fail(call, NAGAR__STATUS_CODE__INVALID_ARGUMENT, "sleep_ms",
                                      "sleep_ms is %u; at most %d is allowed", request->sleep_ms,
                                      SLEEP_MAX_MS);
    if (request->sleep_ms > 0) {
        nagar_log_info("echo.sleeping", "sleeping %u ms before answering", request->sleep_ms);
        int64_t until = zclock_mono() + request->sleep_ms;
        /* Asked to stop meanwhile, it still finishes (the worker drains:
         * bus_worker.h). */
        while (zclock_mono() < until) {
            int64_t left = until - zclock_mono();
            zclock_sleep((int) (left < SLEEP_SLICE_MS ? left : SLEEP_SLICE_MS));
            nagar_worker_call_keepalive(call);
        }
    }
    const Nagar__RequestContext *context = nagar_worker_call_context(call);
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int) getpid());
    Nagar__Test__EchoReply reply = NAGAR__TEST__ECHO_REPLY__INIT;
    reply.text = request->text;
    reply.caller = (char *) nagar_worker_call_caller(call);
    reply.worker = pid;
    reply.actor_user_id = (char *) nagar_worker_call_actor(call)->user_id;   /* verified */
    reply.idempotency_key = context->idempotency_key;
    return nagar_worker_call_reply(call, &reply.base);
}

/* Splits csv into at most MAX_CALLERS names in storage; NULL-terminated. */
static int parse_callers(char *csv, const char *callers[MAX_CALLERS + 1])
{
    int count = 0;
    char *save = NULL;
    for (char *name = strtok_r(csv, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        while (*name == ' ')
            name++;
        if (!*name)
            continue;
        if (count == MAX_CALLERS)
            return -1;
        callers[count++] = name;
    }
    callers[count] = NULL;
    return count;
}

int main(void)
{
    nagar_log_init("test_worker");
    char error[NAGAR_CONFIG_ERROR_MAX];
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    if (!config) {
        nagar_log_error("test_worker.config", "%s", error);
        return 2;
    }
    const char *service = nagar_config_get(config, "TEST_WORKER_SERVICE", "echo");
    char *callers_csv = strdup(nagar_config_get(config, "TEST_WORKER_CALLERS", "*"));
    const char *callers[MAX_CALLERS + 1];
    if (!callers_csv || parse_callers(callers_csv, callers) <= 0) {
        nagar_log_error("test_worker.config", "TEST_WORKER_CALLERS must name 1 to %d principals "
                        "separated by commas, or \"*\"", MAX_CALLERS);
        free(callers_csv);
        nagar_config_destroy(&config);
        return 2;
    }
    nagar_bus_options_t options;
    if (nagar_bus_options_load(&options, config, error, sizeof error) != 0) {
        nagar_log_error("test_worker.config", "%s", error);
        free(callers_csv);
        nagar_config_destroy(&config);
        return 2;
    }
    const nagar_method_t methods[] = {
        { "echo", &nagar__test__echo_request__descriptor, callers, echo_handler },
        { NULL, NULL, NULL, NULL },
    };
    nagar_worker_t *worker = nagar_worker_new(&options, config, service, methods, NULL, error,
                                              sizeof error);
    if (!worker) {
        nagar_log_error("test_worker.start_failed", "%s", error);
        free(callers_csv);
        nagar_config_destroy(&config);
        return 1;
    }
    int rc = nagar_worker_run(worker);
    nagar_worker_destroy(&worker);
    free(callers_csv);
    nagar_config_destroy(&config);
    return rc == 0 ? 0 : 1;
}
