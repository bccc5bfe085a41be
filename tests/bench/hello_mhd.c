/*
 * hello_mhd.c — the baseline for `make bench-gateway`: a bare libmicrohttpd
 * server answering every request with a fixed 15-byte body, nothing else.
 * The gateway's /healthz is measured against it in the same run, so the
 * ratio shows what the gateway's own work (request ids, headers, routing,
 * metrics, the shared event loop) costs over MHD itself.
 *
 *   hello_mhd PORT [select|epoll|external-epoll]
 *     select          MHD's internal select thread (one thread)
 *     epoll           MHD's internal epoll thread (one thread)
 *     external-epoll  our own poll() on MHD's epoll fd, as the gateway does
 */
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void) sig;
    stop = 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void) cls, (void) url, (void) method, (void) version, (void) upload_data;
    (void) upload_data_size;
    /* The canonical MHD pattern (and the gateway's): the first call only
     * sees the headers; the response is queued once the request is
     * complete. */
    static int first_call_marker;
    if (*con_cls != &first_call_marker) {
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    static const char body[] = "{\"status\":\"ok\"}";
    struct MHD_Response *response = MHD_create_response_from_buffer(
        sizeof body - 1, (void *) body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(response, "Content-Type", "application/json");
    enum MHD_Result result = MHD_queue_response(connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return result;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: hello_mhd PORT [select|epoll|external-epoll]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *mode = argc > 2 ? argv[2] : "select";
    unsigned flags = MHD_USE_ERROR_LOG | (getenv("HELLO_NO_TURBO") ? 0 : MHD_USE_TURBO);
    bool external = strcmp(mode, "external-epoll") == 0;
    if (strcmp(mode, "select") == 0)
        flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_SELECT_INTERNALLY;
    else if (strcmp(mode, "epoll") == 0)
        flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    else if (external)
        flags |= MHD_USE_EPOLL;
    else {
        fprintf(stderr, "hello_mhd: unknown mode %s\n", mode);
        return 2;
    }
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, (uint16_t) port, NULL, NULL, on_request, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        10u, MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "hello_mhd: cannot listen on port %d\n", port);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr, "hello_mhd: listening on %d (%s)\n", port, mode);
    while (!stop) {
        if (external) {
            const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon,
                                                                   MHD_DAEMON_INFO_EPOLL_FD);
            struct pollfd fd = {.fd = info->epoll_fd, .events = POLLIN};
            poll(&fd, 1, 1000);
            MHD_run(daemon);
        } else {
            pause();
        }
    }
    MHD_stop_daemon(daemon);
    return 0;
}
