/*
 * mdp_pack.h — Nagar's "packed" transport extension of MDP/0.1: a whole MDP
 * multipart message carried as ONE ZeroMQ frame (mdp.h says why and who
 * uses it).
 *
 * Wire format of a packed frame (all integers big-endian):
 *
 *   "\xff" "NGP"   magic, 4 bytes
 *   0x01           version
 *   N              frame count, 1 byte, 1..NAGAR_MDP_PACK_MAX_FRAMES
 *   N times:       length (4 bytes), then that many bytes of the frame
 *
 * and nothing after the last frame. The packed frame is the first frame a
 * DEALER peer sends (the only one); in plain MDP/0.1 that first frame is
 * always the empty delimiter, so a non-empty frame starting with the magic
 * can never be mistaken for, nor mistake itself for, a plain message.
 * Empty frames inside (the MDP delimiters) are length 0.
 *
 * The packer builds a packed frame in a buffer it reuses from one message
 * to the next (the hot paths pack every message: no allocation once the
 * buffer has grown to size). Unpacking is strict: wrong magic or version,
 * a count of 0 or above the maximum, a length running past the end,
 * bytes left over, or an input above NAGAR_MDP_PACK_MAX_BYTES are all
 * refused with the reason, and nothing is ever read past size.
 */
#ifndef NAGAR_MDP_PACK_H
#define NAGAR_MDP_PACK_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAGAR_MDP_PACK_MAGIC "\xff" "NGP"
#define NAGAR_MDP_PACK_MAGIC_SIZE 4
#define NAGAR_MDP_PACK_VERSION 1
#define NAGAR_MDP_PACK_HEADER_SIZE 6            /* magic, version, count */
#define NAGAR_MDP_PACK_LENGTH_SIZE 4            /* before each frame */
/* The broker refuses messages of more frames than this anyway. */
#define NAGAR_MDP_PACK_MAX_FRAMES 64
/* The most NAGAR_BROKER_MAX_MESSAGE_BYTES allows, plus room for the frames
 * the broker adds: anything the broker accepted it can pack again. The
 * sockets' ZMQ_MAXMSGSIZE is the real bound on what arrives. */
#define NAGAR_MDP_PACK_MAX_BYTES ((size_t) 1 << 30 | (size_t) 1 << 16)

typedef struct nagar_mdp_packer_t nagar_mdp_packer_t;

/* A packer whose frames may total at most max_bytes packed (0 means
 * NAGAR_MDP_PACK_MAX_BYTES, also the most allowed). NULL when out of
 * memory. */
nagar_mdp_packer_t *nagar_mdp_packer_new(size_t max_bytes);
void nagar_mdp_packer_destroy(nagar_mdp_packer_t **self_p);

/* Starts a new packed message, forgetting the frames and any failure of
 * the previous one. Gives a buffer grown for one huge message back. */
void nagar_mdp_packer_reset(nagar_mdp_packer_t *self);

/* Appends one frame. Returns -1, and the message stays failed until the
 * next reset, when it would be frame NAGAR_MDP_PACK_MAX_FRAMES + 1, would
 * take the packed size past the packer's maximum, or memory runs out. */
int nagar_mdp_packer_add(nagar_mdp_packer_t *self, const void *data, size_t size);
int nagar_mdp_packer_add_frame(nagar_mdp_packer_t *self, zframe_t *frame);

/* Frames added since the last reset. */
size_t nagar_mdp_packer_frames(nagar_mdp_packer_t *self);

/* The packed frame so far and its size; NULL when the message failed or
 * has no frame yet. Valid until the next add or reset. */
const uint8_t *nagar_mdp_packer_data(nagar_mdp_packer_t *self, size_t *size);

/* zmq_send of the packed frame on a libzmq socket handle with flags (e.g.
 * ZMQ_DONTWAIT; never ZMQ_SNDMORE needed by a DEALER). Returns -1 when the
 * message failed or has no frame (errno EINVAL) or zmq_send fails. */
int nagar_mdp_packer_send(nagar_mdp_packer_t *self, void *socket_handle, int flags);

/* Whether data begins with the packed magic: a frame to unpack, not a
 * plain MDP frame. Says nothing about whether the rest is well-formed. */
bool nagar_mdp_is_packed(const void *data, size_t size);

/* message's frames as one packed frame; message is left as it was. NULL
 * when it has no frame, too many or too many bytes. */
zframe_t *nagar_mdp_pack(zmsg_t *message);

/* One unpacked frame: a view into the packed data (not a copy). */
typedef struct {
    const uint8_t *data;
    size_t size;
} nagar_mdp_part_t;

/* Checks a packed frame and points parts[0..count-1] into it (parts must
 * hold NAGAR_MDP_PACK_MAX_FRAMES). Returns the frame count, or -1 with the
 * reason in error. The views live as long as data. */
int nagar_mdp_unpack_parts(const void *data, size_t size, nagar_mdp_part_t *parts, char *error,
                           size_t error_size);

/* The same, copied into a new zmsg (the frames the peer would have sent
 * unpacked). NULL with the reason in error. */
zmsg_t *nagar_mdp_unpack(const void *data, size_t size, char *error, size_t error_size);

/* A received message made plain in place: when message is one packed
 * frame, that frame is replaced by the frames it holds and 1 is returned;
 * any other message is left alone and 0 returned; a packed frame that
 * does not unpack is left alone too, and -1 returned with the reason in
 * error. */
int nagar_mdp_unpack_message(zmsg_t *message, char *error, size_t error_size);

/* ---- receiving ------------------------------------------------------------ */

/* Receives one whole message from a socket (libzmq's handle, e.g.
 * zsock_resolve(sock)) into parts[0..count-1] without blocking and
 * without a zmsg: the client, the worker and the broker read every
 * message this way, then view its parts (unpacked when packed). Returns
 * the frame count (the caller closes each part), 0 when nothing is
 * waiting (errno EAGAIN; libzmq has then read the socket's command
 * mailbox, as ZMQ_EVENTS would, so ZMQ_FD will fire for the next message)
 * or the recv failed (another errno), or -1 for a message of more than max
 * frames, which is read to its end and dropped (every part closed). */
int nagar_mdp_receive_parts(void *socket_handle, zmq_msg_t *parts, int max);

#endif
