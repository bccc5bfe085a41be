/*
 * principal.c — per-principal fair share and refusal counts; see principal.h.
 */
#include "principal.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

#define LOG_LINES_PER_SECOND 5

struct broker_principal_t {
    char name[BROKER_PRINCIPAL_MAX + 1];
    size_t index;
    uint32_t in_flight;
    uint32_t max_in_flight;
    double rate;                   /* 0: unlimited */
    double tokens;                 /* at most rate: one second's worth */
    int64_t refilled_ms;
    uint64_t requests;
    uint64_t refused[BROKER_REFUSED_KINDS];
    int64_t log_window_ms;         /* refusal lines: a few a second */
    int log_count;
    uint64_t log_suppressed;
};

struct broker_principals_t {
    broker_limits_t limits;
    zhashx_t *by_name;             /* name -> broker_principal_t, not owning */
    broker_principal_t **all;      /* owning, in index order */
    size_t count;
};

static const char *const refusal_names[BROKER_REFUSED_KINDS] = {
    "acl", "quarantine", "in_flight", "rate", "service"};

const char *broker_refusal_name(broker_refusal_t kind)
{
    return kind < BROKER_REFUSED_KINDS ? refusal_names[kind] : "none";
}

/* ---- settings ------------------------------------------------------------- */

static int parse_limit(const char *text, size_t length, broker_limit_t *out)
{
    char copy[128];
    if (length >= sizeof copy)
        return -1;
    memcpy(copy, text, length);
    copy[length] = '\0';
    char *equals = strchr(copy, '=');
    char *colon = equals ? strchr(equals, ':') : NULL;
    if (!equals || !colon || equals == copy || (size_t) (equals - copy) >= sizeof out->name)
        return -1;
    *equals = '\0';
    *colon = '\0';
    if (!nagar_bus_name_valid(copy))
        return -1;
    char *end = NULL;
    errno = 0;
    long in_flight = strtol(equals + 1, &end, 10);
    if (errno || end == equals + 1 || *end || in_flight < 1 || in_flight > 1000000)
        return -1;
    errno = 0;
    double rate = strtod(colon + 1, &end);
    if (errno || end == colon + 1 || *end || rate < 0 || rate > 1e9)
        return -1;
    memcpy(out->name, copy, strlen(copy) + 1);   /* a valid name fits: nagar_bus_name_valid */
    out->max_in_flight = (uint32_t) in_flight;
    out->rate = rate;
    return 0;
}

int broker_limits_load(broker_limits_t *limits, nagar_config_t *config, char *error,
                       size_t error_size)
{
    memset(limits, 0, sizeof *limits);
    long in_flight;
    if (nagar_config_get_int(config, "NAGAR_BROKER_PRINCIPAL_IN_FLIGHT", 256, 1, 1000000,
                             &in_flight, error, error_size) != 0)
        return -1;
    limits->defaults.max_in_flight = (uint32_t) in_flight;
    const char *rate_text = nagar_config_get(config, "NAGAR_BROKER_PRINCIPAL_RATE", "5000");
    char *end = NULL;
    errno = 0;
    double rate = strtod(rate_text, &end);
    if (errno || end == rate_text || *end || rate < 0 || rate > 1e9) {
        snprintf(error, error_size, "NAGAR_BROKER_PRINCIPAL_RATE=\"%s\" is not a number of "
                 "requests a second from 0 (no limit) to 1e9", rate_text);
        return -1;
    }
    limits->defaults.rate = rate;
    /* The gateway carries every citizen's and clerk's request: by default it
     * gets a share sized for that, and no rate of its own (the gateway
     * limits each address and user itself). */
    const char *list = nagar_config_get(config, "NAGAR_BROKER_PRINCIPAL_LIMITS",
                                        "gateway=4096:0");
    const char *cursor = list;
    while (*cursor) {
        while (*cursor == ',' || *cursor == ' ')
            cursor++;
        size_t length = strcspn(cursor, ", ");
        if (!length)
            break;
        if (limits->override_count == BROKER_LIMIT_OVERRIDES_MAX
            || parse_limit(cursor, length, &limits->overrides[limits->override_count]) != 0) {
            snprintf(error, error_size, "NAGAR_BROKER_PRINCIPAL_LIMITS: \"%.*s\" is not "
                     "principal=in_flight:rate (e.g. gateway=4096:0; in_flight 1..1000000, rate "
                     "0..1e9 requests a second, 0 = no limit), or there are more than %d",
                     (int) (length > 80 ? 80 : length), cursor, BROKER_LIMIT_OVERRIDES_MAX);
            return -1;
        }
        limits->override_count++;
        cursor += length;
    }
    return 0;
}

/* ---- the table ----------------------------------------------------------------- */

broker_principals_t *broker_principals_new(const broker_limits_t *limits)
{
    broker_principals_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->limits = *limits;
    self->by_name = zhashx_new();
    self->all = calloc(BROKER_PRINCIPALS_MAX, sizeof *self->all);
    if (!self->by_name || !self->all)
        broker_principals_destroy(&self);
    return self;
}

void broker_principals_destroy(broker_principals_t **self_p)
{
    broker_principals_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        free(self->all[i]);
    free(self->all);
    zhashx_destroy(&self->by_name);
    free(self);
    *self_p = NULL;
}

broker_principal_t *broker_principals_get(broker_principals_t *self, const char *name)
{
    broker_principal_t *principal = zhashx_lookup(self->by_name, name);
    if (principal || self->count == BROKER_PRINCIPALS_MAX)
        return principal;
    principal = calloc(1, sizeof *principal);
    if (!principal)
        return NULL;
    snprintf(principal->name, sizeof principal->name, "%s", name);
    principal->index = self->count;
    const broker_limit_t *limit = &self->limits.defaults;
    for (size_t i = 0; i < self->limits.override_count; i++)
        if (strcmp(self->limits.overrides[i].name, name) == 0)
            limit = &self->limits.overrides[i];
    principal->max_in_flight = limit->max_in_flight;
    principal->rate = limit->rate;
    principal->tokens = limit->rate;
    principal->refilled_ms = zclock_mono();
    self->all[self->count++] = principal;
    zhashx_insert(self->by_name, principal->name, principal);
    return principal;
}

size_t broker_principals_count(broker_principals_t *self)
{
    return self->count;
}

broker_principal_t *broker_principals_at(broker_principals_t *self, size_t index)
{
    return index < self->count ? self->all[index] : NULL;
}

/* ---- one principal --------------------------------------------------------------- */

const char *broker_principal_name(const broker_principal_t *self)
{
    return self->name;
}

size_t broker_principal_index(const broker_principal_t *self)
{
    return self->index;
}

broker_refusal_t broker_principal_check(broker_principal_t *self, int64_t now_ms)
{
    if (self->in_flight >= self->max_in_flight)
        return BROKER_REFUSED_IN_FLIGHT;
    if (self->rate > 0) {
        if (now_ms > self->refilled_ms) {
            self->tokens += self->rate * (double) (now_ms - self->refilled_ms) / 1000.0;
            if (self->tokens > self->rate)
                self->tokens = self->rate;
            self->refilled_ms = now_ms;
        }
        if (self->tokens < 1.0)
            return BROKER_REFUSED_RATE;
    }
    return BROKER_REFUSED_KINDS;
}

void broker_principal_charge(broker_principal_t *self)
{
    self->in_flight++;
    self->requests++;
    if (self->rate > 0)
        self->tokens -= 1.0;
}

void broker_principal_release(broker_principal_t *self)
{
    if (self->in_flight)
        self->in_flight--;
}

bool broker_principal_refused(broker_principal_t *self, broker_refusal_t kind, int64_t now_ms,
                              uint64_t *suppressed)
{
    if (kind < BROKER_REFUSED_KINDS)
        self->refused[kind]++;
    if (now_ms - self->log_window_ms >= 1000) {
        self->log_window_ms = now_ms;
        self->log_count = 0;
    }
    if (++self->log_count > LOG_LINES_PER_SECOND) {
        self->log_suppressed++;
        return false;
    }
    *suppressed = self->log_suppressed;
    self->log_suppressed = 0;
    return true;
}

uint32_t broker_principal_in_flight(const broker_principal_t *self)
{
    return self->in_flight;
}

uint32_t broker_principal_max_in_flight(const broker_principal_t *self)
{
    return self->max_in_flight;
}

double broker_principal_rate(const broker_principal_t *self)
{
    return self->rate;
}

uint64_t broker_principal_requests(const broker_principal_t *self)
{
    return self->requests;
}

uint64_t broker_principal_refusals(const broker_principal_t *self, broker_refusal_t kind)
{
    return kind < BROKER_REFUSED_KINDS ? self->refused[kind] : 0;
}
