/*
 * mdp_pack.c — packing a whole MDP message into one ZeroMQ frame and back;
 * see mdp_pack.h for the format and mdp.h for why.
 *
 * With CURVE every ZeroMQ frame is its own encrypted message (its own
 * crypto_box, nonce and length header), so an MDP request that crosses the
 * broker as 4 + 7 + 6 + 4 frames costs 21 boxes where one per hop would do.
 * Packing is a memcpy per frame; the crypto it saves is far dearer.
 *
 * The reader trusts nothing: every length is checked against what is left
 * before it is used, so a hostile peer can make us refuse its message and
 * nothing else.
 */
#include "mdp_pack.h"

#include <errno.h>
#include <string.h>

/* A buffer grown past this for one large message is given back at the
 * next reset, so a single big request does not pin memory for good. */
#define PACKER_KEEP_BYTES (256 * 1024)
#define PACKER_INITIAL_BYTES 1024

struct nagar_mdp_packer_t {
    uint8_t *buffer;
    size_t capacity;
    size_t size;            /* bytes used, header included */
    size_t frames;
    size_t max_bytes;
    bool failed;
};

static void put_u32(uint8_t *out, uint32_t value)
{
    out[0] = (uint8_t) (value >> 24);
    out[1] = (uint8_t) (value >> 16);
    out[2] = (uint8_t) (value >> 8);
    out[3] = (uint8_t) value;
}

static uint32_t get_u32(const uint8_t *in)
{
    return (uint32_t) in[0] << 24 | (uint32_t) in[1] << 16 | (uint32_t) in[2] << 8 | in[3];
}

static void write_header(nagar_mdp_packer_t *self)
{
    memcpy(self->buffer, NAGAR_MDP_PACK_MAGIC, NAGAR_MDP_PACK_MAGIC_SIZE);
    self->buffer[4] = NAGAR_MDP_PACK_VERSION;
    self->buffer[5] = 0;
    self->size = NAGAR_MDP_PACK_HEADER_SIZE;
}

nagar_mdp_packer_t *nagar_mdp_packer_new(size_t max_bytes)
{
    nagar_mdp_packer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max_bytes = max_bytes == 0 || max_bytes > NAGAR_MDP_PACK_MAX_BYTES
                          ? NAGAR_MDP_PACK_MAX_BYTES : max_bytes;
    self->capacity = PACKER_INITIAL_BYTES;
    self->buffer = malloc(self->capacity);
    if (!self->buffer) {
        free(self);
        return NULL;
    }
    write_header(self);
    return self;
}

void nagar_mdp_packer_destroy(nagar_mdp_packer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->buffer);
    free(*self_p);
    *self_p = NULL;
}

void nagar_mdp_packer_reset(nagar_mdp_packer_t *self)
{
    if (self->capacity > PACKER_KEEP_BYTES) {
        uint8_t *smaller = realloc(self->buffer, PACKER_INITIAL_BYTES);
        if (smaller) {
            self->buffer = smaller;
            self->capacity = PACKER_INITIAL_BYTES;
        }
    }
    self->frames = 0;
    self->failed = false;
    write_header(self);
}

int nagar_mdp_packer_add(nagar_mdp_packer_t *self, const void *data, size_t size)
{
    if (self->failed)
        return -1;
    size_t needed = NAGAR_MDP_PACK_LENGTH_SIZE + size;
    if (self->frames >= NAGAR_MDP_PACK_MAX_FRAMES || size > self->max_bytes
        || self->size > self->max_bytes || needed > self->max_bytes - self->size) {
        self->failed = true;
        return -1;
    }
    if (self->size + needed > self->capacity) {
        size_t capacity = self->capacity;
        while (capacity < self->size + needed)
            capacity = capacity > SIZE_MAX / 2 ? self->size + needed : capacity * 2;
        uint8_t *grown = realloc(self->buffer, capacity);
        if (!grown) {
            self->failed = true;
            return -1;
        }
        self->buffer = grown;
        self->capacity = capacity;
    }
    put_u32(self->buffer + self->size, (uint32_t) size);
    if (size)
        memcpy(self->buffer + self->size + NAGAR_MDP_PACK_LENGTH_SIZE, data, size);
    self->size += needed;
    self->frames++;
    self->buffer[5] = (uint8_t) self->frames;
    return 0;
}

int nagar_mdp_packer_add_frame(nagar_mdp_packer_t *self, zframe_t *frame)
{
    return nagar_mdp_packer_add(self, zframe_data(frame), zframe_size(frame));
}

size_t nagar_mdp_packer_frames(nagar_mdp_packer_t *self)
{
    return self->frames;
}

const uint8_t *nagar_mdp_packer_data(nagar_mdp_packer_t *self, size_t *size)
{
    if (self->failed || self->frames == 0) {
        *size = 0;
        return NULL;
    }
    *size = self->size;
    return self->buffer;
}

int nagar_mdp_packer_send(nagar_mdp_packer_t *self, void *socket_handle, int flags)
{
    size_t size;
    const uint8_t *data = nagar_mdp_packer_data(self, &size);
    if (!data) {
        errno = EINVAL;
        return -1;
    }
    return zmq_send(socket_handle, data, size, flags) == -1 ? -1 : 0;
}

bool nagar_mdp_is_packed(const void *data, size_t size)
{
    return size >= NAGAR_MDP_PACK_MAGIC_SIZE
           && memcmp(data, NAGAR_MDP_PACK_MAGIC, NAGAR_MDP_PACK_MAGIC_SIZE) == 0;
}

zframe_t *nagar_mdp_pack(zmsg_t *message)
{
    nagar_mdp_packer_t *packer = nagar_mdp_packer_new(0);
    if (!packer)
        return NULL;
    for (zframe_t *frame = zmsg_first(message); frame; frame = zmsg_next(message))
        nagar_mdp_packer_add_frame(packer, frame);
    size_t size;
    const uint8_t *data = nagar_mdp_packer_data(packer, &size);
    zframe_t *packed = data ? zframe_new(data, size) : NULL;
    nagar_mdp_packer_destroy(&packer);
    return packed;
}

int nagar_mdp_unpack_parts(const void *data, size_t size, nagar_mdp_part_t *parts, char *error,
                           size_t error_size)
{
    const uint8_t *bytes = data;
    if (!nagar_mdp_is_packed(data, size)) {
        snprintf(error, error_size, "the frame does not start with the packed magic");
        return -1;
    }
    if (size > NAGAR_MDP_PACK_MAX_BYTES) {
        snprintf(error, error_size, "the packed frame is %zu bytes; at most %zu are allowed", size,
                 NAGAR_MDP_PACK_MAX_BYTES);
        return -1;
    }
    if (size < NAGAR_MDP_PACK_HEADER_SIZE) {
        snprintf(error, error_size, "the packed frame is %zu bytes, shorter than its %d-byte "
                 "header", size, NAGAR_MDP_PACK_HEADER_SIZE);
        return -1;
    }
    if (bytes[4] != NAGAR_MDP_PACK_VERSION) {
        snprintf(error, error_size, "packed version %u is not the one this build speaks (%d)",
                 bytes[4], NAGAR_MDP_PACK_VERSION);
        return -1;
    }
    int count = bytes[5];
    if (count == 0 || count > NAGAR_MDP_PACK_MAX_FRAMES) {
        snprintf(error, error_size, "the packed frame claims %d frames; 1 to %d are allowed",
                 count, NAGAR_MDP_PACK_MAX_FRAMES);
        return -1;
    }
    size_t offset = NAGAR_MDP_PACK_HEADER_SIZE;
    for (int i = 0; i < count; i++) {
        if (size - offset < NAGAR_MDP_PACK_LENGTH_SIZE) {
            snprintf(error, error_size, "the packed frame ends inside the length of frame %d of "
                     "%d", i + 1, count);
            return -1;
        }
        size_t length = get_u32(bytes + offset);
        offset += NAGAR_MDP_PACK_LENGTH_SIZE;
        if (length > size - offset) {
            snprintf(error, error_size, "frame %d of %d claims %zu bytes but only %zu are left",
                     i + 1, count, length, size - offset);
            return -1;
        }
        parts[i].data = bytes + offset;
        parts[i].size = length;
        offset += length;
    }
    if (offset != size) {
        snprintf(error, error_size, "%zu bytes follow the last of the %d packed frames",
                 size - offset, count);
        return -1;
    }
    return count;
}

zmsg_t *nagar_mdp_unpack(const void *data, size_t size, char *error, size_t error_size)
{
    nagar_mdp_part_t parts[NAGAR_MDP_PACK_MAX_FRAMES];
    int count = nagar_mdp_unpack_parts(data, size, parts, error, error_size);
    if (count < 0)
        return NULL;
    zmsg_t *message = zmsg_new();
    for (int i = 0; i < count; i++)
        zmsg_addmem(message, parts[i].data, parts[i].size);
    return message;
}

int nagar_mdp_unpack_message(zmsg_t *message, char *error, size_t error_size)
{
    zframe_t *first = zmsg_first(message);
    if (zmsg_size(message) != 1 || !nagar_mdp_is_packed(zframe_data(first), zframe_size(first)))
        return 0;
    nagar_mdp_part_t parts[NAGAR_MDP_PACK_MAX_FRAMES];
    int count = nagar_mdp_unpack_parts(zframe_data(first), zframe_size(first), parts, error,
                                       error_size);
    if (count < 0)
        return -1;
    /* Refilled in place: the views point into first, freed only after. */
    first = zmsg_pop(message);
    for (int i = 0; i < count; i++)
        zmsg_addmem(message, parts[i].data, parts[i].size);
    zframe_destroy(&first);
    return 1;
}

int nagar_mdp_receive_parts(void *socket_handle, zmq_msg_t *parts, int max)
{
    zmq_msg_init(&parts[0]);
    if (zmq_msg_recv(&parts[0], socket_handle, ZMQ_DONTWAIT) < 0) {
        int error = zmq_errno();    /* kept for the caller (EAGAIN: see mdp_pack.h) */
        zmq_msg_close(&parts[0]);
        errno = error;
        return 0;
    }
    int count = 1;
    bool too_many = false;
    /* The frames of a message arrive together: the rest never blocks. A
     * message too long is read on through its last slot. */
    while (zmq_msg_more(&parts[count - 1])) {
        if (count == max) {
            too_many = true;
            zmq_msg_close(&parts[count - 1]);
            count--;
        }
        zmq_msg_init(&parts[count]);
        if (zmq_msg_recv(&parts[count], socket_handle, 0) < 0) {
            zmq_msg_close(&parts[count]);
            break;
        }
        count++;
    }
    if (!too_many)
        return count;
    for (int i = 0; i < count; i++)
        zmq_msg_close(&parts[i]);
    return -1;
}
