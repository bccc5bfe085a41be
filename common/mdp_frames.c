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

static bool part_equals(const nagar_mdp_part_t *part, const char *text)
{
    size_t length = strlen(text);
    return part->size == length && memcmp(part->data, text, length) == 0;
}

/* A zmsg's frames as parts; -1 when it has more than max. */
static int message_parts(zmsg_t *message, nagar_mdp_part_t *parts, int max)
{
    int count = 0;
    for (zframe_t *frame = zmsg_first(message); frame; frame = zmsg_next(message)) {
        if (count == max)
            return -1;
        parts[count].data = zframe_data(frame);
        parts[count++].size = zframe_size(frame);
    }
    return count;
}

/* The first two frames of what a broker sends: [""][protocol header]. */
static int envelope_check(const nagar_mdp_part_t *parts, const char *what, const char *side,
                          const char *header, char *error, size_t error_size)
{
    if (parts[0].size != 0) {
        snprintf(error, error_size, "broker %s does not start with an empty delimiter frame",
                 what);
        return -1;
    }
    if (!part_equals(&parts[1], header)) {
        snprintf(error, error_size, "broker %s is not MDP/0.1 %s protocol (\"%s\")", what, side,
                 header);
        return -1;
    }
    return 0;
}

int nagar_mdp_client_reply_parse_parts(const nagar_mdp_part_t *parts, int count,
                                       nagar_mdp_part_t *service, nagar_mdp_part_t *body,
                                       char *error, size_t error_size)
{
    if (count != 4) {
        snprintf(error, error_size, "broker reply has %d frames, expected 4 "
                 "([\"\"][\"MDPC01\"][service][body])", count);
        return -1;
    }
    if (envelope_check(parts, "reply", "client", MDP_CLIENT, error, error_size) != 0)
        return -1;
    *service = parts[2];
    *body = parts[3];
    return 0;
}

int nagar_mdp_client_reply_parse(zmsg_t *message, zframe_t **service_p, zframe_t **body_p,
                                 char *error, size_t error_size)
{
    nagar_mdp_part_t parts[4], service, body;
    int count = message_parts(message, parts, 4);
    if (nagar_mdp_client_reply_parse_parts(parts, count < 0 ? (int) zmsg_size(message) : count,
                                           &service, &body, error, error_size) != 0)
        return -1;
    zmsg_first(message);
    zmsg_next(message);
    *service_p = zmsg_next(message);
    *body_p = zmsg_next(message);
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

zmsg_t *nagar_mdp_worker_ready_credit_new(const char *service, int credit)
{
    if (credit < 1 || credit > NAGAR_MDP_CREDIT_MAX)
        return NULL;
    zmsg_t *message = nagar_mdp_worker_ready_new(service);
    if (message && credit > 1)
        zmsg_addstrf(message, "%s%d", NAGAR_MDP_CREDIT_PREFIX, credit);
    return message;
}

int nagar_mdp_credit_parse(const void *data, size_t size)
{
    size_t prefix = strlen(NAGAR_MDP_CREDIT_PREFIX);
    const unsigned char *bytes = data;
    if (!data || size <= prefix || size > prefix + 3
        || memcmp(bytes, NAGAR_MDP_CREDIT_PREFIX, prefix) != 0 || bytes[prefix] == '0')
        return 0;
    int credit = 0;
    for (size_t i = prefix; i < size; i++) {
        if (bytes[i] < '0' || bytes[i] > '9')
            return 0;
        credit = credit * 10 + (bytes[i] - '0');
    }
    return credit <= NAGAR_MDP_CREDIT_MAX ? credit : 0;
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

int nagar_mdp_worker_reply_send(zsock_t *socket, const void *client_address,
                                size_t client_address_size, const void *body, size_t body_size)
{
    void *handle = zsock_resolve(socket);
    /* Once the first part is queued ZeroMQ takes the rest of the message. */
    if (zmq_send(handle, "", 0, ZMQ_SNDMORE) == -1)
        return -1;
    zmq_send(handle, MDP_WORKER, strlen(MDP_WORKER), ZMQ_SNDMORE);
    zmq_send(handle, MDP_REPLY, 1, ZMQ_SNDMORE);
    zmq_send(handle, client_address, client_address_size, ZMQ_SNDMORE);
    zmq_send(handle, "", 0, ZMQ_SNDMORE);
    return zmq_send(handle, body, body_size, 0) == -1 ? -1 : 0;
}

int nagar_mdp_worker_message_parse_parts(const nagar_mdp_part_t *parts, int count,
                                         nagar_mdp_worker_parts_t *out, char *error,
                                         size_t error_size)
{
    memset(out, 0, sizeof *out);
    if (count < 3) {
        snprintf(error, error_size, "broker message has %d frames, expected at least 3 "
                 "([\"\"][\"MDPW01\"][command])", count);
        return -1;
    }
    if (envelope_check(parts, "message", "worker", MDP_WORKER, error, error_size) != 0)
        return -1;
    if (parts[2].size != 1) {
        snprintf(error, error_size, "broker command frame has %zu bytes, expected 1",
                 parts[2].size);
        return -1;
    }
    out->command = parts[2].data[0];
    switch (out->command) {
    case NAGAR_MDP_HEARTBEAT:
    case NAGAR_MDP_DISCONNECT:
        /* RFC 7 puts nothing after these; tolerate nothing else either. */
        if (count != 3) {
            snprintf(error, error_size, "broker %s has %d frames, expected 3",
                     out->command == NAGAR_MDP_HEARTBEAT ? "HEARTBEAT" : "DISCONNECT", count);
            return -1;
        }
        return 0;
    case NAGAR_MDP_REQUEST:
        /* [client][""][body] and, with CURVE on, [principal]. */
        if (count != 6 && count != 7) {
            snprintf(error, error_size, "broker REQUEST has %d frames, expected 6 "
                     "([\"\"][\"MDPW01\"][0x02][client][\"\"][body]) or 7 (plus caller)", count);
            return -1;
        }
        if (parts[3].size == 0 || parts[4].size != 0) {
            snprintf(error, error_size, "broker REQUEST lacks the client address or the empty "
                     "frame after it");
            return -1;
        }
        out->client_address = parts[3];
        out->body = parts[5];
        if (count == 7)
            out->caller = parts[6];
        return 0;
    default:
        snprintf(error, error_size, "broker sent worker command 0x%02x, which a worker does not "
                 "accept (expected REQUEST, HEARTBEAT or DISCONNECT)",
                 (unsigned) out->command);
        return -1;
    }
}

int nagar_mdp_worker_message_parse(zmsg_t *message, nagar_mdp_worker_message_t *out, char *error,
                                   size_t error_size)
{
    memset(out, 0, sizeof *out);
    nagar_mdp_part_t parts[7];
    nagar_mdp_worker_parts_t parsed;
    int count = message_parts(message, parts, 7);
    if (nagar_mdp_worker_message_parse_parts(parts, count < 0 ? (int) zmsg_size(message) : count,
                                             &parsed, error, error_size) != 0)
        return -1;
    out->command = parsed.command;
    if (out->command == NAGAR_MDP_REQUEST) {
        zframe_t *frame = zmsg_first(message);
        for (int i = 0; i < 3; i++)
            frame = zmsg_next(message);
        out->client_address = frame;
        zmsg_next(message);
        out->body = zmsg_next(message);
        out->caller = count == 7 ? zmsg_next(message) : NULL;
    }
    return 0;
}

int nagar_mdp_caller_name_part(const nagar_mdp_part_t *part, char *out, size_t out_size)
{
    if (!part || !part->data) {
        snprintf(out, out_size, "anonymous");
        return 0;
    }
    size_t length = part->size;
    const unsigned char *data = part->data;
    if (length == 0 || length >= out_size || length > NAGAR_MDP_PRINCIPAL_MAX)
        return -1;
    for (size_t i = 0; i < length; i++)
        if (data[i] < 0x21 || data[i] > 0x7e)
            return -1;
    memcpy(out, data, length);
    out[length] = '\0';
    return 0;
}

int nagar_mdp_caller_name(zframe_t *frame, char *out, size_t out_size)
{
    if (!frame)
        return nagar_mdp_caller_name_part(NULL, out, out_size);
    /* An empty frame's data may be NULL: never mistake it for "absent". */
    nagar_mdp_part_t part = { zframe_size(frame) ? zframe_data(frame) : (const uint8_t *) "",
                              zframe_size(frame) };
    return nagar_mdp_caller_name_part(&part, out, out_size);
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

/* ---- reading the wire format without unpacking -------------------------- */

/* One varint at *at (advanced past it); -1 when truncated or over 10 bytes. */
static int wire_varint(const uint8_t *data, size_t size, size_t *at, uint64_t *value)
{
    *value = 0;
    for (int shift = 0; shift < 70 && *at < size; shift += 7) {
        uint8_t byte = data[(*at)++];
        *value |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return 0;
    }
    return -1;
}

/* One field of a protobuf message as it stands on the wire. */
typedef struct {
    uint32_t number;
    uint32_t type;              /* wire type: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit */
    uint64_t value;             /* a varint's value (a length for type 2) */
    const uint8_t *bytes;       /* type 2: the field's bytes ... */
    size_t length;              /* ... and how many */
} wire_field_t;

/* The next field at *at of data (size bytes): its number, wire type and,
 * for length-delimited ones, where its bytes are; varints are returned in
 * field->value. Skips the field. 0, or -1 when it is not well-formed. */
static int wire_field(const uint8_t *data, size_t size, size_t *at, wire_field_t *field)
{
    uint64_t key;
    field->value = 0;
    field->bytes = NULL;
    field->length = 0;
    if (wire_varint(data, size, at, &key) != 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    field->number = (uint32_t) (key >> 3);
    field->type = (uint32_t) (key & 7);
    switch (field->type) {
    case 0:
        return wire_varint(data, size, at, &field->value);
    case 1:
    case 5: {
        size_t width = field->type == 1 ? 8 : 4;
        if (size - *at < width)
            return -1;
        *at += width;
        return 0;
    }
    case 2:
        if (wire_varint(data, size, at, &field->value) != 0 || field->value > size - *at)
            return -1;
        field->bytes = data + *at;
        field->length = (size_t) field->value;
        *at += field->length;
        return 0;
    default:
        return -1;      /* groups (3, 4) are not proto3; 6 and 7 do not exist */
    }
}

int nagar_envelope_request_peek(const uint8_t *data, size_t size, char *request_id,
                                size_t request_id_size, int64_t *deadline_unix_ms)
{
    request_id[0] = '\0';
    *deadline_unix_ms = 0;
    size_t at = 0;
    while (at < size) {
        wire_field_t field;
        if (wire_field(data, size, &at, &field) != 0)
            goto malformed;
        /* Known fields with the wrong wire type: not a nagar.Request (as
         * protobuf-c's unpack would say). method 1, context 2, payload 3
         * are all length-delimited. */
        if (field.number <= 3 && field.type != 2)
            goto malformed;
        if (field.number != 2)
            continue;
        /* RequestContext; a repeated one merges, the last value wins. */
        size_t inner = 0;
        while (inner < field.length) {
            wire_field_t context;
            if (wire_field(field.bytes, field.length, &inner, &context) != 0)
                goto malformed;
            /* request_id 1, idempotency_key 2, actor 3, client_ip 5 are
             * length-delimited, deadline_unix_ms 4 a varint. */
            if (context.number <= 5 && (context.number == 4) != (context.type == 0))
                goto malformed;
            if (context.number == 1) {
                size_t copy = strnlen((const char *) context.bytes, context.length);
                if (copy >= request_id_size)
                    copy = request_id_size - 1;
                memcpy(request_id, context.bytes, copy);
                request_id[copy] = '\0';
            } else if (context.number == 4)
                *deadline_unix_ms = (int64_t) context.value;
        }
    }
    return 0;

malformed:
    request_id[0] = '\0';
    *deadline_unix_ms = 0;
    return -1;
}

int nagar_envelope_reply_peek_code(const uint8_t *data, size_t size)
{
    int code = NAGAR__STATUS_CODE__OK;
    size_t at = 0;
    while (at < size) {
        wire_field_t field;
        if (wire_field(data, size, &at, &field) != 0)
            return -1;
        if (field.number != 2)  /* status */
            continue;
        if (field.type != 2)
            return -1;
        size_t inner = 0;
        while (inner < field.length) {
            wire_field_t status;
            if (wire_field(field.bytes, field.length, &inner, &status) != 0)
                return -1;
            if (status.number == 1 && status.type == 0)
                code = (int) (status.value & 0x7fffffff);
        }
    }
    return code;
}

nagar_status_code_t nagar_envelope_reply_code(const Nagar__Reply *reply)
{
    return reply->status ? reply->status->code : NAGAR__STATUS_CODE__OK;
}
