/*
 * gateway.h — nagar-gateway: HTTP/JSON in front of the bus.
 *
 * One thread, one event loop (http.c) over libmicrohttpd's sockets, the
 * bus client's socket and the readiness prober's socket. A request that
 * needs a service is decoded, sent on the bus, and its connection is
 * suspended; the reply (or the gateway's own deadline) resumes it. No
 * request ever holds a thread while it waits.
 *
 * Settings (environment or NAGAR_CONFIG file; see config.h):
 *   NAGAR_GATEWAY_LISTEN                  host:port           127.0.0.1:8080
 *   NAGAR_GATEWAY_TIMEOUT_MS              per request deadline 5000
 *   NAGAR_GATEWAY_MAX_BODY                bytes               65536
 *   NAGAR_GATEWAY_MAX_URL                 bytes               2048
 *   NAGAR_GATEWAY_MAX_HEADER_BYTES        request target and headers    32768
 *                                         (431 beyond; MHD gets twice that)
 *   NAGAR_GATEWAY_MAX_CONNECTIONS         total               1024
 *   NAGAR_GATEWAY_MAX_CONNECTIONS_PER_IP  per client address  128
 *   NAGAR_GATEWAY_CONNECTION_TIMEOUT_S    idle connection     10
 *   NAGAR_GATEWAY_HEADER_TIMEOUT_S        a request's headers complete within 10
 *   NAGAR_GATEWAY_BODY_TIMEOUT_S          a request's body complete within    30
 *                                         (connections.h: slow clients are cut,
 *                                         and near the limit the slowest make room)
 *   NAGAR_GATEWAY_RATE_PER_IP / _BURST_PER_IP      req/s, bucket  20 / 40   (0 = off)
 *   NAGAR_GATEWAY_RATE_PER_USER / _BURST_PER_USER  req/s, bucket  10 / 20   (0 = off)
 *   NAGAR_GATEWAY_RATE_TABLE_MAX          keys per limiter    100000
 *   NAGAR_GATEWAY_TRUST_PROXY             1 = client IP from X-Forwarded-For  0
 *   NAGAR_GATEWAY_CORS_ORIGINS            comma-separated exact origins       (none)
 *   NAGAR_GATEWAY_HSTS_SECONDS            >0 adds Strict-Transport-Security   0
 *   NAGAR_TOKEN_PUBLIC_KEYS_DIR           <key_id>.pub files  (required)
 *   NAGAR_GATEWAY_ACCESS_TTL_MAX_MS       longest access-token life accepted 3600000
 *   NAGAR_GATEWAY_REVOCATION_POLL_MS      2000
 *   NAGAR_GATEWAY_REVOCATIONS_MAX         warn above this many live entries 100000
 *   NAGAR_GATEWAY_READY_INTERVAL_MS       MMI probe round      1000
 *   NAGAR_GATEWAY_BUS_ATTEMPTS            bus attempts per request 1 (a 503 is immediate;
 *                                         clients retry with the same Idempotency-Key)
 *   NAGAR_GATEWAY_MHD_MODE                epoll | select      epoll
 *   NAGAR_GATEWAY_WEB_DIR                 the built web apps served at / and /staff/
 *                                         (build/web; static.h)  (none: API only)
 *   NAGAR_GATEWAY_WEB_CONFIG              a JSON file served as /config.json to the apps,
 *                                         e.g. {"paymentPageUrl":"https://..."}  (none)
 *   NAGAR_BUS_*                           see bus.h
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

#include "bus.h"
#include "config.h"

#define GATEWAY_CORS_ORIGINS_MAX 16

typedef struct {
    char host[128];
    int port;
    long timeout_ms;
    long max_body;
    long max_url;
    long max_header_bytes;
    long max_connections;
    long max_connections_per_ip;
    long connection_timeout_s;
    long header_timeout_s;
    long body_timeout_s;
    double rate_per_ip, burst_per_ip;
    double rate_per_user, burst_per_user;
    long rate_table_max;
    bool trust_proxy;
    char cors_origins[GATEWAY_CORS_ORIGINS_MAX][256];
    size_t cors_origin_count;
    long hsts_seconds;
    char token_keys_dir[4096];
    long access_ttl_max_ms;
    long revocation_poll_ms;
    long revocations_max;
    long ready_interval_ms;
    long bus_attempts;
    long drain_grace_ms;            /* NAGAR_GATEWAY_DRAIN_GRACE_MS */
    long drain_timeout_ms;          /* NAGAR_GATEWAY_DRAIN_TIMEOUT_MS; 0 stops at once */
    bool ready_needs_services;      /* NAGAR_GATEWAY_READY_NEEDS_SERVICES */
    bool use_epoll;
    char web_dir[4096];
    char web_config[4096];
    nagar_bus_options_t bus;
} gateway_options_t;

/* Reads every setting; -1 with the key and the rule in error. */
int gateway_options_load(gateway_options_t *options, nagar_config_t *config, char *error,
                         size_t error_size);

typedef struct gateway_t gateway_t;

/* Connects to the broker, loads token keys, binds the listener. NULL with
 * the reason in error. */
gateway_t *gateway_new(const gateway_options_t *options, nagar_config_t *config, char *error,
                       size_t error_size);
/* Resumes every suspended connection (503), stops the server, fails what is
 * still on the bus. */
void gateway_destroy(gateway_t **self_p);

/* Serves until SIGINT/SIGTERM. Returns 0 on a clean stop. */
int gateway_run(gateway_t *self);

/* The port actually bound (useful with port 0). */
int gateway_port(gateway_t *self);

#endif
