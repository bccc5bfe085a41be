/*
 * metrics.h — Prometheus text exposition of the gateway's counters.
 *
 *   nagar_gateway_requests_total{route="GET /api/v1/ulbs/{code}",status="200"}
 *   nagar_gateway_request_duration_seconds_bucket{route="...",le="0.005"}
 *   nagar_gateway_in_flight_requests
 *   nagar_gateway_service_available{service="identity"}
 *
 * Routes are labelled by pattern, never by the concrete path, so the number
 * of series stays bounded whatever clients send. Requests that matched no
 * route share one label ("unmatched").
 */
#ifndef GATEWAY_METRICS_H
#define GATEWAY_METRICS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct gateway_metrics_t gateway_metrics_t;

/* labels[i] names slot i (e.g. "GET /api/v1/ulbs/{code}", "healthz"); the
 * strings must outlive the metrics. */
gateway_metrics_t *gateway_metrics_new(const char *const *labels, size_t slots);
void gateway_metrics_destroy(gateway_metrics_t **self_p);

void gateway_metrics_record(gateway_metrics_t *self, size_t slot, int http_status,
                            double seconds);
void gateway_metrics_in_flight(gateway_metrics_t *self, int delta);
/* available: 1 yes, 0 no, -1 unknown (not yet probed). */
void gateway_metrics_service(gateway_metrics_t *self, const char *service, int available);
void gateway_metrics_set_gauge(gateway_metrics_t *self, const char *name, double value);

/* The exposition text, malloc'd (free it); length in *length. */
char *gateway_metrics_render(gateway_metrics_t *self, size_t *length);

#endif
