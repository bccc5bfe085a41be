/*
 * mdp_frames.c — MDP/0.1 framing and nagar.Request / nagar.Reply envelopes
 * for libnagar's bus client and worker; see mdp_frames.h.
 *
 * Parsers are strict about the protocol frames (an unexpected shape is a
 * peer bug that must show up in a log, not be half-understood) and bounded
 * in what they copy out.
 */
#include "mdp_frames.h"

#include <string.h>

static bool frame_equals(zframe_t *frame, const char *text)
{
    size_t length = strlen(text);
    return frame && zframe_size(frame) == length && memcmp(zframe_data(frame), text, length) == 0;
}

static bool service_name_is_valid(const char *service)
{
    size_t length = service ? strlen(service) : 0;
    return length > 0 && length <= MDP_SERVICE_NAME_MAX;
}

zmsg_t *nagar_mdp_client_request_new(const char *service, const void *body, size_t body_size)
{
    if (!service_name_is_valid(service))
        return NULL;
    zmsg_t *message = zmsg_new();
    zmsg_addmem(message, "", 0);
    zmsg_addstr(message, MDP_CLIENT);
    zmsg_addstr(message, service);
    zmsg_addmem(message, body, body_size);
    return message;
}

int nagar_mdp_client_reply_parse(zmsg_t *message, zframe_t **service_p, zframe_t **body_p,
                                 char *error, size_t error_size)
{
    if (zmsg_size(message) != 4) {
        snprintf(error, error_size, "broker reply has %zu frames, expected 4 "
                 "([\"\"][\"MDPC01\"][service][body])", zmsg_size(message));
        return -1;
    }
    zframe_t *delimiter = zmsg_first(message);
    zframe_t *protocol = zmsg_next(message);
    zframe_t *service = zmsg_next(message);
    zframe_t *body = zmsg_next(message);
    if (zframe_size(delimiter) != 0) {
        snprintf(error, error_size, "broker reply does not start with an empty delimiter frame");
        return -1;
    }
    if (!frame_equals(protocol, MDP_CLIENT)) {
        snprintf(error, error_size, "broker reply is not MDP/0.1 client protocol (\"%s\")",
                 MDP_CLIENT);
        return -1;
    }
    *service_p = service;
    *body_p = body;
    return 0;
}

static zmsg_t *worker_command_new(const char *command)
{
    zmsg_t *message = zmsg_new();
    zmsg_addmem(message, "", 0);
    zmsg_addstr(message, MDP_WORKER);
    zmsg_addmem(message, command, 1);
    return message;
}

zmsg_t *nagar_mdp_worker_ready_new(const char *service)
{
    if (!service_name_is_valid(service))
        return NULL;
    zmsg_t *message = worker_command_new(MDP_READY);
    zmsg_addstr(message, service);
    return message;
}

zmsg_t *nagar_mdp_worker_heartbeat_new(void)
{
    return worker_command_new(MDP_HEARTBEAT);
}

zmsg_t *nagar_mdp_worker_disconnect_new(void)
{
    return worker_command_new(MDP_DISCONNECT);
}

zmsg_t *nagar_mdp_worker_reply_new(zframe_t *client_address, const void *body, size_t body_size)
{
    zmsg_t *message = worker_command_new(MDP_REPLY);
    zmsg_addmem(message, zframe_data(client_address), zframe_size(client_address));
    zmsg_addmem(message, "", 0);
    zmsg_addmem(message, body, body_size);
    return message;
}

int nagar_mdp_worker_message_parse(zmsg_t *message, nagar_mdp_worker_message_t *out, char *error,
                                   size_t error_size)
{
    memset(out, 0, sizeof *out);
    size_t frames = zmsg_size(message);
    if (frames < 3) {
        snprintf(error, error_size, "broker message has %zu frames, expected at least 3 "
                 "([\"\"][\"MDPW01\"][command])", frames);
        return -1;
    }
    zframe_t *delimiter = zmsg_first(message);
    zframe_t *protocol = zmsg_next(message);
    zframe_t *command = zmsg_next(message);
    if (zframe_size(delimiter) != 0) {
        snprintf(error, error_size, "broker message does not start with an empty delimiter frame");
        return -1;
    }
    if (!frame_equals(protocol, MDP_WORKER)) {
        snprintf(error, error_size, "broker message is not MDP/0.1 worker protocol (\"%s\")",
                 MDP_WORKER);
        return -1;
    }
    if (zframe_size(command) != 1) {
        snprintf(error, error_size, "broker command frame has %zu bytes, expected 1",
                 zframe_size(command));
        return -1;
    }
    out->command = zframe_data(command)[0];
    switch (out->command) {
    case NAGAR_MDP_HEARTBEAT:
    case NAGAR_MDP_DISCONNECT:
        /* RFC 7 puts nothing after these; tolerate nothing else either. */
        if (frames != 3) {
            snprintf(error, error_size, "broker %s has %zu frames, expected 3",
                     out->command == NAGAR_MDP_HEARTBEAT ? "HEARTBEAT" : "DISCONNECT", frames);
            return -1;
        }
        return 0;
    case NAGAR_MDP_REQUEST:
        /* [client][""][body] and, with CURVE on, [principal]. */
        if (frames != 6 && frames != 7) {
            snprintf(error, error_size, "broker REQUEST has %zu frames, expected 6 "
                     "([\"\"][\"MDPW01\"][0x02][client][\"\"][body]) or 7 (plus caller)", frames);
            return -1;
        }
        out->client_address = zmsg_next(message);
        zframe_t *empty = zmsg_next(message);
        if (zframe_size(out->client_address) == 0 || zframe_size(empty) != 0) {
            snprintf(error, error_size, "broker REQUEST lacks the client address or the empty "
                     "frame after it");
            return -1;
        }
        out->body = zmsg_next(message);
        out->caller = frames == 7 ? zmsg_next(message) : NULL;
        return 0;
    default:
        snprintf(error, error_size, "broker sent worker command 0x%02x, which a worker does not "
                 "accept (expected REQUEST, HEARTBEAT or DISCONNECT)",
                 (unsigned) out->command);
        return -1;
    }
}

int nagar_mdp_caller_name(zframe_t *frame, char *out, size_t out_size)
{
    if (!frame) {
        snprintf(out, out_size, "anonymous");
        return 0;
    }
    size_t length = zframe_size(frame);
    const unsigned char *data = zframe_data(frame);
    if (length == 0 || length >= out_size || length > NAGAR_MDP_PRINCIPAL_MAX)
        return -1;
    for (size_t i = 0; i < length; i++)
        if (data[i] < 0x21 || data[i] > 0x7e)
            return -1;
    memcpy(out, data, length);
    out[length] = '\0';
    return 0;
}

/* protobuf-c wants "" rather than NULL for unset proto3 strings. */
static char *text_or_empty(const char *text)
{
    return (char *) (text ? text : "");
}

uint8_t *nagar_envelope_request_pack(const char *method, const Nagar__RequestContext *context,
                                     const uint8_t *payload, size_t payload_size, size_t *size_out)
{
    Nagar__Request request = NAGAR__REQUEST__INIT;
    request.method = text_or_empty(method);
    request.context = (Nagar__RequestContext *) context;
    request.payload.data = (uint8_t *) payload;
    request.payload.len = payload ? payload_size : 0;
    size_t size = nagar__request__get_packed_size(&request);
    uint8_t *buffer = malloc(size ? size : 1);
    if (!buffer)
        return NULL;
    *size_out = nagar__request__pack(&request, buffer);
    return buffer;
}

uint8_t *nagar_envelope_reply_pack(const char *request_id, nagar_status_code_t code,
                                   const char *message, const char *field,
                                   const uint8_t *payload, size_t payload_size, bool replayed,
                                   size_t *size_out)
{
    Nagar__Status status = NAGAR__STATUS__INIT;
    status.code = code;
    status.message = text_or_empty(message);
    status.field = text_or_empty(field);
    Nagar__Reply reply = NAGAR__REPLY__INIT;
    reply.request_id = text_or_empty(request_id);
    reply.status = &status;
    if (code == NAGAR__STATUS_CODE__OK && payload) {
        reply.payload.data = (uint8_t *) payload;
        reply.payload.len = payload_size;
    }
    reply.replayed = replayed;
    size_t size = nagar__reply__get_packed_size(&reply);
    uint8_t *buffer = malloc(size ? size : 1);
    if (!buffer)
        return NULL;
    *size_out = nagar__reply__pack(&reply, buffer);
    return buffer;
}

Nagar__Request *nagar_envelope_request_unpack(const uint8_t *data, size_t size)
{
    return nagar__request__unpack(NULL, size, data);
}

Nagar__Reply *nagar_envelope_reply_unpack(const uint8_t *data, size_t size)
{
    return nagar__reply__unpack(NULL, size, data);
}

nagar_status_code_t nagar_envelope_reply_code(const Nagar__Reply *reply)
{
    return reply->status ? reply->status->code : NAGAR__STATUS_CODE__OK;
}
