/*
 * ledger.c — verifying the hash-chained ledger (ledger.h).
 *
 * Verifying walks each ULB's chain with chain.h, which reads it in pages
 * and recomputes every hash with libsodium's SHA-256, so the check trusts
 * only the stored rows, never a database function.
 */
#include "ledger.h"

#include <inttypes.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEDGER_FIELDS 9

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
    nagar_chain_hash(previous, fields, LEDGER_FIELDS, out);
}

const nagar_chain_kind_t nagar_ledger_chain = {
    .name = "ledger",
    .chains_sql = "SELECT ulb FROM (SELECT ulb FROM ledger_head UNION SELECT DISTINCT ulb "
                  "FROM ledger) u ORDER BY ulb",
    .page_sql = "SELECT ulb, seq::text, idempotency_key, kind, account, reference, "
                "amount_paise::text, detail, recorded_us::text, encode(hash, 'hex') FROM ledger "
                "WHERE ulb = $1 AND seq > $2::bigint ORDER BY ledger.seq LIMIT 5000",
    .head_sql = "SELECT seq, encode(hash, 'hex') FROM ledger_head WHERE ulb = $1",
    .key_parts = 1,
    .fields = LEDGER_FIELDS,
    .seq_field = 1,
};

int nagar_ledger_verify(nagar_db_t *db, const char *ulb, nagar_ledger_chain_status_t **chains,
                        size_t *count, char *error, size_t error_size)
{
    *chains = NULL;
    *count = 0;
    nagar_chain_status_t *walked = NULL;
    size_t n = 0;
    if (ulb && ulb[0]) {
        /* The chain of the ULB asked about, whether or not it has rows. */
        walked = calloc(1, sizeof *walked);
        if (walked) {
            snprintf(walked->key[0], sizeof walked->key[0], "%s", ulb);
            n = 1;
        }
    } else if (nagar_chain_list(db, &nagar_ledger_chain, &walked, &n, error, error_size) != 0) {
        return -1;
    }
    nagar_ledger_chain_status_t *out = calloc(n ? n : 1, sizeof *out);
    if (!walked || !out) {
        free(walked);
        free(out);
        snprintf(error, error_size, "out of memory verifying the ledger");
        return -1;
    }
    int broken = 0;
    for (size_t i = 0; i < n; i++) {
        if (nagar_chain_walk(db, &nagar_ledger_chain, &walked[i], error, error_size) != 0) {
            free(walked);
            free(out);
            return -1;
        }
        snprintf(out[i].ulb, sizeof out[i].ulb, "%.15s", walked[i].key[0]);
        out[i].ok = walked[i].ok;
        out[i].rows = walked[i].rows;
        out[i].broken_seq = walked[i].broken_seq;
        snprintf(out[i].problem, sizeof out[i].problem, "%s", walked[i].problem);
        if (!out[i].ok)
            broken++;
    }
    free(walked);
    *chains = out;
    *count = n;
    return broken;
}
