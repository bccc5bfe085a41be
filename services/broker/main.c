/*
 * main.c — nagar-broker: reads the settings, builds the broker, serves
 * until SIGINT/SIGTERM. Everything else is in broker.c (the loop), acl.c
 * (keys and permissions), admin.c (nagar.admin) and state.c (persistence).
 */
#include <czmq.h>
#include <signal.h>

#include "broker.h"
#include "log.h"

/* Our own SIGINT/SIGTERM handler, not CZMQ's: CZMQ's interrupt flag would
 * also stop the authentication and monitor actors, which must go on while
 * the broker drains. */
static void on_stop_signal(int signal_number)
{
    (void) signal_number;
    broker_stop_requested = 1;
}

int main(void)
{
    nagar_log_init("broker");
    char error[1024];
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    if (!config) {
        nagar_log_error("broker.config_invalid", "cannot read the configuration: %s", error);
        return 1;
    }
    broker_options_t options;
    if (broker_options_load(&options, config, error, sizeof error) != 0) {
        nagar_log_error("broker.config_invalid", "%s", error);
        nagar_config_destroy(&config);
        return 1;
    }
    nagar_config_destroy(&config);
    if (options.insecure)
        nagar_log_write(NAGAR_LOG_WARN, "broker.insecure",
                        json_pack("{s:s}", "endpoint", options.bind),
                        "SECURITY IS OFF (NAGAR_BROKER_INSECURE=1): no CURVE, no per-key ACL, "
                        "anyone who reaches %s can serve and call any service and use "
                        "nagar.admin. Only for RFC 7 interoperability tests and local "
                        "development.", options.bind);

    zsys_handler_set(NULL);
    zsys_init();
    struct sigaction action = {.sa_handler = on_stop_signal};
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    zsys_set_logstream(NULL); /* CZMQ's own lines are not JSON; ours carry what matters */
    broker_t *broker = broker_new(&options, error, sizeof error);
    if (!broker) {
        nagar_log_error("broker.start_failed", "%s", error);
        zsys_shutdown();
        return 1;
    }
    int rc = broker_run(broker);
    broker_destroy(&broker);
    nagar_log_info("broker.stopped", "broker stopped cleanly");
    zsys_shutdown();
    return rc;
}
