/*
 * certificate_chain.h — walking the register of issued certificates as a
 * hash chain, recomputing every link.
 *
 * Each ULB's issued certificates form one chain, in seq order:
 *
 *     hash(n) = SHA-256( hash(n-1) || qr_payload(n) ),  hash(0) = 32 zero bytes
 *
 * and each row also names its predecessor's hash (prev_hash);
 * certificates.certificate_chain records each ULB's length and head. seq
 * is one sequence for all ULBs, so a chain's positions are counted, not
 * read from seq — which is why this is not a chain.h kind. The walk
 * reports the first broken link of each ULB: a row that does not follow
 * the one before it (removed or inserted), a row that does not match its
 * hash (changed), a recorded head the rows do not reach (cut off).
 *
 * Verification lives here, beside the ledger's and the history's (chain.h),
 * so that nagarctl and any other checker walk the chain one way; the
 * database is only read, never trusted to compute.
 */
#ifndef NAGAR_CERTIFICATE_CHAIN_H
#define NAGAR_CERTIFICATE_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain.h"
#include "checkpoint.h"
#include "db.h"

/* The chain name of issued certificates in checkpoints. */
#define NAGAR_CERTIFICATE_CHAIN_NAME "certificates"

/* One ULB's chain as walked. */
typedef struct {
    char ulb[NAGAR_CHECKPOINT_ULB_MAX];
    bool ok;
    int64_t length;                          /* certificates in the chain */
    uint8_t head[NAGAR_CHAIN_HASH_BYTES];    /* the hash of the last one */
    bool pinned_found;                       /* the certificate at the pinned position exists */
    uint8_t pinned[NAGAR_CHAIN_HASH_BYTES];  /* its hash */
    char problem[NAGAR_CHAIN_PROBLEM_MAX];   /* why not ok */
} nagar_certificate_chain_t;

/* Walks every ULB's chain in the certificates schema of db, keeping the
 * hash at the position the pinned checkpoint (NULL: none) holds for each.
 * *chains (malloc'd, caller frees) gets one entry per ULB in ULB order,
 * *count their number. Returns 0, or -1 with the reason in error when the
 * database could not be read. */
int nagar_certificate_chains_walk(nagar_db_t *db, nagar_checkpoint_t *pinned,
                                  nagar_certificate_chain_t **chains, size_t *count, char *error,
                                  size_t error_size);

#endif
