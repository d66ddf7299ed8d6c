/*
 * metrics.c - HTTP response counters and the text-building helper.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "metrics.h"

static atomic_ulong responses[600];

void pv_metrics_http_response(int status)
{
	if (status >= 100 && status < 600)
		atomic_fetch_add_explicit(&responses[status], 1, memory_order_relaxed);
}

int pv_metrics_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return pv_error_set(PV_ERROR, NULL, "formatting metrics");
		if (*buf && *len + (size_t)n < *cap) {
			*len += (size_t)n;
			return 0;
		}
		size_t ncap = (*cap ? *cap * 2 : 4096) + (size_t)n;
		char *nb = realloc(*buf, ncap);
		if (!nb)
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		*buf = nb;
		*cap = ncap;
	}
}

int pv_metrics_http_format(char **buf, size_t *len, size_t *cap)
{
	int error = pv_metrics_append(buf, len, cap,
		"# HELP previewd_http_responses_total HTTP responses sent, by status code.\n"
		"# TYPE previewd_http_responses_total counter\n");

	for (int code = 100; code < 600 && error == 0; code++) {
		unsigned long n = atomic_load_explicit(&responses[code], memory_order_relaxed);
		if (n)
			error = pv_metrics_append(buf, len, cap, "previewd_http_responses_total{code=\"%d\"} %lu\n", code, n);
	}
	return error;
}
