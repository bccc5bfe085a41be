/*
 * connections.h — slow clients cannot keep new ones out: deadlines for a
 * request's headers and body, and room kept for new connections.
 *
 * libmicrohttpd's own connection timeout restarts with every byte, so a
 * client that trickles its headers a byte at a time holds its connection
 * for ever; an outside test held 128 such connections from each of 10
 * addresses and kept every new client out for 40 s, with nothing logged.
 * So the gateway tracks each connection itself (MHD_OPTION_NOTIFY_CONNECTION)
 * in one of three states:
 *
 *   waiting  opened, or idle between keep-alive requests: its request's
 *            headers must be complete within header_timeout_s of that
 *   body     headers in: the whole body must be in within body_timeout_s
 *   busy     the request is complete (being answered): no deadline here
 *            (a suspended request has the gateway's own deadline)
 *
 * A connection past its deadline is shut down (shutdown(2) on its socket:
 * libmicrohttpd sees the end of the stream and closes it). And when the
 * open connections reach the high-water mark (the connection limit less a
 * reserve of an eighth), each new one sheds the oldest connection still
 * waiting or sending its body, so a new client always finds room: a slow
 * client loses its place to a prompt one, never the reverse. Each shed or
 * expired connection is a log line (gateway.connection_dropped, at most a
 * few a second, the rest counted) with the address, state and age.
 */
#ifndef GATEWAY_CONNECTIONS_H
#define GATEWAY_CONNECTIONS_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gateway_connections_t gateway_connections_t;

/* max_connections is libmicrohttpd's limit; deadlines in seconds. */
gateway_connections_t *gateway_connections_new(size_t max_connections, long header_timeout_s,
                                               long body_timeout_s);
void gateway_connections_destroy(gateway_connections_t **self_p);

/* For MHD_OPTION_NOTIFY_CONNECTION (cls is the gateway_connections_t). */
void gateway_connections_notify(void *cls, struct MHD_Connection *connection,
                                void **socket_context, enum MHD_ConnectionNotificationCode code);

/* The request's headers are in / the whole request is in / its response
 * is done (the connection waits for its next request). */
void gateway_connections_headers_in(gateway_connections_t *self,
                                    struct MHD_Connection *connection);
void gateway_connections_request_in(gateway_connections_t *self,
                                    struct MHD_Connection *connection);
void gateway_connections_response_done(gateway_connections_t *self,
                                       struct MHD_Connection *connection);

/* Shuts down connections past their deadline. Returns the milliseconds
 * until the next deadline, at most 1000. */
int gateway_connections_sweep(gateway_connections_t *self, int64_t now_ms);

/* Open connections; and how many were dropped since start (expired, shed). */
size_t gateway_connections_open(gateway_connections_t *self);
uint64_t gateway_connections_dropped(gateway_connections_t *self);

#endif
