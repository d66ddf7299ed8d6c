/*
 * metrics.h - process-wide counters for /metrics (Prometheus text format).
 *
 * Counters are C11 atomics: any thread may bump them without a lock.
 */
#ifndef PV_METRICS_H
#define PV_METRICS_H

/* Count one HTTP response with this status code. */
void pv_metrics_http_response(int status);

/* Append "previewd_http_responses_total{code=...}" lines to buf (a
 * growing malloc'd string, see api.c); returns 0 or PV_ERROR. */
int pv_metrics_http_format(char **buf, size_t *len, size_t *cap);

/* printf-style append to a growing malloc'd string. */
int pv_metrics_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
