/*
 * checkpoint.h — signed checkpoints of ledger chain heads, kept outside the
 * database.
 *
 * A hash chain proves that nothing inside it changed, but a chain rewritten
 * wholesale (every hash recomputed by someone holding the owner's database
 * credentials) verifies by itself. A checkpoint pins each chain's head —
 * (ledger, ULB, sequence, hash) — with an Ed25519 signature made by a key
 * the database and the services never see, in a directory they cannot
 * write. nagarctl verify then asks, for every pinned head: is the chain
 * still at least that long, and is its row at that sequence the same hash?
 *
 * File format (text, one item per line, UTF-8, '\n' line ends):
 *
 *     nagar-checkpoint 1
 *     created_us <microseconds since the epoch>
 *     key <hex of the signer's public key>
 *     head <chain> <ulb> <seq> <hex of the 32-byte hash>      (0 or more)
 *     signature <hex of the Ed25519 signature of every byte above this line>
 *
 * Files are named checkpoint-<created_us, 20 digits>.txt, so the latest is
 * the greatest name; they are written to a temporary name, fsynced and
 * linked into place (never overwriting), then made read-only.
 *
 * Keys: the secret key file holds the hex of libsodium's 64-byte Ed25519
 * secret key (seed and public key), the public key file the hex of the
 * 32-byte public key. Verification uses the public key file the operator
 * pins, never the "key" line of the checkpoint itself.
 */
#ifndef NAGAR_CHECKPOINT_H
#define NAGAR_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAGAR_CHECKPOINT_HASH_BYTES 32
#define NAGAR_CHECKPOINT_NAME_MAX 64     /* chain names: [a-z_.]{1,63} */
#define NAGAR_CHECKPOINT_ULB_MAX 16      /* ULB codes: [0-9]{1,15} */
#define NAGAR_CHECKPOINT_MAX_HEADS 100000
#define NAGAR_CHECKPOINT_ERROR_MAX 1024

typedef struct {
    char ledger[NAGAR_CHECKPOINT_NAME_MAX];
    char ulb[NAGAR_CHECKPOINT_ULB_MAX];
    int64_t seq;
    uint8_t hash[NAGAR_CHECKPOINT_HASH_BYTES];
} nagar_checkpoint_head_t;

typedef struct nagar_checkpoint_t nagar_checkpoint_t;

/* An empty checkpoint stamped with the current time. */
nagar_checkpoint_t *nagar_checkpoint_new(void);
void nagar_checkpoint_destroy(nagar_checkpoint_t **self_p);

/* Adds one chain head. Returns -1 with the reason in error when a name is
 * malformed, the (ledger, ulb) pair is already there, or the limit of
 * NAGAR_CHECKPOINT_MAX_HEADS is reached. */
int nagar_checkpoint_add(nagar_checkpoint_t *self, const nagar_checkpoint_head_t *head,
                         char *error, size_t error_size);

size_t nagar_checkpoint_size(nagar_checkpoint_t *self);
const nagar_checkpoint_head_t *nagar_checkpoint_head(nagar_checkpoint_t *self, size_t index);
/* The head of (ledger, ulb), or NULL. */
const nagar_checkpoint_head_t *nagar_checkpoint_find(nagar_checkpoint_t *self, const char *ledger,
                                                     const char *ulb);
int64_t nagar_checkpoint_created_us(nagar_checkpoint_t *self);

/* Creates a new key pair; refuses to overwrite either file. The secret file
 * is created 0600. Returns 0 or -1 with the reason in error. */
int nagar_checkpoint_keygen(const char *secret_path, const char *public_path, char *error,
                            size_t error_size);

/* Signs self with the secret key and writes it into dir. The written file's
 * path goes into path_out. Returns 0 or -1 with the reason in error. */
int nagar_checkpoint_save(nagar_checkpoint_t *self, const char *secret_key_path, const char *dir,
                          char *path_out, size_t path_size, char *error, size_t error_size);

/* The outcome of loading a checkpoint. */
typedef enum {
    NAGAR_CHECKPOINT_LOADED = 0,
    NAGAR_CHECKPOINT_NONE = 1,       /* dir holds no checkpoint */
    NAGAR_CHECKPOINT_ERROR = 2,      /* could not read the key or the directory */
    NAGAR_CHECKPOINT_FORGED = 3,     /* malformed, or the signature does not verify */
} nagar_checkpoint_load_t;

/* Loads and verifies the latest checkpoint of dir against the public key
 * in public_key_path. On LOADED, *out is the checkpoint (caller destroys)
 * and path_out its file; otherwise error says what is wrong. */
nagar_checkpoint_load_t nagar_checkpoint_load_latest(const char *dir, const char *public_key_path,
                                                     nagar_checkpoint_t **out, char *path_out,
                                                     size_t path_size, char *error,
                                                     size_t error_size);

/* Reads a public key file (hex of 32 bytes). Returns 0 or -1 with the
 * reason in error. */
int nagar_checkpoint_read_public_key(const char *path, uint8_t public_key[32], char *error,
                                     size_t error_size);

/* Parses and verifies one checkpoint text against a 32-byte public key. */
nagar_checkpoint_load_t nagar_checkpoint_parse(const char *text, size_t length,
                                               const uint8_t public_key[32],
                                               nagar_checkpoint_t **out, char *error,
                                               size_t error_size);

#endif
