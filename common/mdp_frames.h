/*
 * mdp_frames.h — building and parsing the MDP/0.1 messages that libnagar's
 * client and worker exchange with the broker, and the nagar.Request /
 * nagar.Reply envelopes carried in their body frame.
 *
 * Kept apart from the sockets so the framing can be unit-tested without a
 * broker (tests/unit/test_bus_framing.c) and so client and worker agree on
 * one reading of mdp.h. Parsers borrow frames from the message they parse:
 * the pointers stay valid until that message is destroyed.
 */
#ifndef NAGAR_MDP_FRAMES_H
#define NAGAR_MDP_FRAMES_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "mdp.h"
#include "mdp_pack.h"
#include "status.h"

/* The command byte of each MDP/0.1 worker command (mdp.h has them as
 * one-byte strings for the wire; switch statements need integers). */
enum {
    NAGAR_MDP_READY = 0x01,
    NAGAR_MDP_REQUEST = 0x02,
    NAGAR_MDP_REPLY = 0x03,
    NAGAR_MDP_HEARTBEAT = 0x04,
    NAGAR_MDP_DISCONNECT = 0x05,
};

/* Longest principal name a worker accepts from the broker's extra frame. */
#define NAGAR_MDP_PRINCIPAL_MAX 128

/* ---- client side: [""]["MDPC01"][service][body] both ways ------------ */

/* A request for service with body as its single body frame. NULL when
 * service is empty or longer than MDP_SERVICE_NAME_MAX. */
zmsg_t *nagar_mdp_client_request_new(const char *service, const void *body, size_t body_size);

/* Checks a broker-to-client message and points *service_p and *body_p at
 * its frames. Returns -1 with the reason in error when it is not
 * [""]["MDPC01"][service][body]. */
int nagar_mdp_client_reply_parse(zmsg_t *message, zframe_t **service_p, zframe_t **body_p,
                                 char *error, size_t error_size);
/* The same check on count frames viewed as nagar_mdp_part_t (received
 * zmq_msg_t parts, or the views of nagar_mdp_unpack_parts): the hot paths
 * read messages this way, without a zmsg. The zmsg form is this one. */
int nagar_mdp_client_reply_parse_parts(const nagar_mdp_part_t *parts, int count,
                                       nagar_mdp_part_t *service, nagar_mdp_part_t *body,
                                       char *error, size_t error_size);

/* ---- worker side: [""]["MDPW01"][command][...] -------------------------- */

typedef struct {
    int command;                /* NAGAR_MDP_REQUEST, _HEARTBEAT or _DISCONNECT */
    zframe_t *client_address;   /* REQUEST only */
    zframe_t *body;             /* REQUEST only */
    zframe_t *caller;           /* REQUEST only; the broker's principal frame, NULL when absent */
} nagar_mdp_worker_message_t;

zmsg_t *nagar_mdp_worker_ready_new(const char *service);
/* READY with the credit extension (mdp.h): [service]["credit=N"]; credit 1
 * sends the plain RFC 7 READY. NULL for a bad service name or a credit
 * outside 1..NAGAR_MDP_CREDIT_MAX. */
zmsg_t *nagar_mdp_worker_ready_credit_new(const char *service, int credit);
/* The credit in a READY's extra frame: N for "credit=N" with N in
 * 1..NAGAR_MDP_CREDIT_MAX (decimal, no sign, no leading zero), 0 for
 * anything else. */
int nagar_mdp_credit_parse(const void *data, size_t size);
zmsg_t *nagar_mdp_worker_heartbeat_new(void);
zmsg_t *nagar_mdp_worker_disconnect_new(void);
/* REPLY to the client at client_address (copied) with body as one frame. */
zmsg_t *nagar_mdp_worker_reply_new(zframe_t *client_address, const void *body, size_t body_size);
/* The same REPLY sent straight on socket, frame by frame, without building
 * a zmsg (the worker's hot path). Returns -1 when the socket refuses it. */
int nagar_mdp_worker_reply_send(zsock_t *socket, const void *client_address,
                                size_t client_address_size, const void *body, size_t body_size);

/* Checks a broker-to-worker message. REQUEST is
 * [""]["MDPW01"][0x02][client][""][body] plus, with CURVE on, one final
 * [principal] frame; HEARTBEAT and DISCONNECT carry nothing else. Returns -1
 * with the reason in error for anything else. */
int nagar_mdp_worker_message_parse(zmsg_t *message, nagar_mdp_worker_message_t *out, char *error,
                                   size_t error_size);

/* The same on frames viewed as parts (see nagar_mdp_client_reply_parse_parts);
 * the zmsg form is this one. caller.data is NULL when there is no principal
 * frame. */
typedef struct {
    int command;
    nagar_mdp_part_t client_address;
    nagar_mdp_part_t body;
    nagar_mdp_part_t caller;
} nagar_mdp_worker_parts_t;
int nagar_mdp_worker_message_parse_parts(const nagar_mdp_part_t *parts, int count,
                                         nagar_mdp_worker_parts_t *out, char *error,
                                         size_t error_size);

/* Copies a principal frame into out as a C string; "anonymous" when frame
 * is NULL. Returns -1 when the name is empty, too long or not printable
 * ASCII (a broker bug or a tampered peer: refuse rather than guess). */
int nagar_mdp_caller_name(zframe_t *frame, char *out, size_t out_size);
/* The same for a frame viewed as a part; data NULL means absent. */
int nagar_mdp_caller_name_part(const nagar_mdp_part_t *part, char *out, size_t out_size);

/* ---- envelopes ---------------------------------------------------------- */

/* A serialized nagar.Request (malloc'd; free it). context may be NULL. */
uint8_t *nagar_envelope_request_pack(const char *method, const Nagar__RequestContext *context,
                                     const uint8_t *payload, size_t payload_size,
                                     size_t *size_out);

/* A serialized nagar.Reply (malloc'd; free it). message and field may be
 * NULL; payload is ignored unless code is OK. */
uint8_t *nagar_envelope_reply_pack(const char *request_id, nagar_status_code_t code,
                                   const char *message, const char *field,
                                   const uint8_t *payload, size_t payload_size, bool replayed,
                                   size_t *size_out);

/* Unpacked nagar.Request or nagar.Reply; NULL when data is not one. Free
 * with nagar__request__free_unpacked / nagar__reply__free_unpacked. */
Nagar__Request *nagar_envelope_request_unpack(const uint8_t *data, size_t size);
Nagar__Reply *nagar_envelope_reply_unpack(const uint8_t *data, size_t size);

/* Reads context.request_id (copied, truncated to fit, "" when absent) and
 * context.deadline_unix_ms (0 when absent) of a serialized nagar.Request
 * straight from the protobuf wire format: no unpacking, no allocation (the
 * broker does this for every request that must wait). Returns -1, with
 * request_id "" and deadline 0, when data is not well-formed wire format. */
int nagar_envelope_request_peek(const uint8_t *data, size_t size, char *request_id,
                                size_t request_id_size, int64_t *deadline_unix_ms);

/* The status code of a serialized nagar.Reply read from the wire format
 * without unpacking it (OK when it carries no status), or -1 when data is
 * not well-formed wire format. */
int nagar_envelope_reply_peek_code(const uint8_t *data, size_t size);

/* The code of a reply, OK when it carries no status. */
nagar_status_code_t nagar_envelope_reply_code(const Nagar__Reply *reply);

#endif
