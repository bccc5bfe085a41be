/*
 * certificate_chain.c — the walk of issued certificates' chains (see
 * certificate_chain.h). Keyset pages of CERT_PAGE rows in (ulb, seq)
 * order; SHA-256 by libsodium over the stored payloads.
 */
#include "certificate_chain.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"

#define CERT_PAGE "2000"

static int hex_to_hash(const char *hex, uint8_t out[NAGAR_CHAIN_HASH_BYTES])
{
    size_t decoded = 0;
    return sodium_hex2bin(out, NAGAR_CHAIN_HASH_BYTES, hex, strlen(hex), NULL, &decoded, NULL) ==
                   0 && decoded == NAGAR_CHAIN_HASH_BYTES
               ? 0 : -1;
}

typedef struct {
    nagar_certificate_chain_t *items;
    size_t count, capacity;
} chains_t;

static nagar_certificate_chain_t *chains_add(chains_t *list, const char *ulb)
{
    if (nagar_array_reserve(&list->items, list->count, &list->capacity, sizeof *list->items,
                            32) != 0)
        return NULL;
    nagar_certificate_chain_t *chain = &list->items[list->count++];
    memset(chain, 0, sizeof *chain);
    snprintf(chain->ulb, sizeof chain->ulb, "%s", ulb);
    chain->ok = true;
    return chain;
}

/* Every row of every ULB, each link recomputed. */
static int walk_rows(nagar_db_t *db, nagar_checkpoint_t *pinned, chains_t *out, char *error,
                     size_t error_size)
{
    char after_ulb[NAGAR_CHECKPOINT_ULB_MAX] = "", after_seq[32] = "0";
    nagar_certificate_chain_t *chain = NULL;
    uint8_t running[NAGAR_CHAIN_HASH_BYTES] = {0};
    const nagar_checkpoint_head_t *pin = NULL;
    for (;;) {
        const char *values[] = {after_ulb, after_seq};
        PGresult *res = nagar_db_exec(
            db,
            "SELECT ulb, seq, qr_payload, encode(prev_hash, 'hex'), encode(hash, 'hex') "
            "FROM certificates.certificate WHERE (ulb, seq) > ($1, $2::bigint) "
            "ORDER BY ulb, seq LIMIT " CERT_PAGE, 2, values);
        if (!res) {
            snprintf(error, error_size, "reading issued certificates failed: %s",
                     nagar_db_error(db));
            return -1;
        }
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++) {
            const char *ulb = PQgetvalue(res, i, 0);
            if (!chain || strcmp(chain->ulb, ulb) != 0) {
                /* The items move as the list grows: the current one is the last. */
                if (!chains_add(out, ulb)) {
                    PQclear(res);
                    snprintf(error, error_size, "out of memory");
                    return -1;
                }
                chain = &out->items[out->count - 1];
                memset(running, 0, sizeof running);
                pin = pinned ? nagar_checkpoint_find(pinned, NAGAR_CERTIFICATE_CHAIN_NAME, ulb)
                             : NULL;
            }
            snprintf(after_ulb, sizeof after_ulb, "%s", ulb);
            snprintf(after_seq, sizeof after_seq, "%s", PQgetvalue(res, i, 1));
            if (!chain->ok)
                continue;
            chain->length++;
            uint8_t prev[NAGAR_CHAIN_HASH_BYTES], stored[NAGAR_CHAIN_HASH_BYTES],
                computed[NAGAR_CHAIN_HASH_BYTES];
            const char *payload = PQgetvalue(res, i, 2);
            crypto_hash_sha256_state state;
            crypto_hash_sha256_init(&state);
            crypto_hash_sha256_update(&state, running, sizeof running);
            crypto_hash_sha256_update(&state, (const uint8_t *) payload, strlen(payload));
            crypto_hash_sha256_final(&state, computed);
            if (hex_to_hash(PQgetvalue(res, i, 3), prev) != 0 ||
                sodium_memcmp(prev, running, sizeof prev) != 0) {
                chain->ok = false;
                snprintf(chain->problem, sizeof chain->problem,
                         "certificate %" PRId64 " (seq %s) does not follow the one before it: a "
                         "certificate was removed or inserted", chain->length, after_seq);
                continue;
            }
            if (hex_to_hash(PQgetvalue(res, i, 4), stored) != 0 ||
                sodium_memcmp(stored, computed, sizeof stored) != 0) {
                chain->ok = false;
                snprintf(chain->problem, sizeof chain->problem,
                         "certificate %" PRId64 " (seq %s) does not match its hash: it was changed",
                         chain->length, after_seq);
                continue;
            }
            memcpy(running, computed, sizeof running);
            memcpy(chain->head, computed, sizeof chain->head);
            if (pin && pin->seq == chain->length) {
                memcpy(chain->pinned, computed, sizeof chain->pinned);
                chain->pinned_found = true;
            }
        }
        PQclear(res);
        if (rows < atoi(CERT_PAGE))
            return 0;
    }
}

/* The recorded heads: a tail cut off leaves a head beyond the last row. */
static int check_heads(nagar_db_t *db, chains_t *out, char *error, size_t error_size)
{
    PGresult *res = nagar_db_exec(db, "SELECT ulb, length, encode(head_hash, 'hex') "
                                      "FROM certificates.certificate_chain ORDER BY ulb", 0, NULL);
    if (!res) {
        snprintf(error, error_size, "reading certificate chain heads failed: %s",
                 nagar_db_error(db));
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *ulb = PQgetvalue(res, i, 0);
        int64_t length = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        nagar_certificate_chain_t *found = NULL;
        for (size_t c = 0; c < out->count; c++)
            if (strcmp(out->items[c].ulb, ulb) == 0)
                found = &out->items[c];
        if (!found && length == 0)
            continue;
        if (!found && !(found = chains_add(out, ulb))) {
            PQclear(res);
            snprintf(error, error_size, "out of memory");
            return -1;
        }
        uint8_t head[NAGAR_CHAIN_HASH_BYTES];
        if (found->ok && (length != found->length || hex_to_hash(PQgetvalue(res, i, 2), head) != 0 ||
                          (length > 0 && sodium_memcmp(head, found->head, sizeof head) != 0))) {
            found->ok = false;
            snprintf(found->problem, sizeof found->problem,
                     "the recorded head says %" PRId64 " certificates, the chain has %" PRId64
                     " (or their last hashes differ): certificates were removed", length,
                     found->length);
        }
    }
    PQclear(res);
    return 0;
}

int nagar_certificate_chains_walk(nagar_db_t *db, nagar_checkpoint_t *pinned,
                                  nagar_certificate_chain_t **chains, size_t *count, char *error,
                                  size_t error_size)
{
    chains_t out = {0};
    *chains = NULL;
    *count = 0;
    if (walk_rows(db, pinned, &out, error, error_size) != 0 ||
        check_heads(db, &out, error, error_size) != 0) {
        free(out.items);
        return -1;
    }
    *chains = out.items;
    *count = out.count;
    return 0;
}
