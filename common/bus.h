/*
 * bus.h — how a Nagar process reaches the broker: endpoint and CURVE keys.
 *
 * Settings (see config.h for precedence):
 *   NAGAR_BUS_ENDPOINT    broker address, or several separated by commas
 *                         (at most NAGAR_BUS_BROKERS_MAX): every worker
 *                         registers with each, every client sends to one
 *                         that answers and fails over to another
 *                         (bus_worker.h, bus_client.h)   default tcp://127.0.0.1:5555
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

#include "bus_watch.h"
#include "config.h"

#define NAGAR_BUS_BROKERS_MAX 8
#define NAGAR_BUS_ENDPOINT_MAX 256

typedef struct {
    char endpoint[NAGAR_BUS_BROKERS_MAX * NAGAR_BUS_ENDPOINT_MAX];  /* one or several, comma-separated */
    char certificate_path[PATH_MAX];
    char broker_key_path[PATH_MAX];
    bool insecure;
    bool packed;                /* NAGAR_BUS_PACKED */
} nagar_bus_options_t;

/* Fills options from config. Returns -1 with the reason in error when a
 * value is malformed or security is on and a key file is not named. */
int nagar_bus_options_load(nagar_bus_options_t *options, nagar_config_t *config,
                           char *error, size_t error_size);

/* How many brokers options->endpoint names (1 for a single address). */
int nagar_bus_broker_count(const nagar_bus_options_t *options);

/* The address of broker index (0-based) into out; -1 when there is none
 * or it does not fit. */
int nagar_bus_broker_endpoint(const nagar_bus_options_t *options, int index, char *out,
                              size_t out_size);

/* A new DEALER socket connected to broker index, with CURVE applied as
 * options say: the secret certificate from certificate_path (zcert_load; a
 * public-only file is refused) and the broker's public key from
 * broker_key_path (all brokers share one key pair). Linger 100 ms,
 * send/receive high-water marks 10000, largest message 16 MiB. immediate
 * sets ZMQ_IMMEDIATE before connecting (libzmq reads it only then): a send
 * fails with EAGAIN while there is no live connection instead of queueing
 * for one, so a client of several brokers can try another. Returns NULL
 * with the reason in error (unreadable certificate, bad endpoint). */
zsock_t *nagar_bus_connect_broker(const nagar_bus_options_t *options, int index, bool immediate,
                                  char *error, size_t error_size);

/* The same, with *watch set to a watch on its connection (bus_watch.h),
 * started before connecting so that no connection goes unseen; destroy
 * the watch before the socket. */
zsock_t *nagar_bus_connect_broker_watched(const nagar_bus_options_t *options, int index,
                                          bool immediate, nagar_bus_watch_t **watch, char *error,
                                          size_t error_size);

/* nagar_bus_connect_broker to the first broker. */
zsock_t *nagar_bus_connect(const nagar_bus_options_t *options, char *error, size_t error_size);

/* Whether a message waits on socket that its ZMQ_FD would not announce,
 * for a caller that polls the descriptor in its own event loop. ZMQ_FD is
 * edge-triggered and ZMQ_EVENTS costs two system calls (it reads the
 * socket's command mailbox), so it is asked only while *unchecked: the
 * owner sets it when the socket is new, when it sends on it (a send may
 * take the edge of a message that came meanwhile) and when the descriptor
 * fired without a read that drained it; it is cleared here when ZMQ_EVENTS
 * says "no input", after which the descriptor announces what comes. */
bool nagar_bus_socket_has_input(zsock_t *socket, bool *unchecked);

/* A 32-character lower-case hex random id (libsodium), for request ids. */
void nagar_bus_new_id(char out[33]);

/* The longest principal or service name in the keys and the broker's ACL. */
#define NAGAR_BUS_NAME_MAX 64

/* True when name is a principal's or a service's name as the keys, the
 * ACL and deploy/principals.conf spell them: a lower-case letter, then up
 * to NAGAR_BUS_NAME_MAX - 1 of a-z 0-9 _ . (nagar-keygen and the broker
 * apply the same rule, so a key the one makes the other accepts). */
bool nagar_bus_name_valid(const char *name);

/* Wall-clock milliseconds since the epoch, for deadlines. */
int64_t nagar_bus_now_ms(void);

#endif
