/*
 * chain.c — walking a stored hash chain (chain.h).
 *
 * Pages of NAGAR_CHAIN_PAGE rows by seq; every hash is recomputed here with
 * libsodium's SHA-256 from the fields as stored, so only the rows are
 * trusted, never a function of the database an owner could replace.
 */
#include "chain.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PGresult *chain_query(nagar_db_t *db, const nagar_chain_kind_t *kind, const char *what,
                             const char *sql, int nparams, const char *const *values)
{
    char name[64];
    snprintf(name, sizeof name, "nagar_chain_%s_%s", kind->name, what);
    if (nagar_db_prepare(db, name, sql, nparams) != 0)
        return NULL;
    return nagar_db_exec(db, name, nparams, values);
}

void nagar_chain_hash(const uint8_t previous[NAGAR_CHAIN_HASH_BYTES], const char *const *fields,
                      int count, uint8_t out[NAGAR_CHAIN_HASH_BYTES])
{
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    crypto_hash_sha256_update(&state, previous, NAGAR_CHAIN_HASH_BYTES);
    for (int i = 0; i < count; i++) {
        size_t length = strlen(fields[i]);
        char prefix[32];
        int prefix_length = snprintf(prefix, sizeof prefix, "%zu:", length);
        crypto_hash_sha256_update(&state, (const unsigned char *) prefix, (size_t) prefix_length);
        crypto_hash_sha256_update(&state, (const unsigned char *) fields[i], length);
        crypto_hash_sha256_update(&state, (const unsigned char *) ";", 1);
    }
    crypto_hash_sha256_final(&state, out);
}

static bool hex_hash(const char *hex, uint8_t out[NAGAR_CHAIN_HASH_BYTES])
{
    size_t decoded = 0;
    return sodium_hex2bin(out, NAGAR_CHAIN_HASH_BYTES, hex, strlen(hex), NULL, &decoded, NULL) ==
               0 && decoded == NAGAR_CHAIN_HASH_BYTES;
}

static void broken(nagar_chain_status_t *chain, int64_t seq, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void broken(nagar_chain_status_t *chain, int64_t seq, const char *format, ...)
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

int nagar_chain_list(nagar_db_t *db, const nagar_chain_kind_t *kind, nagar_chain_status_t **chains,
                     size_t *count, char *error, size_t error_size)
{
    *chains = NULL;
    *count = 0;
    PGresult *res = chain_query(db, kind, "list", kind->chains_sql, 0, NULL);
    if (!res) {
        snprintf(error, error_size, "listing the %s's chains failed: %s", kind->name,
                 nagar_db_error(db));
        return -1;
    }
    size_t n = (size_t) PQntuples(res);
    nagar_chain_status_t *out = calloc(n ? n : 1, sizeof *out);
    if (!out) {
        PQclear(res);
        snprintf(error, error_size, "out of memory listing the %s's chains", kind->name);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < kind->key_parts && k < 2; k++)
            snprintf(out[i].key[k], NAGAR_CHAIN_KEY_MAX, "%s", PQgetvalue(res, (int) i, k));
        out[i].ok = true;
    }
    PQclear(res);
    *chains = out;
    *count = n;
    return 0;
}

/* The row at chain->from_seq must still be the one pinned. */
static int check_start(nagar_db_t *db, const nagar_chain_kind_t *kind, nagar_chain_status_t *chain,
                       uint8_t previous[NAGAR_CHAIN_HASH_BYTES], char *error, size_t error_size)
{
    if (chain->from_seq <= 0) {
        memset(previous, 0, NAGAR_CHAIN_HASH_BYTES);
        return 0;
    }
    char after[32];
    snprintf(after, sizeof after, "%" PRId64, chain->from_seq - 1);
    const char *values[] = {chain->key[0], kind->key_parts > 1 ? chain->key[1] : after, after};
    PGresult *res = chain_query(db, kind, "page", kind->page_sql, kind->key_parts + 1, values);
    if (!res) {
        snprintf(error, error_size, "reading the %s failed: %s", kind->name, nagar_db_error(db));
        return -1;
    }
    uint8_t stored[NAGAR_CHAIN_HASH_BYTES];
    bool found = PQntuples(res) > 0 &&
                 strtoll(PQgetvalue(res, 0, kind->seq_field), NULL, 10) == chain->from_seq;
    bool same = found && hex_hash(PQgetvalue(res, 0, kind->fields), stored) &&
                sodium_memcmp(stored, chain->from_hash, NAGAR_CHAIN_HASH_BYTES) == 0;
    PQclear(res);
    if (!found)
        broken(chain, chain->from_seq, "row %" PRId64 ", pinned by the signed checkpoint, is "
               "gone: the chain was cut", chain->from_seq);
    else if (!same)
        broken(chain, chain->from_seq, "row %" PRId64 " differs from the signed checkpoint: the "
               "chain was rewritten", chain->from_seq);
    memcpy(previous, chain->from_hash, NAGAR_CHAIN_HASH_BYTES);
    chain->length = chain->from_seq;
    memcpy(chain->head, chain->from_hash, NAGAR_CHAIN_HASH_BYTES);
    return 0;
}

static int walk(nagar_db_t *db, const nagar_chain_kind_t *kind, nagar_chain_status_t *chain,
                char *error, size_t error_size)
{
    uint8_t previous[NAGAR_CHAIN_HASH_BYTES];
    chain->ok = true;
    chain->rows = 0;
    chain->length = 0;
    memset(chain->head, 0, sizeof chain->head);
    if (check_start(db, kind, chain, previous, error, error_size) != 0)
        return -1;
    int64_t expected = chain->from_seq > 0 ? chain->from_seq + 1 : 1;
    while (chain->ok) {
        char after[32];
        snprintf(after, sizeof after, "%" PRId64, expected - 1);
        const char *values[] = {chain->key[0], kind->key_parts > 1 ? chain->key[1] : after,
                                after};
        PGresult *res = chain_query(db, kind, "page", kind->page_sql, kind->key_parts + 1,
                                    values);
        if (!res) {
            snprintf(error, error_size, "reading the %s failed: %s", kind->name,
                     nagar_db_error(db));
            return -1;
        }
        int rows = PQntuples(res);
        for (int i = 0; i < rows && chain->ok; i++) {
            const char *fields[NAGAR_CHAIN_FIELDS_MAX];
            for (int f = 0; f < kind->fields && f < NAGAR_CHAIN_FIELDS_MAX; f++)
                fields[f] = PQgetvalue(res, i, f);
            int64_t seq = strtoll(fields[kind->seq_field], NULL, 10);
            chain->rows++;
            if (seq != expected) {
                broken(chain, expected, "row %" PRId64 " is missing (the next row is %" PRId64 ")",
                       expected, seq);
                break;
            }
            uint8_t computed[NAGAR_CHAIN_HASH_BYTES], stored[NAGAR_CHAIN_HASH_BYTES];
            nagar_chain_hash(previous, fields, kind->fields, computed);
            if (!hex_hash(PQgetvalue(res, i, kind->fields), stored) ||
                sodium_memcmp(stored, computed, sizeof stored) != 0) {
                broken(chain, seq, "row %" PRId64 " does not match its hash: it was changed, or a "
                       "row before it was", seq);
                break;
            }
            memcpy(previous, computed, sizeof previous);
            memcpy(chain->head, computed, sizeof chain->head);
            chain->length = seq;
            expected++;
        }
        PQclear(res);
        if (rows < NAGAR_CHAIN_PAGE)
            break;
    }
    if (!chain->ok)
        return 0;
    /* The recorded head must be the last row: otherwise the tail was cut off. */
    const char *values[] = {chain->key[0], chain->key[1]};
    PGresult *res = chain_query(db, kind, "head", kind->head_sql, kind->key_parts, values);
    if (!res) {
        snprintf(error, error_size, "reading the %s's chain head failed: %s", kind->name,
                 nagar_db_error(db));
        return -1;
    }
    int64_t last = expected - 1;
    if (PQntuples(res) != 1) {
        if (last > 0)
            broken(chain, expected, "the chain head is missing");
    } else {
        int64_t head_seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        uint8_t head[NAGAR_CHAIN_HASH_BYTES];
        if (head_seq > last)
            broken(chain, last + 1, "rows %" PRId64 " to %" PRId64 " are missing (the head is at %"
                   PRId64 ")", last + 1, head_seq, head_seq);
        else if (head_seq < last)
            broken(chain, head_seq + 1, "row %" PRId64 " is beyond the chain head (%" PRId64 ")",
                   head_seq + 1, head_seq);
        else if (head_seq > 0 && (!hex_hash(PQgetvalue(res, 0, 1), head) ||
                                  sodium_memcmp(head, previous, sizeof head) != 0))
            broken(chain, head_seq, "the chain head's hash differs from row %" PRId64 "'s",
                   head_seq);
    }
    PQclear(res);
    return 0;
}

typedef struct {
    const nagar_chain_kind_t *kind;
    nagar_chain_status_t *chain;
    char *error;
    size_t error_size;
    int rc;
} walk_work_t;

static int walk_work(nagar_db_t *db, void *arg)
{
    walk_work_t *work = arg;
    work->rc = walk(db, work->kind, work->chain, work->error, work->error_size);
    return 0;   /* read only: nothing to roll back */
}

/* The pages and the head are read in one snapshot: read apart, a row
 * appended (and its head moved) between the reads looked like a cut or an
 * overlong chain, a false alarm under load. */
int nagar_chain_walk(nagar_db_t *db, const nagar_chain_kind_t *kind, nagar_chain_status_t *chain,
                     char *error, size_t error_size)
{
    if (nagar_db_in_transaction(db))
        return walk(db, kind, chain, error, error_size);
    walk_work_t work = {kind, chain, error, error_size, 0};
    if (nagar_db_transaction(db, NAGAR_DB_REPEATABLE_READ, walk_work, &work) != 0) {
        if (work.rc == 0)
            snprintf(error, error_size, "reading the %s in one snapshot failed: %s", kind->name,
                     nagar_db_error(db));
        return -1;
    }
    return work.rc;
}
