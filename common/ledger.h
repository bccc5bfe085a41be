/*
 * ledger.h — the per-ULB, hash-chained, append-only money ledger.
 *
 * Every money movement of a service (a payment, a reversal, a fee) is one
 * row of its ledger, appended inside the transaction that records the
 * movement by the service's rule function, through ledger_append() of the
 * ledger module (common/sql/ledger), which the app role cannot call itself. Rows of one ULB form a
 * chain: hash(n) = SHA-256(hash(n-1) || canonical(row n)), hash(0) = 32 zero
 * bytes, where canonical(row) writes the fields ulb, seq, idempotency_key,
 * kind, account, reference, amount_paise, detail, recorded_us, in that
 * order, each as "<byte length>:<bytes>;" (integers in decimal).
 *
 * The database computes the hash when it appends; this module computes it
 * again, on its own, when it verifies, so a verifier run never depends on
 * the functions an attacker with the owner's credentials could replace.
 * Changing a row, removing one, or cutting the tail off is reported as the
 * first broken link (ULB, sequence). A chain rewritten wholesale from some
 * row on verifies by itself: that is what signed checkpoints of the heads,
 * kept outside the database, are for (nagarctl).
 *
 * Property tax and water charges both use it; each keeps its own ledger in
 * its own database.
 */
#ifndef NAGAR_LEDGER_H
#define NAGAR_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus_worker.h"
#include "chain.h"
#include "db.h"

#define NAGAR_LEDGER_HASH_BYTES 32
#define NAGAR_LEDGER_PROBLEM_MAX 256

/* One row, as read back. */
typedef struct {
    const char *ulb;              /* LGD code */
    int64_t seq;                  /* 1, 2, ... per ULB */
    const char *idempotency_key;  /* 1..300 characters, unique per ULB */
    const char *kind;             /* "PAYMENT", "REVERSAL", ... ([A-Z_]{1,32}) */
    const char *account;          /* what the money is for: a property id, a connection id */
    const char *reference;        /* a receipt number, or "" */
    int64_t amount_paise;         /* negative for money going back */
    const char *detail;           /* JSON text, at most 4096 bytes, stored verbatim */
    int64_t recorded_us;          /* microseconds since the epoch */
} nagar_ledger_row_t;

/* The canonical bytes of row (not NUL-terminated) into out when it fits.
 * Returns the length they need, whether or not out was big enough. */
size_t nagar_ledger_canonical(const nagar_ledger_row_t *row, char *out, size_t out_size);

/* SHA-256(previous || canonical(row)). */
void nagar_ledger_hash(const uint8_t previous[NAGAR_LEDGER_HASH_BYTES],
                       const nagar_ledger_row_t *row, uint8_t out[NAGAR_LEDGER_HASH_BYTES]);

/* How the ledger is stored, for chain.h: one chain per ULB (key: ulb). */
extern const nagar_chain_kind_t nagar_ledger_chain;

/* The result of verifying one ULB's chain. */
typedef struct {
    char ulb[16];
    bool ok;
    int64_t rows;                 /* rows read */
    int64_t broken_seq;           /* first broken link when !ok */
    char problem[NAGAR_LEDGER_PROBLEM_MAX];
} nagar_ledger_chain_status_t;

/* Verifies the chain of ulb, or of every ULB with a ledger when ulb is NULL
 * or "", reading rows in pages. *chains (malloc'd, caller frees) gets one
 * status per ULB in code order, *count their number. Returns the number of
 * broken chains (0 = all good), or -1 when the ledger could not be read
 * (error says why). */
int nagar_ledger_verify(nagar_db_t *db, const char *ulb, nagar_ledger_chain_status_t **chains,
                        size_t *count, char *error, size_t error_size);

/* The command-line ledger check of a service (`nagar-<service> verify [ULB]`):
 * prints one line per ULB chain ("ulb X: ok, N rows" or "ulb X: BROKEN at
 * seq N: why"), logs <service>.ledger_broken for each broken one, and
 * returns the exit code scripts rely on: 0 whole, 3 broken, 1 could not
 * verify. */
int nagar_ledger_check(nagar_db_t *db, const char *service, const char *ulb);

/* ledger.verify as a bus method: STATE_ADMIN for any ULB (request field
 * ulb, "" for all), COMMISSIONER or REVENUE_OFFICER for their own; answers
 * reply_type, a message with repeated "chains" (each with ulb, ok, rows,
 * broken_seq, problem) and bool "ok", built through its descriptor. Logs
 * <service>.ledger_broken per broken chain and <service>.ledger_verify_failed
 * when the ledger cannot be read (answered UNAVAILABLE). */
int nagar_ledger_check_method(nagar_db_t *db, const char *service, nagar_worker_call_t *call,
                              const ProtobufCMessage *request,
                              const ProtobufCMessageDescriptor *reply_type);

#endif
