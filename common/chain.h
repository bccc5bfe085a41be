/*
 * chain.h — walking a hash chain stored in a table and recomputing every
 * link, trusting only the stored fields, never a database function.
 *
 * The ledger (ledger.h) and the history of money, ownership and
 * registrations (history.h) are such chains: rows of one chain (a ULB's
 * ledger, a table's history in one ULB) numbered seq = 1, 2, ... with
 *
 *     hash(n) = SHA-256( hash(n-1) || canonical(row n) ),  hash(0) = 32 zero bytes
 *
 * canonical(row) = for each field in a fixed order, "<byte length>:<bytes>;".
 * A chain kind says how to read its rows: a query listing the chains, a
 * page query answering the canonical fields (as text, in canonical order)
 * and then the stored hash in hex, and a query for the recorded head. The
 * walker reports the first broken link of each chain: a changed row, a
 * missing row, a row beyond the head, a head that disagrees.
 *
 * A walk may start at a pinned (seq, hash) — the head a signed checkpoint
 * holds — checking that row first and then only what came after it, so a
 * checkpoint every minute costs what was appended since the last one.
 */
#ifndef NAGAR_CHAIN_H
#define NAGAR_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define NAGAR_CHAIN_HASH_BYTES 32
#define NAGAR_CHAIN_PROBLEM_MAX 256
#define NAGAR_CHAIN_KEY_MAX 96
#define NAGAR_CHAIN_FIELDS_MAX 16

/* How one kind of chain is stored. The statements are compiled in, never
 * built from input; their parameters are the chain's key parts, then (for
 * page_sql) the last seq already read. */
typedef struct {
    const char *name;           /* "ledger", "history": statement names, messages */
    const char *chains_sql;     /* () -> one row per chain: its key parts (text) */
    const char *page_sql;       /* (keys..., after seq) -> canonical fields..., hash hex;
                                   in seq order, at most NAGAR_CHAIN_PAGE rows */
    const char *head_sql;       /* (keys...) -> seq, hash hex (no row: no head) */
    int key_parts;              /* 1 (ulb) or 2 (table, ulb) */
    int fields;                 /* canonical fields in a page row */
    int seq_field;              /* which of them is seq */
} nagar_chain_kind_t;

#define NAGAR_CHAIN_PAGE 5000

/* The result of walking one chain. */
typedef struct {
    char key[2][NAGAR_CHAIN_KEY_MAX];   /* its key parts ("" when unused) */
    bool ok;
    int64_t rows;                       /* rows read */
    int64_t length;                     /* the last seq read (the chain's length when whole) */
    uint8_t head[NAGAR_CHAIN_HASH_BYTES];   /* the hash of that row */
    int64_t broken_seq;                 /* the first broken link when !ok */
    char problem[NAGAR_CHAIN_PROBLEM_MAX];
    /* Where the walk started; in: from_seq 0 for the whole chain. */
    int64_t from_seq;
    uint8_t from_hash[NAGAR_CHAIN_HASH_BYTES];
} nagar_chain_status_t;

/* SHA-256(previous || canonical(fields)). */
void nagar_chain_hash(const uint8_t previous[NAGAR_CHAIN_HASH_BYTES], const char *const *fields,
                      int count, uint8_t out[NAGAR_CHAIN_HASH_BYTES]);

/* Lists the chains of kind: *chains (malloc'd, caller frees) gets one
 * status per chain with its key set and ok true, *count their number.
 * Returns 0, or -1 with the reason in error. */
int nagar_chain_list(nagar_db_t *db, const nagar_chain_kind_t *kind, nagar_chain_status_t **chains,
                     size_t *count, char *error, size_t error_size);

/* Walks one chain from chain->from_seq (0: from the start; otherwise the
 * row there must have hash chain->from_hash) to its head, in one snapshot
 * (a REPEATABLE READ transaction of its own, or the caller's). Returns 0
 * with chain->ok telling whether it is whole, or -1 when the database
 * failed. */
int nagar_chain_walk(nagar_db_t *db, const nagar_chain_kind_t *kind, nagar_chain_status_t *chain,
                     char *error, size_t error_size);

#endif
