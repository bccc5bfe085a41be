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
 *   bench_bus --mode relay-curve the ceiling of any broker: a ROUTER-ROUTER
 *                              relay thread and two echo DEALER threads,
 *                              each with its own ZeroMQ context (so its own
 *                              I/O thread, as separate processes have),
 *                              CURVE on every hop, and exactly the bus's
 *                              MDP frames (4 client->relay, 7 relay->worker,
 *                              6 worker->relay, 4 relay->client), but none
 *                              of the broker's or libnagar's work: no
 *                              parsing, ACL, bookkeeping or protobuf
 *   bench_bus --mode relay-curve-packed the same relay, threads and CURVE,
 *                              but every MDP message travels as one packed
 *                              frame (mdp_pack.h): 1 + 1 + 1 + 1 CURVE
 *                              messages per request, unpacked and repacked
 *                              at the relay as the broker does
 *   bench_bus --mode relay     the same relay without CURVE
 *   options: --in-flight K (64) --count N (0) --seconds S (5) --size BYTES (64)
 *            --warmup N (500) --service NAME (echo; bus mode only)
 *
 * Both modes send the same bytes: a packed nagar.Request holding an echo
 * request with a text of --size bytes. Prints one JSON line:
 *   {"mode","requests","errors","seconds","rps","in_flight","message_bytes"}
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_client.h"
#include "log.h"
#include "mdp_frames.h"
#include "mdp_pack.h"
#include "tests/proto/echo.pb-c.h"

#define RAW_TIMEOUT_MS 5000

typedef struct {
    const char *mode;
    const char *service;
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
        .service = options->service,
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

static int raw_send(void *handle, const uint8_t *body, size_t size, bool mdp,
                    nagar_mdp_packer_t *packer)
{
    if (packer) {       /* the client's request as one packed frame */
        nagar_mdp_packer_reset(packer);
        nagar_mdp_packer_add(packer, "", 0);
        nagar_mdp_packer_add(packer, MDP_CLIENT, strlen(MDP_CLIENT));
        nagar_mdp_packer_add(packer, "echo", 4);
        nagar_mdp_packer_add(packer, body, size);
        return nagar_mdp_packer_send(packer, handle, 0);
    }
    if (zmq_send(handle, "", 0, ZMQ_SNDMORE) == -1)
        return -1;
    if (mdp) {
        zmq_send(handle, MDP_CLIENT, strlen(MDP_CLIENT), ZMQ_SNDMORE);
        zmq_send(handle, "echo", 4, ZMQ_SNDMORE);
    }
    return zmq_send(handle, body, size, 0) == -1 ? -1 : 0;
}

/* One reply: [""][body], or one packed frame (unpacked, as a client must).
 * Returns -1 on timeout or a reply that does not unpack. */
static int raw_receive(void *handle, bool packed)
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
        if (packed) {
            nagar_mdp_part_t parts[NAGAR_MDP_PACK_MAX_FRAMES];
            char error[256];
            if (nagar_mdp_unpack_parts(zmq_msg_data(&part), zmq_msg_size(&part), parts, error,
                                       sizeof error) != 4) {
                fprintf(stderr, "bench_bus: bad packed reply: %s\n", error);
                zmq_msg_close(&part);
                return -1;
            }
        }
        zmq_msg_close(&part);
    }
    return 0;
}

static long raw_run(void *handle, const bench_options_t *options, const uint8_t *body,
                    size_t size, long total, double seconds, long *errors, bool mdp,
                    nagar_mdp_packer_t *packer)
{
    int64_t stop_at = zclock_mono() + (int64_t) (seconds * 1000);
    long sent = 0, done = 0;
    while (!zsys_interrupted) {
        bool more = total > 0 ? sent < total : zclock_mono() < stop_at;
        while (more && sent - done < options->in_flight) {
            if (raw_send(handle, body, size, mdp, packer) != 0) {
                (*errors)++;
                return done;
            }
            sent++;
            more = total > 0 ? sent < total : zclock_mono() < stop_at;
        }
        if (sent == done)
            break;
        if (raw_receive(handle, packer != NULL) != 0) {
            fprintf(stderr, "bench_bus: no (valid) echo within %d ms\n", RAW_TIMEOUT_MS);
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
    raw_run(handle, options, body, body_size, options->warmup, 0, &errors, false, NULL);
    int64_t started = zclock_usecs();
    long done = raw_run(handle, options, body, body_size, options->count, options->seconds,
                        &errors, false, NULL);
    double elapsed = (zclock_usecs() - started) / 1e6;
    print_result(options, done, errors, elapsed, body_size);

    free(body);
    zsock_destroy(&dealer);
    zactor_destroy(&server);
    zcert_destroy(&client_cert);
    zcert_destroy(&args.server_cert);
    return errors ? 1 : 0;
}

/* ---- relay mode ---------------------------------------------------------- */

#define RELAY_WORKERS 2
#define RELAY_MAX_PARTS 16

typedef struct {
    char server_public[41], server_secret[41];
    char client_public[41], client_secret[41];
    char frontend[64], backend[64];
    bool curve;
    volatile bool stopping;
    pthread_mutex_t lock;
    pthread_cond_t bound;
    bool is_bound;
} relay_shared_t;

static void *curve_socket(void *context, int type, relay_shared_t *shared, bool server)
{
    void *socket = zmq_socket(context, type);
    int zero = 0, one = 1, hwm = 100000;
    zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (!shared->curve)
        return socket;
    if (server) {
        zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, shared->server_secret, 40);
    } else {
        zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, shared->server_public, 40);
        zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, shared->client_public, 40);
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, shared->client_secret, 40);
    }
    return socket;
}

/* Receives one whole message into parts; returns the part count, 0 when
 * nothing is waiting, -1 when it has more parts than fit. */
static int recv_parts(void *socket, zmq_msg_t *parts)
{
    int count = 0;
    int more = 1;
    while (more) {
        zmq_msg_init(&parts[count]);
        if (zmq_msg_recv(&parts[count], socket, count == 0 ? ZMQ_DONTWAIT : 0) == -1) {
            zmq_msg_close(&parts[count]);
            return count == 0 ? 0 : -1;
        }
        more = zmq_msg_more(&parts[count]);
        if (++count == RELAY_MAX_PARTS && more)
            return -1;
    }
    return count;
}

static void close_parts(zmq_msg_t *parts, int count)
{
    for (int i = 0; i < count; i++)
        zmq_msg_close(&parts[i]);
}

static void send_part(void *socket, zmq_msg_t *part, bool more)
{
    zmq_msg_send(part, socket, more ? ZMQ_SNDMORE : 0);
}

static void send_text(void *socket, const void *data, size_t size, bool more)
{
    zmq_send(socket, data, size, more ? ZMQ_SNDMORE : 0);
}

/* A relay's sockets and the workers that said READY, which it serves in
 * turn. Both relays (plain and packed) are built on it. */
typedef struct {
    void *context;
    void *frontend;                 /* ROUTER for clients */
    void *backend;                  /* ROUTER for workers */
    zmq_msg_t workers[RELAY_WORKERS];
    int worker_count;
    int next_worker;
} relay_t;

/* Binds both ROUTERs on free loopback ports, publishes their endpoints in
 * shared and tells bench_relay they are bound. */
static void relay_open(relay_t *relay, relay_shared_t *shared)
{
    memset(relay, 0, sizeof *relay);
    relay->context = zmq_ctx_new();
    relay->frontend = curve_socket(relay->context, ZMQ_ROUTER, shared, true);
    relay->backend = curve_socket(relay->context, ZMQ_ROUTER, shared, true);
    zmq_bind(relay->frontend, "tcp://127.0.0.1:*");
    zmq_bind(relay->backend, "tcp://127.0.0.1:*");
    size_t size = sizeof shared->frontend;
    zmq_getsockopt(relay->frontend, ZMQ_LAST_ENDPOINT, shared->frontend, &size);
    size = sizeof shared->backend;
    zmq_getsockopt(relay->backend, ZMQ_LAST_ENDPOINT, shared->backend, &size);
    pthread_mutex_lock(&shared->lock);
    shared->is_bound = true;
    pthread_cond_broadcast(&shared->bound);
    pthread_mutex_unlock(&shared->lock);
}

/* A worker said READY from this address (up to RELAY_WORKERS are kept). */
static void relay_add_worker(relay_t *relay, zmq_msg_t *address)
{
    if (relay->worker_count == RELAY_WORKERS)
        return;
    zmq_msg_init(&relay->workers[relay->worker_count]);
    zmq_msg_copy(&relay->workers[relay->worker_count++], address);
}

/* The address of the next worker in turn, copied into address (initialised
 * here, closed by the caller). There must be one. */
static void relay_next_worker(relay_t *relay, zmq_msg_t *address)
{
    zmq_msg_init(address);
    zmq_msg_copy(address, &relay->workers[relay->next_worker]);
    relay->next_worker = (relay->next_worker + 1) % relay->worker_count;
}

/* A worker's DEALER, connected to the relay's backend. */
static void *relay_worker_socket(void *context, relay_shared_t *shared)
{
    void *socket = curve_socket(context, ZMQ_DEALER, shared, false);
    zmq_connect(socket, shared->backend);
    return socket;
}

static void relay_close(relay_t *relay)
{
    for (int i = 0; i < relay->worker_count; i++)
        zmq_msg_close(&relay->workers[i]);
    zmq_close(relay->frontend);
    zmq_close(relay->backend);
    zmq_ctx_term(relay->context);
}

/* The relay: requests round-robin to the workers that said READY, as many
 * as arrive (unbounded prefetch: the ceiling, not a policy). */
static void *relay_thread(void *arg)
{
    relay_shared_t *shared = arg;
    relay_t relay;
    relay_open(&relay, shared);
    void *frontend = relay.frontend, *backend = relay.backend;

    zmq_msg_t parts[RELAY_MAX_PARTS];
    zmq_pollitem_t items[] = {
        { .socket = frontend, .events = ZMQ_POLLIN },
        { .socket = backend, .events = ZMQ_POLLIN },
    };
    while (!shared->stopping) {
        if (zmq_poll(items, 2, 100) <= 0)
            continue;
        int count;
        /* Worker messages first, as the broker drains everything waiting. */
        while ((count = recv_parts(backend, parts)) != 0) {
            if (count == 5) {                                          /* READY */
                relay_add_worker(&relay, &parts[0]);
            } else if (count == 7) {                                   /* REPLY */
                send_part(frontend, &parts[4], true);                  /* client */
                send_text(frontend, "", 0, true);
                send_text(frontend, MDP_CLIENT, strlen(MDP_CLIENT), true);
                send_text(frontend, "echo", 4, true);
                send_part(frontend, &parts[6], false);                 /* body */
            }
            close_parts(parts, count > 0 ? count : 0);
        }
        while (relay.worker_count && (count = recv_parts(frontend, parts)) != 0) {
            if (count == 5) {   /* [client][""][MDPC01][service][body] */
                zmq_msg_t address;
                relay_next_worker(&relay, &address);
                send_part(backend, &address, true);
                send_text(backend, "", 0, true);
                send_text(backend, MDP_WORKER, strlen(MDP_WORKER), true);
                send_text(backend, MDP_REQUEST, 1, true);
                send_part(backend, &parts[0], true);
                send_text(backend, "", 0, true);
                send_part(backend, &parts[4], true);
                send_text(backend, "client", 6, false);             /* principal */
                zmq_msg_close(&address);
            }
            close_parts(parts, count > 0 ? count : 0);
        }
    }
    relay_close(&relay);
    return NULL;
}

/* An echo worker: REQUEST [""][MDPW01][0x02][client][""][body][principal]
 * -> REPLY [""][MDPW01][0x03][client][""][body]. */
static void *relay_worker_thread(void *arg)
{
    relay_shared_t *shared = arg;
    void *context = zmq_ctx_new();
    void *socket = relay_worker_socket(context, shared);
    send_text(socket, "", 0, true);
    send_text(socket, MDP_WORKER, strlen(MDP_WORKER), true);
    send_text(socket, MDP_READY, 1, true);
    send_text(socket, "echo", 4, false);
    zmq_msg_t parts[RELAY_MAX_PARTS];
    zmq_pollitem_t item = { .socket = socket, .events = ZMQ_POLLIN };
    while (!shared->stopping) {
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        int count;
        while ((count = recv_parts(socket, parts)) != 0) {
            if (count == 7) {
                send_text(socket, "", 0, true);
                send_text(socket, MDP_WORKER, strlen(MDP_WORKER), true);
                send_text(socket, MDP_REPLY, 1, true);
                send_part(socket, &parts[3], true);
                send_text(socket, "", 0, true);
                send_part(socket, &parts[5], false);
            }
            close_parts(parts, count > 0 ? count : 0);
        }
    }
    zmq_close(socket);
    zmq_ctx_term(context);
    return NULL;
}

/* ---- packed relay: the same hops, one packed frame each ------------------ */

/* Sends [address][one packed frame]. */
static void send_packed(void *socket, zmq_msg_t *address, nagar_mdp_packer_t *packer)
{
    send_part(socket, address, true);
    nagar_mdp_packer_send(packer, socket, 0);
}

/* The relay of relay_thread with every MDP message packed: it unpacks what
 * arrives (views, as the broker must read the frames) and packs what it
 * sends, so each hop carries one CURVE message instead of 4 to 7. */
static void *relay_packed_thread(void *arg)
{
    relay_shared_t *shared = arg;
    relay_t relay;
    relay_open(&relay, shared);
    void *frontend = relay.frontend, *backend = relay.backend;

    nagar_mdp_packer_t *packer = nagar_mdp_packer_new(0);
    zmq_msg_t parts[RELAY_MAX_PARTS];
    nagar_mdp_part_t inner[NAGAR_MDP_PACK_MAX_FRAMES];
    char error[256];
    zmq_pollitem_t items[] = {
        { .socket = frontend, .events = ZMQ_POLLIN },
        { .socket = backend, .events = ZMQ_POLLIN },
    };
    while (!shared->stopping) {
        if (zmq_poll(items, 2, 100) <= 0)
            continue;
        int count;
        while ((count = recv_parts(backend, parts)) != 0) {
            int frames = count == 2 ? nagar_mdp_unpack_parts(zmq_msg_data(&parts[1]),
                                                             zmq_msg_size(&parts[1]), inner,
                                                             error, sizeof error) : -1;
            if (frames == 4) {                                         /* READY */
                relay_add_worker(&relay, &parts[0]);
            } else if (frames == 6) {                                  /* REPLY */
                zmq_msg_t client;
                zmq_msg_init_size(&client, inner[3].size);
                memcpy(zmq_msg_data(&client), inner[3].data, inner[3].size);
                nagar_mdp_packer_reset(packer);
                nagar_mdp_packer_add(packer, "", 0);
                nagar_mdp_packer_add(packer, MDP_CLIENT, strlen(MDP_CLIENT));
                nagar_mdp_packer_add(packer, "echo", 4);
                nagar_mdp_packer_add(packer, inner[5].data, inner[5].size);
                send_packed(frontend, &client, packer);
                zmq_msg_close(&client);
            }
            close_parts(parts, count > 0 ? count : 0);
        }
        while (relay.worker_count && (count = recv_parts(frontend, parts)) != 0) {
            int frames = count == 2 ? nagar_mdp_unpack_parts(zmq_msg_data(&parts[1]),
                                                             zmq_msg_size(&parts[1]), inner,
                                                             error, sizeof error) : -1;
            if (frames == 4) {  /* [client] packed([""][MDPC01][service][body]) */
                zmq_msg_t address;
                relay_next_worker(&relay, &address);
                nagar_mdp_packer_reset(packer);
                nagar_mdp_packer_add(packer, "", 0);
                nagar_mdp_packer_add(packer, MDP_WORKER, strlen(MDP_WORKER));
                nagar_mdp_packer_add(packer, MDP_REQUEST, 1);
                nagar_mdp_packer_add(packer, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]));
                nagar_mdp_packer_add(packer, "", 0);
                nagar_mdp_packer_add(packer, inner[3].data, inner[3].size);
                nagar_mdp_packer_add(packer, "client", 6);              /* principal */
                send_packed(backend, &address, packer);
                zmq_msg_close(&address);
            }
            close_parts(parts, count > 0 ? count : 0);
        }
    }
    nagar_mdp_packer_destroy(&packer);
    relay_close(&relay);
    return NULL;
}

/* relay_worker_thread with packed messages both ways. */
static void *relay_packed_worker_thread(void *arg)
{
    relay_shared_t *shared = arg;
    void *context = zmq_ctx_new();
    void *socket = relay_worker_socket(context, shared);
    nagar_mdp_packer_t *packer = nagar_mdp_packer_new(0);
    nagar_mdp_packer_add(packer, "", 0);
    nagar_mdp_packer_add(packer, MDP_WORKER, strlen(MDP_WORKER));
    nagar_mdp_packer_add(packer, MDP_READY, 1);
    nagar_mdp_packer_add(packer, "echo", 4);
    nagar_mdp_packer_send(packer, socket, 0);
    zmq_msg_t parts[RELAY_MAX_PARTS];
    nagar_mdp_part_t inner[NAGAR_MDP_PACK_MAX_FRAMES];
    char error[256];
    zmq_pollitem_t item = { .socket = socket, .events = ZMQ_POLLIN };
    while (!shared->stopping) {
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        int count;
        while ((count = recv_parts(socket, parts)) != 0) {
            /* REQUEST [""][MDPW01][0x02][client][""][body][principal] */
            if (count == 1 && nagar_mdp_unpack_parts(zmq_msg_data(&parts[0]),
                                                     zmq_msg_size(&parts[0]), inner, error,
                                                     sizeof error) == 7) {
                nagar_mdp_packer_reset(packer);
                nagar_mdp_packer_add(packer, "", 0);
                nagar_mdp_packer_add(packer, MDP_WORKER, strlen(MDP_WORKER));
                nagar_mdp_packer_add(packer, MDP_REPLY, 1);
                nagar_mdp_packer_add(packer, inner[3].data, inner[3].size);
                nagar_mdp_packer_add(packer, "", 0);
                nagar_mdp_packer_add(packer, inner[5].data, inner[5].size);
                nagar_mdp_packer_send(packer, socket, 0);
            }
            close_parts(parts, count > 0 ? count : 0);
        }
    }
    nagar_mdp_packer_destroy(&packer);
    zmq_close(socket);
    zmq_ctx_term(context);
    return NULL;
}

static int bench_relay(const bench_options_t *options, Nagar__Test__EchoRequest *request,
                       bool curve, bool packed)
{
    relay_shared_t shared = { .curve = curve, .stopping = false };
    zmq_curve_keypair(shared.server_public, shared.server_secret);
    zmq_curve_keypair(shared.client_public, shared.client_secret);
    pthread_mutex_init(&shared.lock, NULL);
    pthread_cond_init(&shared.bound, NULL);
    pthread_t relay, workers[RELAY_WORKERS];
    pthread_create(&relay, NULL, packed ? relay_packed_thread : relay_thread, &shared);
    pthread_mutex_lock(&shared.lock);
    while (!shared.is_bound)
        pthread_cond_wait(&shared.bound, &shared.lock);
    pthread_mutex_unlock(&shared.lock);
    for (int i = 0; i < RELAY_WORKERS; i++)
        pthread_create(&workers[i], NULL,
                       packed ? relay_packed_worker_thread : relay_worker_thread, &shared);

    void *context = zmq_ctx_new();
    void *dealer = curve_socket(context, ZMQ_DEALER, &shared, false);
    int timeout = RAW_TIMEOUT_MS;
    zmq_setsockopt(dealer, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_connect(dealer, shared.frontend);

    size_t body_size = 0;
    uint8_t *body = echo_body(request, &body_size);
    long errors = 0;
    nagar_mdp_packer_t *packer = packed ? nagar_mdp_packer_new(0) : NULL;
    raw_run(dealer, options, body, body_size, options->warmup, 0, &errors, true, packer);
    int64_t started = zclock_usecs();
    long done = raw_run(dealer, options, body, body_size, options->count, options->seconds,
                        &errors, true, packer);
    double elapsed = (zclock_usecs() - started) / 1e6;
    print_result(options, done, errors, elapsed, body_size);

    nagar_mdp_packer_destroy(&packer);
    free(body);
    zmq_close(dealer);
    zmq_ctx_term(context);
    shared.stopping = true;
    for (int i = 0; i < RELAY_WORKERS; i++)
        pthread_join(workers[i], NULL);
    pthread_join(relay, NULL);
    pthread_mutex_destroy(&shared.lock);
    pthread_cond_destroy(&shared.bound);
    return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    nagar_log_init("bench_bus");
    bench_options_t options = {
        .mode = "bus", .service = "echo", .in_flight = 64, .count = 0, .seconds = 5, .size = 64, .warmup = 500,
    };
    static const struct option long_options[] = {
        { "mode", required_argument, NULL, 'm' },
        { "in-flight", required_argument, NULL, 'k' },
        { "count", required_argument, NULL, 'n' },
        { "seconds", required_argument, NULL, 's' },
        { "size", required_argument, NULL, 'z' },
        { "warmup", required_argument, NULL, 'w' },
        { "service", required_argument, NULL, 'v' },
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
        case 'v': options.service = optarg; break;
        default: ok = false;
        }
    }
    if (!ok || optind != argc || options.in_flight < 1 || options.in_flight > 10000 ||
        options.count < 0 || options.seconds <= 0 || options.seconds > 600 || options.size < 0 ||
        options.size > 1024 * 1024 || options.warmup < 0) {
        fprintf(stderr, "usage: bench_bus --mode bus|raw|raw-curve|relay|relay-curve|relay-curve-packed "
                "[--in-flight 1..10000] "
                "[--count N] [--seconds 0<S<=600] [--size 0..1048576] [--warmup N] "
                "[--service NAME]\n");
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
    else if (strcmp(options.mode, "relay-curve") == 0)
        rc = bench_relay(&options, &request, true, false);
    else if (strcmp(options.mode, "relay-curve-packed") == 0)
        rc = bench_relay(&options, &request, true, true);
    else if (strcmp(options.mode, "relay") == 0)
        rc = bench_relay(&options, &request, false, false);
    else {
        fprintf(stderr, "bench_bus: unknown mode \"%s\" (bus, raw, raw-curve, relay, relay-curve "
                "or relay-curve-packed)\n",
                options.mode);
        rc = 2;
    }
    free(text);
    return rc;
}
