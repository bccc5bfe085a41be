/*
 * bus.h — how a Nagar process reaches the broker: endpoint and CURVE keys.
 *
 * Settings (see config.h for precedence):
 *   NAGAR_BUS_ENDPOINT    broker address              default tcp://127.0.0.1:5555
 *   NAGAR_BUS_CERT        this principal's secret certificate file (zcert format)
 *   NAGAR_BUS_BROKER_KEY  the broker's public certificate file
 *   NAGAR_BUS_INSECURE    1 = no CURVE; only for development and RFC 7
 *                         interoperability tests, the broker must agree
 *   NAGAR_BUS_PACKED      1 (default) = send every MDP message as one packed
 *                         frame (mdp.h, mdp_pack.h), which nagar-broker
 *                         answers in kind, with typed errors; 0 = plain
 *                         RFC 7 frames, for a broker that is not
 *                         nagar-broker (errors then surface as timeouts)
 *
 * Security is on unless NAGAR_BUS_INSECURE says otherwise; with it on, a
 * missing certificate is an error, never a silent fall-back to plain text.
 */
#ifndef NAGAR_BUS_H
#define NAGAR_BUS_H

#include <czmq.h>
#include <limits.h>
#include <stdbool.h>

#include "config.h"

typedef struct {
    char endpoint[256];
    char certificate_path[PATH_MAX];
    char broker_key_path[PATH_MAX];
    bool insecure;
    bool packed;                /* NAGAR_BUS_PACKED */
} nagar_bus_options_t;

/* Fills options from config. Returns -1 with the reason in error when a
 * value is malformed or security is on and a key file is not named. */
int nagar_bus_options_load(nagar_bus_options_t *options, nagar_config_t *config,
                           char *error, size_t error_size);

/* A new, connected DEALER socket with CURVE applied as options say: the
 * secret certificate from certificate_path (zcert_load; a public-only file
 * is refused) and the broker's public key from broker_key_path. Linger
 * 100 ms, send/receive high-water marks 10000, largest message 16 MiB.
 * Returns NULL with the reason in error (unreadable certificate, bad
 * endpoint). */
zsock_t *nagar_bus_connect(const nagar_bus_options_t *options, char *error, size_t error_size);

/* A 32-character lower-case hex random id (libsodium), for request ids. */
void nagar_bus_new_id(char out[33]);

/* Wall-clock milliseconds since the epoch, for deadlines. */
int64_t nagar_bus_now_ms(void);

#endif
