/*
 * metrics.h - process-wide counters for /metrics (Prometheus text format).
 *
 * Counters are C11 atomics: any thread may bump them without a lock.
 */
#ifndef PV_METRICS_H
#define PV_METRICS_H

#include "strbuf.h"

/* Count one HTTP response with this status code. */
void pv_metrics_http_response(int status);

/* Append the "previewd_http_responses_total{code=...}" lines; 0 or PV_ERROR. */
int pv_metrics_http_format(struct pv_strbuf *out);

#endif
