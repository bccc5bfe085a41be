/*
 * test_certificate_chain.c — unit tests for certificate_chain.h: the walk
 * of issued certificates' chains over a certificates schema of a
 * throwaway PostgreSQL (throwaway_pg.h) holding the two tables it reads.
 * A whole chain verifies, per ULB, with seq shared across ULBs; a changed
 * payload, a removed certificate, a cut-off tail and a head the rows do
 * not reach are each reported as what they are; the hash at a pinned
 * checkpoint's position is kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "certificate_chain.h"
#include "checkpoint.h"
#include "db.h"
#include "throwaway_pg.h"

static throwaway_pg_t cluster;
static nagar_db_t *db;

static void must(const char *sql)
{
    throwaway_pg_must(db, sql);
}

static int group_setup(void **state)
{
    (void) state;
    return sodium_init() < 0 ? -1 : throwaway_pg_open(&cluster, "unitcert", &db);
}

/* Fresh tables, shaped as services/certificates' migrations make them. */
static int test_setup(void **state)
{
    (void) state;
    must("DROP SCHEMA IF EXISTS certificates CASCADE");
    must("CREATE SCHEMA certificates");
    must("CREATE TABLE certificates.certificate (seq bigserial UNIQUE, ulb text NOT NULL, "
         "qr_payload text NOT NULL, prev_hash bytea NOT NULL, hash bytea NOT NULL)");
    must("CREATE TABLE certificates.certificate_chain (ulb text PRIMARY KEY, length bigint "
         "NOT NULL, head_hash bytea NOT NULL)");
    return 0;
}

/* Issues a certificate as the rule function does: chained to its ULB's head. */
static void issue(const char *ulb, const char *payload, uint8_t hash_out[32])
{
    uint8_t previous[32] = {0};
    const char *values[] = {ulb};
    PGresult *result = nagar_db_exec(db, "SELECT encode(head_hash, 'hex') FROM "
                                         "certificates.certificate_chain WHERE ulb = $1",
                                     1, values);
    assert_non_null(result);
    if (PQntuples(result) == 1) {
        size_t decoded = 0;
        assert_int_equal(sodium_hex2bin(previous, 32, PQgetvalue(result, 0, 0), 64, NULL,
                                        &decoded, NULL), 0);
    }
    PQclear(result);
    uint8_t hash[32];
    crypto_hash_sha256_state sha;
    crypto_hash_sha256_init(&sha);
    crypto_hash_sha256_update(&sha, previous, sizeof previous);
    crypto_hash_sha256_update(&sha, (const uint8_t *) payload, strlen(payload));
    crypto_hash_sha256_final(&sha, hash);
    char prev_hex[65], hash_hex[65];
    sodium_bin2hex(prev_hex, sizeof prev_hex, previous, 32);
    sodium_bin2hex(hash_hex, sizeof hash_hex, hash, 32);
    const char *row[] = {ulb, payload, prev_hex, hash_hex};
    result = nagar_db_exec(db, "INSERT INTO certificates.certificate (ulb, qr_payload, "
                               "prev_hash, hash) VALUES ($1, $2, decode($3, 'hex'), "
                               "decode($4, 'hex'))", 4, row);
    assert_non_null(result);
    PQclear(result);
    const char *head[] = {ulb, hash_hex};
    result = nagar_db_exec(db, "INSERT INTO certificates.certificate_chain VALUES "
                               "($1, 1, decode($2, 'hex')) ON CONFLICT (ulb) DO UPDATE SET "
                               "length = certificate_chain.length + 1, head_hash = "
                               "EXCLUDED.head_hash", 2, head);
    assert_non_null(result);
    PQclear(result);
    if (hash_out)
        memcpy(hash_out, hash, 32);
}

/* Walks and returns the chain of ulb (asserting there is one). */
static nagar_certificate_chain_t walk(nagar_checkpoint_t *pinned, const char *ulb,
                                      size_t *count)
{
    nagar_certificate_chain_t *chains = NULL, found;
    char error[512];
    assert_int_equal(nagar_certificate_chains_walk(db, pinned, &chains, count, error,
                                                   sizeof error), 0);
    bool seen = false;
    for (size_t i = 0; i < *count; i++)
        if (strcmp(chains[i].ulb, ulb) == 0) {
            found = chains[i];
            seen = true;
        }
    free(chains);
    assert_true(seen);
    return found;
}

/* Certificates a, b and c of ULB 802462, in that order. */
static void issue_three(uint8_t second[32])
{
    issue("802462", "NC1.a", NULL);
    issue("802462", "NC1.b", second);
    issue("802462", "NC1.c", NULL);
}

static void whole_chains_verify_per_ulb(void **state)
{
    (void) state;
    uint8_t last[32];
    issue("802462", "NC1.a", NULL);
    issue("802999", "NC1.x", NULL);           /* seq is shared: 802462's are 1, 3, 4 */
    issue("802462", "NC1.b", NULL);
    issue("802462", "NC1.c", last);
    size_t count = 0;
    nagar_certificate_chain_t chain = walk(NULL, "802462", &count);
    assert_int_equal(count, 2);
    assert_true(chain.ok);
    assert_int_equal(chain.length, 3);
    assert_memory_equal(chain.head, last, 32);
    assert_false(chain.pinned_found);
    chain = walk(NULL, "802999", &count);
    assert_true(chain.ok);
    assert_int_equal(chain.length, 1);
}

static void the_pinned_position_is_kept(void **state)
{
    (void) state;
    uint8_t second[32];
    issue_three(second);
    nagar_checkpoint_t *pinned = nagar_checkpoint_new();
    nagar_checkpoint_head_t head = {.seq = 2};
    snprintf(head.ledger, sizeof head.ledger, NAGAR_CERTIFICATE_CHAIN_NAME);
    snprintf(head.ulb, sizeof head.ulb, "802462");
    memcpy(head.hash, second, 32);
    char error[256];
    assert_int_equal(nagar_checkpoint_add(pinned, &head, error, sizeof error), 0);
    size_t count = 0;
    nagar_certificate_chain_t chain = walk(pinned, "802462", &count);
    assert_true(chain.ok);
    assert_true(chain.pinned_found);
    assert_memory_equal(chain.pinned, second, 32);
    nagar_checkpoint_destroy(&pinned);
}

/* Runs the tampering SQL, then walks ULB 802462's chain, which must not
 * verify. */
static nagar_certificate_chain_t walk_after(const char *tampering)
{
    must(tampering);
    size_t count = 0;
    nagar_certificate_chain_t chain = walk(NULL, "802462", &count);
    assert_false(chain.ok);
    return chain;
}

static void a_changed_certificate_is_found(void **state)
{
    (void) state;
    issue_three(NULL);
    nagar_certificate_chain_t chain = walk_after(
        "UPDATE certificates.certificate SET qr_payload = 'NC1.B' WHERE qr_payload = 'NC1.b'");
    assert_non_null(strstr(chain.problem, "certificate 2"));
    assert_non_null(strstr(chain.problem, "does not match its hash"));
}

static void a_removed_certificate_is_found(void **state)
{
    (void) state;
    issue_three(NULL);
    nagar_certificate_chain_t chain =
        walk_after("DELETE FROM certificates.certificate WHERE qr_payload = 'NC1.b'");
    assert_non_null(strstr(chain.problem, "does not follow the one before it"));
}

static void a_cut_tail_is_found(void **state)
{
    (void) state;
    issue("802462", "NC1.a", NULL);
    issue("802462", "NC1.b", NULL);
    nagar_certificate_chain_t chain =
        walk_after("DELETE FROM certificates.certificate WHERE qr_payload = 'NC1.b'");
    assert_non_null(strstr(chain.problem, "the recorded head says 2 certificates, the chain "
                                          "has 1"));
    /* Every certificate of a ULB gone, its head still there: a chain of 0. */
    chain = walk_after("DELETE FROM certificates.certificate");
    assert_int_equal(chain.length, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(whole_chains_verify_per_ulb, test_setup),
        cmocka_unit_test_setup(the_pinned_position_is_kept, test_setup),
        cmocka_unit_test_setup(a_changed_certificate_is_found, test_setup),
        cmocka_unit_test_setup(a_removed_certificate_is_found, test_setup),
        cmocka_unit_test_setup(a_cut_tail_is_found, test_setup),
    };
    return cmocka_run_group_tests_name("certificate_chain", tests, group_setup,
                                       throwaway_pg_group_teardown);
}
