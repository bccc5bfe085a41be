/*
 * metrics.c — counters and histograms in plain arrays (slot x status,
 * slot x bucket), rendered on demand; see metrics.h. The gateway is one
 * thread, so nothing here locks.
 */
#include "metrics.h"

#include <czmq.h>
#include <stdarg.h>

#include "buffer.h"

#define STATUS_MIN 100
#define STATUS_COUNT 500    /* 100..599 */
#define SERVICES_MAX 32
#define GAUGES_MAX 16

static const double bucket_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1.0,  2.5,   5.0, 10.0};
#define BUCKETS (sizeof bucket_bounds / sizeof bucket_bounds[0])

struct gateway_metrics_t {
    const char *const *labels;
    size_t slots;
    uint64_t *requests;     /* slots x STATUS_COUNT */
    uint64_t *buckets;      /* slots x (BUCKETS + 1), the last is +Inf */
    double *sums;           /* slots */
    long in_flight;
    char services[SERVICES_MAX][64];
    int available[SERVICES_MAX];
    size_t service_count;
    char gauges[GAUGES_MAX][64];
    double gauge_values[GAUGES_MAX];
    size_t gauge_count;
};

gateway_metrics_t *gateway_metrics_new(const char *const *labels, size_t slots)
{
    gateway_metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->labels = labels;
    self->slots = slots;
    self->requests = calloc(slots * STATUS_COUNT, sizeof *self->requests);
    self->buckets = calloc(slots * (BUCKETS + 1), sizeof *self->buckets);
    self->sums = calloc(slots, sizeof *self->sums);
    if (!self->requests || !self->buckets || !self->sums)
        gateway_metrics_destroy(&self);
    return self;
}

void gateway_metrics_destroy(gateway_metrics_t **self_p)
{
    gateway_metrics_t *self = *self_p;
    if (!self)
        return;
    free(self->requests);
    free(self->buckets);
    free(self->sums);
    free(self);
    *self_p = NULL;
}

void gateway_metrics_record(gateway_metrics_t *self, size_t slot, int http_status,
                            double seconds)
{
    if (slot >= self->slots || http_status < STATUS_MIN ||
        http_status >= STATUS_MIN + STATUS_COUNT)
        return;
    self->requests[slot * STATUS_COUNT + (size_t) (http_status - STATUS_MIN)]++;
    size_t b = 0;
    while (b < BUCKETS && seconds > bucket_bounds[b])
        b++;
    self->buckets[slot * (BUCKETS + 1) + b]++;
    self->sums[slot] += seconds;
}

void gateway_metrics_in_flight(gateway_metrics_t *self, int delta)
{
    self->in_flight += delta;
}

/* The index of name among names[0..*count), added at the end when it is
 * not there yet; max (no room) when the table of max names is full. */
static size_t name_index(char (*names)[64], size_t *count, size_t max, const char *name)
{
    for (size_t i = 0; i < *count; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    if (*count == max)
        return max;
    snprintf(names[*count], 64, "%s", name);
    return (*count)++;
}

void gateway_metrics_service(gateway_metrics_t *self, const char *service, int available)
{
    size_t i = name_index(self->services, &self->service_count, SERVICES_MAX, service);
    if (i < SERVICES_MAX)
        self->available[i] = available;
}

void gateway_metrics_set_gauge(gateway_metrics_t *self, const char *name, double value)
{
    size_t i = name_index(self->gauges, &self->gauge_count, GAUGES_MAX, name);
    if (i < GAUGES_MAX)
        self->gauge_values[i] = value;
}

char *gateway_metrics_render(gateway_metrics_t *self, size_t *length)
{
    nagar_buffer_t *out = nagar_buffer_new(0);
    if (!out)
        return NULL;
    nagar_buffer_appendf(out, "# HELP nagar_gateway_requests_total HTTP requests answered, by "
                              "route pattern and status.\n"
                              "# TYPE nagar_gateway_requests_total counter\n");
    for (size_t slot = 0; slot < self->slots; slot++)
        for (size_t s = 0; s < STATUS_COUNT; s++) {
            uint64_t count = self->requests[slot * STATUS_COUNT + s];
            if (count)
                nagar_buffer_appendf(out, "nagar_gateway_requests_total{route=\"%s\",status=\"%zu\"} "
                                          "%" PRIu64 "\n",
                                     self->labels[slot], s + STATUS_MIN, count);
        }
    nagar_buffer_appendf(out, "# HELP nagar_gateway_request_duration_seconds Time from the "
                              "request line to the response, by route pattern.\n"
                              "# TYPE nagar_gateway_request_duration_seconds histogram\n");
    for (size_t slot = 0; slot < self->slots; slot++) {
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= BUCKETS; b++)
            cumulative += self->buckets[slot * (BUCKETS + 1) + b];
        if (!cumulative)
            continue;
        uint64_t total = cumulative;
        cumulative = 0;
        for (size_t b = 0; b < BUCKETS; b++) {
            cumulative += self->buckets[slot * (BUCKETS + 1) + b];
            nagar_buffer_appendf(out, "nagar_gateway_request_duration_seconds_bucket"
                                      "{route=\"%s\",le=\"%g\"} %" PRIu64 "\n",
                                 self->labels[slot], bucket_bounds[b], cumulative);
        }
        nagar_buffer_appendf(out, "nagar_gateway_request_duration_seconds_bucket"
                                  "{route=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
                             self->labels[slot], total);
        nagar_buffer_appendf(out, "nagar_gateway_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                             self->labels[slot], self->sums[slot]);
        nagar_buffer_appendf(out, "nagar_gateway_request_duration_seconds_count{route=\"%s\"} "
                                  "%" PRIu64 "\n",
                             self->labels[slot], total);
    }
    nagar_buffer_appendf(out, "# HELP nagar_gateway_in_flight_requests Requests being handled, "
                              "including those waiting for a service.\n"
                              "# TYPE nagar_gateway_in_flight_requests gauge\n"
                              "nagar_gateway_in_flight_requests %ld\n",
                         self->in_flight);
    nagar_buffer_appendf(out, "# HELP nagar_gateway_service_available 1 when the broker has a "
                              "worker for the service, 0 when not, -1 before the first probe.\n"
                              "# TYPE nagar_gateway_service_available gauge\n");
    for (size_t i = 0; i < self->service_count; i++)
        nagar_buffer_appendf(out, "nagar_gateway_service_available{service=\"%s\"} %d\n",
                             self->services[i], self->available[i]);
    for (size_t i = 0; i < self->gauge_count; i++)
        nagar_buffer_appendf(out, "# TYPE %s gauge\n%s %g\n", self->gauges[i], self->gauges[i],
                             self->gauge_values[i]);
    char *text = nagar_buffer_take(out, length);   /* NULL when an append failed */
    nagar_buffer_destroy(&out);
    return text;
}
