/*
 * rate_limit.c — bounded token-bucket table; see rate_limit.h.
 *
 * Lookup is a CZMQ hash; recency is an intrusive doubly linked list so that
 * both touching a key and evicting the least recently used one are O(1).
 */
#include "rate_limit.h"

#include <czmq.h>
#include <math.h>

#define KEY_MAX 96

typedef struct bucket_t {
    char key[KEY_MAX];
    double tokens;
    int64_t updated_ms;
    struct bucket_t *newer, *older;
} bucket_t;

struct gateway_rate_limiter_t {
    double rate;            /* tokens per millisecond */
    double burst;
    size_t max_keys;
    zhashx_t *buckets;      /* key -> bucket_t (owned) */
    bucket_t *newest, *oldest;
};

static void bucket_free(void **item)
{
    free(*item);
    *item = NULL;
}

gateway_rate_limiter_t *gateway_rate_limiter_new(double rate_per_second, double burst,
                                                 size_t max_keys)
{
    gateway_rate_limiter_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->rate = rate_per_second / 1000.0;
    self->burst = burst < 1 ? 1 : burst;
    self->max_keys = max_keys ? max_keys : 1;
    self->buckets = zhashx_new();
    if (!self->buckets) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->buckets, bucket_free);
    return self;
}

void gateway_rate_limiter_destroy(gateway_rate_limiter_t **self_p)
{
    gateway_rate_limiter_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->buckets);
    free(self);
    *self_p = NULL;
}

static void unlink_bucket(gateway_rate_limiter_t *self, bucket_t *bucket)
{
    if (bucket->newer)
        bucket->newer->older = bucket->older;
    else
        self->newest = bucket->older;
    if (bucket->older)
        bucket->older->newer = bucket->newer;
    else
        self->oldest = bucket->newer;
    bucket->newer = bucket->older = NULL;
}

static void push_newest(gateway_rate_limiter_t *self, bucket_t *bucket)
{
    bucket->older = self->newest;
    bucket->newer = NULL;
    if (self->newest)
        self->newest->newer = bucket;
    self->newest = bucket;
    if (!self->oldest)
        self->oldest = bucket;
}

int gateway_rate_limiter_take(gateway_rate_limiter_t *self, const char *key, int64_t now_ms)
{
    if (self->rate <= 0)
        return 0;
    char bounded[KEY_MAX];
    snprintf(bounded, sizeof bounded, "%s", key);
    bucket_t *bucket = zhashx_lookup(self->buckets, bounded);
    if (bucket) {
        unlink_bucket(self, bucket);
        double elapsed = (double) (now_ms - bucket->updated_ms);
        if (elapsed > 0)
            bucket->tokens = fmin(self->burst, bucket->tokens + elapsed * self->rate);
        bucket->updated_ms = now_ms;
    } else {
        if (zhashx_size(self->buckets) >= self->max_keys && self->oldest) {
            bucket_t *victim = self->oldest;
            unlink_bucket(self, victim);
            zhashx_delete(self->buckets, victim->key);
        }
        bucket = calloc(1, sizeof *bucket);
        if (!bucket)
            return 1;   /* out of memory: refusing is the bounded choice */
        snprintf(bucket->key, sizeof bucket->key, "%s", bounded);
        bucket->tokens = self->burst;
        bucket->updated_ms = now_ms;
        zhashx_insert(self->buckets, bucket->key, bucket);
    }
    push_newest(self, bucket);
    if (bucket->tokens >= 1.0) {
        bucket->tokens -= 1.0;
        return 0;
    }
    double wait_ms = (1.0 - bucket->tokens) / self->rate;
    int seconds = (int) ceil(wait_ms / 1000.0);
    return seconds < 1 ? 1 : seconds;
}

size_t gateway_rate_limiter_size(gateway_rate_limiter_t *self)
{
    return zhashx_size(self->buckets);
}
