/*
 * bench_token.c — what verifying the caller's token costs a service per
 * request (issue 12): run by `make bench-gateway` next to the HTTP figures.
 *
 *   bench_token [ITERATIONS]
 *
 * Prints one JSON line: nanoseconds per call of
 *   verify_ms       nagar_token_verify: shape, Ed25519 signature, decode,
 *                   claims (what a token costs the first time it is seen)
 *   check_cached    nagar_authority_check on a token seen before (cache hit:
 *                   one hash lookup of the token text, the claims checks, two
 *                   revocation lookups) — what every later request costs
 *   check_grant     the same for a grant, with the request's ulb/fy scope
 *                   checked by reflection
 *   check_new       nagar_authority_check of a token never seen (cache miss)
 * measured in the same process, one after the other.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authority.h"
#include "proto/property_tax.pb-c.h"
#include "token.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *sign(nagar_token_signer_t *signer, Nagar__TokenType type, const char *user,
                  const char *job)
{
    nagar_token_claims_t claims;
    memset(&claims, 0, sizeof claims);
    claims.type = type;
    snprintf(claims.user_id, sizeof claims.user_id, "%s", user);
    snprintf(claims.role, sizeof claims.role, type == NAGAR__TOKEN_TYPE__GRANT ? "REVENUE_OFFICER"
                                                                              : "CLERK");
    snprintf(claims.ulb, sizeof claims.ulb, "802462");
    snprintf(claims.session_id, sizeof claims.session_id, "0123456789abcdef0123456789abcdef");
    claims.issued_at_ms = wall_ms();
    claims.expires_at_ms = claims.issued_at_ms + 600000;
    if (type == NAGAR__TOKEN_TYPE__GRANT) {
        snprintf(claims.job, sizeof claims.job, "%s", job);
        snprintf(claims.fy, sizeof claims.fy, "2026-27");
        nagar_token_claims_add_audience(&claims, "property_tax");
    } else {
        nagar_token_claims_add_audience(&claims, NAGAR_TOKEN_AUDIENCE_API);
    }
    return nagar_token_sign(signer, &claims);
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    if (iterations < 100)
        iterations = 100;
    char dir[64], error[512], path[128];
    snprintf(dir, sizeof dir, "/tmp/nagar-bench-token-%d", (int) getpid());
    if (nagar_token_keygen(dir, "k1", error, sizeof error) != 0) {
        fprintf(stderr, "bench_token: %s\n", error);
        return 1;
    }
    snprintf(path, sizeof path, "%s/k1.key", dir);
    nagar_token_signer_t *signer = nagar_token_signer_new(path, "k1", error, sizeof error);
    nagar_token_verifier_t *verifier = nagar_token_verifier_new();
    nagar_authority_t *authority =
        nagar_authority_new(dir, 3600000, 100000, (size_t) iterations + 16, error, sizeof error);
    if (!signer || !verifier || !authority ||
        nagar_token_verifier_load_dir(verifier, dir, error, sizeof error) != 1) {
        fprintf(stderr, "bench_token: %s\n", error);
        return 1;
    }
    char *access = sign(signer, NAGAR__TOKEN_TYPE__ACCESS, "staff:bench", "");
    char *grant = sign(signer, NAGAR__TOKEN_TYPE__GRANT, "staff:bench", "demand.generate");
    Nagar__PropertyTax__GenerateDemandRequest demand =
        NAGAR__PROPERTY_TAX__GENERATE_DEMAND_REQUEST__INIT;
    demand.ulb = "802462";
    demand.fy = "2026-27";

    nagar_token_claims_t claims;
    nagar_actor_t actor;
    char why[256];
    long failures = 0;
    int64_t t0 = now_ns();
    for (long i = 0; i < iterations; i++)
        failures += nagar_token_verify(verifier, access, NAGAR__TOKEN_TYPE__ACCESS,
                                       NAGAR_TOKEN_AUDIENCE_API, wall_ms(), &claims) !=
                    NAGAR_TOKEN_OK;
    int64_t t1 = now_ns();
    for (long i = 0; i < iterations; i++)
        failures += nagar_authority_check(authority, access, "property_tax", "demand.status",
                                          &demand.base, wall_ms(), &actor, why,
                                          sizeof why) != NAGAR_AUTHORITY_OK;
    int64_t t2 = now_ns();
    for (long i = 0; i < iterations; i++)
        failures += nagar_authority_check(authority, grant, "property_tax", "demand.generate",
                                          &demand.base, wall_ms(), &actor, why,
                                          sizeof why) != NAGAR_AUTHORITY_OK;
    int64_t t3 = now_ns();
    /* Distinct tokens: each one is a cache miss. */
    long fresh_count = iterations / 10;
    char **fresh = calloc((size_t) fresh_count, sizeof *fresh);
    for (long i = 0; i < fresh_count; i++) {
        char user[32];
        snprintf(user, sizeof user, "staff:b%ld", i);
        fresh[i] = sign(signer, NAGAR__TOKEN_TYPE__ACCESS, user, "");
    }
    int64_t t4 = now_ns();
    for (long i = 0; i < fresh_count; i++)
        failures += nagar_authority_check(authority, fresh[i], "property_tax", "demand.status",
                                          &demand.base, wall_ms(), &actor, why,
                                          sizeof why) != NAGAR_AUTHORITY_OK;
    int64_t t5 = now_ns();
    printf("{\"iterations\":%ld,\"verify_ns\":%" PRId64 ",\"check_cached_ns\":%" PRId64
           ",\"check_grant_ns\":%" PRId64 ",\"check_new_ns\":%" PRId64 ",\"failures\":%ld}\n",
           iterations, (t1 - t0) / iterations, (t2 - t1) / iterations, (t3 - t2) / iterations,
           (t5 - t4) / fresh_count, failures);
    for (long i = 0; i < fresh_count; i++)
        free(fresh[i]);
    free(fresh);
    free(access);
    free(grant);
    nagar_authority_destroy(&authority);
    nagar_token_verifier_destroy(&verifier);
    nagar_token_signer_destroy(&signer);
    snprintf(path, sizeof path, "%s/k1.key", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/k1.pub", dir);
    unlink(path);
    rmdir(dir);
    return failures ? 1 : 0;
}
