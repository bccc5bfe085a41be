/*
 * bench_bus.c — request/reply throughput through the broker, and the raw
 * ZeroMQ round trip it is compared against (tests/bench/bench_bus.py runs
 * both and prints the ratio).
 *
 *   bench_bus --mode bus       libnagar client -> nagar-broker -> echo workers
 *                              (bus settings from NAGAR_BUS_*)
 *   bench_bus --mode raw       DEALER -> ROUTER echo thread in this process,
 *                              over TCP loopback, no security
 *   bench_bus --mode raw-curve the same with CURVE on both ends
 *   options: --in-flight K (64) --count N (0) --seconds S (5) --size BYTES (64)
 *            --warmup N (500)
 *
 * Both modes send the same bytes: a packed nagar.Request holding an echo
 * request with a text of --size bytes. Prints one JSON line:
 *   {"mode","requests","errors","seconds","rps","in_flight","message_bytes"}
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_client.h"
#include "log.h"
#include "mdp_frames.h"
#include "tests/proto/echo.pb-c.h"

#define RAW_TIMEOUT_MS 5000

typedef struct {
    const char *mode;
    long in_flight;
    long count;
    double seconds;
    long size;
    long warmup;
} bench_options_t;

typedef struct {
    long done;
    long errors;
    char first_error[256];
} bench_counts_t;

static void print_result(const bench_options_t *options, long requests, long errors,
                         double seconds, size_t message_bytes)
{
    printf("{\"mode\":\"%s\",\"requests\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"rps\":%.0f,"
           "\"in_flight\":%ld,\"message_bytes\":%zu}\n", options->mode, requests, errors, seconds,
           seconds > 0 ? requests / seconds : 0.0, options->in_flight, message_bytes);
    fflush(stdout);
}

/* The body the bus client sends for request: a nagar.Request with a
 * 32-character request id and a deadline, as nagar_bus_client_send makes. */
static uint8_t *echo_body(Nagar__Test__EchoRequest *request, size_t *body_size)
{
    size_t payload_size = protobuf_c_message_get_packed_size(&request->base);
    uint8_t *payload = malloc(payload_size ? payload_size : 1);
    protobuf_c_message_pack(&request->base, payload);
    Nagar__RequestContext context = NAGAR__REQUEST_CONTEXT__INIT;
    char id[33];
    nagar_bus_new_id(id);
    context.request_id = id;
    context.deadline_unix_ms = nagar_bus_now_ms() + 10000;
    uint8_t *body = nagar_envelope_request_pack("echo", &context, payload, payload_size,
                                                body_size);
    free(payload);
    return body;
}

/* ---- bus mode ----------------------------------------------------------- */

static void count_result(const nagar_bus_result_t *result, void *arg)
{
    bench_counts_t *counts = arg;
    counts->done++;
    if (result->code != NAGAR__STATUS_CODE__OK) {
        if (!counts->errors)
            snprintf(counts->first_error, sizeof counts->first_error, "%s: %s",
                     nagar_status_name(result->code), result->message);
        counts->errors++;
    }
}

/* Keeps in_flight requests going until total are done or the clock says
 * stop (total 0 = until seconds pass). Returns the number sent. */
static long bus_run(nagar_bus_client_t *client, const bench_options_t *options,
                    const nagar_bus_call_t *call, bench_counts_t *counts, long total,
                    double seconds)
{
    int64_t stop_at = zclock_mono() + (int64_t) (seconds * 1000);
    long sent = 0;
    while (!zsys_interrupted) {
        bool more = total > 0 ? sent < total : zclock_mono() < stop_at;
        while (more && (long) nagar_bus_client_in_flight(client) < options->in_flight) {
            if (nagar_bus_client_send(client, call, count_result, counts) != 0)
                break;
            sent++;
            more = total > 0 ? sent < total : zclock_mono() < stop_at;
        }
        if (!more && nagar_bus_client_in_flight(client) == 0)
            break;
        nagar_bus_client_poll(client, 100);
    }
    return sent;
}

static int bench_bus(const bench_options_t *options, Nagar__Test__EchoRequest *request)
{
    char error[NAGAR_CONFIG_ERROR_MAX];
    nagar_config_t *config = nagar_config_new(NULL, error, sizeof error);
    if (!config) {
        fprintf(stderr, "bench_bus: %s\n", error);
        return 2;
    }
    nagar_bus_options_t bus_options;
    nagar_bus_client_t *client = NULL;
    if (nagar_bus_options_load(&bus_options, config, error, sizeof error) == 0)
        client = nagar_bus_client_new(&bus_options, config, error, sizeof error);
    if (!client) {
        fprintf(stderr, "bench_bus: %s\n", error);
        nagar_config_destroy(&config);
        return 2;
    }
    nagar_bus_call_t call = {
        .service = "echo",
        .method = "echo",
        .request = &request->base,
        .timeout_ms = 10000,
    };
    bench_counts_t warm = { 0 };
    bus_run(client, options, &call, &warm, options->warmup, 0);
    bench_counts_t counts = { 0 };
    int64_t started = zclock_usecs();
    bus_run(client, options, &call, &counts, options->count, options->seconds);
    double elapsed = (zclock_usecs() - started) / 1e6;
    if (counts.errors)
        fprintf(stderr, "bench_bus: %ld requests failed; the first: %s\n", counts.errors,
                counts.first_error);
    size_t message_bytes = 0;
    free(echo_body(request, &message_bytes));
    print_result(options, counts.done, counts.errors, elapsed, message_bytes);
    nagar_bus_client_destroy(&client);
    nagar_config_destroy(&config);
    return counts.errors || counts.done == 0 ? 1 : 0;
}

/* ---- raw mode ----------------------------------------------------------- */

typedef struct {
    bool curve;
    zcert_t *server_cert;
} raw_server_args_t;

/* The ROUTER echo server: sends every message straight back. */
static void raw_server_actor(zsock_t *pipe, void *arg)
{
    raw_server_args_t *args = arg;
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_linger(router, 0);
    zsock_set_sndhwm(router, 100000);
    zsock_set_rcvhwm(router, 100000);
    if (args->curve) {
        zcert_apply(args->server_cert, router);
        zsock_set_curve_server(router, 1);
    }
    int port = zsock_bind(router, "tcp://127.0.0.1:*");
    zsock_signal(pipe, 0);
    zsock_send(pipe, "i", port);
    void *handle = zsock_resolve(router);
    zmq_pollitem_t items[] = {
        { .socket = zsock_resolve(pipe), .events = ZMQ_POLLIN },
        { .socket = handle, .events = ZMQ_POLLIN },
    };
    while (true) {
        if (zmq_poll(items, 2, 1000) == -1)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            break;      /* $TERM from zactor_destroy */
        if (!(items[1].revents & ZMQ_POLLIN))
            continue;
        /* Drain: everything waiting goes back in one sweep. */
        while (true) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, handle, ZMQ_DONTWAIT) == -1) {
                zmq_msg_close(&part);
                break;
            }
            int more = zmq_msg_more(&part);
            zmq_msg_send(&part, handle, more ? ZMQ_SNDMORE : 0);
            while (more) {
                zmq_msg_init(&part);
                zmq_msg_recv(&part, handle, 0);
                more = zmq_msg_more(&part);
                zmq_msg_send(&part, handle, more ? ZMQ_SNDMORE : 0);
            }
        }
    }
    zsock_destroy(&router);
}

static int raw_send(void *handle, const uint8_t *body, size_t size)
{
    if (zmq_send(handle, "", 0, ZMQ_SNDMORE) == -1)
        return -1;
    return zmq_send(handle, body, size, 0) == -1 ? -1 : 0;
}

/* One reply: [""][body]. Returns -1 on timeout. */
static int raw_receive(void *handle)
{
    zmq_msg_t part;
    int more = 1;
    while (more) {
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, handle, 0) == -1) {
            zmq_msg_close(&part);
            return -1;
        }
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
    return 0;
}

static long raw_run(void *handle, const bench_options_t *options, const uint8_t *body,
                    size_t size, long total, double seconds, long *errors)
{
    int64_t stop_at = zclock_mono() + (int64_t) (seconds * 1000);
    long sent = 0, done = 0;
    while (!zsys_interrupted) {
        bool more = total > 0 ? sent < total : zclock_mono() < stop_at;
        while (more && sent - done < options->in_flight) {
            if (raw_send(handle, body, size) != 0) {
                (*errors)++;
                return done;
            }
            sent++;
            more = total > 0 ? sent < total : zclock_mono() < stop_at;
        }
        if (sent == done)
            break;
        if (raw_receive(handle) != 0) {
            fprintf(stderr, "bench_bus: no echo within %d ms\n", RAW_TIMEOUT_MS);
            (*errors)++;
            return done;
        }
        done++;
    }
    return done;
}

static int bench_raw(const bench_options_t *options, Nagar__Test__EchoRequest *request, bool curve)
{
    raw_server_args_t args = { .curve = curve, .server_cert = curve ? zcert_new() : NULL };
    zactor_t *server = zactor_new(raw_server_actor, &args);
    int port = 0;
    zsock_recv(server, "i", &port);
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    zsock_set_linger(dealer, 0);
    zsock_set_sndhwm(dealer, 100000);
    zsock_set_rcvhwm(dealer, 100000);
    zsock_set_rcvtimeo(dealer, RAW_TIMEOUT_MS);
    zcert_t *client_cert = NULL;
    if (curve) {
        client_cert = zcert_new();
        zcert_apply(client_cert, dealer);
        zsock_set_curve_serverkey(dealer, zcert_public_txt(args.server_cert));
    }
    zsock_connect(dealer, "tcp://127.0.0.1:%d", port);

    size_t body_size = 0;
    uint8_t *body = echo_body(request, &body_size);

    void *handle = zsock_resolve(dealer);
    long errors = 0;
    raw_run(handle, options, body, body_size, options->warmup, 0, &errors);
    int64_t started = zclock_usecs();
    long done = raw_run(handle, options, body, body_size, options->count, options->seconds,
                        &errors);
    double elapsed = (zclock_usecs() - started) / 1e6;
    print_result(options, done, errors, elapsed, body_size);

    free(body);
    zsock_destroy(&dealer);
    zactor_destroy(&server);
    zcert_destroy(&client_cert);
    zcert_destroy(&args.server_cert);
    return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    nagar_log_init("bench_bus");
    bench_options_t options = {
        .mode = "bus", .in_flight = 64, .count = 0, .seconds = 5, .size = 64, .warmup = 500,
    };
    static const struct option long_options[] = {
        { "mode", required_argument, NULL, 'm' },
        { "in-flight", required_argument, NULL, 'k' },
        { "count", required_argument, NULL, 'n' },
        { "seconds", required_argument, NULL, 's' },
        { "size", required_argument, NULL, 'z' },
        { "warmup", required_argument, NULL, 'w' },
        { NULL, 0, NULL, 0 },
    };
    int option;
    bool ok = true;
    while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (option) {
        case 'm': options.mode = optarg; break;
        case 'k': options.in_flight = strtol(optarg, NULL, 10); break;
        case 'n': options.count = strtol(optarg, NULL, 10); break;
        case 's': options.seconds = strtod(optarg, NULL); break;
        case 'z': options.size = strtol(optarg, NULL, 10); break;
        case 'w': options.warmup = strtol(optarg, NULL, 10); break;
        default: ok = false;
        }
    }
    if (!ok || optind != argc || options.in_flight < 1 || options.in_flight > 10000 ||
        options.count < 0 || options.seconds <= 0 || options.seconds > 600 || options.size < 0 ||
        options.size > 1024 * 1024 || options.warmup < 0) {
        fprintf(stderr, "usage: bench_bus --mode bus|raw|raw-curve [--in-flight 1..10000] "
                "[--count N] [--seconds 0<S<=600] [--size 0..1048576] [--warmup N]\n");
        return 2;
    }
    char *text = malloc((size_t) options.size + 1);
    memset(text, 'x', (size_t) options.size);
    text[options.size] = '\0';
    Nagar__Test__EchoRequest request = NAGAR__TEST__ECHO_REQUEST__INIT;
    request.text = text;

    int rc;
    if (strcmp(options.mode, "bus") == 0)
        rc = bench_bus(&options, &request);
    else if (strcmp(options.mode, "raw") == 0)
        rc = bench_raw(&options, &request, false);
    else if (strcmp(options.mode, "raw-curve") == 0)
        rc = bench_raw(&options, &request, true);
    else {
        fprintf(stderr, "bench_bus: unknown mode \"%s\" (bus, raw or raw-curve)\n", options.mode);
        rc = 2;
    }
    free(text);
    return rc;
}
