/*
 * metrics.h - process-wide counters for /metrics (Prometheus text format).
 *
 * Counters are C11 atomics: any thread may bump them without a lock.
 */
#ifndef PV_METRICS_H
#define PV_METRICS_H

#include "strbuf.h"

/* The routes requests are counted by (a fixed set keeps label
 * cardinality bounded whatever paths clients send). */
enum pv_route {
	PV_ROUTE_OTHER = 0, PV_ROUTE_HEALTHZ, PV_ROUTE_READYZ, PV_ROUTE_METRICS, PV_ROUTE_INFO,
	PV_ROUTE_LIST, PV_ROUTE_CREATE, PV_ROUTE_GET, PV_ROUTE_PATCH, PV_ROUTE_DELETE, PV_ROUTE_EVENTS,
	PV_ROUTE_CHATOPS, PV_ROUTE_PAGE, PV_ROUTE_HOOKS, PV_ROUTE_COUNT
};

const char *pv_metrics_route_name(enum pv_route r);

/* Count one HTTP response and how long it took (seconds). */
void pv_metrics_http_response(enum pv_route route, int status, double seconds);

/* Append the HTTP counters and latency histograms; 0 or PV_ERROR. */
int pv_metrics_http_format(struct pv_strbuf *out);

#endif
