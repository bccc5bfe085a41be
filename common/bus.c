/*
 * bus.c — reaching the broker: endpoint and CURVE settings, the DEALER
 * socket every client and worker uses, request ids and wall-clock time.
 * See bus.h.
 *
 * Security is on unless NAGAR_BUS_INSECURE says otherwise, and a missing or
 * unreadable key is an error: a process that silently fell back to plain
 * text would be a process the broker cannot tell apart from an attacker.
 */
#include "bus.h"

#include <sodium.h>
#include <string.h>
#include <sys/time.h>

#include "mdp_frames.h"

/* Large enough for any bounded request or reply, small enough that a
 * runaway peer cannot make us allocate gigabytes. */
#define BUS_MAX_MESSAGE_BYTES (16 * 1024 * 1024)
/* Per-socket queue bound; the client also bounds requests in flight. */
#define BUS_HIGH_WATER_MARK 10000
/* Pending frames are dropped this soon after close: a process that exits
 * must not hang on an unreachable broker. */
#define BUS_LINGER_MS 100

/* The index-th element of a comma-separated list, spaces around it
 * trimmed; its length, or -1 when there is no such element. */
static int list_element(const char *list, int index, const char **start)
{
    const char *cursor = list;
    for (int i = 0;; i++) {
        const char *end = strchr(cursor, ',');
        if (!end)
            end = cursor + strlen(cursor);
        if (i == index) {
            while (cursor < end && *cursor == ' ')
                cursor++;
            const char *last = end;
            while (last > cursor && last[-1] == ' ')
                last--;
            *start = cursor;
            return (int) (last - cursor);
        }
        if (!*end)
            return -1;
        cursor = end + 1;
    }
}

static int endpoints_check(const char *list, char *error, size_t error_size)
{
    int count = 0;
    const char *element;
    int length;
    while ((length = list_element(list, count, &element)) >= 0) {
        if (++count > NAGAR_BUS_BROKERS_MAX) {
            snprintf(error, error_size, "NAGAR_BUS_ENDPOINT names more than %d brokers",
                     NAGAR_BUS_BROKERS_MAX);
            return -1;
        }
        if (length == 0 || length >= NAGAR_BUS_ENDPOINT_MAX ||
            (strncmp(element, "tcp://", 6) != 0 && strncmp(element, "ipc://", 6) != 0 &&
             strncmp(element, "inproc://", 9) != 0)) {
            snprintf(error, error_size, "NAGAR_BUS_ENDPOINT=\"%s\": broker %d (\"%.*s\") is not "
                     "a ZeroMQ endpoint; write each as tcp://host:port, separated by commas",
                     list, count, length, element);
            return -1;
        }
    }
    return 0;
}

int nagar_bus_broker_count(const nagar_bus_options_t *options)
{
    int count = 0;
    const char *element;
    while (count < NAGAR_BUS_BROKERS_MAX && list_element(options->endpoint, count, &element) >= 0)
        count++;
    return count;
}

int nagar_bus_broker_endpoint(const nagar_bus_options_t *options, int index, char *out,
                              size_t out_size)
{
    const char *element;
    int length = index >= 0 && index < NAGAR_BUS_BROKERS_MAX
                     ? list_element(options->endpoint, index, &element) : -1;
    if (length < 0 || (size_t) length >= out_size)
        return -1;
    memcpy(out, element, (size_t) length);
    out[length] = '\0';
    return 0;
}

int nagar_bus_options_load(nagar_bus_options_t *options, nagar_config_t *config, char *error,
                           size_t error_size)
{
    memset(options, 0, sizeof *options);
    if (nagar_config_get_text(config, "NAGAR_BUS_ENDPOINT", "tcp://127.0.0.1:5555",
                              options->endpoint, sizeof options->endpoint, error,
                              error_size) != 0 ||
        endpoints_check(options->endpoint, error, error_size) != 0)
        return -1;
    if (nagar_config_get_bool(config, "NAGAR_BUS_INSECURE", false, &options->insecure, error,
                              error_size) != 0 ||
        nagar_config_get_bool(config, "NAGAR_BUS_PACKED", true, &options->packed, error,
                              error_size) != 0)
        return -1;
    if (nagar_config_get_text(config, "NAGAR_BUS_CERT", "", options->certificate_path,
                              sizeof options->certificate_path, error, error_size) != 0 ||
        nagar_config_get_text(config, "NAGAR_BUS_BROKER_KEY", "", options->broker_key_path,
                              sizeof options->broker_key_path, error, error_size) != 0)
        return -1;
    if (!options->insecure && !options->certificate_path[0]) {
        snprintf(error, error_size, "NAGAR_BUS_CERT is not set: name this process's secret "
                 "certificate (keys/secret/<principal>.cert), or set NAGAR_BUS_INSECURE=1 for "
                 "a development broker without CURVE");
        return -1;
    }
    if (!options->insecure && !options->broker_key_path[0]) {
        snprintf(error, error_size, "NAGAR_BUS_BROKER_KEY is not set: name the broker's public "
                 "certificate (keys/broker.pub), or set NAGAR_BUS_INSECURE=1 for a development "
                 "broker without CURVE");
        return -1;
    }
    return 0;
}

static int apply_curve(zsock_t *socket, const nagar_bus_options_t *options, char *error,
                       size_t error_size)
{
    zcert_t *own = zcert_load(options->certificate_path);
    if (!own) {
        snprintf(error, error_size, "cannot read certificate \"%s\" (NAGAR_BUS_CERT): check the "
                 "path and that this user may read it", options->certificate_path);
        return -1;
    }
    /* zcert_load falls back to a public-only file; that is no identity. */
    static const byte zero_key[32] = { 0 };
    if (memcmp(zcert_secret_key(own), zero_key, sizeof zero_key) == 0) {
        snprintf(error, error_size, "certificate \"%s\" (NAGAR_BUS_CERT) has no secret key: name "
                 "the secret certificate, not the public one", options->certificate_path);
        zcert_destroy(&own);
        return -1;
    }
    zcert_t *broker = zcert_load(options->broker_key_path);
    if (!broker) {
        snprintf(error, error_size, "cannot read the broker's public certificate \"%s\" "
                 "(NAGAR_BUS_BROKER_KEY): check the path and that this user may read it",
                 options->broker_key_path);
        zcert_destroy(&own);
        return -1;
    }
    zcert_apply(own, socket);
    zsock_set_curve_serverkey(socket, zcert_public_txt(broker));
    zcert_destroy(&broker);
    zcert_destroy(&own);
    return 0;
}

zsock_t *nagar_bus_connect(const nagar_bus_options_t *options, char *error, size_t error_size)
{
    return nagar_bus_connect_broker(options, 0, false, error, error_size);
}

zsock_t *nagar_bus_connect_broker(const nagar_bus_options_t *options, int index, bool immediate,
                                  char *error, size_t error_size)
{
    return nagar_bus_connect_broker_watched(options, index, immediate, NULL, error, error_size);
}

zsock_t *nagar_bus_connect_broker_watched(const nagar_bus_options_t *options, int index,
                                          bool immediate, nagar_bus_watch_t **watch, char *error,
                                          size_t error_size)
{
    char endpoint[NAGAR_BUS_ENDPOINT_MAX];
    if (nagar_bus_broker_endpoint(options, index, endpoint, sizeof endpoint) != 0) {
        snprintf(error, error_size, "NAGAR_BUS_ENDPOINT=\"%s\" names no broker %d",
                 options->endpoint, index + 1);
        return NULL;
    }
    zsock_t *socket = zsock_new(ZMQ_DEALER);
    if (!socket) {
        snprintf(error, error_size, "cannot create a ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    zsock_set_linger(socket, BUS_LINGER_MS);
    zsock_set_sndhwm(socket, BUS_HIGH_WATER_MARK);
    zsock_set_rcvhwm(socket, BUS_HIGH_WATER_MARK);
    zsock_set_maxmsgsize(socket, BUS_MAX_MESSAGE_BYTES);
    if (immediate)
        zsock_set_immediate(socket, 1);
    if (!options->insecure && apply_curve(socket, options, error, error_size) != 0) {
        zsock_destroy(&socket);
        return NULL;
    }
    /* Watched before it connects, so no connection goes unseen. */
    if (watch && !(*watch = nagar_bus_watch_new(socket, error, error_size))) {
        zsock_destroy(&socket);
        return NULL;
    }
    if (zsock_connect(socket, "%s", endpoint) != 0) {
        snprintf(error, error_size, "cannot connect to broker at \"%s\" (NAGAR_BUS_ENDPOINT): %s",
                 endpoint, zmq_strerror(zmq_errno()));
        if (watch)
            nagar_bus_watch_destroy(watch);
        zsock_destroy(&socket);
        return NULL;
    }
    return socket;
}

bool nagar_bus_socket_has_input(zsock_t *socket, bool *unchecked)
{
    if (!*unchecked)
        return false;
    if (zsock_events(socket) & ZMQ_POLLIN)
        return true;
    *unchecked = false;
    return false;
}

void nagar_bus_new_id(char out[33])
{
    /* Idempotent and cheap after the first call; it fails only when the
     * system has no entropy source, and an id we cannot make random is an
     * id we must not hand out. */
    if (sodium_init() < 0)
        abort();
    unsigned char bytes[16];
    randombytes_buf(bytes, sizeof bytes);
    sodium_bin2hex(out, 33, bytes, sizeof bytes);
}

int64_t nagar_bus_now_ms(void)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    return (int64_t) now.tv_sec * 1000 + now.tv_usec / 1000;
}

bool nagar_bus_name_valid(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > NAGAR_BUS_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return false;
    for (size_t i = 1; i < length; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return true;
}
