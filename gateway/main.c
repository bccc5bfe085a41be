/*
 * main.c — nagar-gateway: reads settings, starts the gateway, serves until
 * SIGINT/SIGTERM. Everything else is in http.c (server and event loop),
 * routes.c (what each path means), auth.c, rate_limit.c, ready.c, metrics.c,
 * openapi.c and errors.c.
 */
#include <czmq.h>

#include "config.h"
#include "gateway.h"
#include "log.h"

int main(int argc, char **argv)
{
    (void) argc;
    (void) argv;
    nagar_log_init("gateway");
    zsys_init();    /* installs the SIGINT/SIGTERM handler that sets zsys_interrupted */
    char error[NAGAR_CONFIG_ERROR_MAX + 512];
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    if (!config) {
        nagar_log_error("gateway.config", "cannot read the configuration: %s", error);
        return 2;
    }
    gateway_options_t options;
    if (gateway_options_load(&options, config, error, sizeof error) != 0) {
        nagar_log_error("gateway.config", "bad setting: %s", error);
        nagar_config_destroy(&config);
        return 2;
    }
    gateway_t *gateway = gateway_new(&options, config, error, sizeof error);
    if (!gateway) {
        nagar_log_error("gateway.start_failed", "the gateway could not start: %s", error);
        nagar_config_destroy(&config);
        return 1;
    }
    int rc = gateway_run(gateway);
    gateway_destroy(&gateway);
    nagar_config_destroy(&config);
    nagar_log_info("gateway.stopped", "stopped");
    return rc == 0 ? 0 : 1;
}
