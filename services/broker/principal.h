/*
 * principal.h — what the broker knows of each caller principal: its fair
 * share (requests in flight and rate), and how often it was refused and why.
 *
 * One key flooding the bus must not starve the others: an outside test kept
 * 2,000 requests in flight to identity with one service key and made 12 of
 * 40 gateway reads fail while the broker logged nothing. So each principal
 * may have at most max_in_flight requests admitted and not yet answered,
 * and may start at most rate requests a second (a token bucket of one
 * second's worth); beyond either the request is refused RESOURCE_EXHAUSTED
 * at once. Each principal also has a lane in every service's queue, which
 * the broker serves in turn (broker.c), so what one principal has waiting
 * never delays another's next request by more than one request per lane.
 *
 * Limits: NAGAR_BROKER_PRINCIPAL_IN_FLIGHT (default 256) and
 * NAGAR_BROKER_PRINCIPAL_RATE (requests a second, default 5000; 0 means no
 * rate limit) for every principal, and NAGAR_BROKER_PRINCIPAL_LIMITS for
 * some: "gateway=4096:0,batch=512:2000" (name=in_flight:rate; default
 * "gateway=4096:0", replaced as a whole when set).
 *
 * A principal is created on first use and kept for the broker's life
 * (statistics outlive connections); there are at most
 * BROKER_PRINCIPALS_MAX, one per key in the store plus "anonymous".
 */
#ifndef NAGAR_BROKER_PRINCIPAL_H
#define NAGAR_BROKER_PRINCIPAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define BROKER_PRINCIPALS_MAX 1024
#define BROKER_LIMIT_OVERRIDES_MAX 64

/* Why a principal's message was refused; counted per principal and shown
 * by nagar.admin stats and nagarctl status. */
typedef enum {
    BROKER_REFUSED_ACL = 0,         /* call or serve outside its key's lists */
    BROKER_REFUSED_QUARANTINE,      /* it, or a service it serves, is quarantined */
    BROKER_REFUSED_IN_FLIGHT,       /* at its limit of requests in flight */
    BROKER_REFUSED_RATE,            /* over its rate */
    BROKER_REFUSED_BY_SERVICE,      /* a service answered it PERMISSION_DENIED or UNAUTHENTICATED */
    BROKER_REFUSED_KINDS
} broker_refusal_t;

const char *broker_refusal_name(broker_refusal_t kind);

typedef struct {
    char name[65];
    uint32_t max_in_flight;
    double rate;                    /* requests a second; 0 = unlimited */
} broker_limit_t;

typedef struct {
    broker_limit_t defaults;        /* name unused */
    broker_limit_t overrides[BROKER_LIMIT_OVERRIDES_MAX];
    size_t override_count;
} broker_limits_t;

/* Reads the three settings; -1 with the key and rule in error. */
int broker_limits_load(broker_limits_t *limits, nagar_config_t *config, char *error,
                       size_t error_size);

typedef struct broker_principals_t broker_principals_t;
typedef struct broker_principal_t broker_principal_t;

broker_principals_t *broker_principals_new(const broker_limits_t *limits);
void broker_principals_destroy(broker_principals_t **self_p);

/* The principal called name, created on first use; NULL past
 * BROKER_PRINCIPALS_MAX or out of memory. */
broker_principal_t *broker_principals_get(broker_principals_t *self, const char *name);
size_t broker_principals_count(broker_principals_t *self);
/* By index, 0 <= index < count: the order they were first seen. */
broker_principal_t *broker_principals_at(broker_principals_t *self, size_t index);

const char *broker_principal_name(const broker_principal_t *self);
size_t broker_principal_index(const broker_principal_t *self);

/* Whether one more request may be admitted now: BROKER_REFUSED_KINDS when
 * it may, else BROKER_REFUSED_IN_FLIGHT or BROKER_REFUSED_RATE. Changes
 * nothing but the bucket's refill. */
broker_refusal_t broker_principal_check(broker_principal_t *self, int64_t now_ms);
/* A request was admitted (takes a token, counts it in flight) / answered. */
void broker_principal_charge(broker_principal_t *self);
void broker_principal_release(broker_principal_t *self);
/* Counts a refusal; returns true when it may be logged now (at most a few
 * lines a second per principal; *suppressed gets how many were not). */
bool broker_principal_refused(broker_principal_t *self, broker_refusal_t kind, int64_t now_ms,
                              uint64_t *suppressed);

uint32_t broker_principal_in_flight(const broker_principal_t *self);
uint32_t broker_principal_max_in_flight(const broker_principal_t *self);
double broker_principal_rate(const broker_principal_t *self);
uint64_t broker_principal_requests(const broker_principal_t *self);
uint64_t broker_principal_refusals(const broker_principal_t *self, broker_refusal_t kind);

#endif
