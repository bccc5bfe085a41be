/*
 * ledger.c — appending to and verifying the hash-chained ledger (ledger.h).
 *
 * Appending is one call of the SQL function ledger_append(), which holds
 * the chain head's row lock until the caller's transaction ends. Verifying
 * reads each chain in pages of LEDGER_PAGE rows by (ulb, seq) and recomputes
 * every hash here with libsodium's SHA-256, so the check trusts only the
 * stored rows, never a database function.
 */
#include "ledger.h"

#include <inttypes.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEDGER_PAGE 5000
#define LEDGER_FIELDS 9

static PGresult *ledger_query(nagar_db_t *db, const char *name, const char *sql, int nparams,
                              const char *const *values)
{
    if (nagar_db_prepare(db, name, sql, nparams) != 0)
        return NULL;
    return nagar_db_exec(db, name, nparams, values);
}

int nagar_ledger_append(nagar_db_t *db, const nagar_ledger_row_t *row,
                        nagar_ledger_result_t *result)
{
    memset(result, 0, sizeof *result);
    char amount[32];
    snprintf(amount, sizeof amount, "%" PRId64, row->amount_paise);
    const char *values[] = {row->ulb, row->idempotency_key, row->kind, row->account,
                            row->reference ? row->reference : "", amount,
                            row->detail ? row->detail : "{}"};
    PGresult *res = ledger_query(
        db, "nagar_ledger_append",
        "SELECT entry_seq, encode(entry_hash, 'hex'), entry_recorded_us, created "
        "FROM ledger_append($1, $2, $3, $4, $5, $6::bigint, $7)",
        7, values);
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples(res) == 1) {
        result->seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        const char *hex = PQgetvalue(res, 0, 1);
        size_t decoded = 0;
        if (sodium_hex2bin(result->hash, sizeof result->hash, hex, strlen(hex), NULL, &decoded,
                           NULL) == 0 &&
            decoded == sizeof result->hash)
            rc = 0;
        result->recorded_us = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        result->created = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    }
    PQclear(res);
    return rc;
}

/* The row's fields as text, in canonical order. */
static void row_fields(const nagar_ledger_row_t *row, const char *fields[LEDGER_FIELDS],
                       char seq[32], char amount[32], char recorded[32])
{
    snprintf(seq, 32, "%" PRId64, row->seq);
    snprintf(amount, 32, "%" PRId64, row->amount_paise);
    snprintf(recorded, 32, "%" PRId64, row->recorded_us);
    fields[0] = row->ulb;
    fields[1] = seq;
    fields[2] = row->idempotency_key;
    fields[3] = row->kind;
    fields[4] = row->account;
    fields[5] = row->reference ? row->reference : "";
    fields[6] = amount;
    fields[7] = row->detail ? row->detail : "";
    fields[8] = recorded;
}

size_t nagar_ledger_canonical(const nagar_ledger_row_t *row, char *out, size_t out_size)
{
    const char *fields[LEDGER_FIELDS];
    char seq[32], amount[32], recorded[32];
    row_fields(row, fields, seq, amount, recorded);
    size_t used = 0;
    for (int i = 0; i < LEDGER_FIELDS; i++) {
        size_t length = strlen(fields[i]);
        char prefix[32];
        int prefix_length = snprintf(prefix, sizeof prefix, "%zu:", length);
        const char *parts[] = {prefix, fields[i], ";"};
        size_t sizes[] = {(size_t) prefix_length, length, 1};
        for (int p = 0; p < 3; p++) {
            if (out && used + sizes[p] <= out_size)
                memcpy(out + used, parts[p], sizes[p]);
            used += sizes[p];
        }
    }
    return used;
}

void nagar_ledger_hash(const uint8_t previous[NAGAR_LEDGER_HASH_BYTES],
                       const nagar_ledger_row_t *row, uint8_t out[NAGAR_LEDGER_HASH_BYTES])
{
    const char *fields[LEDGER_FIELDS];
    char seq[32], amount[32], recorded[32];
    row_fields(row, fields, seq, amount, recorded);
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    crypto_hash_sha256_update(&state, previous, NAGAR_LEDGER_HASH_BYTES);
    for (int i = 0; i < LEDGER_FIELDS; i++) {
        size_t length = strlen(fields[i]);
        char prefix[32];
        int prefix_length = snprintf(prefix, sizeof prefix, "%zu:", length);
        crypto_hash_sha256_update(&state, (const unsigned char *) prefix, (size_t) prefix_length);
        crypto_hash_sha256_update(&state, (const unsigned char *) fields[i], length);
        crypto_hash_sha256_update(&state, (const unsigned char *) ";", 1);
    }
    crypto_hash_sha256_final(&state, out);
}

static void chain_broken(nagar_ledger_chain_status_t *chain, int64_t seq, const char *format,
                         ...) __attribute__((format(printf, 3, 4)));

static void chain_broken(nagar_ledger_chain_status_t *chain, int64_t seq, const char *format,
                         ...)
{
    if (!chain->ok)
        return;     /* only the first broken link counts */
    chain->ok = false;
    chain->broken_seq = seq;
    va_list args;
    va_start(args, format);
    vsnprintf(chain->problem, sizeof chain->problem, format, args);
    va_end(args);
}

/* Walks one chain; returns 0, or -1 when the database failed. */
static int verify_chain(nagar_db_t *db, nagar_ledger_chain_status_t *chain, char *error,
                        size_t error_size)
{
    uint8_t previous[NAGAR_LEDGER_HASH_BYTES] = {0};
    int64_t expected = 1;
    for (;;) {
        char after[32];
        snprintf(after, sizeof after, "%" PRId64, expected - 1);
        const char *values[] = {chain->ulb, after};
        PGresult *res = ledger_query(
            db, "nagar_ledger_verify_page",
            "SELECT seq, idempotency_key, kind, account, reference, amount_paise, detail, "
            "recorded_us, encode(hash, 'hex') FROM ledger WHERE ulb = $1 AND seq > $2::bigint "
            "ORDER BY seq LIMIT " "5000",
            2, values);
        if (!res) {
            snprintf(error, error_size, "reading the ledger of ULB %s failed: %s", chain->ulb,
                     nagar_db_error(db));
            return -1;
        }
        int rows = PQntuples(res);
        for (int i = 0; i < rows && chain->ok; i++) {
            nagar_ledger_row_t row = {
                .ulb = chain->ulb,
                .seq = strtoll(PQgetvalue(res, i, 0), NULL, 10),
                .idempotency_key = PQgetvalue(res, i, 1),
                .kind = PQgetvalue(res, i, 2),
                .account = PQgetvalue(res, i, 3),
                .reference = PQgetvalue(res, i, 4),
                .amount_paise = strtoll(PQgetvalue(res, i, 5), NULL, 10),
                .detail = PQgetvalue(res, i, 6),
                .recorded_us = strtoll(PQgetvalue(res, i, 7), NULL, 10),
            };
            chain->rows++;
            if (row.seq != expected) {
                chain_broken(chain, expected, "row %" PRId64 " is missing (the next row is %" PRId64
                             ")", expected, row.seq);
                break;
            }
            uint8_t computed[NAGAR_LEDGER_HASH_BYTES], stored[NAGAR_LEDGER_HASH_BYTES];
            const char *hex = PQgetvalue(res, i, 8);
            size_t decoded = 0;
            nagar_ledger_hash(previous, &row, computed);
            if (sodium_hex2bin(stored, sizeof stored, hex, strlen(hex), NULL, &decoded, NULL) != 0 ||
                decoded != sizeof stored || sodium_memcmp(stored, computed, sizeof stored) != 0) {
                chain_broken(chain, row.seq, "row %" PRId64 " does not match its hash: it was "
                             "changed, or a row before it was", row.seq);
                break;
            }
            memcpy(previous, computed, sizeof previous);
            expected++;
        }
        PQclear(res);
        if (!chain->ok || rows < LEDGER_PAGE)
            break;
    }
    if (!chain->ok)
        return 0;
    /* The head must be the last row: otherwise the tail was cut off. */
    const char *values[] = {chain->ulb};
    PGresult *res = ledger_query(db, "nagar_ledger_verify_head",
                                 "SELECT seq, encode(hash, 'hex') FROM ledger_head WHERE ulb = $1",
                                 1, values);
    if (!res) {
        snprintf(error, error_size, "reading the chain head of ULB %s failed: %s", chain->ulb,
                 nagar_db_error(db));
        return -1;
    }
    if (PQntuples(res) != 1) {
        if (expected > 1)
            chain_broken(chain, expected, "the chain head of ULB %s is missing", chain->ulb);
    } else {
        int64_t head_seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        char last_hex[NAGAR_LEDGER_HASH_BYTES * 2 + 1];
        sodium_bin2hex(last_hex, sizeof last_hex, previous, sizeof previous);
        if (head_seq > expected - 1)
            chain_broken(chain, expected, "rows %" PRId64 " to %" PRId64 " are missing (the head "
                         "is at %" PRId64 ")", expected, head_seq, head_seq);
        else if (head_seq < expected - 1)
            chain_broken(chain, head_seq + 1, "row %" PRId64 " is beyond the chain head (%" PRId64
                         ")", head_seq + 1, head_seq);
        else if (head_seq > 0 && strcmp(PQgetvalue(res, 0, 1), last_hex) != 0)
            chain_broken(chain, head_seq, "the chain head's hash differs from row %" PRId64 "'s",
                         head_seq);
    }
    PQclear(res);
    return 0;
}

int nagar_ledger_verify(nagar_db_t *db, const char *ulb, nagar_ledger_chain_status_t **chains,
                        size_t *count, char *error, size_t error_size)
{
    *chains = NULL;
    *count = 0;
    const char *values[] = {ulb && ulb[0] ? ulb : NULL};
    PGresult *res = ledger_query(
        db, "nagar_ledger_verify_ulbs",
        "SELECT ulb FROM (SELECT ulb FROM ledger_head UNION SELECT DISTINCT ulb FROM ledger) u "
        "WHERE $1::text IS NULL OR ulb = $1 ORDER BY ulb",
        1, values);
    if (!res) {
        snprintf(error, error_size, "listing the ledger's chains failed: %s", nagar_db_error(db));
        return -1;
    }
    size_t n = (size_t) PQntuples(res);
    if (n == 0 && ulb && ulb[0])
        n = 1;   /* an empty chain of the ULB asked about is a good chain */
    nagar_ledger_chain_status_t *out = calloc(n ? n : 1, sizeof *out);
    if (!out) {
        PQclear(res);
        snprintf(error, error_size, "out of memory verifying the ledger");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(out[i].ulb, sizeof out[i].ulb, "%s",
                 PQntuples(res) ? PQgetvalue(res, (int) i, 0) : ulb);
        out[i].ok = true;
    }
    PQclear(res);
    int broken = 0;
    for (size_t i = 0; i < n; i++) {
        if (verify_chain(db, &out[i], error, error_size) != 0) {
            free(out);
            return -1;
        }
        if (!out[i].ok)
            broken++;
    }
    *chains = out;
    *count = n;
    return broken;
}
